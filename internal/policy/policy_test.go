package policy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
)

// A small self-play configuration: every part of a step runs, on a tiny
// random model, in seconds.
func tinyConfig() rl.Config {
	cfg := rl.DefaultConfig()
	cfg.BatchSize = 1
	cfg.NSamples = 2
	cfg.MaxResponseLength = 24
	cfg.SeedBatchFactor = 0
	cfg.SaveEvery = 0
	cfg.ExecTimeout = time.Second
	cfg.Optim.LearningRate = 1e-2
	cfg.Optim.LoRARank = 4
	cfg.Optim.LoRAAlpha = 8
	return cfg
}

func newEngine(t *testing.T, model string, cfg rl.Config) *Engine {
	t.Helper()
	e, err := New(model, Options{Threads: 1, ContextSize: 8192, Slots: 4, SamplingTemperature: cfg.Temperature,
		LoRA: bindings.LoRAOptions{Rank: cfg.Optim.LoRARank, Alpha: float32(cfg.Optim.LoRAAlpha), Seed: cfg.Seed}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func newPool(t *testing.T) *sandbox.Pool {
	t.Helper()
	p, err := sandbox.New(context.Background(), sandbox.Config{Workers: 2, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// metricsLines returns the run's metrics without the timing fields.
func metricsLines(t *testing.T, dir string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "seconds") // wall-clock timings differ run to run
		delete(m, "time")
		if tr, ok := m["train"].(map[string]any); ok {
			delete(tr, "duration_s")
		}
		lines = append(lines, m)
	}
	return lines
}

// The real engine and the real sandbox drive whole self-play steps, and a
// run that stops and resumes from its checkpoint repeats the uninterrupted
// run exactly: same metrics, same adapter weights (CPU determinism).
func TestSelfPlayResumesExactlyOnTheRealEngine(t *testing.T) {
	model := filepath.Join(t.TempDir(), "tiny.gguf")
	spec := bindings.TinyTest
	spec.InitScale = 0.3
	if err := bindings.WriteTinyModel(model, spec); err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig()
	pool := newPool(t)
	log := zap.NewNop()

	run := func(dir string, steps int, stopAfter int) []float32 {
		e := newEngine(t, model, cfg)
		tr, err := rl.NewTrainer(cfg, e, pool, log)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.SetDir(dir); err != nil {
			t.Fatal(err)
		}
		if err := tr.Run(context.Background(), stopAfter); err != nil {
			t.Fatal(err)
		}
		tr.Close()
		if stopAfter < steps {
			ckpt, err := rl.LatestCheckpoint(dir)
			if err != nil {
				t.Fatal(err)
			}
			e2 := newEngine(t, model, cfg) // a fresh process's worth of state
			tr2, err := rl.Resume(ckpt, e2, pool, log)
			if err != nil {
				t.Fatal(err)
			}
			if err := tr2.SetDir(dir); err != nil {
				t.Fatal(err)
			}
			if err := tr2.Run(context.Background(), steps-stopAfter); err != nil {
				t.Fatal(err)
			}
			tr2.Close()
			e = e2
		}
		params, err := e.Adapter().Params()
		if err != nil {
			t.Fatal(err)
		}
		return params
	}
	straightDir, resumedDir := t.TempDir(), t.TempDir()
	straight := run(straightDir, 3, 3)
	resumed := run(resumedDir, 3, 2)
	if diff := cmp.Diff(straight, resumed); diff != "" {
		t.Errorf("adapter after 3 steps vs 2 + resume + 1 differs:\n%.2000s", diff)
	}
	a, b := metricsLines(t, straightDir), metricsLines(t, resumedDir)
	if len(a) != 3 || len(b) != 3 {
		t.Fatalf("metrics lines: %d straight, %d resumed", len(a), len(b))
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("metrics differ (-straight +resumed):\n%.3000s", diff)
	}
	// Training happened: the adapter is no longer its initial self.
	initial, err := newEngine(t, model, cfg).Adapter().Params()
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Equal(initial, straight) {
		t.Error("the adapter did not change in 3 steps")
	}
}
