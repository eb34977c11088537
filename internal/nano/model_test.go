package nano

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/azr-native/azr-native/bindings"
)

func TestDefaultModelUnpacksOnceAndLoads(t *testing.T) {
	data, err := DefaultModelBytes()
	if err != nil {
		t.Fatal(err) // the shipped model is part of the repository
	}
	cache := t.TempDir()
	path, err := DefaultModelPath(cache)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != cache {
		t.Errorf("unpacked to %s, not into %s", path, cache)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(onDisk, data) {
		t.Fatalf("unpacked file differs from the built-in model (%v)", err)
	}
	st, _ := os.Stat(path)
	again, err := DefaultModelPath(cache)
	if err != nil || again != path {
		t.Fatalf("second call: %s, %v", again, err)
	}
	if st2, _ := os.Stat(path); !st2.ModTime().Equal(st.ModTime()) {
		t.Error("the cached model was written again")
	}
	m, err := bindings.LoadModel(path, bindings.ModelOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	info := m.Info()
	if info.Arch != "qwen2" || info.TrainContext != DefaultModelContext {
		t.Errorf("built-in model: arch %s, context %d (DefaultModelContext says %d)", info.Arch, info.TrainContext, DefaultModelContext)
	}
	if m.TokenByText(IMEnd) < 0 || !m.IsEOG(m.TokenByText(EndOfText)) {
		t.Error("built-in model lacks the special tokens")
	}
}
