package nano

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

func splitAllWords(t *testing.T, text string) []string {
	t.Helper()
	var words []string
	if err := splitWords(text, func(w []byte) { words = append(words, string(w)) }); err != nil {
		t.Fatal(err)
	}
	return words
}

// The qwen2 pre-tokenizer, case by case.
func TestSplitWordsFollowsQwen2Pattern(t *testing.T) {
	cases := []struct {
		name string
		text string
		want []string
	}{
		{"a space leads the next word", "def f(x):", []string{"def", " f", "(x", "):"}},
		{"digits one by one", "x = 1234", []string{"x", " =", " ", "1", "2", "3", "4"}},
		{"contractions of any case", "it's IT'S we'll", []string{"it", "'s", " IT", "'S", " we", "'ll"}},
		{"a contraction wins over a quoted word", "'self'", []string{"'s", "elf", "'"}},
		{"indentation keeps its last space for the word", "if a:\n    return b", []string{"if", " a", ":\n", "   ", " return", " b"}},
		{"newline runs end at the last newline", "a\n\n  \n  b", []string{"a", "\n\n  \n", " ", " b"}},
		{"trailing whitespace stays whole", "x  ", []string{"x", "  "}},
		{"a tab leads a word", "\tpass", []string{"\tpass"}},
		{"punctuation runs take trailing newlines", "f(1)\n\nx", []string{"f", "(", "1", ")\n\n", "x"}},
		{"a space before punctuation joins it", "a == b", []string{"a", " ==", " b"}},
		{"two spaces before punctuation", "a  = b", []string{"a", " ", " =", " b"}},
		{"non-ASCII letters and numbers", "héllo wörld ½٣", []string{"héllo", " wörld", " ", "½", "٣"}},
		{"non-ASCII whitespace", "a\u00a0b\u3000\u3000c", []string{"a", "\u00a0b", "\u3000", "\u3000c"}},
		{"CRLF", "a\r\nb", []string{"a", "\r\n", "b"}},
		{"emoji are punctuation-like", "ok 🙂🙂!", []string{"ok", " 🙂🙂!"}},
		{"underscore is not a letter", "my_var", []string{"my", "_var"}},
		{"newline then punctuation", "\n]", []string{"\n", "]"}},
		{"lone space at the end", "a ", []string{"a", " "}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := splitAllWords(t, c.text); !reflect.DeepEqual(got, c.want) {
				t.Errorf("split(%q)\n got %q\nwant %q", c.text, got, c.want)
			}
		})
	}
}

func TestSplitWordsReplacesInvalidUTF8LikeLlama(t *testing.T) {
	got := splitAllWords(t, "a\xffb")
	want := []string{"a", "\uFFFDb"} // U+FFFD is a symbol, so it may lead a word
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := splitWords("\xf7\xbf\xbf\xbf", func([]byte) {}); err == nil {
		t.Fatal("a code point above U+10FFFF was accepted; llama.cpp refuses it")
	}
}

// sampleCorpus is corpus-like text: programs, prompts, whitespace, digits, unicode.
func sampleCorpus(n int) []string {
	progs := []string{
		"def f(a, b):\n    return a * b + 1\n",
		"def f(s):\n    out = []\n    for ch in s:\n        if ch.isdigit():\n            out.append(int(ch))\n    return sum(out)\n",
		"def f(xs):\n    return [x ** 2 for x in xs if x % 2 == 0]\n",
		"def f(d, k):\n    return d.get(k, 'missing')\n",
		"import math\n\ndef f(n):\n    return math.factorial(n) % 1000\n",
		"def f(s):\n    return s[::-1].upper() + 'ñé'\n",
	}
	var docs []string
	for i := 0; i < n; i++ {
		p := progs[i%len(progs)]
		docs = append(docs, "<|im_start|>user\nPredict the output of f(12, 'abc').\n<|im_end|>\n"+p+"```output\n"+strings.Repeat("7", i%5+1)+"\n```<|endoftext|>")
	}
	return docs
}

func trainSample(t *testing.T, vocab int) *Tokenizer {
	t.Helper()
	opts := DefaultTokenizerOptions()
	opts.VocabSize = vocab
	tok, err := TrainTokenizer(context.Background(), sampleCorpus(60), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenizerRoundTrip(t *testing.T) {
	tok := trainSample(t, 400)
	texts := append(sampleCorpus(12), "", " ", "\n\n\n", "    \t  x", "ünïcödé ✓ 日本語 ½", "a\x00b\x7f", "  leading and trailing  ")
	for _, text := range texts {
		for _, parse := range []bool{false, true} {
			ids, err := tok.Encode(text, parse)
			if err != nil {
				t.Fatal(err)
			}
			back, err := tok.Decode(ids)
			if err != nil {
				t.Fatal(err)
			}
			if back != text {
				t.Errorf("parseSpecial=%v: round trip of %q gave %q", parse, text, back)
			}
		}
	}
}

func TestTokenizerSpecialTokens(t *testing.T) {
	tok := trainSample(t, 400)
	text := "<|im_start|>user\nhi<|im_end|><|endoftext|>"
	ids, err := tok.Encode(text, true)
	if err != nil {
		t.Fatal(err)
	}
	if ids[0] != tok.IMStart() || ids[len(ids)-1] != tok.EndOfText() || ids[len(ids)-2] != tok.IMEnd() {
		t.Errorf("specials not recognised: %v", ids)
	}
	plain, err := tok.Encode(text, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range plain {
		if tok.IsSpecial(id) {
			t.Errorf("parseSpecial=false produced special token %d", id)
		}
	}
}

func TestTokenizerCompressesTrainingText(t *testing.T) {
	tok := trainSample(t, 600)
	text := strings.Join(sampleCorpus(6), "")
	ids, err := tok.Encode(text, true)
	if err != nil {
		t.Fatal(err)
	}
	if ratio := float64(len(text)) / float64(len(ids)); ratio < 2.5 {
		t.Errorf("only %.2f bytes per token on its own training text; merges are not being applied", ratio)
	}
}

func TestTrainTokenizerIsDeterministic(t *testing.T) {
	a, b := trainSample(t, 350), trainSample(t, 350)
	if !reflect.DeepEqual(a.GGUFVocab(), b.GGUFVocab()) {
		t.Fatal("two trainings on the same text differ")
	}
	if a.VocabSize() != 350 {
		t.Errorf("vocab size %d, want 350", a.VocabSize())
	}
}

func TestTokenizerSaveLoad(t *testing.T) {
	tok := trainSample(t, 500)
	path := t.TempDir() + "/tok.json"
	if err := tok.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadTokenizer(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(sampleCorpus(6), " ")
	a, _ := tok.Encode(text, true)
	b, _ := back.Encode(text, true)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("loaded tokenizer encodes differently")
	}
}

func TestTokenizerBadInput(t *testing.T) {
	if _, err := TrainTokenizer(context.Background(), nil, TokenizerOptions{VocabSize: 100}, nil); err == nil {
		t.Error("a vocabulary smaller than the bytes was accepted")
	}
	tok := trainSample(t, 300)
	if _, err := tok.Decode([]int32{5, 300}); err == nil {
		t.Error("an id outside the vocabulary decoded")
	}
	v := tok.GGUFVocab()
	v.Merges = append(v.Merges, "zz qq")
	if _, err := TokenizerFromGGUFVocab(v); err == nil {
		t.Error("a merge of unknown tokens was accepted")
	}
}
