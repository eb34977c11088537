package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/nano"
	"github.com/azr-native/azr-native/internal/policy"
	"github.com/azr-native/azr-native/internal/runtest"
	"github.com/azr-native/azr-native/rl"
	"github.com/google/go-cmp/cmp"
)

// tinyRun is a self-play configuration whose every part runs on a tiny
// random model in seconds.
func tinyRun() rl.Config {
	cfg := rl.DefaultConfig()
	cfg.BatchSize = 1
	cfg.NSamples = 2
	cfg.MaxResponseLength = 16
	cfg.SeedBatchFactor = 0
	cfg.SaveEvery = 1
	cfg.ExecTimeout = time.Second
	cfg.Optim.LearningRate = 1e-2
	cfg.Optim.LoRARank = 4
	cfg.Optim.LoRAAlpha = 8
	return cfg
}

// nanoRun is a two-step configuration for the built-in nano base, which
// writes answers in the right format, so the sandbox is asked to check them
// (a random tiny model never gets that far).
func nanoRun(tb testing.TB) (string, rl.Config) {
	cfg := tinyRun()
	d := nano.BuiltinRunDefaults()
	cfg.Template, cfg.PromptStyle, cfg.References = d.Template, d.PromptStyle, d.References
	cfg.MaxResponseLength = 48
	cfg.MaxPromptLength = nano.DefaultModelContext - cfg.MaxResponseLength
	cfg.BatchSize = 2
	model, err := nano.DefaultModelPath("")
	if err != nil {
		tb.Fatal(err)
	}
	return model, cfg
}

func tinyModel(t *testing.T, seed uint64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	spec := bindings.TinyTest
	spec.Seed = seed
	spec.InitScale = 0.3
	if err := bindings.WriteTinyModel(path, spec); err != nil {
		t.Fatal(err)
	}
	return path
}

const testCtx, testSlots = 4096, 4

func tinyEngine(t *testing.T, model string, cfg rl.Config) *policy.Engine {
	t.Helper()
	e, err := policy.New(model, policy.Options{Threads: 1, ContextSize: testCtx, Slots: testSlots, SamplingTemperature: cfg.Temperature,
		LoRA: bindings.LoRAOptions{Rank: cfg.Optim.LoRARank, Alpha: float32(cfg.Optim.LoRAAlpha), Seed: cfg.Seed}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func selfPlay(t *testing.T, cfg rl.Config, p rl.Policy, exec rl.Executor, dir string, steps int) {
	t.Helper()
	tr, err := rl.NewTrainer(cfg, p, exec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.SetDir(dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := tr.Run(ctx, steps); err != nil {
		t.Fatal(err)
	}
}

func adapterBytes(t *testing.T, dir string, step int) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "checkpoints", "step-"+pad6(step), "policy", "adapter.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pad6(n int) string { return fmt.Sprintf("%06d", n) }

// Self-play with generation on a generate worker and executions on two
// sandbox workers gives the single-process run's metrics and adapter, byte
// for byte: requests keep the engine's grouping and seeds, and each step's
// adapter reaches the worker through the object store.
func TestClusteredSelfPlayEqualsSingleProcess(t *testing.T) {
	model, cfg := nanoRun(t)
	p := ExecPolicy{Timeout: cfg.ExecTimeout, BannedModules: cfg.BannedModules}
	pool := newPool(t, p)

	single := t.TempDir()
	t0 := time.Now()
	selfPlay(t, cfg, tinyEngine(t, model, cfg), pool, single, 2)
	t.Logf("single-process run: %v", time.Since(t0))

	tc := newTestCluster(t, 0)
	for range 2 {
		start(t, sandboxWorker(t, tc, pool, p))
	}
	gw, err := GenerateWorker(tc.connect(t), GenerateOptions{Model: model, Threads: 1}, tc.log)
	if err != nil {
		t.Fatal(err)
	}
	start(t, gw)
	fp, err := FileFingerprint(model)
	if err != nil {
		t.Fatal(err)
	}
	remote := NewPolicy(tc.client, tinyEngine(t, model, cfg), PolicyOptions{Base: fp, Ctx: testCtx, Slots: testSlots}, tc.log)
	clustered := t.TempDir()
	t0 = time.Now()
	selfPlay(t, cfg, remote, NewExecutor(tc.client, p), clustered, 2)
	t.Logf("clustered run: %v", time.Since(t0))

	if diff := cmp.Diff(runtest.MetricsWithoutTimings(t, single), runtest.MetricsWithoutTimings(t, clustered)); diff != "" {
		t.Errorf("metrics differ (-single +clustered):\n%.3000s", diff)
	}
	for step := 1; step <= 2; step++ {
		if !bytes.Equal(adapterBytes(t, single, step), adapterBytes(t, clustered, step)) {
			t.Errorf("adapter after step %d differs", step)
		}
	}
	served := tc.client.Workers()
	if gw.Served() == 0 || served[gw.ID()].Requests != gw.Served() {
		t.Errorf("the generate worker served %d requests (the trainer counted %d)", gw.Served(), served[gw.ID()].Requests)
	}
	sandboxRequests := 0
	for id, s := range served {
		if strings.HasPrefix(id, RoleSandbox) {
			sandboxRequests += s.Requests
		}
	}
	if sandboxRequests == 0 {
		t.Error("the sandbox workers served nothing")
	}
}

// A generate worker whose base model is not the trainer's (another file,
// another fingerprint) hands the request back and stops, naming both
// fingerprints; a worker with the right base then answers it.
func TestGenerateWorkerRefusesAnotherBase(t *testing.T) {
	cfg := tinyRun()
	model, other := tinyModel(t, 1), tinyModel(t, 2)
	tc := newTestCluster(t, 0)
	wrong, err := GenerateWorker(tc.connect(t), GenerateOptions{Model: other, Threads: 1}, tc.log)
	if err != nil {
		t.Fatal(err)
	}
	_, refused := start(t, wrong)
	fp, err := FileFingerprint(model)
	if err != nil {
		t.Fatal(err)
	}
	remote := NewPolicy(tc.client, tinyEngine(t, model, cfg), PolicyOptions{Base: fp, Ctx: testCtx, Slots: testSlots}, tc.log)
	reqs := []rl.GenRequest{{Prompt: "def f(x):", N: 2, Sampling: rl.Sampling{Temperature: 1, TopP: 1, MaxTokens: 8, Seed: 7}}}
	type answer struct {
		res []rl.GenResult
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		res, err := remote.Generate(context.Background(), reqs)
		ch <- answer{res, err}
	}()
	err = within(t, 20*time.Second, refused)
	if err == nil || !strings.Contains(err.Error(), "fingerprint") || !strings.Contains(err.Error(), fp[:12]) {
		t.Fatalf("worker with another base: Run = %v, want a refusal naming the trainer's fingerprint", err)
	}
	right, err := GenerateWorker(tc.connect(t), GenerateOptions{Model: model, Threads: 1}, tc.log)
	if err != nil {
		t.Fatal(err)
	}
	start(t, right)
	select {
	case a := <-ch:
		if a.err != nil || len(a.res) != 1 || len(a.res[0].Samples) != 2 {
			t.Fatalf("Generate after the refusal: %v, %+v", a.err, a.res)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the refused request was not served by the right worker")
	}
	if got := tc.client.Workers()[right.ID()].Requests; got != 1 {
		t.Errorf("the right worker served %d requests, want 1", got)
	}
}
