package bindings

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// syntheticNanoVocab is a byte-level BPE vocabulary of exactly n tokens: the
// 256 bytes, merges of printable pairs, then three control tokens.
func syntheticNanoVocab(n int) Vocab {
	b2u := gpt2ByteToUnicode()
	v := Vocab{BOS: -1, PAD: -1}
	for b := 0; b < 256; b++ {
		v.Tokens = append(v.Tokens, b2u[b])
		v.Types = append(v.Types, 1)
	}
	common := " etaoinsrhldcumfpgwybvkxjqz_=(),:.[]'\"0123456789\nETAOINSRHLDCUMFPGWYBVKXJQZ+-*/<>{}#!?;|&%$@^~`\\\t"
	for i := 0; i < len(common) && len(v.Tokens) < n-3; i++ {
		for j := 0; j < len(common) && len(v.Tokens) < n-3; j++ {
			a, b := b2u[common[i]], b2u[common[j]]
			v.Merges = append(v.Merges, a+" "+b)
			v.Tokens = append(v.Tokens, a+b)
			v.Types = append(v.Types, 1)
		}
	}
	for _, s := range []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"} {
		v.Tokens = append(v.Tokens, s)
		v.Types = append(v.Types, 3)
	}
	k := int32(len(v.Tokens))
	v.EOS, v.EOT, v.PAD = k-3, k-1, k-3
	return v
}

// nanoBenchThreads is AZR_NANO_BENCH_THREADS, default 1: on a machine shared
// with other jobs, ggml's spinning thread barriers make two threads slower
// and far noisier than one.
func nanoBenchThreads() int {
	if s, err := strconv.Atoi(os.Getenv("AZR_NANO_BENCH_THREADS")); err == nil && s > 0 {
		return s
	}
	return 1
}

// BenchmarkNanoTrainVsDecode measures a full-parameter training step of the
// nano shape of the pretraining plan (4 layers, 256 wide, 4 heads, ff 768,
// vocabulary 2048, rows of 512) against the baseline it is judged by: a
// forward pass of the same model and tokens through stock llama_decode
// (F32, one 512-token batch). Reported: train_tok/s, decode_tok/s and
// step/forward, how many forward passes one training step costs.
// Env: AZR_NANO_BENCH_ROWS (rows per step, default 4), AZR_NANO_BENCH_THREADS (default 1).
func BenchmarkNanoTrainVsDecode(b *testing.B) {
	shape := NanoShape{Layers: 4, Embd: 256, Heads: 4, KVHeads: 4, FF: 768, Context: 512, RopeTheta: 10000}
	const seqLen = 512
	nSeq, threads := 4, nanoBenchThreads()
	if s, err := strconv.Atoi(os.Getenv("AZR_NANO_BENCH_ROWS")); err == nil && s > 0 {
		nSeq = s
	}
	v := syntheticNanoVocab(2048)
	tr, err := NewNanoTrainer(shape, v, NanoTrainOptions{Threads: threads, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	rows := make([]int32, nSeq*(seqLen+1))
	rng := uint64(12345)
	for i := range rows {
		rng = rng*6364136223846793005 + 1442695040888963407
		rows[i] = int32((rng >> 33) % uint64(len(v.Tokens)-3))
	}
	ctx := context.Background()
	if _, err := tr.Step(ctx, rows, nSeq, seqLen, nil, 1e-3); err != nil { // builds and allocates the graph
		b.Fatal(err)
	}
	if _, err := tr.Loss(ctx, rows, nSeq, seqLen, nil); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "nano.gguf")
	if err := tr.Save(path, "f32"); err != nil {
		b.Fatal(err)
	}
	m, err := LoadModel(path, ModelOptions{Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	g, err := m.NewGenerator(GeneratorOptions{ContextSize: seqLen, Slots: 1, BatchSize: seqLen, Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	seq := rows[:seqLen]
	if _, err := g.EvalLogits(seq); err != nil {
		b.Fatal(err)
	}
	var train, fwd, decode time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := tr.Step(ctx, rows, nSeq, seqLen, nil, 1e-3); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := tr.Loss(ctx, rows, nSeq, seqLen, nil); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		for s := 0; s < nSeq; s++ { // the same number of tokens, one 512-token decode per row
			if _, err := g.EvalLogits(rows[s*(seqLen+1) : s*(seqLen+1)+seqLen]); err != nil {
				b.Fatal(err)
			}
		}
		train += t1.Sub(t0)
		fwd += t2.Sub(t1)
		decode += time.Since(t2)
	}
	toks := float64(b.N * nSeq * seqLen)
	trainTPS, fwdTPS, decTPS := toks/train.Seconds(), toks/fwd.Seconds(), toks/decode.Seconds()
	b.ReportMetric(trainTPS, "train_tok/s")
	b.ReportMetric(fwdTPS, "graph_fwd_tok/s")
	b.ReportMetric(decTPS, "decode_tok/s")
	b.ReportMetric(decTPS/trainTPS, "step/forward")
	b.Logf("%d params, %d rows x %d, %d threads: train %.0f tok/s, our forward+loss %.0f tok/s, llama_decode %.0f tok/s: a step costs %.2f decode forwards",
		tr.NumParams(), nSeq, seqLen, threads, trainTPS, fwdTPS, decTPS, decTPS/trainTPS)
}

// BenchmarkNanoWeightGradients compares the two ways the step can form a
// weight gradient dW = z dyᵀ: a GEMM over the token axis on transposed
// copies (ggml MUL_MAT, the default) and ggml's OUT_PROD (the baseline, what
// ggml's own autodiff emits; AZR_NANO_WGRAD=outprod). Steps alternate
// between two identical trainers so machine load hits both alike.
func BenchmarkNanoWeightGradients(b *testing.B) {
	shape := NanoShape{Layers: 4, Embd: 256, Heads: 4, KVHeads: 4, FF: 768, Context: 512, RopeTheta: 10000}
	const nSeq, seqLen = 2, 512
	v := syntheticNanoVocab(2048)
	rows := make([]int32, nSeq*(seqLen+1))
	for i := range rows {
		rows[i] = int32((i * 7919) % 2000)
	}
	ctx := context.Background()
	mk := func(outprod bool) *NanoTrainer {
		tr, err := NewNanoTrainer(shape, v, NanoTrainOptions{Threads: nanoBenchThreads(), Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		if outprod {
			os.Setenv("AZR_NANO_WGRAD", "outprod")
			defer os.Unsetenv("AZR_NANO_WGRAD")
		}
		if _, err := tr.Step(ctx, rows, nSeq, seqLen, nil, 1e-3); err != nil { // the graph is built here
			b.Fatal(err)
		}
		return tr
	}
	gemm, outp := mk(false), mk(true)
	defer gemm.Close()
	defer outp.Close()
	var tg, to time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		lg, err := gemm.Step(ctx, rows, nSeq, seqLen, nil, 1e-3)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		lo, err := outp.Step(ctx, rows, nSeq, seqLen, nil, 1e-3)
		if err != nil {
			b.Fatal(err)
		}
		tg += t1.Sub(t0)
		to += time.Since(t1)
		if d := lg - lo; d > 1e-3 || d < -1e-3 {
			b.Fatalf("the two weight-gradient paths disagree: loss %.6f vs %.6f", lg, lo)
		}
	}
	b.ReportMetric(tg.Seconds()/float64(b.N), "gemm_s/step")
	b.ReportMetric(to.Seconds()/float64(b.N), "outprod_s/step")
	b.ReportMetric(to.Seconds()/tg.Seconds(), "outprod/gemm")
}

// BenchmarkNanoBackwardHandVsAutodiff compares the gradient of one batch by
// the hand-built backward (what Step uses) with ggml's automatic backward of
// the same forward (ggml_build_backward_expand, the baseline), alternating.
func BenchmarkNanoBackwardHandVsAutodiff(b *testing.B) {
	shape := NanoShape{Layers: 4, Embd: 256, Heads: 4, KVHeads: 4, FF: 768, Context: 512, RopeTheta: 10000}
	const nSeq, seqLen = 2, 512
	v := syntheticNanoVocab(2048)
	rows := make([]int32, nSeq*(seqLen+1))
	for i := range rows {
		rows[i] = int32((i * 7919) % 2000)
	}
	ctx := context.Background()
	tr, err := NewNanoTrainer(shape, v, NanoTrainOptions{Threads: nanoBenchThreads(), Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	if _, _, err := tr.grads(ctx, rows, nSeq, seqLen, nil, gradsHand); err != nil {
		b.Fatal(err)
	}
	if _, _, err := tr.grads(ctx, rows, nSeq, seqLen, nil, gradsAutodiff); err != nil {
		b.Fatal(err)
	}
	var th, ta time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, _, err := tr.grads(ctx, rows, nSeq, seqLen, nil, gradsHand); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, _, err := tr.grads(ctx, rows, nSeq, seqLen, nil, gradsAutodiff); err != nil {
			b.Fatal(err)
		}
		th += t1.Sub(t0)
		ta += time.Since(t1)
	}
	b.ReportMetric(th.Seconds()/float64(b.N), "hand_s/grad")
	b.ReportMetric(ta.Seconds()/float64(b.N), "autodiff_s/grad")
	b.ReportMetric(ta.Seconds()/th.Seconds(), "autodiff/hand")
}
