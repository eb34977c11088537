package bindings

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// savedState returns the adapter file and the optimizer state file as bytes.
func savedState(t *testing.T, a *Adapter) (adapter, optimizer []byte) {
	t.Helper()
	dir := t.TempDir()
	p, o := filepath.Join(dir, "a.gguf"), filepath.Join(dir, "a.opt")
	if err := a.Save(p, o); err != nil {
		t.Fatal(err)
	}
	var err error
	if adapter, err = os.ReadFile(p); err != nil {
		t.Fatal(err)
	}
	if optimizer, err = os.ReadFile(o); err != nil {
		t.Fatal(err)
	}
	return adapter, optimizer
}

// A step cancelled part-way returns ErrCancelled wrapping ctx's error before
// all of its micro-batches ran (counted by the engine), and leaves the adapter
// and the optimizer state byte-for-byte as they were; the next step works.
// On both training paths: the direct CPU path accumulates gradients on the
// host, the scheduler path in accumulators beside the adapter (device memory
// when layers are offloaded), and neither touches the adapter or its moments
// before the update.
func TestTrainStepCancelled(t *testing.T) {
	for _, tc := range []struct {
		name           string
		forceScheduler bool
	}{
		{"direct path", false},
		{"scheduler path", true},
	} {
		t.Run(tc.name, func(t *testing.T) { testTrainStepCancelled(t, tc.forceScheduler) })
	}
}

func testTrainStepCancelled(t *testing.T, forceScheduler bool) {
	m, _ := trainTiny(t, TinyTest)
	a := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 5, InitBStd: 0.02})
	const micro = 24
	tr := mustTrainer(t, a, TrainOptions{LR: 1e-3, MicroBatch: 1, GradClip: 1, ForceScheduler: forceScheduler})
	if forceScheduler && !tr.UsesScheduler() {
		t.Fatal("ForceScheduler: the trainer is not on the scheduler path")
	}
	lens := make([]int, micro)
	for i := range lens {
		lens[i] = 24
	}
	b := testBatch(7, TinyTest.Vocab, lens...)

	// One full step first: the optimizer moments are no longer zero (so an
	// update during the cancelled step would show), and it times a step.
	full, err := tr.Step(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if full.MicroBatches != micro {
		t.Fatalf("a full step evaluated %d micro-batches, want %d", full.MicroBatches, micro)
	}
	wantA, wantOpt := savedState(t, a)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Step(cancelled, b); !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before the call: err = %v", err)
	}

	// Cancel part-way. A loaded machine can make a step faster or slower
	// than the one timed above, so a step that finished before its deadline
	// is not a failure: it is retried with an earlier deadline.
	var r StepResult
	for wait := full.Duration / 4; ; wait /= 4 {
		ctx, stop := context.WithTimeout(context.Background(), wait)
		r, err = tr.Step(ctx, b)
		stop()
		if err == nil && wait > time.Millisecond {
			t.Logf("the step finished within %v; again with an earlier deadline", wait)
			wantA, wantOpt = savedState(t, a)
			continue
		}
		if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cancelled after %v of a %v step: err = %v", wait, full.Duration, err)
		}
		t.Logf("cancelled after %d of %d micro-batches (%v of a %v step): %v", r.MicroBatches, micro, r.Duration, full.Duration, err)
		break
	}
	if r.MicroBatches >= micro {
		t.Errorf("the cancelled step still evaluated all %d micro-batches", r.MicroBatches)
	}
	gotA, gotOpt := savedState(t, a)
	if !bytes.Equal(gotA, wantA) || !bytes.Equal(gotOpt, wantOpt) {
		t.Errorf("a cancelled step changed the saved state (adapter equal %v, optimizer equal %v)", bytes.Equal(gotA, wantA), bytes.Equal(gotOpt, wantOpt))
	}
	steps := a.Info().Step

	// The flag is down again: the next step runs in full and updates.
	r, err = tr.Step(context.Background(), b)
	if err != nil || r.MicroBatches != micro {
		t.Fatalf("the step after a cancelled one: %d micro-batches, err = %v", r.MicroBatches, err)
	}
	if gotA, _ := savedState(t, a); bytes.Equal(gotA, wantA) || a.Info().Step != steps+1 {
		t.Error("the step after a cancelled one did not update the adapter")
	}
}
