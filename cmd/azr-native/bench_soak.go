package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/policy"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

func init() {
	registerBench(&cli.Command{
		Name:  "soak",
		Usage: "resident memory per self-play step over a long run (goal: flat after warm-up)",
		Description: `Runs --steps self-play steps in this process (real engine, real sandbox,
checkpoints every --save-every steps into a temporary run directory) and reports the
resident set size (VmRSS) and the Go heap after every step, and the growth per step
after --warmup steps. Without --model it writes the 2-layer test model.

The process holds glibc's malloc to a few arenas (see bindings.MallocArenas); to
measure the allocator's default instead, set MALLOC_ARENA_MAX=16 (8 per core on
2 cores) in the environment.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "GGUF model `FILE`; default: a temporary 2-layer test model", EnvVars: envVar("model")},
			&cli.IntFlag{Name: "steps", Value: 40, Usage: "self-play steps", EnvVars: envVar("steps")},
			&cli.IntFlag{Name: "warmup", Value: 10, Usage: "steps before growth is counted", EnvVars: envVar("warmup")},
			&cli.IntFlag{Name: "batch-size", Value: 2, Usage: "prompts per (task type x role) batch", EnvVars: envVar("batch-size")},
			&cli.IntFlag{Name: "n-samples", Value: 2, Usage: "learnability rollouts", EnvVars: envVar("n-samples")},
			&cli.IntFlag{Name: "max-response-length", Value: 32, Usage: "tokens per response", EnvVars: envVar("max-response-length")},
			&cli.IntFlag{Name: "save-every", Value: 10, Usage: "checkpoint every N steps", EnvVars: envVar("save-every")},
			&cli.IntFlag{Name: "ctx", Value: 32768, Usage: "KV cache cells of the generator", EnvVars: envVar("ctx")},
			jsonFlag(),
		},
		Action: benchSoak,
	})
}

// soakReport is the result of bench soak.
type soakReport struct {
	Model           string    `json:"model"`
	Steps           int       `json:"steps"`
	Warmup          int       `json:"warmup"`
	MallocArenas    int       `json:"malloc_arenas"` // 0: the allocator's default
	RSSMiB          []float64 `json:"rss_mib"`       // after each step
	GoHeapMiB       []float64 `json:"go_heap_mib"`   // Go heap in use after each step
	StartRSSMiB     float64   `json:"start_rss_mib"` // before the first step
	GrowthPerStepKB float64   `json:"growth_after_warmup_kib_per_step"`
	Seconds         float64   `json:"seconds"`
}

func benchSoak(c *cli.Context) error {
	steps, warmup := c.Int("steps"), c.Int("warmup")
	if steps < 1 || warmup < 0 || warmup >= steps {
		return fmt.Errorf("bench soak: need --steps >= 1 and 0 <= --warmup < --steps")
	}
	dir, err := os.MkdirTemp("", "azr-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	model := c.String("model")
	if model == "" {
		model = filepath.Join(dir, "tiny.gguf")
		if err := bindings.WriteTinyModel(model, bindings.TinyTest); err != nil {
			return err
		}
	}
	cfg := rl.DefaultConfig()
	cfg.Seed = c.Uint64("seed")
	cfg.BatchSize, cfg.NSamples, cfg.MaxResponseLength = c.Int("batch-size"), c.Int("n-samples"), c.Int("max-response-length")
	cfg.SeedBatchFactor, cfg.SaveEvery, cfg.Steps = 0, c.Int("save-every"), steps
	cfg.KeepCheckpoints = 2
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx := c.Context
	threads := c.Int("threads")
	pool, err := sandbox.New(ctx, sandbox.Config{Workers: threads, Timeout: cfg.ExecTimeout, Logger: logger})
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer pool.Close()
	eng, err := policy.New(model, policy.Options{Threads: threads, ContextSize: c.Int("ctx"), Slots: 16,
		LoRA: bindings.LoRAOptions{Rank: cfg.Optim.LoRARank, Alpha: float32(cfg.Optim.LoRAAlpha), Seed: cfg.Seed}, SamplingTemperature: cfg.Temperature})
	if err != nil {
		return err
	}
	defer eng.Close()
	tr, err := rl.NewTrainer(cfg, eng, pool, logger)
	if err != nil {
		return err
	}
	defer tr.Close()
	if err := tr.SetDir(filepath.Join(dir, "run")); err != nil {
		return err
	}
	rep := soakReport{Model: eng.Model().Info().Description, Steps: steps, Warmup: warmup, MallocArenas: bindings.MallocArenas,
		StartRSSMiB: residentMiB()}
	tr.OnStep = func(m rl.StepMetrics) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss := residentMiB()
		rep.RSSMiB = append(rep.RSSMiB, rss)
		rep.GoHeapMiB = append(rep.GoHeapMiB, float64(ms.HeapInuse)/(1<<20))
		logger.Info("soak step", zap.Int("step", m.Step), zap.Float64("rss_mib", rss),
			zap.Float64("go_heap_mib", float64(ms.HeapInuse)/(1<<20)), zap.Float64("seconds", m.Seconds["total"]))
	}
	start := time.Now()
	if err := tr.Run(context.WithoutCancel(ctx), steps); err != nil {
		return err
	}
	rep.Seconds = time.Since(start).Seconds()
	if base := max(warmup, 1) - 1; steps-1 > base { // from the end of warm-up to the last step
		rep.GrowthPerStepKB = (rep.RSSMiB[steps-1] - rep.RSSMiB[base]) * 1024 / float64(steps-1-base)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	var b strings.Builder
	for i, r := range rep.RSSMiB {
		fmt.Fprintf(&b, " %d:%.0f", i+1, r)
	}
	fmt.Printf("model %s, %d steps, malloc arenas %s; RSS MiB before the first step %.0f, after each step:%s\n",
		rep.Model, steps, arenasText(rep.MallocArenas), rep.StartRSSMiB, b.String())
	fmt.Printf("growth after step %d: %.0f KiB/step (%.1fs)\n", warmup, rep.GrowthPerStepKB, rep.Seconds)
	return nil
}

func arenasText(n int) string {
	if n == 0 {
		return "default"
	}
	return fmt.Sprint(n)
}

// residentMiB reads the process's resident set size (VmRSS) on Linux.
func residentMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	var kb float64
	for _, line := range strings.Split(string(b), "\n") {
		if n, _ := fmt.Sscanf(line, "VmRSS: %f kB", &kb); n == 1 {
			return kb / 1024
		}
	}
	return 0
}
