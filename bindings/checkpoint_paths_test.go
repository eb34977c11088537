package bindings

import (
	"context"
	"path/filepath"
	"testing"
)

// TestCheckpointMovesBetweenTrainingPaths: a checkpoint (the adapter GGUF and
// the optimizer state) written by a trainer on the backend-scheduler path,
// the one that runs when layers are on a GPU, resumes on the direct CPU path,
// and the other way round. The files are host bytes: the loaded adapter equals
// the saved one exactly, and the step taken after resuming matches the step
// the writing trainer takes when it simply continues, to the two paths'
// agreement (TestTrainSchedulerPathMatchesDirect: the scheduler path takes
// input gradients from W dequantized block by block, the direct path from a
// transposed Q8_0 copy). Resuming without the optimizer state lands farther
// away, so the state is carried, not rebuilt.
func TestCheckpointMovesBetweenTrainingPaths(t *testing.T) {
	tm := TinyModel{Arch: "qwen2", Layers: 2, Embedding: 256, Heads: 4, KVHeads: 2, FeedForward: 512, Vocab: 512,
		Context: 4096, Quant: "q4_k", Seed: 5}
	m, _ := trainTiny(t, tm)
	opts := TrainOptions{LR: 1e-3, MicroBatch: 2, GradClip: 1}
	first, second := testBatch(8, tm.Vocab, 23, 9, 17), testBatch(9, tm.Vocab, 11, 30, 5)
	const maxStep = 2e-3 // relative L2 of the parameters after the resumed step (seen: ~3e-4)
	step := func(tr *Trainer, batch []TrainSeq) {
		t.Helper()
		if _, err := tr.Step(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	params := func(a *Adapter) []float32 {
		t.Helper()
		p, err := a.Params()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name                  string
		writeSched, readSched bool
	}{
		{"scheduler path to direct path", true, false},
		{"direct path to scheduler path", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 2, InitBStd: 0.02})
			wo := opts
			wo.ForceScheduler = tc.writeSched
			w := mustTrainer(t, a, wo)
			step(w, first)
			dir := t.TempDir()
			adapterPath, optPath := filepath.Join(dir, "adapter.gguf"), filepath.Join(dir, "optimizer.bin")
			if err := a.Save(adapterPath, optPath); err != nil {
				t.Fatal(err)
			}
			saved := params(a)
			step(w, second) // the writer continues: what a resumed run should reproduce
			want := params(a)

			resume := func(withOptimizer bool) []float32 {
				t.Helper()
				opt := optPath
				if !withOptimizer {
					opt = ""
				}
				r, err := m.LoadAdapter(adapterPath, opt)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close() })
				if d := maxAbsDiff(params(r), saved); d != 0 {
					t.Fatalf("loaded adapter differs from the saved one by up to %g", d)
				}
				ro := opts
				ro.ForceScheduler = tc.readSched
				tr := mustTrainer(t, r, ro)
				// With the weights on a GPU (AZR_TEST_GPU_LAYERS) every trainer
				// takes the scheduler path; the checkpoint must still carry over.
				onGPU := m.Info().GPULayers > 0 || m.Info().OutputOnGPU
				if tr.UsesScheduler() != (tc.readSched || onGPU) {
					t.Fatalf("resumed trainer UsesScheduler %v, want %v (weights on a GPU: %v)", tr.UsesScheduler(), tc.readSched || onGPU, onGPU)
				}
				step(tr, second)
				return params(r)
			}
			got := resume(true)
			fresh := resume(false)
			dGot, dFresh := relL2(got, want), relL2(fresh, want)
			t.Logf("after the resumed step, rel L2 to the continued run: %.3g with the optimizer state, %.3g without", dGot, dFresh)
			if dGot > maxStep {
				t.Errorf("the resumed step differs from the continued one by rel L2 %.3g (limit %g)", dGot, maxStep)
			}
			if dFresh <= dGot {
				t.Errorf("resuming without the optimizer state (%.3g) is no farther than with it (%.3g): the state was not carried", dFresh, dGot)
			}
		})
	}
}
