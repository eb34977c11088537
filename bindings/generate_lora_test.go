package bindings

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Generation sees the live adapter: attaching changes the samples, an
// in-place parameter update changes the next call with no reload, and
// detaching restores the base model.
func TestGeneratorUsesLiveAdapter(t *testing.T) {
	m := loadModel(t, testModelSpec)
	g := newGen(t, m, GeneratorOptions{ContextSize: 512, Slots: 2})
	prompt := []Prompt{{Tokens: tokenize(t, m, "def f(x):"), Samples: 1}}
	var last Sample
	gen := func() []float32 {
		t.Helper()
		out, _, err := g.Generate(context.Background(), prompt, Sampling{MaxTokens: 8, IgnoreEOS: true})
		if err != nil {
			t.Fatal(err)
		}
		last = out[0]
		return out[0].LogProbs
	}
	base := gen()

	a, err := m.NewAdapter(LoRAOptions{Rank: 4, Alpha: 8, Seed: 3, InitBStd: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetLoRA(a, 1); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err == nil {
		t.Fatal("closing an attached adapter succeeded")
	}
	adapted := gen()
	if cmp.Equal(base, adapted) {
		t.Fatal("attaching a non-zero adapter changed nothing")
	}
	params, err := a.Params()
	if err != nil {
		t.Fatal(err)
	}
	for i := range params {
		params[i] *= 2
	}
	if err := a.SetParams(params); err != nil {
		t.Fatal(err)
	}
	updated := gen()
	if cmp.Equal(adapted, updated) {
		t.Fatal("an in-place adapter update was not seen by the next generation")
	}
	// The sampled log-probs are those of the updated adapter: the same
	// tokens scored by llama_decode in this context agree to float noise, and
	// a fresh context with an F32 KV cache (ours is F16) agrees to 2e-2.
	seq := append(append([]int32{}, prompt[0].Tokens...), last.Tokens...)
	fresh, err := a.decodeLogits(seq)
	if err != nil {
		t.Fatal(err)
	}
	same, err := g.EvalLogits(seq)
	if err != nil {
		t.Fatal(err)
	}
	v, p := m.Info().Vocab, len(prompt[0].Tokens)
	for k, tok := range last.Tokens {
		rows := func(l []float32) []float32 { return l[(p-1+k)*v : (p+k)*v] }
		if d := math.Abs(logSoftmaxAt(rows(same), tok) - float64(updated[k])); d > 1e-4 {
			t.Errorf("token %d: generation log-prob %v, this context's llama_decode differs by %g", k, updated[k], d)
		}
		if d := math.Abs(logSoftmaxAt(rows(fresh), tok) - float64(updated[k])); d > 2e-2 {
			t.Errorf("token %d: generation log-prob %v, a fresh context with the adapter differs by %g", k, updated[k], d)
		}
	}
	if err := g.SetLoRA(nil, 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(base, gen()); diff != "" {
		t.Fatalf("after detaching, generation differs from the base model:\n%s", diff)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("closing a detached adapter: %v", err)
	}
	if err := g.SetLoRA(a, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("attaching a closed adapter: %v", err)
	}
}
