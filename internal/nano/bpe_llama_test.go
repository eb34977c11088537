package nano

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/azr-native/azr-native/bindings"
)

// tokenizerParityTexts are corpus-like texts with the cases where a
// pre-tokenizer can go wrong: code, whitespace runs of every kind, digits,
// contractions, unicode letters/numbers/symbols/spaces, invalid UTF-8 and
// special-token texts.
var tokenizerParityTexts = []string{
	"def f(a, b):\n    return a * b + 1\n",
	"def f(s):\n    out = []\n    for ch in s:\n        if ch.isdigit():\n            out.append(int(ch))\n    return sum(out)\n\n\n",
	"x = 1234567890 + 3.14159e-10; y = 0x1F",
	"   leading spaces, trailing spaces   ",
	"tabs\tand\t\ttabs\n\t\tindented\r\nwindows\r\n\r\nlines",
	"it's, IT'S, we'll, they're, I'd, you've, 'm, 'LL",
	"'self' \"quoted\" `back` (parens) [brackets] {braces} <angle>",
	"a  =  b   ==   c    !=    d",
	"ünïcödé wörds, Ελληνικά, русский, 日本語のテキスト, ½ ٣ Ⅻ",
	"emoji 🙂🚀 and symbols ∑∫√ ≤≥ → ← ©®™",
	"nbsp\u00a0here\u3000ideographic\u2028line\u2029para\u0085nel",
	"invalid \xff\xfe bytes \xc3 here \xe2\x82",
	"<|im_start|>user\nPredict the output.<|im_end|>\n<|im_start|>assistant\n<think>hmm</think><|endoftext|>",
	"<|endoftext|><|endoftext|>",
	"nested <|im_<|im_end|>start|> specials",
	"```python\ndef f(xs):\n    return [x ** 2 for x in xs if x % 2 == 0]\n```\n```input\n[1, 2, 3, 4]\n```",
	"\n\n\n    \n  \n",
	"",
	" ",
	"a",
}

func writeVocabModel(t testing.TB, tok *Tokenizer) *bindings.Model {
	t.Helper()
	tr, err := bindings.NewNanoTrainer(bindings.NanoShape{Layers: 1, Embd: 32, Heads: 2, KVHeads: 2, FF: 64, Context: 64},
		BindingsVocab(tok), bindings.NanoTrainOptions{Threads: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	path := filepath.Join(t.TempDir(), "vocab.gguf")
	if err := tr.Save(path, "f32"); err != nil {
		t.Fatal(err)
	}
	m, err := bindings.LoadModel(path, bindings.ModelOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// The ids from Encode must be llama.cpp's ids for a GGUF carrying the same
// vocabulary, with and without special-token parsing.
func TestTokenizerMatchesLlamaCpp(t *testing.T) {
	docs := append(sampleCorpus(40), tokenizerParityTexts...)
	opts := DefaultTokenizerOptions()
	opts.VocabSize = 700
	tok, err := TrainTokenizer(context.Background(), docs, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := writeVocabModel(t, tok)
	if got := m.Info().Vocab; got != tok.VocabSize() {
		t.Fatalf("model vocab %d, tokenizer %d", got, tok.VocabSize())
	}
	texts := append(append([]string{}, tokenizerParityTexts...), strings.Join(sampleCorpus(8), "\n"))
	for _, text := range texts {
		for _, parse := range []bool{true, false} {
			want, err := m.Tokenize(text, false, parse)
			if err != nil {
				t.Fatalf("llama.cpp tokenize %q: %v", text, err)
			}
			got, err := tok.Encode(text, parse)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("parseSpecial=%v %q:\n go    %v\n llama %v", parse, text, got, want)
			}
		}
	}
	for _, special := range []struct {
		id   int32
		text string
	}{{tok.EndOfText(), EndOfText}, {tok.IMStart(), IMStart}, {tok.IMEnd(), IMEnd}} {
		if got := m.TokenByText(special.text); got != special.id {
			t.Errorf("llama.cpp has %s at %d, the tokenizer at %d", special.text, got, special.id)
		}
	}
	if !m.IsEOG(tok.EndOfText()) || !m.IsEOG(tok.IMEnd()) {
		t.Error("<|endoftext|> and <|im_end|> must end a generation")
	}
}
