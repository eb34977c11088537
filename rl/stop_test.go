package rl

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// RequestStop ends Run after the step in progress with a checkpoint of the
// finished steps, even between save_every checkpoints.
func TestRequestStopCheckpointsFinishedSteps(t *testing.T) {
	ctx := context.Background()
	cfg := smallConfig(6)
	cfg.SaveEvery = 100
	tr, dir := trainerInDir(t, cfg, &scriptedPolicy{})
	defer tr.Close()
	tr.OnStep = func(m StepMetrics) {
		if m.Step == 2 {
			tr.RequestStop() // as a signal handler would, while step 2 finishes
		}
	}
	if err := tr.Run(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if tr.StepCount() != 2 || !tr.StopRequested() {
		t.Fatalf("stopped at step %d (requested %v), want 2", tr.StepCount(), tr.StopRequested())
	}
	ckpt, err := LatestCheckpoint(dir)
	if err != nil || filepath.Base(ckpt) != "step-000002" {
		t.Fatalf("latest checkpoint %q (%v), want step-000002", ckpt, err)
	}

	// Resumed and stopped before any step: the checkpoint is not rewritten.
	resumed, err := Resume(ckpt, &scriptedPolicy{}, &fakeExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := resumed.SetDir(dir); err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	before, _ := os.Stat(filepath.Join(ckpt, "state.json"))
	resumed.RequestStop()
	if err := resumed.Run(ctx, 5); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(filepath.Join(ckpt, "state.json"))
	if err != nil || !after.ModTime().Equal(before.ModTime()) || resumed.StepCount() != 2 {
		t.Fatalf("a stop with no new step rewrote the checkpoint or stepped (step %d, %v)", resumed.StepCount(), err)
	}
}

// Rewriting a step's checkpoint moves the old copy aside before the new one
// takes its name; a process killed in between leaves the old copy findable.
func TestCheckpointRewriteKeepsACompleteCopy(t *testing.T) {
	cfg := smallConfig(6)
	tr, dir := trainerInDir(t, cfg, &scriptedPolicy{})
	defer tr.Close()
	if _, err := tr.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	first, err := tr.Save()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Save(); err != nil { // the same step again
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoints", ".old-step-000001")); !os.IsNotExist(err) {
		t.Errorf("the aside copy was left behind: %v", err)
	}
	// A kill between the two renames: only the aside copy exists.
	aside := filepath.Join(dir, "checkpoints", ".old-step-000001")
	if err := os.Rename(first, aside); err != nil {
		t.Fatal(err)
	}
	ckpt, err := LatestCheckpoint(dir)
	if err != nil || ckpt != aside {
		t.Fatalf("LatestCheckpoint = %q (%v), want the aside copy", ckpt, err)
	}
	if st, err := LoadCheckpointState(ckpt); err != nil || st.Step != 1 {
		t.Fatalf("the aside copy does not load: %v", err)
	}
}

// trainerInDir is a trainer on the doubles with its run directory set to a
// fresh temporary one (the caller closes it).
func trainerInDir(t *testing.T, cfg Config, pol Policy) (*Trainer, string) {
	t.Helper()
	tr, err := NewTrainer(cfg, pol, &fakeExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := tr.SetDir(dir); err != nil {
		t.Fatal(err)
	}
	return tr, dir
}
