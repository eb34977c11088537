package bindings

import (
	"context"
	"testing"
)

// The backend-scheduler path (what runs when layers are offloaded to a GPU)
// forced onto the CPU alone computes what the direct CPU path computes: the
// same forward ops give bit-identical logits, log-probs and loss; the input
// gradients, which it takes from W dequantized a block at a time (GET_ROWS
// for F32..Q8_0, identity blocks through MUL_MAT for K-quants) instead of a
// transposed copy, agree with exact F32 copies to float rounding. No op is reported as a
// CPU fallback, since the CPU is the only backend.
func TestTrainSchedulerPathMatchesDirect(t *testing.T) {
	for _, tc := range []struct {
		quant, arch      string
		embd, ff         int
		tied             bool
		maxGrad, maxStep float64 // relative L2, scheduler vs direct: gradients; parameters after one AdamW step
	}{
		{"f32", "qwen3", 64, 128, true, 1e-5, 1e-4},
		{"q4_k", "qwen2", 256, 512, false, 1e-5, 1e-4},
	} {
		t.Run(tc.quant, func(t *testing.T) {
			tm := TinyModel{Arch: tc.arch, Layers: 2, Embedding: tc.embd, Heads: 4, KVHeads: 2, FeedForward: tc.ff, Vocab: 512,
				Context: 4096, Quant: tc.quant, Seed: 5, TiedOutput: tc.tied}
			m, _ := trainTiny(t, tm)
			ad := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 2, InitBStd: 0.02})
			as := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 2, InitBStd: 0.02})
			// Exact F32 transposed copies (all of them on the direct path, the
			// output head's on the scheduler path), so that both paths compute
			// the same input gradients up to float rounding.
			opts := TrainOptions{LR: 1e-3, MicroBatch: 2, GradClip: 1, EntropyCoef: 0.01, HeadChunk: 16, WTType: "f32"}
			direct := mustTrainer(t, ad, opts)
			opts.ForceScheduler = true
			sched := mustTrainer(t, as, opts)
			// With the weights on a GPU (AZR_TEST_GPU_LAYERS) both trainers
			// take the scheduler path; the expectations stay the same.
			onGPU := m.Info().GPULayers > 0 || m.Info().OutputOnGPU
			if direct.UsesScheduler() != onGPU || !sched.UsesScheduler() {
				t.Fatalf("UsesScheduler: unforced %v, forced %v (weights on a GPU: %v)", direct.UsesScheduler(), sched.UsesScheduler(), onGPU)
			}
			batch := testBatch(8, tm.Vocab, 23, 9, 17)

			ld, err := direct.logits(batch[0].Tokens)
			if err != nil {
				t.Fatal(err)
			}
			ls, err := sched.logits(batch[0].Tokens)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(ld, ls); d != 0 {
				t.Errorf("logits differ by up to %g", d)
			}
			gd, rd, err := direct.grads(batch, false)
			if err != nil {
				t.Fatal(err)
			}
			gs, rs, err := sched.grads(batch, false)
			if err != nil {
				t.Fatal(err)
			}
			if rd.Loss != rs.Loss || rd.Entropy != rs.Entropy {
				t.Errorf("loss %v / entropy %v on the scheduler path, %v / %v direct", rs.Loss, rs.Entropy, rd.Loss, rd.Entropy)
			}
			d := relL2(gs, gd)
			t.Logf("gradient rel L2 scheduler vs direct: %.3g (limit %g); %v direct, %v scheduler", d, tc.maxGrad, rd.Duration, rs.Duration)
			if d > tc.maxGrad {
				t.Errorf("gradients differ by rel L2 %.3g (limit %g)", d, tc.maxGrad)
			}
			ops := sched.CPUOps()
			if !onGPU && len(ops) != 0 {
				t.Errorf("with the CPU as the only backend, %d ops reported as CPU fallbacks: %v", len(ops), ops[0])
			}
			for _, op := range ops {
				if op.Elements >= 1<<16 || op.SrcElements >= 1<<16 {
					t.Errorf("a big op fell back to the CPU: %+v", op)
				}
			}
			// A step on each: the same update up to the gradients' agreement.
			for _, tr := range []*Trainer{direct, sched} {
				if _, err := tr.Step(context.Background(), batch); err != nil {
					t.Fatal(err)
				}
			}
			pd, _ := ad.Params()
			ps, _ := as.Params()
			if d := relL2(ps, pd); d > tc.maxStep {
				t.Errorf("parameters after one step differ by rel L2 %.3g (limit %g)", d, tc.maxStep)
			}
			sched.Trim()
			if _, err := sched.Step(context.Background(), batch); err != nil {
				t.Fatalf("a step after Trim on the scheduler path: %v", err)
			}
		})
	}
}
