package bindings

import (
	"context"
	"path/filepath"
	"testing"
)

func TestSmoke(t *testing.T) {
	SetLogLevel(2)
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := WriteTinyModel(path, TinyTest); err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(path, ModelOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	t.Logf("%+v", m.Info())
	toks, err := m.Tokenize("def f(x):\n    return x<|im_end|>", false, true)
	t.Log(toks, err)
	s, err := m.Detokenize(toks, true)
	t.Logf("%q %v", s, err)
	g, err := m.NewGenerator(GeneratorOptions{ContextSize: 1024, Slots: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	out, st, err := g.Generate(context.Background(), []Prompt{{Tokens: toks, Samples: 3}, {Tokens: toks[:3], Samples: 2}}, Sampling{Temperature: 1, MaxTokens: 10, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		t.Logf("%d/%d %v %q %v", o.Prompt, o.Index, o.Tokens, o.Text, o.Finish)
	}
	t.Logf("%+v", st)
}
