package bindings

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// captureStderr returns what was written to file descriptor 2 (where
// llama.cpp prints when no sink is set) while fn ran.
func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup2(int(w.Fd()), 2); err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	fn()
	syscall.Dup2(saved, 2)
	syscall.Close(saved)
	w.Close()
	return <-done
}

func TestNativeLogLinesGoToTheSink(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "tiny.gguf")
	if err := WriteTinyModel(good, TinyModel{Arch: "qwen2", Layers: 1, Embedding: 64, Heads: 2, KVHeads: 1, FeedForward: 128, Vocab: 512, Context: 256, Quant: "f32", Seed: 1}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.gguf")
	if err := os.WriteFile(corrupt, data[:300], 0o644); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var lines []string
	var levels []LogLevel
	SetLogLevel(int(LogWarn))
	SetLogSink(func(l LogLevel, line string) {
		mu.Lock()
		defer mu.Unlock()
		lines, levels = append(lines, line), append(levels, l)
	})
	defer SetLogSink(nil)
	var loadErr error
	raw := captureStderr(t, func() { _, loadErr = LoadModel(corrupt, ModelOptions{Threads: 1}) })
	if loadErr == nil {
		t.Fatal("a truncated model loaded")
	}
	if raw != "" {
		t.Errorf("llama.cpp printed on stderr despite the sink:\n%s", raw)
	}
	mu.Lock()
	defer mu.Unlock()
	found := false
	for i, line := range lines {
		if strings.Contains(line, "\n") {
			t.Errorf("sink got a line with a newline: %q", line)
		}
		if strings.HasPrefix(line, "gguf_init_from_file_impl:") && levels[i] == LogError {
			found = true
		}
	}
	if !found {
		t.Errorf("the sink did not get llama.cpp's error line; it got %q", lines)
	}

	// Without a sink the same line goes to stderr, as before.
	SetLogSink(nil)
	raw = captureStderr(t, func() { LoadModel(corrupt, ModelOptions{Threads: 1}) })
	if !strings.Contains(raw, "gguf_init_from_file_impl:") {
		t.Errorf("without a sink, stderr got %q", raw)
	}
}
