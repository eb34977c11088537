package gguf

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/azr-native/azr-native/bindings"
)

func TestReadsATinyModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	tm := bindings.TinyTest
	if err := bindings.WriteTinyModel(path, tm); err != nil {
		t.Fatal(err)
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.String("general.architecture") != "qwen2" {
		t.Errorf("architecture %q", g.String("general.architecture"))
	}
	if n, ok := g.Int("qwen2.block_count"); !ok || n != int64(tm.Layers) {
		t.Errorf("block_count %d %v", n, ok)
	}
	emb, ok := g.Tensor("token_embd.weight")
	if !ok || len(emb.Dims) != 2 || emb.Dims[0] != uint64(tm.Embedding) || emb.Dims[1] != uint64(tm.Vocab) || emb.Type != TypeF32 {
		t.Fatalf("token_embd.weight: %+v", emb)
	}
	v, err := g.ReadF32(emb)
	if err != nil {
		t.Fatal(err)
	}
	var sq float64
	for _, x := range v {
		sq += float64(x) * float64(x)
	}
	if std := math.Sqrt(sq / float64(len(v))); std < 0.01 || std > 0.04 { // tiny models draw N(0, 0.02)
		t.Errorf("token embeddings have std %g, want about 0.02", std)
	}
}

func TestHalfToFloat(t *testing.T) {
	for _, c := range []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x3555, 0.33325195}, {0x7bff, 65504}, {0x0001, 5.9604645e-08},
	} {
		if got := halfToFloat(c.h); got != c.want {
			t.Errorf("halfToFloat(%#04x) = %g, want %g", c.h, got, c.want)
		}
	}
	if !math.IsInf(float64(halfToFloat(0x7c00)), 1) {
		t.Error("0x7c00 is +Inf")
	}
}

func TestBadFilesAreErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tiny.gguf")
	if err := bindings.WriteTinyModel(path, bindings.TinyTest); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for name, content := range map[string][]byte{
		"empty":     nil,
		"not gguf":  []byte("PK\x03\x04 a zip file, not a model"),
		"truncated": data[:300],
		"huge count": append(append([]byte("GGUF\x03\x00\x00\x00"), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
			make([]byte, 8)...),
	} {
		p := filepath.Join(dir, "bad.gguf")
		os.WriteFile(p, content, 0o644)
		if g, err := Open(p); err == nil {
			g.Close()
			t.Errorf("%s: opened", name)
		}
	}
}
