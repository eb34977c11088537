package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/policy"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

func init() {
	d := rl.DefaultConfig()
	registerCommand(&cli.Command{
		Name:  "run",
		Usage: "train a model by Absolute Zero self-play (the main job)",
		Description: `Runs AZR self-play on a GGUF model: each step proposes abduction, deduction and
induction tasks, validates them in the Python sandbox, rewards the proposer by
learnability (1 - solve rate over --n-samples rollouts), solves tasks from the buffers,
and makes one Task-Relative REINFORCE++ update of a LoRA adapter over the frozen,
quantized base. Before the first step a seeding phase fills the buffers (see
--seed-factor).

Everything goes into --out DIR:
  checkpoints/step-NNNNNN/   adapter.gguf (a llama.cpp --lora file), optimizer state,
                             buffers, RNG state, config; checkpoints/latest names the newest
  metrics.jsonl              one JSON line per step: rewards, accuracies, lengths, timings
  uhoh.jsonl                 responses the monitor flagged
Run the same command again to resume: it continues from checkpoints/latest exactly as
if it had not stopped (the checkpoint's config wins; --steps may raise the target).
Ctrl-C stops at once; work since the last checkpoint is redone on resume.

Defaults are the reference's (64 prompts per task type and role, 8 rollouts, 8096-token
responses), sized for a GPU. On a CPU, start small, e.g.
  azr-native run -m qwen2.5-0.5b-q4_0.gguf --out runs/cpu --batch-size 4 \
      --n-samples 4 --max-response-length 512 --seed-factor 1 --save-every 1

--config FILE reads any rl.Config field as JSON (see --print-config); flags given
explicitly override it.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "base GGUF model `FILE` (qwen2/qwen3)", EnvVars: envVar("model")},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "run `DIR` (checkpoints, metrics); an existing run is resumed", EnvVars: envVar("out")},
			&cli.StringFlag{Name: "config", Usage: "JSON `FILE` with rl.Config fields", EnvVars: envVar("config")},
			&cli.BoolFlag{Name: "print-config", Usage: "print the effective config as JSON and exit", EnvVars: envVar("print-config")},
			&cli.IntFlag{Name: "steps", Value: d.Steps, Usage: "total self-play steps of the run", EnvVars: envVar("steps")},
			&cli.IntFlag{Name: "batch-size", Value: d.BatchSize, Usage: "prompts per (task type x role) batch", EnvVars: envVar("batch-size")},
			&cli.IntFlag{Name: "n-samples", Value: d.NSamples, Usage: "solver rollouts per valid proposal (learnability)", EnvVars: envVar("n-samples")},
			&cli.IntFlag{Name: "max-response-length", Value: d.MaxResponseLength, Usage: "tokens per response", EnvVars: envVar("max-response-length")},
			&cli.IntFlag{Name: "max-prompt-length", Value: d.MaxPromptLength, Usage: "longest prompt in tokens", EnvVars: envVar("max-prompt-length")},
			&cli.IntFlag{Name: "seed-factor", Value: d.SeedBatchFactor, Usage: "seeding target = batch-size x this many valid tasks; 0 starts from the zero triplet", EnvVars: envVar("seed-factor")},
			&cli.IntFlag{Name: "save-every", Value: d.SaveEvery, Usage: "checkpoint every N steps", EnvVars: envVar("save-every")},
			&cli.Float64Flag{Name: "lr", Value: d.Optim.LearningRate, Usage: "AdamW learning rate of the LoRA adapter", EnvVars: envVar("lr")},
			&cli.IntFlag{Name: "lora-rank", Value: d.Optim.LoRARank, Usage: "LoRA rank", EnvVars: envVar("lora-rank")},
			&cli.Float64Flag{Name: "lora-alpha", Value: d.Optim.LoRAAlpha, Usage: "LoRA alpha (scale = alpha / rank)", EnvVars: envVar("lora-alpha")},
			&cli.StringFlag{Name: "template", Value: d.Template, Usage: "prompt format: r1 (base models) or chatml (instruct models)", EnvVars: envVar("template")},
			&cli.DurationFlag{Name: "exec-timeout", Value: 500 * time.Millisecond, Usage: "wall-clock limit of one program run in the sandbox (reference: 10s)", EnvVars: envVar("exec-timeout")},
			&cli.IntFlag{Name: "ctx", Value: 32768, Usage: "KV cache cells shared by a generation batch", EnvVars: envVar("ctx")},
			&cli.IntFlag{Name: "slots", Value: 16, Usage: "sequences decoded together", EnvVars: envVar("slots")},
			&cli.IntFlag{Name: "gpu-layers", Value: 0, Usage: "layers to offload to the GPU; must be 0 for now: training runs on the CPU", EnvVars: envVar("gpu-layers")},
		},
		Action: runSelfPlay,
	})
}

// runConfig builds the effective config: defaults, then --config, then flags set explicitly.
func runConfig(c *cli.Context) (rl.Config, error) {
	cfg := rl.DefaultConfig()
	cfg.ExecTimeout = c.Duration("exec-timeout")
	if path := c.String("config"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, err
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
	}
	set := func(name string, apply func()) {
		if c.IsSet(name) || c.String("config") == "" {
			apply()
		}
	}
	set("seed", func() { cfg.Seed = c.Uint64("seed") })
	set("steps", func() { cfg.Steps = c.Int("steps") })
	set("batch-size", func() { cfg.BatchSize = c.Int("batch-size") })
	set("n-samples", func() { cfg.NSamples = c.Int("n-samples") })
	set("max-response-length", func() { cfg.MaxResponseLength = c.Int("max-response-length") })
	set("max-prompt-length", func() { cfg.MaxPromptLength = c.Int("max-prompt-length") })
	set("seed-factor", func() { cfg.SeedBatchFactor = c.Int("seed-factor") })
	set("save-every", func() { cfg.SaveEvery = c.Int("save-every") })
	set("lr", func() { cfg.Optim.LearningRate = c.Float64("lr") })
	set("lora-rank", func() { cfg.Optim.LoRARank = c.Int("lora-rank") })
	set("lora-alpha", func() { cfg.Optim.LoRAAlpha = c.Float64("lora-alpha") })
	set("template", func() { cfg.Template = c.String("template") })
	set("exec-timeout", func() { cfg.ExecTimeout = c.Duration("exec-timeout") })
	return cfg, cfg.Validate()
}

func runSelfPlay(c *cli.Context) error {
	cfg, err := runConfig(c)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.Bool("print-config") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(cfg)
	}
	if c.Int("gpu-layers") != 0 {
		// The trainer reads the frozen weights from host memory; offloading
		// them would leave it nothing to train through.
		return fmt.Errorf("--gpu-layers: training runs on the CPU in this version (CUDA training is not implemented yet), so run keeps every layer in host memory; generate and bench gen can offload")
	}
	out := c.String("out")
	ckpt, ckErr := rl.LatestCheckpoint(out)
	resuming := ckErr == nil
	if resuming {
		st, err := rl.LoadCheckpointState(ckpt)
		if err != nil {
			return fmt.Errorf("resume from %s: %w", ckpt, err)
		}
		steps := cfg.Steps
		cfg = st.Config // the run's own settings win on resume
		if c.IsSet("steps") {
			cfg.Steps = steps
		}
	} else if !errors.Is(ckErr, os.ErrNotExist) {
		return fmt.Errorf("run dir %s: %w", out, ckErr)
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	pool, err := sandbox.New(ctx, sandbox.Config{Workers: c.Int("threads"), Timeout: cfg.ExecTimeout,
		BannedModules: cfg.BannedModules, Logger: logger})
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer pool.Close()

	start := time.Now()
	eng, err := policy.New(c.String("model"), policy.Options{
		Threads: c.Int("threads"), GPULayers: c.Int("gpu-layers"), ContextSize: c.Int("ctx"), Slots: c.Int("slots"),
		LoRA:       bindings.LoRAOptions{Rank: cfg.Optim.LoRARank, Alpha: float32(cfg.Optim.LoRAAlpha), Seed: cfg.Seed},
		TotalSteps: cfg.Steps, SamplingTemperature: cfg.Temperature,
	})
	if err != nil {
		return err
	}
	defer eng.Close()
	info := eng.Model().Info()
	ai := eng.Adapter().Info()
	logger.Info("model ready", zap.String("model", info.Description), zap.String("backend", bindings.Backend),
		zap.Int("lora_rank", ai.Rank), zap.Int64("lora_params", ai.Params), zap.Duration("took", time.Since(start)))

	var tr *rl.Trainer
	if resuming {
		if tr, err = rl.Resume(ckpt, eng, pool, logger); err != nil {
			return fmt.Errorf("resume from %s: %w", ckpt, err)
		}
		logger.Info("resuming", zap.String("checkpoint", ckpt), zap.Int("step", tr.StepCount()), zap.Int("target", cfg.Steps))
	} else if tr, err = rl.NewTrainer(cfg, eng, pool, logger); err != nil {
		return err
	}
	defer tr.Close()
	if err := tr.SetDir(out); err != nil {
		return err
	}
	if err := writeRunConfig(out, cfg); err != nil {
		return err
	}
	remaining := cfg.Steps - tr.StepCount()
	if remaining <= 0 {
		logger.Info("run already complete", zap.Int("step", tr.StepCount()), zap.Int("target", cfg.Steps))
		return nil
	}
	logger.Info("self-play", zap.String("out", out), zap.Int("from_step", tr.StepCount()), zap.Int("steps", remaining),
		zap.Int("batch_size", cfg.BatchSize), zap.Int("n_samples", cfg.NSamples))
	finishProgress := watchSelfPlay(tr, cfg.Steps)
	err = tr.Run(ctx, remaining)
	finishProgress()
	if ctx.Err() != nil {
		last, _ := rl.LatestCheckpoint(out)
		logger.Warn("stopped; run the same command to resume", zap.String("last_checkpoint", last))
		return nil
	}
	if err != nil {
		return err
	}
	last, _ := rl.LatestCheckpoint(out)
	logger.Info("run complete", zap.Int("step", tr.StepCount()), zap.String("checkpoint", last),
		zap.String("adapter", filepath.Join(last, "policy", "adapter.gguf")), zap.Duration("took", time.Since(start)))
	return nil
}

// writeRunConfig records the effective config beside the run's outputs.
func writeRunConfig(dir string, cfg rl.Config) error {
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), append(data, '\n'), 0o644)
}
