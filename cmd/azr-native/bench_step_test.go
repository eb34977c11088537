package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Overlapping sandbox calls count once: the wall time with any call in flight.
func TestTimedExecutorCountsOverlapOnce(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	e := &timedExecutor{now: func() time.Time { return now }}
	at := func(s float64) { now = t0.Add(time.Duration(s * float64(time.Second))) }
	at(0)
	e.enter() // call A: 0..3
	at(1)
	e.enter() // call B: 1..2, inside A
	at(2)
	e.leave()
	at(3)
	e.leave()
	at(10)
	e.enter() // call C: 10..10.5
	at(10.5)
	e.leave()
	if e.wall != 3.5 || e.calls != 3 {
		t.Errorf("wall %v s over %d calls, want 3.5 s over 3", e.wall, e.calls)
	}
}

// One real step on a tiny model: the parts add up to the step, and the
// counts match the configuration.
func TestBenchStepSplitAddsUp(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.gguf")
	if _, err := azr(t, "model", "tiny", "--out", model); err != nil {
		t.Fatal(err)
	}
	out, err := azr(t, "bench", "step", "-m", model, "--batch-size", "1", "--n-samples", "1", "--max-response-length", "8",
		"--prompt-style", "compact", "--ctx", "4096", "--slots", "4", "--sandbox-isolation", "best-effort", "--json")
	if err != nil {
		t.Fatalf("bench step: %v", err)
	}
	var rep benchStepReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench step --json: %v\n%s", err, out)
	}
	if len(rep.Steps) != 1 || rep.Threads != 1 || rep.BatchSize != 1 || rep.PromptStyle != "compact" {
		t.Fatalf("report %+v", rep)
	}
	s := rep.Steps[0]
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-6+1e-3*math.Abs(b) }
	if !near(s.Generation+s.Sandbox+s.Reward+s.Train, s.Total) {
		t.Errorf("generation %v + sandbox %v + reward %v + train %v != total %v", s.Generation, s.Sandbox, s.Reward, s.Train, s.Total)
	}
	if !near(s.Prompt+s.Decode, s.Generation) || s.Prompt <= 0 || s.Decode < 0 {
		t.Errorf("prompt %v + decode %v != generation %v", s.Prompt, s.Decode, s.Generation)
	}
	var pct float64
	for _, v := range s.Percent {
		pct += v
	}
	if !near(pct, 100) {
		t.Errorf("percentages %v add up to %v", s.Percent, pct)
	}
	// Three proposer and three solver batches of one prompt each, one update
	// over their six sequences; learnability rollouts only for valid proposals.
	if s.GenerateCalls < 6 || s.Sequences < 6 || s.TrainSequences != 6 || s.GeneratedTokens < 6 || s.GeneratedTokens > 8*s.Sequences {
		t.Errorf("counts: %d calls, %d sequences, %d generated tokens, %d trained sequences", s.GenerateCalls, s.Sequences, s.GeneratedTokens, s.TrainSequences)
	}
	if s.Train <= 0 || s.TrainTokens <= 0 {
		t.Errorf("train %v s, %d tokens", s.Train, s.TrainTokens)
	}

	human, err := azr(t, "bench", "step", "-m", model, "--batch-size", "1", "--n-samples", "1", "--max-response-length", "4",
		"--prompt-style", "compact", "--ctx", "4096", "--slots", "4", "--sandbox-isolation", "best-effort")
	if err != nil || !strings.Contains(human, "step 1: ") || !strings.Contains(human, "= generation") {
		t.Errorf("bench step (text): %v\n%s", err, human)
	}
}

func TestBenchStepRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--steps", "0"}, "--steps must be at least 1"},
		{[]string{"--batch-size", "0"}, "batch_size"},
		{[]string{"--prompt-style", "tiny"}, "prompt_style"},
	} {
		_, err := azr(t, append([]string{"bench", "step", "-m", "/nonexistent.gguf"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.want)
		}
	}
}
