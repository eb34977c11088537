package bindings

import (
	"context"
	"errors"
	"math"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
)

// trainTiny writes and loads a tiny model for training tests.
func trainTiny(t testing.TB, tm TinyModel) (*Model, string) {
	t.Helper()
	SetLogLevel(3)
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := WriteTinyModel(path, tm); err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(path, ModelOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, path
}

func tinyF32() TinyModel {
	tm := TinyTest
	tm.InitScale = 0.1
	return tm
}

func mustAdapter(t testing.TB, m *Model, opts LoRAOptions) *Adapter {
	t.Helper()
	a, err := m.NewAdapter(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func mustTrainer(t testing.TB, a *Adapter, opts TrainOptions) *Trainer {
	t.Helper()
	tr, err := a.NewTrainer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func randTokens(rng *rand.Rand, n, vocab int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(rng.Intn(vocab))
	}
	return out
}

// testBatch: sequences of different lengths (so padding is exercised), mixed-sign advantages.
func testBatch(seed int64, vocab int, lens ...int) []TrainSeq {
	rng := rand.New(rand.NewSource(seed))
	var b []TrainSeq
	for i, n := range lens {
		adv := make([]float32, n)
		for j := range adv {
			adv[j] = float32(rng.NormFloat64())
		}
		b = append(b, TrainSeq{Tokens: randTokens(rng, n, vocab), ResponseStart: 1 + i%3, Advantages: adv})
	}
	return b
}

func relL2(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(num / math.Max(den, 1e-30))
}

func maxRel(a, b []float32) float64 {
	var mx, scale float64
	for i := range a {
		mx = math.Max(mx, math.Abs(float64(a[i])-float64(b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return mx / math.Max(scale, 1e-30)
}

func TestTrainLogitsMatchDecode(t *testing.T) {
	for _, arch := range []string{"qwen2", "qwen3", "qwen2-tied", "qwen3-tied"} {
		t.Run(arch, func(t *testing.T) {
			tm := tinyF32()
			tm.Arch = arch[:5]
			tm.TiedOutput = len(arch) > 5
			m, _ := trainTiny(t, tm)
			a := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 1, InitBStd: 0.05})
			tr := mustTrainer(t, a, TrainOptions{})
			toks := randTokens(rand.New(rand.NewSource(3)), 37, tm.Vocab)
			got, err := tr.logits(toks)
			if err != nil {
				t.Fatal(err)
			}
			want, err := a.decodeLogits(toks)
			if err != nil {
				t.Fatal(err)
			}
			base, err := m.decodeLogitsWithLoRAFile("", toks)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxRel(got, want); d > 1e-4 {
				t.Fatalf("training logits differ from llama_decode's: max rel %.3g", d)
			} else {
				t.Logf("max rel diff vs llama_decode (adapter attached): %.3g; adapter effect %.3g", d, maxRel(base, want))
			}
			if maxRel(base, want) < 1e-3 {
				t.Fatalf("the adapter does not change llama_decode's logits")
			}
		})
	}
}

func TestTrainGradsMatchAutodiff(t *testing.T) {
	for _, arch := range []string{"qwen2", "qwen3"} {
		t.Run(arch, func(t *testing.T) {
			tm := tinyF32()
			tm.Arch = arch
			m, _ := trainTiny(t, tm)
			a := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 1, InitBStd: 0.05})
			tr := mustTrainer(t, a, TrainOptions{})
			batch := testBatch(5, tm.Vocab, 17, 9, 23)
			hand, r1, err := tr.grads(batch, false)
			if err != nil {
				t.Fatal(err)
			}
			auto, r2, err := tr.grads(batch, true)
			if err != nil {
				t.Fatal(err)
			}
			d := relL2(hand, auto)
			t.Logf("loss hand %.6f autodiff %.6f; grad norm %.4g; rel L2 %.3g", r1.Loss, r2.Loss, r1.GradNorm, d)
			if math.Abs(r1.Loss-r2.Loss) > 1e-4*math.Max(1, math.Abs(r2.Loss)) {
				t.Errorf("loss differs: %v vs %v", r1.Loss, r2.Loss)
			}
			if d > 1e-3 || r1.GradNorm == 0 {
				t.Fatalf("hand-built gradient differs from autodiff: rel L2 %.3g", d)
			}
		})
	}
}

// pairLayout returns, in Params order, the offset and sizes of each adapted
// matrix's A and B for an adapter over every projection of tm.
type pairSlot struct {
	layer    int
	proj     string
	offA, nA int
	offB, nB int
}

func pairLayout(tm TinyModel, rank int, projs []string) []pairSlot {
	hd := tm.Embedding / tm.Heads
	dims := map[string][2]int{ // in, out
		"q": {tm.Embedding, tm.Embedding}, "k": {tm.Embedding, tm.KVHeads * hd}, "v": {tm.Embedding, tm.KVHeads * hd},
		"o": {tm.Embedding, tm.Embedding}, "gate": {tm.Embedding, tm.FeedForward}, "up": {tm.Embedding, tm.FeedForward},
		"down": {tm.FeedForward, tm.Embedding},
	}
	var out []pairSlot
	off := 0
	for l := 0; l < tm.Layers; l++ {
		for _, p := range projs {
			d := dims[p]
			s := pairSlot{layer: l, proj: p, offA: off, nA: d[0] * rank}
			off += s.nA
			s.offB, s.nB = off, rank*d[1]
			off += s.nB
			out = append(out, s)
		}
	}
	return out
}

func TestTrainFiniteDifferences(t *testing.T) {
	cases := []struct {
		name string
		arch string
		opts TrainOptions
		ppo  bool
	}{
		{"qwen2", "qwen2", TrainOptions{}, false},
		{"qwen3", "qwen3", TrainOptions{}, false},
		{"qwen3-tied", "qwen3", TrainOptions{}, false},
		{"qwen2-entropy", "qwen2", TrainOptions{EntropyCoef: 0.3, HeadChunk: 9}, false},
		{"qwen2-ppo", "qwen2", TrainOptions{ClipEps: 0.2, ClipEpsHigh: 0.2, HeadChunk: 6}, true},
		{"qwen2-ppo-clip-higher", "qwen2", TrainOptions{ClipEps: 0.1, ClipEpsHigh: 0.35, HeadChunk: 6}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tm := tinyF32()
			tm.Arch = c.arch
			tm.TiedOutput = strings.HasSuffix(c.name, "-tied")
			m, _ := trainTiny(t, tm)
			const rank = 4
			a := mustAdapter(t, m, LoRAOptions{Rank: rank, Seed: 7, InitBStd: 0.05})
			tr := mustTrainer(t, a, c.opts)
			if a.Info().Params != int64(pairLayout(tm, rank, projectionOrder)[len(pairLayout(tm, rank, projectionOrder))-1].offB+
				pairLayout(tm, rank, projectionOrder)[len(pairLayout(tm, rank, projectionOrder))-1].nB) {
				t.Fatalf("layout mismatch: %d params", a.Info().Params)
			}
			batch := testBatch(11, tm.Vocab, 13, 8, 19)
			if c.ppo {
				// old log-probs near the current ones so that some ratios clip and some do not
				lps, err := tr.LogProbs([][]int32{batch[0].Tokens, batch[1].Tokens, batch[2].Tokens})
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewSource(2))
				for i := range batch {
					old := make([]float32, len(lps[i]))
					for j := range old {
						old[j] = lps[i][j] + float32(rng.NormFloat64()*0.3)
					}
					batch[i].OldLogProbs = old
				}
			}
			grad, res, err := tr.grads(batch, false)
			if err != nil {
				t.Fatal(err)
			}
			if c.ppo {
				t.Logf("clip fraction %.2f", res.ClipFrac)
			}
			params, _ := a.Params()
			lossAt := func(i int, delta float32) float64 {
				p := append([]float32(nil), params...)
				p[i] += delta
				if err := a.SetParams(p); err != nil {
					t.Fatal(err)
				}
				_, r, err := tr.grads(batch, false)
				if err != nil {
					t.Fatal(err)
				}
				return r.Loss
			}
			const eps = 1e-3
			worst := 0.0
			for _, s := range pairLayout(tm, rank, projectionOrder) {
				for _, part := range []struct {
					off, n int
					name   string
				}{{s.offA, s.nA, "A"}, {s.offB, s.nB, "B"}} {
					// the largest-gradient entry of this matrix
					best := part.off
					for i := part.off; i < part.off+part.n; i++ {
						if math.Abs(float64(grad[i])) > math.Abs(float64(grad[best])) {
							best = i
						}
					}
					fd := (lossAt(best, eps) - lossAt(best, -eps)) / (2 * eps)
					g := float64(grad[best])
					rel := math.Abs(fd-g) / math.Max(math.Abs(g), 1e-3)
					worst = math.Max(worst, rel)
					if rel > 0.02 {
						t.Errorf("layer %d %s.%s[%d]: analytic %.6g, finite difference %.6g (rel %.3g)", s.layer, s.proj, part.name, best-part.off, g, fd, rel)
					}
				}
			}
			a.SetParams(params)
			t.Logf("worst relative error over %d matrices: %.3g", 2*len(pairLayout(tm, rank, projectionOrder)), worst)
		})
	}
}

func TestTrainQuantizedGradsMatchF32(t *testing.T) {
	for _, q := range []string{"q8_0", "q4_0", "q4_k"} {
		t.Run(q, func(t *testing.T) {
			tm := TinyModel{Arch: "qwen2", Layers: 2, Embedding: 256, Heads: 4, KVHeads: 2, FeedForward: 512, Vocab: 512,
				Context: 4096, Quant: q, Seed: 3}
			mq, pq := trainTiny(t, tm)
			pf := filepath.Join(t.TempDir(), "f32.gguf")
			if err := dequantizeGGUF(pq, pf); err != nil {
				t.Fatal(err)
			}
			mf, err := LoadModel(pf, ModelOptions{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer mf.Close()
			t.Logf("quantized: %s; reference: %s", mq.Info().FileType, mf.Info().FileType)
			aq := mustAdapter(t, mq, LoRAOptions{Rank: 8, Seed: 1, InitBStd: 0.02})
			af := mustAdapter(t, mf, LoRAOptions{Rank: 8, Seed: 1, InitBStd: 0.02})
			p, _ := aq.Params()
			if err := af.SetParams(p); err != nil {
				t.Fatal(err)
			}
			trq := mustTrainer(t, aq, TrainOptions{})
			trf := mustTrainer(t, af, TrainOptions{})
			batch := testBatch(4, tm.Vocab, 33, 20, 41, 27)
			gq, rq, err := trq.grads(batch, false)
			if err != nil {
				t.Fatal(err)
			}
			gf, rf, err := trf.grads(batch, false)
			if err != nil {
				t.Fatal(err)
			}
			ga, _, err := trf.grads(batch, true) // the F32 reference by autodiff too
			if err != nil {
				t.Fatal(err)
			}
			d := relL2(gq, gf)
			t.Logf("loss %s %.6f vs f32 %.6f; grad rel L2 %.4f (f32 hand vs autodiff %.2g)", q, rq.Loss, rf.Loss, d, relL2(gf, ga))
			if d > 0.02 {
				t.Fatalf("%s gradients differ from the dequantized F32 model's by %.2f%% (limit 2%%)", q, 100*d)
			}
		})
	}
}

// sampledBatch: prompts plus continuations, with one advantage per sequence.
func sampledBatch(rng *rand.Rand, vocab, n, promptLen, respLen int, adv float32) []TrainSeq {
	var b []TrainSeq
	for i := 0; i < n; i++ {
		b = append(b, TrainSeq{Tokens: randTokens(rng, promptLen+respLen, vocab), ResponseStart: promptLen, Advantages: []float32{adv}})
	}
	return b
}

func meanRespLogProb(t *testing.T, tr *Trainer, b []TrainSeq) float64 {
	t.Helper()
	seqs := make([][]int32, len(b))
	for i := range b {
		seqs[i] = b[i].Tokens
	}
	lps, err := tr.LogProbs(seqs)
	if err != nil {
		t.Fatal(err)
	}
	var s float64
	var n int
	for i := range b {
		for j := b[i].ResponseStart; j < len(b[i].Tokens); j++ {
			s += float64(lps[i][j])
			n++
		}
	}
	return s / float64(n)
}

func TestTrainOverfit(t *testing.T) {
	tm := TinyTest
	tm.Quant = "q8_0"
	tm.InitScale = 0.25 // the tied output's row norms bound the logits: room to fit
	m, _ := trainTiny(t, tm)
	a := mustAdapter(t, m, LoRAOptions{Rank: 8, Seed: 1})
	tr := mustTrainer(t, a, TrainOptions{LR: 2e-2, Schedule: "cosine", WarmupSteps: 3, TotalSteps: 60, MinLR: 2e-3, MicroBatch: 2, GradClip: 5})
	b := sampledBatch(rand.New(rand.NewSource(9)), tm.Vocab, 4, 5, 12, 1) // advantage 1 everywhere = NLL
	var losses []float64
	const steps = 60
	for step := 0; step < steps; step++ {
		r, err := tr.Step(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, r.Loss)
		if step%10 == 0 || step == steps-1 {
			t.Logf("step %d loss %.4f grad %.3f lr %.2g tokens %d rows %d %v", step, r.Loss, r.GradNorm, r.LR, r.Tokens, r.Rows, r.Duration)
		}
	}
	if !(losses[steps-1] < 0.6*losses[0]) {
		t.Fatalf("loss did not fall: %.4f -> %.4f", losses[0], losses[steps-1])
	}
	rising := 0
	for i := 1; i < len(losses); i++ {
		if losses[i] > losses[i-1]+1e-3 {
			rising++
		}
	}
	if rising > steps/10 {
		t.Fatalf("loss rose in %d of %d steps: %v", rising, steps-1, losses)
	}
	if got := a.Info().Step; got != steps {
		t.Fatalf("adapter step = %d, want %d", got, steps)
	}
}

func TestTrainReinforceSign(t *testing.T) {
	for _, sign := range []float32{1, -1} {
		tm := TinyTest
		tm.Quant = "q4_0"
		m, _ := trainTiny(t, tm)
		a := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 2})
		tr := mustTrainer(t, a, TrainOptions{LR: 3e-3})
		b := sampledBatch(rand.New(rand.NewSource(1)), tm.Vocab, 3, 6, 10, sign)
		before := meanRespLogProb(t, tr, b)
		for i := 0; i < 3; i++ {
			if _, err := tr.Step(context.Background(), b); err != nil {
				t.Fatal(err)
			}
		}
		after := meanRespLogProb(t, tr, b)
		t.Logf("advantage %+v: mean log pi %.4f -> %.4f", sign, before, after)
		if sign > 0 && !(after > before) || sign < 0 && !(after < before) {
			t.Fatalf("advantage %v moved log pi the wrong way: %.4f -> %.4f", sign, before, after)
		}
	}
}

func TestTrainNonFiniteSkips(t *testing.T) {
	m, _ := trainTiny(t, TinyTest)
	a := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 2, InitBStd: 0.01})
	tr := mustTrainer(t, a, TrainOptions{LR: 1e-3})
	b := sampledBatch(rand.New(rand.NewSource(1)), TinyTest.Vocab, 2, 4, 6, 1)
	before, _ := a.Params()
	// An old log-prob of -1e30 makes the PPO ratio overflow to +Inf.
	bad := append([]TrainSeq(nil), b...)
	for i := range bad {
		old := make([]float32, len(bad[i].Tokens))
		for j := range old {
			old[j] = -1e30
		}
		bad[i].OldLogProbs = old
		bad[i].Advantages = []float32{-1}
	}
	r, err := tr.Step(context.Background(), bad)
	if err == nil || !r.Skipped {
		t.Fatalf("want a skipped step, got %+v, %v", r, err)
	}
	t.Logf("skipped: %v", err)
	after, _ := a.Params()
	if relL2(after, before) != 0 || a.Info().Step != 0 {
		t.Fatalf("a skipped step changed the adapter")
	}
	// Bad inputs are refused before any work.
	for _, bb := range [][]TrainSeq{
		{{Tokens: []int32{1, 2, 3}, ResponseStart: 1, Advantages: []float32{float32(math.NaN())}}},
		{{Tokens: []int32{1, 2, 99999}, ResponseStart: 1, Advantages: []float32{1}}},
		{{Tokens: []int32{1, 2, 3}, ResponseStart: 0, Advantages: []float32{1}}},
		{{Tokens: []int32{1, 2, 3}, ResponseStart: 1, Advantages: []float32{1, 2}}},
	} {
		if _, err := tr.Step(context.Background(), bb); !errors.Is(err, ErrInvalidArg) {
			t.Errorf("batch %+v: want invalid argument, got %v", bb, err)
		}
	}
	if _, err := tr.Step(context.Background(), b); err != nil {
		t.Fatalf("a good step after the skipped one failed: %v", err)
	}
	tr.Trim()
	if _, err := tr.Step(context.Background(), b); err != nil {
		t.Fatalf("a step after Trim failed: %v", err)
	}
}

// LogProbs of a padded batch equal each sequence alone and the log-softmax of
// llama_decode's logits; the step's loss is -(1/N) sum A_t log pi(y_t).
func TestTrainLogProbsAndLoss(t *testing.T) {
	tm := TinyTest
	tm.Quant = "q8_0"
	m, _ := trainTiny(t, tm)
	a := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 3, InitBStd: 0.05})
	tr := mustTrainer(t, a, TrainOptions{MicroBatch: 2})
	b := testBatch(21, tm.Vocab, 12, 5, 30)
	b[1].Mask = []bool{true, true, false, true, true}
	seqs := [][]int32{b[0].Tokens, b[1].Tokens, b[2].Tokens}
	all, err := tr.LogProbs(seqs)
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	var n int
	for i, s := range seqs {
		one, err := tr.LogProbs([][]int32{s})
		if err != nil {
			t.Fatal(err)
		}
		if d := maxRel(all[i], one[0]); d > 1e-5 {
			t.Fatalf("sequence %d: batched log-probs differ from alone: %.3g", i, d)
		}
		lg, err := a.decodeLogits(s)
		if err != nil {
			t.Fatal(err)
		}
		for j := 1; j < len(s); j++ {
			row := lg[(j-1)*tm.Vocab : j*tm.Vocab]
			mx := row[0]
			for _, x := range row {
				mx = float32(math.Max(float64(mx), float64(x)))
			}
			var se float64
			for _, x := range row {
				se += math.Exp(float64(x - mx))
			}
			ref := float64(row[s[j]]-mx) - math.Log(se)
			if math.Abs(ref-float64(all[i][j])) > 1e-4 {
				t.Fatalf("sequence %d token %d: log pi %.6f, from llama_decode %.6f", i, j, all[i][j], ref)
			}
			if j >= b[i].ResponseStart && (b[i].Mask == nil || b[i].Mask[j]) {
				want -= float64(b[i].Advantages[j]) * ref
				n++
			}
		}
	}
	want /= float64(n)
	_, r, err := tr.grads(b, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Tokens != int64(n) || math.Abs(r.Loss-want) > 1e-5 {
		t.Fatalf("loss %.6f over %d tokens, want %.6f over %d", r.Loss, r.Tokens, want, n)
	}
	t.Logf("loss %.6f over %d tokens (entropy %.3f)", r.Loss, r.Tokens, r.Entropy)
}

func TestTrainMicroBatchAccumulation(t *testing.T) {
	m, _ := trainTiny(t, tinyF32())
	a := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 3, InitBStd: 0.05})
	tr := mustTrainer(t, a, TrainOptions{})
	b := testBatch(8, TinyTest.Vocab, 7, 19, 11, 4)
	full, r1, err := tr.grads(b, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []TrainOptions{{MicroBatch: 1}, {HeadChunk: 7}, {MicroBatch: 3, HeadChunk: 5}} {
		if err := tr.SetOptions(o); err != nil {
			t.Fatal(err)
		}
		acc, r2, err := tr.grads(b, false)
		if err != nil {
			t.Fatal(err)
		}
		d := relL2(acc, full)
		t.Logf("whole batch (%d rows) vs %+v (%d rows): loss %.6f / %.6f, grad rel L2 %.2g", r1.Rows, o, r2.Rows, r1.Loss, r2.Loss, d)
		if d > 1e-5 || math.Abs(r1.Loss-r2.Loss) > 1e-6 {
			t.Fatal("gradient accumulation / head chunking differs from the whole batch")
		}
	}
}

// The PPO ratio is clipped to [1-ClipEps, 1+ClipEpsHigh]: a token counts as
// clipped when its advantage pushes the ratio past the bound on its side.
func TestTrainPPOClipBoundsAreSeparate(t *testing.T) {
	tm := tinyF32()
	m, _ := trainTiny(t, tm)
	a := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 7, InitBStd: 0.05})
	batch := testBatch(11, tm.Vocab, 13, 8, 19)
	probe := mustTrainer(t, a, TrainOptions{})
	lps, err := probe.LogProbs([][]int32{batch[0].Tokens, batch[1].Tokens, batch[2].Tokens})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(2))
	for i := range batch {
		old := make([]float32, len(lps[i]))
		for j := range old {
			old[j] = lps[i][j] + float32(rng.NormFloat64()*0.3)
		}
		batch[i].OldLogProbs = old
	}
	expected := func(low, high float64) float64 {
		clipped, n := 0, 0
		for i, s := range batch {
			for j := s.ResponseStart; j < len(s.Tokens); j++ {
				ratio := math.Exp(float64(lps[i][j]) - float64(s.OldLogProbs[j]))
				adv := float64(s.Advantages[j])
				if (adv > 0 && ratio > 1+high) || (adv < 0 && ratio < 1-low) {
					clipped++
				}
				n++
			}
		}
		return float64(clipped) / float64(n)
	}
	for _, c := range []struct{ low, high float64 }{{0.2, 0.2}, {0.05, 0.4}, {0.4, 0.05}, {0, 0}} {
		tr := mustTrainer(t, a, TrainOptions{ClipEps: float32(c.low), ClipEpsHigh: float32(c.high)})
		_, res, err := tr.grads(batch, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := expected(c.low, c.high); math.Abs(res.ClipFrac-want) > 1e-9 {
			t.Errorf("clip [1-%g, 1+%g]: clip fraction %.4f, want %.4f", c.low, c.high, res.ClipFrac, want)
		}
	}
	if expected(0.05, 0.4) == expected(0.4, 0.05) {
		t.Fatal("the batch does not tell the two bounds apart")
	}
	if _, err := a.NewTrainer(TrainOptions{ClipEps: 1.5}); !errors.Is(err, ErrInvalidArg) {
		t.Errorf("ClipEps 1.5: err = %v, want an invalid-argument error", err)
	}
}
