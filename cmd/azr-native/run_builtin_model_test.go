package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azr-native/azr-native/internal/nano"
)

// `run` without --model trains the built-in nano base, with the settings that
// suit it unless they are given. The command is issue 8's acceptance line,
// as a new user types it: the first step must have valid proposals (the
// built-in base proposes programs that run), which it does deterministically
// on CPU for the default seed.
func TestRunWithoutModelUsesBuiltinBase(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	run := filepath.Join(dir, "run")
	if _, err := azr(t, "run", "--out", run, "--steps", "1", "--batch-size", "4", "--n-samples", "2",
		"--max-response-length", "256"); err != nil {
		t.Fatalf("run: %v", err)
	}
	metrics, err := os.ReadFile(filepath.Join(run, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(metrics, []byte("\n")); n != 1 {
		t.Fatalf("metrics.jsonl has %d lines after one step", n)
	}
	var step struct {
		ValidProposals int `json:"valid_proposals"`
	}
	if err := json.Unmarshal(metrics, &step); err != nil {
		t.Fatal(err)
	}
	if step.ValidProposals == 0 {
		t.Errorf("no valid proposal in the first step on the built-in base:\n%s", metrics)
	}
	var eff struct {
		Model       string  `json:"model"`
		PromptStyle string  `json:"prompt_style"`
		References  int     `json:"references"`
		MaxPrompt   int     `json:"max_prompt_length"`
		MaxResponse int     `json:"max_response_length"`
		Temperature float32 `json:"temperature"`
	}
	data, err := os.ReadFile(filepath.Join(run, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &eff); err != nil {
		t.Fatal(err)
	}
	d := nano.BuiltinRunDefaults()
	if !strings.HasPrefix(eff.Model, filepath.Join(dir, "cache", "azr-native")) || eff.PromptStyle != d.PromptStyle ||
		eff.References != d.References || eff.MaxResponse != 256 || eff.MaxPrompt != nano.DefaultModelContext-256 || eff.Temperature != d.Temperature {
		t.Errorf("config.json of a run on the built-in base: %+v", eff)
	}
}

// Settings the user gave win over the built-in base's; the others take its values.
func TestBuiltinModelDefaultsKeepGivenSettings(t *testing.T) {
	s := defaultRunSettings()
	s.given = map[string]bool{"max_response_length": true, "threads": true, "temperature": true}
	s.MaxResponseLength, s.Threads, s.Temperature = 100, 2, 1
	applyBuiltinModelDefaults(&s)
	if s.MaxResponseLength != 100 || s.Threads != 2 || s.Temperature != 1 || s.MaxPromptLength != nano.DefaultModelContext-100 || s.PromptStyle != nano.DefaultPromptStyle {
		t.Errorf("given settings: %+v", s)
	}
	s = defaultRunSettings()
	s.given = map[string]bool{}
	applyBuiltinModelDefaults(&s)
	if s.Threads != 1 || s.MaxResponseLength != nano.BuiltinRunDefaults().MaxResponseLength || s.References != nano.DefaultReferences ||
		s.Temperature != nano.BuiltinRunDefaults().Temperature {
		t.Errorf("defaults for the built-in base: threads %d, response %d, references %d", s.Threads, s.MaxResponseLength, s.References)
	}
}
