package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// azr runs the CLI in-process and returns what it printed on stdout.
func azr(t *testing.T, args ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	runErr := newApp().Run(append([]string{"azr-native", "--log-level", "error", "--threads", "1"}, args...))
	w.Close()
	os.Stdout = old
	return string(<-done), runErr
}

func TestCLIModelGenerateAndRun(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.gguf")
	if _, err := azr(t, "model", "tiny", "--out", model, "--init-scale", "0.3"); err != nil {
		t.Fatalf("model tiny: %v", err)
	}

	out, err := azr(t, "model", "info", "--json", model)
	if err != nil {
		t.Fatalf("model info: %v", err)
	}
	var info struct {
		Arch   string `json:"arch"`
		Layers int    `json:"layers"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Arch != "qwen2" || info.Layers != 2 {
		t.Fatalf("model info: %q (%v)", out, err)
	}

	out, err = azr(t, "generate", "-m", model, "-p", "def f(x):", "-p", "x = 1", "-n", "3", "--max-tokens", "5", "--json")
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	var gen []struct {
		Prompt  string `json:"prompt"`
		Samples []struct {
			Tokens []int32 `json:"tokens"`
			Finish string  `json:"finish"`
		} `json:"samples"`
	}
	if err := json.Unmarshal([]byte(out), &gen); err != nil || len(gen) != 2 || len(gen[1].Samples) != 3 {
		t.Fatalf("generate --json: %v\n%s", err, out)
	}
	for _, s := range gen[0].Samples {
		if len(s.Tokens) == 0 || s.Finish == "" {
			t.Fatalf("sample %+v", s)
		}
	}

	// The main job: one step, then the same command resumes to two.
	settings := filepath.Join(dir, "settings.yaml")
	if err := os.WriteFile(settings, []byte("batch_size: 1\nn_samples: 2\nkeep_checkpoints: 5\noptim: {lora_rank: 4}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := []string{"run", "-m", model, "--out", filepath.Join(dir, "run"), "--config", settings,
		"--max-response-length", "16", "--seed-factor", "0", "--save-every", "1", "--ctx", "8192"}
	if _, err := azr(t, append(run, "--steps", "1")...); err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := azr(t, append(run, "--steps", "2")...); err != nil {
		t.Fatalf("run (resume): %v", err)
	}
	metrics, err := os.ReadFile(filepath.Join(dir, "run", "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(metrics, []byte("\n")); n != 2 {
		t.Fatalf("metrics.jsonl has %d lines after 1 + 1 resumed steps, want 2", n)
	}
	for _, f := range []string{"config.json", "checkpoints/latest", "checkpoints/step-000002/policy/adapter.gguf"} {
		if _, err := os.Stat(filepath.Join(dir, "run", f)); err != nil {
			t.Errorf("run dir: %v", err)
		}
	}
	// The effective settings are written to the run directory, and are a valid config.
	effective, err := os.ReadFile(filepath.Join(dir, "run", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var eff struct {
		BatchSize       int    `json:"batch_size"`
		KeepCheckpoints int    `json:"keep_checkpoints"`
		MaxResponse     int    `json:"max_response_length"`
		Steps           int    `json:"steps"`
		Model           string `json:"model"`
		Optim           struct {
			LoRARank int `json:"lora_rank"`
		} `json:"optim"`
	}
	if err := json.Unmarshal(effective, &eff); err != nil {
		t.Fatal(err)
	}
	if eff.BatchSize != 1 || eff.KeepCheckpoints != 5 || eff.MaxResponse != 16 || eff.Steps != 2 || eff.Optim.LoRARank != 4 || eff.Model != model {
		t.Errorf("config.json: %s", effective)
	}
	if _, err := azr(t, "run", "--print-config", "--config", filepath.Join(dir, "run", "config.json")); err != nil {
		t.Errorf("config.json is not a valid --config: %v", err)
	}
	// The run's report: the page's path on stdout (internal/report tests the page).
	out, err = azr(t, "report", filepath.Join(dir, "run"))
	if want := filepath.Join(dir, "run", "report.html"); err != nil || strings.TrimSpace(out) != want {
		t.Errorf("report: printed %q (%v), want %s", out, err, want)
	}
}

func TestCLIErrorsAreClear(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"model", "info", "/nonexistent.gguf"}, "/nonexistent.gguf"},
		{[]string{"generate", "-m", "/nonexistent.gguf", "-p", "x"}, "no such file"},
		{[]string{"generate", "-m", "/nonexistent.gguf"}, "no prompts"},
		{[]string{"model", "tiny", "--out", "/tmp/x.gguf", "--quant", "q3"}, "quant"},
		{[]string{"--log-format", "xml", "model", "info", "x"}, "log-format"},
		{[]string{"--threads", "0", "model", "info", "x"}, "threads"},
		{[]string{"run", "-m", "/nonexistent.gguf", "--out", "/tmp/azr-never", "--batch-size", "0"}, "batch_size"},
		{[]string{"run", "-m", "/nonexistent.gguf", "--out", "/tmp/azr-never", "--gpu-layers", "-3"}, "gpu_layers must be"},
	} {
		_, err := azr(t, tc.args...)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}

func TestCLIHelpForEveryCommand(t *testing.T) {
	app := newApp()
	for _, c := range app.Commands {
		args := []string{c.Name, "--help"}
		if _, err := azr(t, args...); err != nil {
			t.Errorf("%v: %v", args, err)
		}
		for _, sub := range c.Subcommands {
			if sub.Name == "help" {
				continue
			}
			args := []string{c.Name, sub.Name, "--help"}
			if _, err := azr(t, args...); err != nil {
				t.Errorf("%v: %v", args, err)
			}
		}
	}
}

// run --seed-file starts from the given seed tasks (the reference's JSONL
// layout); without one, seeding with a model that cannot write a task (a
// random tiny model) stops after a few rounds with advice, not 100 rounds.
func TestCLIRunSeedFileAndHopelessSeeding(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.gguf")
	if _, err := azr(t, "model", "tiny", "--out", model); err != nil {
		t.Fatalf("model tiny: %v", err)
	}
	seeds := filepath.Join(dir, "7b_seed_io.jsonl")
	row := `{"snippet": "def f(x):\n    return x * 3", "input": "2", "output": "6", "imports": [], "original_snippet": "def f(x):\n    return x * 3", "composite_functions": []}` + "\n"
	if err := os.WriteFile(seeds, []byte(row), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"-m", model, "--batch-size", "1", "--n-samples", "2", "--max-response-length", "16", "--ctx", "4096",
		"--seed-factor", "4", "--lora-rank", "4"}
	// One deduction-only step (the cheapest step that saves a checkpoint).
	if _, err := azr(t, append([]string{"run", "--out", filepath.Join(dir, "seeded"), "--steps", "1", "--task-types", "deduction", "--seed-file", seeds}, common...)...); err != nil {
		t.Fatalf("run --seed-file: %v", err)
	}
	state, err := os.ReadFile(filepath.Join(dir, "seeded", "checkpoints", "step-000001", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(state), `return x * 3`) {
		t.Errorf("the seed file's task is not in the buffers")
	}
	_, err = azr(t, append([]string{"run", "--out", filepath.Join(dir, "hopeless"), "--steps", "1"}, common...)...)
	if err == nil || !strings.Contains(err.Error(), "seeding found no valid triplets in 3 rounds") || !strings.Contains(err.Error(), "--seed-file") {
		t.Fatalf("seeding with a random model: err = %v, want the early stop with advice", err)
	}
}
