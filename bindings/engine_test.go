package bindings

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// testModelSpec has weights large enough that logits are peaked, so greedy
// decoding has no near-ties that float noise between batch shapes could flip.
var testModelSpec = TinyModel{Arch: "qwen2", Layers: 2, Embedding: 64, Heads: 4, KVHeads: 2, FeedForward: 128,
	Vocab: 512, Context: 4096, Quant: "f32", Seed: 7, InitScale: 0.3}

func writeModel(t testing.TB, spec TinyModel) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), spec.Arch+"-"+spec.Quant+".gguf")
	if err := WriteTinyModel(path, spec); err != nil {
		t.Fatalf("WriteTinyModel: %v", err)
	}
	return path
}

func loadModel(t testing.TB, spec TinyModel) *Model {
	t.Helper()
	m, err := LoadModel(writeModel(t, spec), ModelOptions{Threads: 1})
	if err != nil {
		t.Fatalf("LoadModel: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newGen(t testing.TB, m *Model, opts GeneratorOptions) *Generator {
	t.Helper()
	g, err := m.NewGenerator(opts)
	if err != nil {
		t.Fatalf("NewGenerator: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func tokenize(t testing.TB, m *Model, s string) []int32 {
	t.Helper()
	toks, err := m.Tokenize(s, false, true)
	if err != nil {
		t.Fatalf("Tokenize(%q): %v", s, err)
	}
	return toks
}

func TestTinyModelsLoadInEveryQuantization(t *testing.T) {
	for _, arch := range []string{"qwen2", "qwen3"} {
		for _, q := range []string{"f32", "f16", "q8_0", "q4_0", "q4_k"} {
			t.Run(arch+"/"+q, func(t *testing.T) {
				spec := testModelSpec
				spec.Arch, spec.Quant = arch, q
				if q == "q4_k" {
					spec.Embedding, spec.FeedForward = 256, 512 // K-quants need rows of 256
				}
				m := loadModel(t, spec)
				info := m.Info()
				if info.Arch != arch || info.Layers != 2 || info.Vocab != 512 || info.Embedding != spec.Embedding {
					t.Fatalf("info = %+v", info)
				}
				if !strings.Contains(strings.ToLower(info.FileType), q) {
					t.Errorf("file type %q does not name %s", info.FileType, q)
				}
				g := newGen(t, m, GeneratorOptions{ContextSize: 256, Slots: 2})
				out, _, err := g.Generate(context.Background(), []Prompt{{Tokens: tokenize(t, m, "def f(x):"), Samples: 2}},
					Sampling{Temperature: 1, MaxTokens: 5, Seed: 1})
				if err != nil || len(out) != 2 {
					t.Fatalf("Generate: %v (%d samples)", err, len(out))
				}
			})
		}
	}
}

func TestTokenizeRoundTrip(t *testing.T) {
	m := loadModel(t, testModelSpec)
	for _, text := range []string{
		"def f(x):\n    return x * 2",
		"héllo wörld — ünïcode ✓",
		"<|im_start|>user\nhi<|im_end|>\n",
		"  leading and trailing spaces  ",
		"tabs\tand\nnewlines\n\n",
	} {
		toks := tokenize(t, m, text)
		got, err := m.Detokenize(toks, true)
		if err != nil {
			t.Fatalf("Detokenize: %v", err)
		}
		if got != text {
			t.Errorf("round trip of %q gave %q (tokens %v)", text, got, toks)
		}
	}
	// Merged tokens are used: ordinary text takes fewer tokens than bytes.
	if toks := tokenize(t, m, "the return value"); len(toks) >= len("the return value") {
		t.Errorf("no merges applied: %d tokens for %d bytes", len(toks), len("the return value"))
	}
	// Special tokens are single ids and end a generation.
	imEnd := m.TokenByText("<|im_end|>")
	if toks := tokenize(t, m, "<|im_end|>"); len(toks) != 1 || toks[0] != imEnd || !m.IsEOG(imEnd) {
		t.Errorf("<|im_end|>: tokens %v, id %d, eog %v", toks, imEnd, m.IsEOG(imEnd))
	}
	if _, err := m.Detokenize([]int32{0, 9999}, false); !errors.Is(err, ErrInvalidArg) {
		t.Errorf("out-of-vocabulary detokenize: %v", err)
	}
}

var greedy = Sampling{Temperature: 0, MaxTokens: 12, IgnoreEOS: true}

func TestGreedyAloneEqualsGreedyInBatch(t *testing.T) {
	m := loadModel(t, testModelSpec)
	g := newGen(t, m, GeneratorOptions{ContextSize: 1024, Slots: 4})
	texts := []string{"def f(a, b):", "x = [1, 2, 3]", "return sorted(d.items())", "print"}
	var batch []Prompt
	for _, s := range texts {
		batch = append(batch, Prompt{Tokens: tokenize(t, m, s), Samples: 1})
	}
	together, _, err := g.Generate(context.Background(), batch, greedy)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range batch {
		alone, _, err := g.Generate(context.Background(), []Prompt{p}, greedy)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(alone[0].Tokens, together[i].Tokens); diff != "" {
			t.Errorf("prompt %d: greedy alone vs in batch (-alone +batch):\n%s", i, diff)
		}
	}
}

func TestPrefixSharedSamplesEqualIndependentPrompts(t *testing.T) {
	m := loadModel(t, testModelSpec)
	g := newGen(t, m, GeneratorOptions{ContextSize: 2048, Slots: 8})
	prompt := tokenize(t, m, strings.Repeat("def f(x): return x + 1\n", 8))
	const n = 6

	// Greedy: N samples of one shared prompt == N copies of the prompt.
	shared, st, err := g.Generate(context.Background(), []Prompt{{Tokens: prompt, Samples: n}}, greedy)
	if err != nil {
		t.Fatal(err)
	}
	if st.PromptTokens != int64(len(prompt)) {
		t.Errorf("shared prompt evaluated %d tokens, want %d (once)", st.PromptTokens, len(prompt))
	}
	copies := make([]Prompt, n)
	for i := range copies {
		copies[i] = Prompt{Tokens: prompt, Samples: 1}
	}
	independent, _, err := g.Generate(context.Background(), copies, greedy)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if diff := cmp.Diff(independent[i].Tokens, shared[i].Tokens); diff != "" {
			t.Errorf("greedy sample %d (-independent +shared):\n%s", i, diff)
		}
	}

	// Sampling: the same random streams with and without sharing give the same samples.
	sampling := Sampling{Temperature: 0.8, MaxTokens: 12, Seed: 42, IgnoreEOS: true}
	withSharing, _, err := g.Generate(context.Background(), []Prompt{{Tokens: prompt, Samples: n}}, sampling)
	if err != nil {
		t.Fatal(err)
	}
	sampling.NoPrefixSharing = true
	without, st2, err := g.Generate(context.Background(), []Prompt{{Tokens: prompt, Samples: n}}, sampling)
	if err != nil {
		t.Fatal(err)
	}
	if st2.PromptTokens != int64(n*len(prompt)) {
		t.Errorf("unshared prompt evaluated %d tokens, want %d", st2.PromptTokens, n*len(prompt))
	}
	// Tokens and text are identical; log-probs agree to float noise (the
	// batches have different shapes).
	if diff := cmp.Diff(without, withSharing, cmpopts.EquateApprox(0, 1e-4)); diff != "" {
		t.Errorf("sampled with vs without prefix sharing (-without +with):\n%s", diff)
	}
	distinct := map[string]bool{}
	for _, s := range withSharing {
		distinct[s.Text] = true
	}
	if len(distinct) < 2 {
		t.Errorf("%d samples at temperature 0.8 are all identical", n)
	}
}

func TestGenerationIsDeterministicUnderSeed(t *testing.T) {
	m := loadModel(t, testModelSpec)
	g := newGen(t, m, GeneratorOptions{ContextSize: 1024, Slots: 3})
	prompts := []Prompt{{Tokens: tokenize(t, m, "a"), Samples: 3}, {Tokens: tokenize(t, m, "bc"), Samples: 2}}
	s := Sampling{Temperature: 1, TopP: 0.9, TopK: 50, MaxTokens: 10, Seed: 5}
	first, _, err := g.Generate(context.Background(), prompts, s)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := g.Generate(context.Background(), prompts, s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("same seed, different samples:\n%s", diff)
	}
	s.Seed = 6
	other, _, _ := g.Generate(context.Background(), prompts, s)
	if cmp.Equal(first, other) {
		t.Errorf("seeds 5 and 6 gave identical samples")
	}
	// Log-probs are log-probabilities: finite and <= 0.
	for _, smp := range first {
		for _, lp := range smp.LogProbs {
			if !(lp <= 0) {
				t.Fatalf("log-prob %v", lp)
			}
		}
	}
}

func TestSampleLogProbsMatchModelLogits(t *testing.T) {
	m := loadModel(t, testModelSpec)
	g := newGen(t, m, GeneratorOptions{ContextSize: 512, Slots: 1})
	prompt := tokenize(t, m, "def f(x):")
	out, _, err := g.Generate(context.Background(), []Prompt{{Tokens: prompt, Samples: 1}}, Sampling{Temperature: 1, MaxTokens: 6, Seed: 3, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	seq := append(append([]int32{}, prompt...), out[0].Tokens...)
	logits, err := g.EvalLogits(seq)
	if err != nil {
		t.Fatal(err)
	}
	v := m.Info().Vocab
	for k, tok := range out[0].Tokens {
		row := logits[(len(prompt)-1+k)*v : (len(prompt)+k)*v]
		want := logSoftmaxAt(row, tok)
		if d := want - float64(out[0].LogProbs[k]); d > 1e-3 || d < -1e-3 {
			t.Errorf("token %d: log-prob %v, from logits %v", k, out[0].LogProbs[k], want)
		}
	}
}

func TestStopStringsAndEOG(t *testing.T) {
	m := loadModel(t, testModelSpec)
	g := newGen(t, m, GeneratorOptions{ContextSize: 512, Slots: 2})
	prompt := []Prompt{{Tokens: tokenize(t, m, "x"), Samples: 1}}
	free, _, err := g.Generate(context.Background(), prompt, Sampling{MaxTokens: 20, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	if free[0].Finish != FinishLength || len(free[0].Tokens) != 20 {
		t.Fatalf("unbounded greedy: %v, %d tokens", free[0].Finish, len(free[0].Tokens))
	}
	// Stop at a piece of the text the model is known to produce.
	text := free[0].Text
	stop := text[len(text)/2 : len(text)/2+1]
	cut := strings.Index(text, stop)
	stopped, _, err := g.Generate(context.Background(), prompt, Sampling{MaxTokens: 20, IgnoreEOS: true, Stop: []string{stop}})
	if err != nil {
		t.Fatal(err)
	}
	if stopped[0].Finish != FinishStop || stopped[0].Text != text[:cut] {
		t.Errorf("stop %q: finish %v, text %q, want %q", stop, stopped[0].Finish, stopped[0].Text, text[:cut])
	}
}

func TestCancelStopsGeneration(t *testing.T) {
	m := loadModel(t, testModelSpec)
	g := newGen(t, m, GeneratorOptions{ContextSize: 4096, Slots: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := g.Generate(ctx, []Prompt{{Tokens: tokenize(t, m, "a"), Samples: 1}}, Sampling{MaxTokens: 4000, IgnoreEOS: true})
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want cancelled + deadline", err)
	}
	// The generator is still usable.
	if _, _, err := g.Generate(context.Background(), []Prompt{{Tokens: tokenize(t, m, "a"), Samples: 1}}, Sampling{MaxTokens: 3}); err != nil {
		t.Fatalf("after cancel: %v", err)
	}
}

func TestBadInputGivesClearErrors(t *testing.T) {
	good := writeModel(t, testModelSpec)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	llamaArch := bytes.Replace(data, []byte("qwen2"), []byte("llama"), 1) // general.architecture comes first
	corrupt := append([]byte{}, data...)
	for i := 8; i < 64; i++ {
		corrupt[i] = 0xff
	}
	loads := []struct {
		name, path string
		want       error
		mention    string
	}{
		{"missing file", filepath.Join(dir, "nope.gguf"), ErrIO, "no such file"},
		{"directory", dir, ErrIO, "not a regular file"},
		{"empty file", write("empty.gguf", nil), ErrBadModel, "not a GGUF"},
		{"not gguf", write("text.gguf", []byte("hello, this is not a model at all")), ErrBadModel, "not a GGUF"},
		{"truncated header", write("head.gguf", data[:200]), ErrBadModel, "GGUF"},
		{"truncated tensors", write("half.gguf", data[:len(data)/2]), ErrBadModel, "half.gguf"},
		{"corrupt header", write("corrupt.gguf", corrupt), ErrBadModel, "corrupt"},
		{"unsupported architecture", write("llama.gguf", llamaArch), ErrUnsupported, "'llama' is not supported"},
	}
	for _, tc := range loads {
		t.Run(tc.name, func(t *testing.T) {
			m, err := LoadModel(tc.path, ModelOptions{})
			if m != nil {
				m.Close()
			}
			if !errors.Is(err, tc.want) || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.mention)) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.want, tc.mention)
			}
		})
	}

	m := loadModel(t, testModelSpec)
	if _, err := m.NewGenerator(GeneratorOptions{ContextSize: -1}); !errors.Is(err, ErrInvalidArg) {
		t.Errorf("negative context: %v", err)
	}
	if _, err := LoadModel(good, ModelOptions{Threads: -2}); !errors.Is(err, ErrInvalidArg) {
		t.Errorf("negative threads: %v", err)
	}
	g := newGen(t, m, GeneratorOptions{ContextSize: 64, Slots: 2})
	long := make([]int32, g.ContextSize()+1)
	ok := []int32{1, 2, 3}
	gens := []struct {
		name    string
		prompts []Prompt
		s       Sampling
		want    error
	}{
		{"prompt longer than context", []Prompt{{Tokens: long, Samples: 1}}, Sampling{MaxTokens: 4}, ErrContextFull},
		{"prompt plus max tokens over context", []Prompt{{Tokens: ok, Samples: 1}}, Sampling{MaxTokens: g.ContextSize()}, ErrContextFull},
		{"zero max tokens", []Prompt{{Tokens: ok, Samples: 1}}, Sampling{MaxTokens: 0}, ErrInvalidArg},
		{"zero samples", []Prompt{{Tokens: ok, Samples: 0}}, Sampling{MaxTokens: 4}, ErrInvalidArg},
		{"empty prompt", []Prompt{{Tokens: nil, Samples: 1}}, Sampling{MaxTokens: 4}, ErrInvalidArg},
		{"token outside vocabulary", []Prompt{{Tokens: []int32{1, 5000}, Samples: 1}}, Sampling{MaxTokens: 4}, ErrInvalidArg},
		{"negative token", []Prompt{{Tokens: []int32{-1}, Samples: 1}}, Sampling{MaxTokens: 4}, ErrInvalidArg},
		{"negative temperature", []Prompt{{Tokens: ok, Samples: 1}}, Sampling{MaxTokens: 4, Temperature: -1}, ErrInvalidArg},
		{"top-p above one", []Prompt{{Tokens: ok, Samples: 1}}, Sampling{MaxTokens: 4, TopP: 1.5}, ErrInvalidArg},
		{"empty stop string", []Prompt{{Tokens: ok, Samples: 1}}, Sampling{MaxTokens: 4, Stop: []string{""}}, ErrInvalidArg},
	}
	for _, tc := range gens {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := g.Generate(context.Background(), tc.prompts, tc.s); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if err := WriteTinyModel(filepath.Join(dir, "x.gguf"), TinyModel{Arch: "llama", Layers: 1, Embedding: 8, Heads: 1, KVHeads: 1, FeedForward: 8, Vocab: 300, Context: 8, Quant: "f32"}); !errors.Is(err, ErrInvalidArg) {
		t.Errorf("tiny model with a bad arch: %v", err)
	}
}

func TestCloseIsIdempotentAndGuarded(t *testing.T) {
	m, err := LoadModel(writeModel(t, testModelSpec), ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.NewGenerator(GeneratorOptions{ContextSize: 128, Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err == nil {
		t.Fatal("closing a model with an open generator succeeded")
	}
	for i := 0; i < 2; i++ {
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := g.Generate(context.Background(), []Prompt{{Tokens: []int32{1}, Samples: 1}}, Sampling{MaxTokens: 1}); !errors.Is(err, ErrClosed) {
		t.Errorf("generate after close: %v", err)
	}
	if _, err := m.Tokenize("x", false, false); !errors.Is(err, ErrClosed) {
		t.Errorf("tokenize after close: %v", err)
	}
}
