package bindings

import (
	"errors"
	"math"
	"path/filepath"
	"testing"
)

// logitsOf returns llama_decode's logits of tokens under model m with the
// LoRA file at adapterPath attached by stock llama.cpp ("" = none), in a
// fresh context.
func logitsOf(t *testing.T, m *Model, adapterPath string, tokens []int32) []float32 {
	t.Helper()
	l, err := m.decodeLogitsWithLoRAFile(adapterPath, tokens)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func relDiff(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(num / den)
}

// A merged model's logits equal the base's with the adapter attached (by
// stock llama.cpp, from the saved file), up to
// the error of quantizing the merged matrices, which is measured against the
// error of quantizing the base's own matrices the same way (an adapter with
// B = 0 merges to the quantized base).
func TestMergeEqualsBasePlusAdapter(t *testing.T) {
	tm := TinyModel{Arch: "qwen2", Layers: 2, Embedding: 256, Heads: 4, KVHeads: 2, FeedForward: 512, Vocab: 512,
		Context: 256, Quant: "f32", Seed: 5, InitScale: 0.1}
	m, basePath := trainTiny(t, tm)
	a := mustAdapter(t, m, LoRAOptions{Rank: 4, Alpha: 8, Seed: 3, InitBStd: 0.05})
	zero := mustAdapter(t, m, LoRAOptions{Rank: 4, Seed: 3})
	tokens := []int32{1, 17, 300, 42, 7, 99, 256, 3, 8, 511, 64, 5}
	adapterPath := filepath.Join(t.TempDir(), "adapter.gguf")
	if err := a.Save(adapterPath, ""); err != nil {
		t.Fatal(err)
	}
	base := logitsOf(t, m, "", tokens)
	want := logitsOf(t, m, adapterPath, tokens)
	if relDiff(want, base) < 1e-3 {
		t.Fatal("the adapter hardly changes the logits; the test would prove nothing")
	}
	dir := t.TempDir()
	for _, c := range []struct {
		quant string
		bound float64 // of the merged error relative to the base's own quantization error
		abs   float64 // absolute slack (f32: float noise)
	}{
		{"f32", 0, 2e-5},
		{"", 0, 2e-5}, // keeps the base's F32
		{"f16", 1.25, 2e-5},
		{"q8_0", 1.25, 1e-4},
		{"q4_k", 1.25, 1e-3},
	} {
		t.Run("quant="+c.quant, func(t *testing.T) {
			out := filepath.Join(dir, "merged-"+c.quant+".gguf")
			info, err := a.Merge(basePath, out, c.quant, 2)
			if err != nil {
				t.Fatal(err)
			}
			if info.Merged != 2*7 || info.DeltaRel <= 0 {
				t.Fatalf("merge info %+v, want 14 merged matrices and a non-zero delta", info)
			}
			merged, err := LoadModel(out, ModelOptions{Threads: 2})
			if err != nil {
				t.Fatalf("llama.cpp does not load the merged model: %v", err)
			}
			defer merged.Close()
			got := logitsOf(t, merged, "", tokens)
			errMerged := relDiff(got, want)

			zeroOut := filepath.Join(dir, "zero-"+c.quant+".gguf")
			if _, err := zero.Merge(basePath, zeroOut, c.quant, 2); err != nil {
				t.Fatal(err)
			}
			q, err := LoadModel(zeroOut, ModelOptions{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			errQuant := relDiff(logitsOf(t, q, "", tokens), base)
			t.Logf("quant %q: merged vs base+adapter rel. error %.3g; base quantized the same way %.3g", c.quant, errMerged, errQuant)
			if errMerged > c.bound*errQuant+c.abs {
				t.Errorf("merged logits differ from base + adapter by %.3g, over %g x the quantization error %.3g + %g", errMerged, c.bound, errQuant, c.abs)
			}
		})
	}

	if _, err := a.Merge(basePath, filepath.Join(dir, "x.gguf"), "q3", 1); !errors.Is(err, ErrInvalidArg) {
		t.Errorf("unknown quantization: %v", err)
	}
	if _, err := a.Merge(basePath, basePath, "", 1); err == nil {
		t.Error("merging onto the base file itself was accepted")
	}
	other := tm
	other.FeedForward = 768
	_, otherPath := trainTiny(t, other)
	if _, err := a.Merge(otherPath, filepath.Join(dir, "y.gguf"), "", 1); !errors.Is(err, ErrInvalidArg) {
		t.Errorf("merging into a base of other shapes: %v", err)
	}
}
