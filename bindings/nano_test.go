package bindings

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gpt2ByteToUnicode is GPT-2's byte -> printable rune map (the form of byte-level BPE token texts).
func gpt2ByteToUnicode() []string {
	out := make([]string, 256)
	next := 256
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			out[b] = string(rune(b))
		} else {
			out[b] = string(rune(next))
			next++
		}
	}
	return out
}

// testNanoVocab is a byte-level BPE vocabulary: the 256 bytes, merges of a
// few common pairs and triples, then the Qwen specials.
func testNanoVocab() Vocab {
	b2u := gpt2ByteToUnicode()
	enc := func(s string) string {
		var sb strings.Builder
		for i := 0; i < len(s); i++ {
			sb.WriteString(b2u[s[i]])
		}
		return sb.String()
	}
	v := Vocab{BOS: -1, PAD: -1}
	for b := 0; b < 256; b++ {
		v.Tokens = append(v.Tokens, b2u[b])
		v.Types = append(v.Types, 1)
	}
	for _, pair := range [][2]string{{" ", "d"}, {"e", "f"}, {" d", "ef"}, {"r", "e"}, {"re", "t"}, {"u", "r"}, {"ur", "n"}, {" ", "x"}, {" ", "("}, {")", ":"}} {
		a, b := enc(pair[0]), enc(pair[1])
		v.Merges = append(v.Merges, a+" "+b)
		v.Tokens = append(v.Tokens, a+b)
		v.Types = append(v.Types, 1)
	}
	for _, s := range []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"} {
		v.Tokens = append(v.Tokens, s)
		v.Types = append(v.Types, 3)
	}
	n := int32(len(v.Tokens))
	v.EOS, v.EOT, v.PAD = n-3, n-1, n-3
	return v
}

// testNanoShape is small enough for unit tests, with grouped-query attention.
var testNanoShape = NanoShape{Layers: 2, Embd: 64, Heads: 4, KVHeads: 2, FF: 96, Context: 64, RopeTheta: 10000}

func newTestNano(t testing.TB, o NanoTrainOptions) *NanoTrainer {
	t.Helper()
	if o.Threads == 0 {
		// One thread: these graphs are small, and on a busy machine every
		// node's thread barrier costs more than the node itself.
		o.Threads = 1
	}
	tr, err := NewNanoTrainer(testNanoShape, testNanoVocab(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// repetitiveRows makes nSeq rows of seqLen+1 ids cycling through a short pattern.
func repetitiveRows(nSeq, seqLen int, pattern []int32) []int32 {
	out := make([]int32, 0, nSeq*(seqLen+1))
	for s := 0; s < nSeq; s++ {
		for t := 0; t <= seqLen; t++ {
			out = append(out, pattern[(s+t)%len(pattern)])
		}
	}
	return out
}

var testPattern = []int32{'d', 'e', 'f', ' ', 'f', '(', 'x', ')', ':', '\n', ' ', 'r', 'e', 't', 'u', 'r', 'n', ' ', 'x', '\n'}

func maxAbsDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func TestNanoLossFallsOnRepetitiveCorpus(t *testing.T) {
	tr := newTestNano(t, NanoTrainOptions{Seed: 3})
	rows := repetitiveRows(4, 32, testPattern)
	ctx := context.Background()
	first, err := tr.Step(ctx, rows, 4, 32, nil, 3e-3)
	if err != nil {
		t.Fatal(err)
	}
	if want := math.Log(float64(tr.VocabSize())); math.Abs(first-want) > 0.5 {
		t.Errorf("initial loss %.3f, want about ln(V) = %.3f", first, want)
	}
	var last float64
	for i := 0; i < 40; i++ {
		if last, err = tr.Step(ctx, rows, 4, 32, nil, 3e-3); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("loss %.3f -> %.3f after 41 steps", first, last)
	if last > 0.5 {
		t.Errorf("loss only fell from %.3f to %.3f on a 20-token cycle", first, last)
	}
	if tr.Steps() != 41 {
		t.Errorf("Steps() = %d, want 41", tr.Steps())
	}
}

// The saved GGUF loads in stock llama.cpp, which computes the same logits as
// the training graph: F32 within 1e-4 (different kernels and summation
// order), Q8_0 and Q4_0 close to it.
func TestNanoGGUFLoadsInLlamaAndMatchesTrainingLogits(t *testing.T) {
	v := testNanoVocab()
	v.ChatTemplate = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
	tr, err := NewNanoTrainer(testNanoShape, v, NanoTrainOptions{Seed: 5, InitStd: 0.1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rows := repetitiveRows(2, 24, testPattern)
	for i := 0; i < 5; i++ { // move off the initial weights so logits are not all near zero
		if _, err := tr.Step(context.Background(), rows, 2, 24, nil, 1e-2); err != nil {
			t.Fatal(err)
		}
	}
	tr.SetName("nano test")
	dir := t.TempDir()
	seq := rows[:20]
	want, err := tr.Logits(seq)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		quant    string
		fileType string
		tol      float64
	}{
		{"f32", "all F32", 1e-4},
		{"f16", "F16", 0.05},
		{"q8_0", "Q8_0", 0.1},
		{"q4_0", "Q4_0", 0.6},
	} {
		t.Run(tc.quant, func(t *testing.T) {
			path := filepath.Join(dir, "nano-"+tc.quant+".gguf")
			if err := tr.Save(path, tc.quant); err != nil {
				t.Fatal(err)
			}
			m, err := LoadModel(path, ModelOptions{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			info := m.Info()
			if info.Arch != "qwen2" || info.Layers != 2 || info.Embedding != 64 || info.Heads != 4 || info.KVHeads != 2 ||
				info.FeedForward != 96 || info.Vocab != len(v.Tokens) || info.TrainContext != 64 || info.EOS != v.EOS || info.EOT != v.EOT {
				t.Errorf("llama.cpp reads %+v", info)
			}
			if !info.HasChatTemplate {
				t.Errorf("the chat template was not written")
			}
			if !strings.Contains(info.FileType, tc.fileType) {
				t.Errorf("file type %q, want %q", info.FileType, tc.fileType)
			}
			got, err := m.decodeLogitsWithLoRAFile("", seq)
			if err != nil {
				t.Fatal(err)
			}
			d := maxAbsDiff(got, want)
			t.Logf("%s: max |llama_decode - training graph| = %.2e over %d logits", tc.quant, d, len(got))
			if d > tc.tol {
				t.Errorf("%s logits differ by %.3g (tolerance %.3g)", tc.quant, d, tc.tol)
			}
		})
	}
}

// llama.cpp's tokenizer reads the vocabulary we wrote: merges apply, specials
// are recognised, and detokenizing gives the text back.
func TestNanoGGUFTokenizerRoundTrip(t *testing.T) {
	tr := newTestNano(t, NanoTrainOptions{})
	path := filepath.Join(t.TempDir(), "nano.gguf")
	if err := tr.Save(path, "f32"); err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(path, ModelOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	text := "def f(x):\n    return x<|im_end|>"
	toks, err := m.Tokenize(text, false, true)
	if err != nil {
		t.Fatal(err)
	}
	v := testNanoVocab()
	idx := map[string]int32{}
	for i, s := range v.Tokens {
		idx[s] = int32(i)
	}
	b2u := gpt2ByteToUnicode()
	enc := func(s string) int32 {
		var sb strings.Builder
		for i := 0; i < len(s); i++ {
			sb.WriteString(b2u[s[i]])
		}
		id, ok := idx[sb.String()]
		if !ok {
			t.Fatalf("%q is not a token", s)
		}
		return id
	}
	wantHas := []int32{enc("ef"), enc("):"), enc("ret"), enc("urn"), enc(" x"), v.EOT}
	for _, w := range wantHas {
		found := false
		for _, tk := range toks {
			found = found || tk == w
		}
		if !found {
			t.Errorf("tokens %v lack %d (%q)", toks, w, v.Tokens[w])
		}
	}
	back, err := m.Detokenize(toks, true)
	if err != nil {
		t.Fatal(err)
	}
	if back != text {
		t.Errorf("round trip gave %q", back)
	}
}

// nanoTensorSizes lists the flattened parameter layout of a shape.
func nanoTensorSizes(s NanoShape, vocab int) (names []string, sizes []int) {
	hd := s.Embd / s.Heads
	kv := s.KVHeads * hd
	add := func(n string, k int) { names = append(names, n); sizes = append(sizes, k) }
	add("token_embd", s.Embd*vocab)
	add("output_norm", s.Embd)
	for l := 0; l < s.Layers; l++ {
		p := "blk." + string(rune('0'+l)) + "."
		add(p+"attn_norm", s.Embd)
		add(p+"q", s.Embd*s.Embd)
		add(p+"q.bias", s.Embd)
		add(p+"k", s.Embd*kv)
		add(p+"k.bias", kv)
		add(p+"v", s.Embd*kv)
		add(p+"v.bias", kv)
		add(p+"o", s.Embd*s.Embd)
		add(p+"ffn_norm", s.Embd)
		add(p+"gate", s.Embd*s.FF)
		add(p+"up", s.Embd*s.FF)
		add(p+"down", s.FF*s.Embd)
	}
	return names, sizes
}

// The hand-built backward against central finite differences of the loss,
// for the largest-gradient entries of every tensor (weighted loss, GQA).
func TestNanoGradientsMatchFiniteDifferences(t *testing.T) {
	tr := newTestNano(t, NanoTrainOptions{Seed: 7, InitStd: 0.15, HeadChunk: 5}) // 16 rows: loss head chunks of 5, 5, 5, 1
	// Move the norm gains and biases off 1 and 0 so their gradients are generic.
	p0, err := tr.Params()
	if err != nil {
		t.Fatal(err)
	}
	names, sizes := nanoTensorSizes(testNanoShape, tr.VocabSize())
	if sum := func() (s int) {
		for _, k := range sizes {
			s += k
		}
		return
	}(); sum != len(p0) {
		t.Fatalf("layout has %d params, trainer %d", sum, len(p0))
	}
	off := 0
	for i, n := range names {
		if strings.Contains(n, "norm") || strings.Contains(n, "bias") {
			for j := 0; j < sizes[i]; j++ {
				p0[off+j] += 0.2 * float32(math.Sin(float64(off+j)))
			}
		}
		off += sizes[i]
	}
	if err := tr.SetParams(p0); err != nil {
		t.Fatal(err)
	}
	nSeq, seqLen := 2, 8
	rows := repetitiveRows(nSeq, seqLen, []int32{'a', 'b', 'c', 'd', 'e', 'a', 'c', 'x', 258, 'q', 'z'})
	weights := make([]float32, nSeq*seqLen)
	for i := range weights {
		weights[i] = float32(i%3) * 0.5 // some zero weights, some 0.5, some 1
	}
	ctx := context.Background()
	res, g, err := tr.Grads(ctx, rows, nSeq, seqLen, weights)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loss %.4f, grad norm %.4f", res.Loss, res.GradNorm)
	const h = 1e-2
	off = 0
	checked := 0
	for i, n := range names {
		// the largest gradient entry of this tensor
		best := off
		for j := off; j < off+sizes[i]; j++ {
			if math.Abs(float64(g[j])) > math.Abs(float64(g[best])) {
				best = j
			}
		}
		p := append([]float32(nil), p0...)
		p[best] = p0[best] + h
		tr.SetParams(p)
		lp, err := tr.Loss(ctx, rows, nSeq, seqLen, weights)
		if err != nil {
			t.Fatal(err)
		}
		p[best] = p0[best] - h
		tr.SetParams(p)
		lm, _ := tr.Loss(ctx, rows, nSeq, seqLen, weights)
		fd := (lp - lm) / (2 * h)
		an := float64(g[best])
		if math.Abs(fd-an) > 2e-3+0.05*math.Abs(an) {
			t.Errorf("%s[%d]: backward %.5g, finite difference %.5g", n, best-off, an, fd)
		}
		checked++
		off += sizes[i]
	}
	tr.SetParams(p0)
	t.Logf("checked %d tensors", checked)
}

func TestNanoDeterministicBySeed(t *testing.T) {
	rows := repetitiveRows(2, 12, testPattern)
	run := func(seed uint64, threads int) []float32 {
		tr := newTestNano(t, NanoTrainOptions{Seed: seed, Threads: threads})
		for i := 0; i < 2; i++ {
			if _, err := tr.Step(context.Background(), rows, 2, 12, nil, 1e-2); err != nil {
				t.Fatal(err)
			}
		}
		p, err := tr.Params()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, c := run(11, 1), run(11, 1), run(12, 1)
	if d := maxAbsDiff(a, b); d != 0 {
		t.Errorf("same seed, same data, one thread: weights differ by %g", d)
	}
	if d := maxAbsDiff(run(11, 2), run(11, 2)); d != 0 {
		t.Errorf("same seed, same data, two threads: weights differ by %g", d)
	}
	if d := maxAbsDiff(a, c); d == 0 {
		t.Errorf("different seeds gave identical weights")
	}
}

// Save (F32) + SaveState, then OpenNanoTrainer + LoadState continues exactly
// as the original would have; without the state, training continues from
// the weights with a fresh optimizer.
func TestNanoOpenContinueAndExactResume(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	rows := repetitiveRows(2, 16, testPattern)
	a := newTestNano(t, NanoTrainOptions{Seed: 21})
	for i := 0; i < 3; i++ {
		if _, err := a.Step(ctx, rows, 2, 16, nil, 5e-3); err != nil {
			t.Fatal(err)
		}
	}
	model, state := filepath.Join(dir, "m.gguf"), filepath.Join(dir, "m.state")
	a.SetName("nano resume test")
	if err := a.Save(model, "f32"); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveState(state); err != nil {
		t.Fatal(err)
	}
	lossA, _ := a.Loss(ctx, rows, 2, 16, nil)
	for i := 0; i < 2; i++ {
		if _, err := a.Step(ctx, rows, 2, 16, nil, 5e-3); err != nil {
			t.Fatal(err)
		}
	}
	wantParams, _ := a.Params()

	b, err := OpenNanoTrainer(model, NanoTrainOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Shape() != a.Shape() || b.VocabSize() != a.VocabSize() {
		t.Fatalf("reopened shape %+v/%d, want %+v/%d", b.Shape(), b.VocabSize(), a.Shape(), a.VocabSize())
	}
	if lossB, _ := b.Loss(ctx, rows, 2, 16, nil); lossB != lossA {
		t.Errorf("reopened model's loss %.7f, saved model's %.7f", lossB, lossA)
	}
	if b.Steps() != 0 {
		t.Errorf("a reopened model without state starts at step %d, want 0", b.Steps())
	}
	if err := b.LoadState(state); err != nil {
		t.Fatal(err)
	}
	if b.Steps() != 3 {
		t.Errorf("after LoadState: step %d, want 3", b.Steps())
	}
	for i := 0; i < 2; i++ {
		if _, err := b.Step(ctx, rows, 2, 16, nil, 5e-3); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := b.Params()
	if d := maxAbsDiff(got, wantParams); d != 0 {
		t.Errorf("resumed training differs from uninterrupted training by %g", d)
	}
	// A reopened model keeps its name in the files it writes.
	again := filepath.Join(dir, "again.gguf")
	if err := b.Save(again, "q8_0"); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(again); !bytes.Contains(raw, []byte("nano resume test")) {
		t.Errorf("the reopened model's file lost general.name")
	}
	// The state no longer matches b's weights (they moved): refused.
	if err := b.LoadState(state); err == nil || !strings.Contains(err.Error(), "weights") {
		t.Errorf("loading a state onto other weights: err = %v, want a fingerprint mismatch", err)
	}

	// Open without state and keep training: "more pretraining".
	c, err := OpenNanoTrainer(model, NanoTrainOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before, _ := c.Loss(ctx, rows, 2, 16, nil)
	for i := 0; i < 5; i++ {
		if _, err := c.Step(ctx, rows, 2, 16, nil, 5e-3); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := c.Loss(ctx, rows, 2, 16, nil)
	if !(after < before) {
		t.Errorf("continued training did not lower the loss: %.4f -> %.4f", before, after)
	}
}

func TestNanoRejectsBadInput(t *testing.T) {
	v := testNanoVocab()
	shapeCases := []struct {
		name  string
		shape NanoShape
		want  string
	}{
		{"no layers", NanoShape{Layers: 0, Embd: 64, Heads: 4, KVHeads: 2, FF: 96, Context: 64}, "must all be positive"},
		{"embd not divisible by heads", NanoShape{Layers: 1, Embd: 64, Heads: 5, KVHeads: 1, FF: 96, Context: 64}, "divide by heads"},
		{"heads not divisible by kv heads", NanoShape{Layers: 1, Embd: 64, Heads: 4, KVHeads: 3, FF: 96, Context: 64}, "divide by kv heads"},
		{"odd head size", NanoShape{Layers: 1, Embd: 60, Heads: 4, KVHeads: 4, FF: 96, Context: 64}, "even"},
	}
	t.Run("options/negative weight decay", func(t *testing.T) {
		_, err := NewNanoTrainer(testNanoShape, v, NanoTrainOptions{WeightDecay: -0.1})
		if !errors.Is(err, ErrInvalidArg) || !strings.Contains(err.Error(), "weight decay") {
			t.Errorf("err = %v", err)
		}
	})
	for _, tc := range shapeCases {
		t.Run("shape/"+tc.name, func(t *testing.T) {
			_, err := NewNanoTrainer(tc.shape, v, NanoTrainOptions{})
			if !errors.Is(err, ErrInvalidArg) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want invalid argument mentioning %q", err, tc.want)
			}
		})
	}
	vocabCases := []struct {
		name   string
		change func(v *Vocab)
		want   string
	}{
		{"missing byte token", func(v *Vocab) { v.Tokens[10] = "<|x|>" }, "lacks the token of byte 0x0a"},
		{"duplicate token", func(v *Vocab) { v.Tokens[len(v.Tokens)-1] = v.Tokens[len(v.Tokens)-2] }, "appears twice"},
		{"merge making no token", func(v *Vocab) { v.Merges = append(v.Merges, "a z") }, "not a token"},
		{"malformed merge", func(v *Vocab) { v.Merges = append(v.Merges, "ab") }, "not of the form"},
		{"eos out of range", func(v *Vocab) { v.EOS = int32(len(v.Tokens)) }, "eos id"},
		{"types length", func(v *Vocab) { v.Types = v.Types[:5] }, "token types"},
	}
	for _, tc := range vocabCases {
		t.Run("vocab/"+tc.name, func(t *testing.T) {
			bad := testNanoVocab()
			tc.change(&bad)
			_, err := NewNanoTrainer(testNanoShape, bad, NanoTrainOptions{})
			if !errors.Is(err, ErrInvalidArg) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want invalid argument mentioning %q", err, tc.want)
			}
		})
	}

	tr := newTestNano(t, NanoTrainOptions{})
	good := repetitiveRows(2, 8, testPattern)
	outOfRange := append([]int32(nil), good...)
	outOfRange[11] = int32(tr.VocabSize())
	negWeights := make([]float32, 16)
	negWeights[3] = -1
	nanWeights := make([]float32, 16)
	nanWeights[0] = float32(math.NaN())
	stepCases := []struct {
		name    string
		tokens  []int32
		nSeq    int
		seqLen  int
		weights []float32
		lr      float32
		want    string
	}{
		{"token out of range", outOfRange, 2, 8, nil, 1e-3, "outside the vocabulary"},
		{"wrong token count", good[:10], 2, 8, nil, 1e-3, "want nSeq*(seqLen+1)"},
		{"zero rows", good, 0, 8, nil, 1e-3, "nSeq >= 1"},
		{"wrong weight count", good, 2, 8, make([]float32, 5), 1e-3, "weights"},
		{"negative weight", good, 2, 8, negWeights, 1e-3, ">= 0"},
		{"NaN weight", good, 2, 8, nanWeights, 1e-3, "finite"},
		{"all weights zero", good, 2, 8, make([]float32, 16), 1e-3, "all token weights are zero"},
		{"NaN learning rate", good, 2, 8, nil, float32(math.NaN()), "learning rate"},
		{"rows longer than the context", repetitiveRows(1, 65, testPattern), 1, 65, nil, 1e-3, "exceed the model's context"},
	}
	for _, tc := range stepCases {
		t.Run("step/"+tc.name, func(t *testing.T) {
			_, err := tr.Step(context.Background(), tc.tokens, tc.nSeq, tc.seqLen, tc.weights, tc.lr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if tr.Steps() != 0 {
		t.Errorf("rejected steps changed the step count to %d", tr.Steps())
	}

	t.Run("save/unknown quant", func(t *testing.T) {
		err := tr.Save(filepath.Join(t.TempDir(), "x.gguf"), "q3_k")
		if !errors.Is(err, ErrInvalidArg) || !strings.Contains(err.Error(), "quant") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("open/missing file", func(t *testing.T) {
		_, err := OpenNanoTrainer(filepath.Join(t.TempDir(), "none.gguf"), NanoTrainOptions{})
		if !errors.Is(err, ErrIO) {
			t.Errorf("err = %v, want an i/o error", err)
		}
	})
	t.Run("open/not gguf", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "x.gguf")
		os.WriteFile(p, []byte("hello world, not a model"), 0o644)
		_, err := OpenNanoTrainer(p, NanoTrainOptions{})
		if !errors.Is(err, ErrBadModel) {
			t.Errorf("err = %v, want a bad-model error", err)
		}
	})
	t.Run("open/quantized", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "q.gguf")
		if err := tr.Save(p, "q8_0"); err != nil {
			t.Fatal(err)
		}
		_, err := OpenNanoTrainer(p, NanoTrainOptions{})
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "F32") {
			t.Errorf("err = %v, want unsupported (only F32 continues)", err)
		}
	})
	t.Run("load state/garbage", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "s")
		os.WriteFile(p, []byte("garbage"), 0o644)
		if err := tr.LoadState(p); !errors.Is(err, ErrBadModel) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		c := newTestNano(t, NanoTrainOptions{})
		c.Close()
		if err := c.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := c.Step(context.Background(), good, 2, 8, nil, 1e-3); !errors.Is(err, ErrClosed) {
			t.Errorf("step after close: %v", err)
		}
	})
}

// A step that blows up (here: an absurd learning rate makes the weights
// overflow) reports a non-finite loss and leaves weights and step count alone.
func TestNanoNonFiniteLossIsAnErrorAndChangesNothing(t *testing.T) {
	tr := newTestNano(t, NanoTrainOptions{GradClip: -1})
	rows := repetitiveRows(2, 8, testPattern)
	ctx := context.Background()
	if _, err := tr.Step(ctx, rows, 2, 8, nil, 1e30); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; i < 3 && err == nil; i++ {
		_, err = tr.Step(ctx, rows, 2, 8, nil, 1e30)
	}
	if !errors.Is(err, ErrInternal) || !strings.Contains(err.Error(), "non-finite") {
		t.Fatalf("err = %v, want a non-finite loss/gradient error", err)
	}
	before, _ := tr.Params()
	steps := tr.Steps()
	if _, err := tr.Step(ctx, rows, 2, 8, nil, 1e-3); err == nil {
		t.Fatal("still finite")
	}
	after, _ := tr.Params()
	for i := range before { // NaN-safe bitwise comparison
		if math.Float32bits(before[i]) != math.Float32bits(after[i]) {
			t.Fatalf("a failed step changed weight %d", i)
		}
	}
	if tr.Steps() != steps {
		t.Errorf("a failed step changed the step count")
	}
}

func TestNanoCancellation(t *testing.T) {
	tr := newTestNano(t, NanoTrainOptions{Threads: 1})
	rows := repetitiveRows(8, 64, testPattern)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Step(cancelled, rows, 8, 64, nil, 1e-3); !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before the call: err = %v", err)
	}
	before, _ := tr.Params()
	start := time.Now()
	if _, err := tr.Step(context.Background(), rows, 8, 64, nil, 1e-3); err != nil { // builds the graph; times one step
		t.Fatal(err)
	}
	full := time.Since(start)
	if err := tr.SetParams(before); err != nil {
		t.Fatal(err)
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), full/20)
	defer cancel2()
	_, err := tr.Step(ctx, rows, 8, 64, nil, 1e-3)
	if !errors.Is(err, ErrCancelled) || !strings.HasPrefix(err.Error(), "nano step: cancelled: context deadline exceeded") {
		t.Fatalf("cancelled mid-step (after %v of a %v step): err = %v", full/20, full, err)
	}
	after, _ := tr.Params()
	if d := maxAbsDiff(before, after); d != 0 {
		t.Errorf("a cancelled step changed the weights by %g", d)
	}
	if tr.Steps() != 1 {
		t.Errorf("step count %d, want 1", tr.Steps())
	}
	if _, err := tr.Step(context.Background(), rows, 8, 64, nil, 1e-3); err != nil || tr.Steps() != 2 {
		t.Errorf("a step after a cancelled one: err = %v, steps = %d", err, tr.Steps())
	}
}

// ggml's automatic backward (on this graph with no KV-cache views it works
// on the pinned version) is an independent oracle for every gradient of the
// hand-built backward.
func TestNanoHandBackwardMatchesGGMLAutodiff(t *testing.T) {
	tr := newTestNano(t, NanoTrainOptions{Seed: 9, InitStd: 0.1, HeadChunk: 7}) // 36 rows in chunks of 7
	rows := repetitiveRows(3, 12, testPattern)
	ctx := context.Background()
	hand, gh, err := tr.Grads(ctx, rows, 3, 12, nil)
	if err != nil {
		t.Fatal(err)
	}
	auto, ga, err := tr.grads(ctx, rows, 3, 12, nil, gradsAutodiff)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(hand.Loss-auto.Loss) > 1e-5 {
		t.Errorf("loss: hand graph %.7f, ggml cross-entropy %.7f", hand.Loss, auto.Loss)
	}
	names, sizes := nanoTensorSizes(testNanoShape, tr.VocabSize())
	off := 0
	for i, n := range names {
		a, b := gh[off:off+sizes[i]], ga[off:off+sizes[i]]
		scale := 0.0
		for _, x := range b {
			scale = math.Max(scale, math.Abs(float64(x)))
		}
		if d := maxAbsDiff(a, b); d > 1e-4*scale+1e-7 {
			t.Errorf("%s: hand and autodiff gradients differ by %.3g (largest entry %.3g)", n, d, scale)
		}
		off += sizes[i]
	}
	if _, _, err := tr.grads(ctx, rows, 3, 12, make([]float32, 36), gradsAutodiff); !errors.Is(err, ErrInvalidArg) {
		t.Errorf("autodiff with token weights: err = %v, want invalid argument", err)
	}
}

// Weight decay shrinks the matrices (embeddings included) and leaves biases
// and norm gains alone: one step with and without it differs exactly there.
func TestNanoWeightDecayOnMatricesOnly(t *testing.T) {
	rows := repetitiveRows(2, 8, testPattern)
	step := func(wd float32) []float32 {
		tr := newTestNano(t, NanoTrainOptions{Seed: 4, WeightDecay: wd})
		if _, err := tr.Step(context.Background(), rows, 2, 8, nil, 1e-2); err != nil {
			t.Fatal(err)
		}
		p, _ := tr.Params()
		return p
	}
	plain, decayed := step(0), step(0.5)
	names, sizes := nanoTensorSizes(testNanoShape, testNanoVocabSize())
	off := 0
	for i, n := range names {
		d := maxAbsDiff(plain[off:off+sizes[i]], decayed[off:off+sizes[i]])
		vector := strings.Contains(n, "norm") || strings.Contains(n, "bias")
		if vector && d != 0 {
			t.Errorf("%s changed by %g under weight decay", n, d)
		}
		if !vector && d == 0 {
			t.Errorf("%s is not decayed", n)
		}
		off += sizes[i]
	}
}

func testNanoVocabSize() int { return len(testNanoVocab().Tokens) }

// Chunking the vocabulary-sized loss head changes memory, not results.
func TestNanoHeadChunksGiveTheSameGradients(t *testing.T) {
	rows := repetitiveRows(3, 10, testPattern)
	weights := make([]float32, 30)
	for i := range weights {
		weights[i] = float32(i%4) / 3
	}
	grads := func(chunk int) (NanoResult, []float32) {
		tr := newTestNano(t, NanoTrainOptions{Seed: 2, HeadChunk: chunk})
		r, g, err := tr.Grads(context.Background(), rows, 3, 10, weights)
		if err != nil {
			t.Fatal(err)
		}
		return r, g
	}
	whole, gw := grads(0)
	for _, chunk := range []int{1, 4, 29, 30} {
		r, g := grads(chunk)
		if math.Abs(r.Loss-whole.Loss) > 1e-6 {
			t.Errorf("chunk %d: loss %.8f, unchunked %.8f", chunk, r.Loss, whole.Loss)
		}
		if d := maxAbsDiff(g, gw); d > 1e-6 {
			t.Errorf("chunk %d: gradients differ by %g", chunk, d)
		}
	}
}
