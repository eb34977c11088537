package bindings

import (
	"context"
	"math"
	"testing"
)

// Several AdamW steps on the scheduler path, where the gradient is summed
// over micro-batches in accumulators beside the adapter and the global norm,
// clip and AdamW update run as ggml ops there (float arithmetic), land where
// the same steps on the direct CPU path land (host update in double). The
// model is F32 with exact F32 transposed copies, so the two paths' gradients
// agree to float rounding (TestTrainSchedulerPathMatchesDirect) and what is
// left is the update's own arithmetic. Weight decay is on and the clip is
// tight enough to scale every step's gradient; micro-batches of one
// sequence make each step sum three gradients. Seen: max |diff| 9.9e-7 for
// parameters of size ~0.1 that moved by up to 5e-3 after 5 steps (Adam's
// m/sqrt(v) magnifies float-vs-double rounding where v is tiny); a broken
// bias correction gives 3.7e-3.
func TestSchedulerPathUpdateMatchesDirectOverSteps(t *testing.T) {
	const steps = 5
	const maxAbs = 1e-5 // 0.2 % of the largest move (lr 1e-3 moves parameters by up to ~5e-3 over the steps)
	tm := TinyModel{Arch: "qwen3", Layers: 2, Embedding: 64, Heads: 4, KVHeads: 2, FeedForward: 128, Vocab: 512,
		Context: 4096, Quant: "f32", Seed: 5, TiedOutput: true}
	m, _ := trainTiny(t, tm)
	ad := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 2, InitBStd: 0.02})
	as := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 2, InitBStd: 0.02})
	opts := TrainOptions{LR: 1e-3, MicroBatch: 1, GradClip: 0.05, WeightDecay: 0.1, EntropyCoef: 0.01, HeadChunk: 16, WTType: "f32"}
	direct := mustTrainer(t, ad, opts)
	opts.ForceScheduler = true
	sched := mustTrainer(t, as, opts)
	if !sched.UsesScheduler() {
		t.Fatal("ForceScheduler: the trainer is not on the scheduler path")
	}
	start, _ := ad.Params()
	for i := 0; i < steps; i++ {
		batch := testBatch(int64(20+i), tm.Vocab, 12, 5, 9)
		rd, err := direct.Step(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := sched.Step(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		if rs.MicroBatches != 3 || rd.MicroBatches != 3 {
			t.Fatalf("step %d: %d micro-batches on the scheduler path, %d direct; want 3", i, rs.MicroBatches, rd.MicroBatches)
		}
		if rd.GradNorm <= float64(opts.GradClip) {
			t.Fatalf("step %d: gradient norm %g is within the clip %g: the clip is not exercised", i, rd.GradNorm, opts.GradClip)
		}
		if d := math.Abs(rs.GradNorm-rd.GradNorm) / rd.GradNorm; d > 1e-5 {
			t.Errorf("step %d: gradient norm %g on the scheduler path, %g direct (rel diff %.3g)", i, rs.GradNorm, rd.GradNorm, d)
		}
	}
	pd, _ := ad.Params()
	ps, _ := as.Params()
	d := maxAbsDiff(ps, pd)
	t.Logf("after %d steps: parameters max |scheduler - direct| = %.3g (limit %g), moved by up to %.3g, rel L2 %.3g",
		steps, d, maxAbs, maxAbsDiff(pd, start), relL2(ps, pd))
	if d > maxAbs {
		t.Errorf("parameters differ by up to %.3g after %d steps (limit %g)", d, steps, maxAbs)
	}
	if moved := maxAbsDiff(pd, start); moved < 100*maxAbs {
		t.Errorf("the parameters moved by only %.3g: the comparison says nothing", moved)
	}
	if ad.Info().Step != steps || as.Info().Step != steps {
		t.Errorf("adapter steps %d direct, %d scheduler; want %d", ad.Info().Step, as.Info().Step, steps)
	}
}
