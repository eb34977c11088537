package bindings

import (
	"math"
	"math/rand"
	"path/filepath"
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
	for _, arch := range []string{"qwen2", "qwen3"} {
		t.Run(arch, func(t *testing.T) {
			tm := tinyF32()
			tm.Arch = arch
			m, _ := trainTiny(t, tm)
			a := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 1, InitBStd: 0.05})
			tr := mustTrainer(t, a, TrainOptions{})
			toks := randTokens(rand.New(rand.NewSource(3)), 37, tm.Vocab)
			got, err := tr.Logits(toks)
			if err != nil {
				t.Fatal(err)
			}
			want, err := a.DecodeLogits(toks)
			if err != nil {
				t.Fatal(err)
			}
			base, err := m.DecodeLogitsWithLoRAFile("", toks)
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
			hand, r1, err := tr.Grads(batch, false)
			if err != nil {
				t.Fatal(err)
			}
			auto, r2, err := tr.Grads(batch, true)
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
