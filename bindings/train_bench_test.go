package bindings

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestBenchTrain05B measures the benchmark: the 0.5B-shaped tiny
// model, Q4_0, 2 threads, 8 sequences x 128 tokens. Minutes of work: runs
// only with AZR_BENCH_TRAIN=1 (AZR_BENCH_MODEL reuses a written model file).
func TestBenchTrain05B(t *testing.T) {
	if os.Getenv("AZR_BENCH_TRAIN") == "" {
		t.Skip("set AZR_BENCH_TRAIN=1 to run")
	}
	SetLogLevel(3)
	path := os.Getenv("AZR_BENCH_MODEL")
	if path == "" {
		path = filepath.Join(t.TempDir(), "q05b.gguf")
	}
	if _, err := os.Stat(path); err != nil {
		if err := WriteTinyModel(path, TinyQwen05B); err != nil {
			t.Fatal(err)
		}
	}
	m, err := LoadModel(path, ModelOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	o := BenchTrainOptions{Threads: 2, Steps: 2}
	// Variants for measurements: AZR_BENCH_CHUNK (HeadChunk), AZR_BENCH_MICRO (MicroBatch), AZR_BENCH_WT (WTType).
	o.HeadChunk, _ = strconv.Atoi(os.Getenv("AZR_BENCH_CHUNK"))
	o.MicroBatch, _ = strconv.Atoi(os.Getenv("AZR_BENCH_MICRO"))
	o.WTType = os.Getenv("AZR_BENCH_WT")
	r, err := BenchTrain(m, o)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("%+v\n%s", o, j)
}
