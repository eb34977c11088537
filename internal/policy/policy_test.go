package policy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/runtest"
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

func engineOptions(cfg rl.Config) Options {
	return Options{Threads: 1, ContextSize: 8192, Slots: 4, SamplingTemperature: cfg.Temperature,
		LoRA: bindings.LoRAOptions{Rank: cfg.Optim.LoRARank, Alpha: float32(cfg.Optim.LoRAAlpha), Seed: cfg.Seed}}
}

func newEngine(t *testing.T, model string, cfg rl.Config) *Engine {
	t.Helper()
	e, err := New(model, engineOptions(cfg))
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

// The real engine and the real sandbox drive whole self-play steps, seeding
// phase included, with batches of 4 whose solver rewards differ (a warmed-up
// adapter, so the updates are real policy-gradient updates, not weight decay
// on zero advantages), and a run that stops and resumes from its checkpoint
// repeats the uninterrupted run exactly: same metrics, same adapter file,
// byte for byte (CPU determinism).
func TestSelfPlayResumesExactlyOnTheRealEngine(t *testing.T) {
	cfg := gradientConfig()
	// Seeding on: one round per pool (a tiny model proposes nothing valid,
	// so it keeps the zero tasks; TestCLIRunSeedFileAndHopelessSeeding and
	// the rl tests cover what it finds and when it gives up).
	cfg.SeedBatchFactor, cfg.SeedMaxRounds, cfg.SeedPatience = 1, 1, 0
	pool := newPool(t)
	log := zap.NewNop()

	run := func(dir string, steps int, stopAfter int) {
		e := warmedEngine(t, cfg)
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
			e2 := newEngine(t, warm.model, cfg) // a fresh process's worth of state
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
		}
	}
	straightDir, resumedDir := t.TempDir(), t.TempDir()
	run(straightDir, 2, 2)
	run(resumedDir, 2, 1)
	adapter := func(dir string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "checkpoints", "step-000002", "policy", "adapter.gguf"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(adapter(straightDir), adapter(resumedDir)) {
		t.Errorf("adapter.gguf after 2 steps differs from 1 + resume + 1")
	}
	a, b := runtest.MetricsWithoutTimings(t, straightDir), runtest.MetricsWithoutTimings(t, resumedDir)
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("metrics lines: %d straight, %d resumed", len(a), len(b))
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("metrics differ (-straight +resumed):\n%.3000s", diff)
	}
	// The run trained on non-zero advantages.
	nonZero := 0
	for _, line := range a {
		for _, bm := range line["batches"].(map[string]any) {
			if bm.(map[string]any)["adv_max"].(float64) > 0 {
				nonZero++
			}
		}
	}
	if nonZero == 0 {
		t.Errorf("no batch of the 2 steps had a non-zero advantage")
	}
}
