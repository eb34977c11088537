package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The whole experiment on a test-sized base: every arm runs real self-play
// steps on the real engine and sandbox, every checkpoint is evaluated, the
// control continues pretraining, and the results, table and plots are written.
// A second invocation reuses everything and starts no evaluation again.
func TestCLINanoExperimentEndToEnd(t *testing.T) {
	dir := t.TempDir()
	data, base, out := filepath.Join(dir, "data"), filepath.Join(dir, "base"), filepath.Join(dir, "exp")
	if o, err := azr(t, "nano", "data", "--out", data, "--programs", "24", "--eval-items", "4", "--parallel", "2"); err != nil {
		t.Fatalf("nano data: %v\n%s", err, o)
	}
	if o, err := azr(t, "--threads", "1", "nano", "pretrain", "--data", data, "--out", base, "--size", "test", "--vocab", "400",
		"--seq-len", "256", "--tokens", "10240", "--eval-every", "5", "--heldout-percent", "10"); err != nil {
		t.Fatalf("nano pretrain: %v\n%s", err, o)
	}
	experimentArgs := []string{"--threads", "1", "nano", "experiment", "--base-run", base, "--evals", filepath.Join(data, "eval", "test"),
		"--out", out, "--steps", "2", "--eval-every", "2", "--eval-limit", "2", "--control-tokens", "5120",
		"--", "--batch-size", "2", "--n-samples", "2", "--max-response-length", "32", "--max-prompt-length", "200", "--seed-factor", "0"}
	cmd, stderr := cliProcess(t, experimentArgs...)
	if err := cmd.Run(); err != nil {
		t.Fatalf("nano experiment: %v\n%s", err, stderr)
	}
	var res experimentResults
	js, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Base) != 6 || len(res.Arms) != 3 || res.Control == nil || len(res.Control.Eval) != 6 || res.Control.Steps < 1 {
		t.Fatalf("results: base %v, %d arms, control %+v", res.Base, len(res.Arms), res.Control)
	}
	if res.Control.Budget != "5120 tokens" || res.Control.Tokens != 5120 {
		t.Errorf("control budget %q, %d tokens trained; want 5120 tokens", res.Control.Budget, res.Control.Tokens)
	}
	for _, a := range res.Arms {
		if len(a.Evals) != 1 || len(a.Evals[2]) != 6 {
			t.Errorf("%s: evaluations %v, want step 2 for all three tasks", a.Name, a.Evals)
		}
		if a.SelfPlaySeconds <= 0 {
			t.Errorf("%s: self-play time %g", a.Name, a.SelfPlaySeconds)
		}
		if len(a.SignalSteps) != 2 || a.SignalSteps[0].Step != 1 || a.SignalSteps[1].Step != 2 {
			t.Errorf("%s: per-step signal %+v, want steps 1 and 2", a.Name, a.SignalSteps)
		}
	}
	var cfg map[string]any
	js, _ = os.ReadFile(filepath.Join(out, "no-induction", "config.json"))
	if err := json.Unmarshal(js, &cfg); err != nil || len(cfg["task_types"].([]any)) != 2 {
		t.Errorf("no-induction arm ran with task types %v (%v)", cfg["task_types"], err)
	}
	js, _ = os.ReadFile(filepath.Join(out, "frozen-proposer", "config.json"))
	if err := json.Unmarshal(js, &cfg); err != nil || cfg["train_propose"] != false {
		t.Errorf("frozen-proposer arm ran with train_propose %v (%v)", cfg["train_propose"], err)
	}
	doc, err := os.ReadFile(filepath.Join(out, "EXPERIMENT.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| base |", "| full |", "| frozen-proposer |", "| no-induction |", "| pretrain-control |", "nano pretrain --init", "experiment-mean.png", "expected form", "valid proposals, first", "experiment-signal.png"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("EXPERIMENT.md lacks %q", want)
		}
	}
	for _, name := range []string{"experiment-mean.png", "experiment-deduction.png", "experiment-abduction.png", "experiment-induction.png", "experiment-signal.png"} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		f.Close()
	}

	cmd, stderr = cliProcess(t, experimentArgs...)
	if err := cmd.Run(); err != nil {
		t.Fatalf("second nano experiment: %v\n%s", err, stderr)
	}
	if strings.Contains(stderr.String(), `"part": "eval-`) || strings.Contains(stderr.String(), "part\":\"eval-") {
		t.Errorf("the second invocation evaluated again:\n%s", stderr)
	}
	var again experimentResults
	js, _ = os.ReadFile(filepath.Join(out, "results.json"))
	if err := json.Unmarshal(js, &again); err != nil || meanScore(again.Base) != meanScore(res.Base) {
		t.Errorf("rerun results differ: %v", err)
	}
	if !slices.Equal(again.Commands, res.Commands) {
		t.Errorf("the rerun's report lists other commands:\n%s\nthe first listed\n%s", strings.Join(again.Commands, "\n"), strings.Join(res.Commands, "\n"))
	}
}

func TestQuarterMeans(t *testing.T) {
	var steps []stepSignal
	for i := 1; i <= 8; i++ {
		steps = append(steps, stepSignal{Step: i, ValidProposalRate: float64(i)})
	}
	valid := func(s stepSignal) float64 { return s.ValidProposalRate }
	if f, l := quarterMeans(steps, valid); f != 1.5 || l != 7.5 {
		t.Errorf("8 steps: first and last quarter %g, %g, want 1.5, 7.5", f, l)
	}
	if f, l := quarterMeans(steps[:3], valid); f != 1 || l != 3 {
		t.Errorf("3 steps: %g, %g, want 1, 3 (one step each)", f, l)
	}
	if f, l := quarterMeans(nil, valid); f != 0 || l != 0 {
		t.Errorf("no steps: %g, %g", f, l)
	}
}
