package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/eval"
	"github.com/azr-native/azr-native/internal/policy"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

func init() { registerCommandMaker(runCommand) }

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "train a model by Absolute Zero self-play (the main job)",
		Description: `Runs AZR self-play on a GGUF model: each step proposes abduction, deduction and
induction tasks, validates them in the Python sandbox, rewards the proposer by
learnability (1 - solve rate over --n-samples rollouts), solves tasks from the buffers,
and makes one Task-Relative REINFORCE++ update of a LoRA adapter over the frozen,
quantized base. Before the first step a seeding phase fills the buffers (see
--seed-factor).

Without --model it trains the built-in nano coder base (a small model shipped in the
binary, unpacked once to the user's cache directory) with settings that suit it:
compact prompts with 2 references, 256-token responses, prompts that fit its
768-token context, sampling temperature 0.7; any of them given explicitly wins.

Everything goes into --out DIR:
  config.json                the effective settings (a valid --config file)
  checkpoints/step-NNNNNN/   adapter.gguf (a llama.cpp --lora file), optimizer state,
                             buffers, RNG state, config; checkpoints/latest names the newest
  metrics.jsonl              one JSON line per step: rewards, accuracies, lengths, timings,
                             and "signal": valid-proposal rate, the 0 < p̄ < 1 share,
                             solve rate per type, program diversity
  samples.jsonl              a few responses per batch and step (--samples-per-batch)
  uhoh.jsonl                 responses the monitor flagged
  eval/TASK-step-NNNNNN.jsonl  per-item results of --eval-data evaluations (their scores,
                             eval/TASK/pass_at_1, are lines {"step", "eval"} of metrics.jsonl)
Run the same command again to resume: it continues from checkpoints/latest exactly as
if it had not stopped. On resume the checkpoint's self-play settings win (a setting
given differently is reported and ignored), except --steps, which may raise the target;
the engine settings (model, threads, ctx, slots) are taken as given.
The first Ctrl-C stops at the next safe point and checkpoints the finished steps; a
second Ctrl-C exits at once (checkpoints are written atomically, so the last one stays
intact; work since it is redone on resume).

Every setting is a flag, an AZR_* environment variable (the flag's name in upper case,
dashes as underscores) and a key of the --config file (YAML or JSON; the key is shown
in each flag's help; see --print-config for all of them). Precedence, lowest first:
defaults < --config file < environment < flags on the command line. An unknown key in
the config file is an error.

Defaults are the reference's (64 prompts per task type and role, 8 rollouts, 8096-token
responses), sized for a GPU. On a CPU, start small, e.g.
  azr-native run -m qwen2.5-0.5b-q4_0.gguf --out runs/cpu --batch-size 4 \
      --n-samples 4 --max-response-length 512 --seed-factor 1 --save-every 1`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "YAML or JSON `FILE` of settings (keys as in --print-config)", EnvVars: envVar("config")},
			&cli.BoolFlag{Name: "print-config", Usage: "print the effective settings as JSON and exit", EnvVars: envVar("print-config")},
		}, runFlags()...),
		Action: runSelfPlay,
	}
}

// runConfig builds the effective settings (see resolveRunSettings) and checks them.
func runConfig(c *cli.Context) (runSettings, error) {
	s, err := resolveRunSettings(c)
	if err != nil {
		return s, err
	}
	return s, s.Validate()
}

func runSelfPlay(c *cli.Context) error {
	set, err := runConfig(c)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	builtin := set.Model == ""
	if builtin {
		applyBuiltinModelDefaults(&set)
	}
	if c.Bool("print-config") {
		data, err := encodeSettings(set)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(data)
		return err
	}
	if set.Out == "" {
		return fmt.Errorf("run needs a run directory: --out DIR (or out: in --config)")
	}
	if builtin {
		if err := unpackBuiltinModel(&set); err != nil {
			return err
		}
	}
	gpuLayers, err := gpuLayersLogged(set.GPULayers)
	if err != nil {
		return err
	}
	out := set.Out
	cfg := set.Config
	ckpt, ckErr := rl.LatestCheckpoint(out)
	resuming := ckErr == nil
	if resuming {
		st, err := rl.LoadCheckpointState(ckpt)
		if err != nil {
			return fmt.Errorf("resume from %s: %w", ckpt, err)
		}
		// The run's own settings win on resume, except the step target.
		resumed := st.Config
		resumed.Steps = cfg.Steps
		for _, key := range differingKeys(cfg, resumed) {
			if !set.given[key] {
				continue
			}
			logger.Warn("setting ignored on resume: the checkpoint's value wins", zap.String("key", key), zap.String("checkpoint", ckpt))
		}
		cfg = resumed
		set.Config = cfg
	} else if !errors.Is(ckErr, os.ErrNotExist) {
		return fmt.Errorf("run dir %s: %w", out, ckErr)
	}

	ctx, interrupts := watchInterrupts(c.Context)
	defer interrupts.stop()

	rc, err := startRunCluster(ctx, set)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	defer rc.Close()
	var exec eval.Executor // the sandbox: a local pool, or sandbox workers (run_cluster.go)
	if rc == nil {
		pool, err := sandbox.New(ctx, sandbox.Config{Workers: set.Threads, Timeout: cfg.ExecTimeout,
			BannedModules: cfg.BannedModules, Isolation: sandbox.Isolation(set.SandboxIsolation), Logger: logger})
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		defer pool.Close()
		exec = pool
	}

	start := time.Now()
	eng, err := policy.New(set.Model, policy.Options{
		Threads: set.Threads, GPULayers: gpuLayers, ContextSize: set.Ctx, Slots: set.Slots,
		LoRA:       bindings.LoRAOptions{Rank: cfg.Optim.LoRARank, Alpha: float32(cfg.Optim.LoRAAlpha), Seed: cfg.Seed},
		TotalSteps: cfg.Steps, SamplingTemperature: cfg.Temperature,
	})
	if err != nil {
		return err
	}
	defer eng.Close()
	info := eng.Model().Info()
	ai := eng.Adapter().Info()
	logger.Info("model ready", zap.String("model", info.Description), zap.String("devices", placement(info)),
		zap.Int("lora_rank", ai.Rank), zap.Int64("lora_params", ai.Params), zap.Duration("took", time.Since(start)))

	var pol interface {
		rl.Policy
		eval.Generator
	} = eng
	if rc != nil {
		if pol, exec, err = rc.wrap(eng, set); err != nil {
			return err
		}
	}

	var tr *rl.Trainer
	if resuming {
		if tr, err = rl.Resume(ckpt, pol, exec, logger); err != nil {
			return fmt.Errorf("resume from %s: %w", ckpt, err)
		}
		logger.Info("resuming", zap.String("checkpoint", ckpt), zap.Int("step", tr.StepCount()), zap.Int("target", cfg.Steps))
		if len(set.SeedFile) > 0 {
			logger.Warn("--seed-file ignored on resume: the checkpoint holds the buffers", zap.Strings("seed_file", set.SeedFile))
		}
	} else {
		if tr, err = rl.NewTrainer(cfg, pol, exec, logger); err != nil {
			return err
		}
		if len(set.SeedFile) > 0 {
			triplets, induction, err := rl.ReadSeedFiles(set.SeedFile, cfg.SeedTarget())
			if err != nil {
				tr.Close()
				return err
			}
			tr.SetSeeds(triplets, induction)
			logger.Info("seed tasks loaded; no seeding phase", zap.Strings("seed_file", set.SeedFile),
				zap.Int("triplets", len(triplets)), zap.Int("induction", len(induction)))
		}
	}
	defer tr.Close()
	if err := tr.SetDir(out); err != nil {
		return err
	}
	if err := writeRunConfig(out, set); err != nil {
		return err
	}
	remaining := cfg.Steps - tr.StepCount()
	if remaining <= 0 {
		logger.Info("run already complete", zap.Int("step", tr.StepCount()), zap.Int("target", cfg.Steps))
		return nil
	}
	ev, err := newRunEvaluator(ctx, set.EvalData, cfg, exec, pol, out, set.Threads)
	if err != nil {
		return err
	}
	if ev != nil {
		tr.Eval = ev.Eval
	}
	interrupts.attach(tr)
	logger.Info("self-play", zap.String("out", out), zap.Int("from_step", tr.StepCount()), zap.Int("steps", remaining),
		zap.Int("batch_size", cfg.BatchSize), zap.Int("n_samples", cfg.NSamples))
	finishProgress := watchSelfPlay(tr, cfg.Steps)
	err = tr.Run(ctx, remaining)
	finishProgress()
	if ctx.Err() != nil || (err == nil && tr.StopRequested()) {
		last, _ := rl.LatestCheckpoint(out)
		logger.Warn("stopped; run the same command to resume", zap.Int("step", tr.StepCount()), zap.Int("target", cfg.Steps),
			zap.String("last_checkpoint", last))
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

// writeRunConfig records the effective settings beside the run's outputs
// (atomically: a reader never sees half a file).
func writeRunConfig(dir string, set runSettings) error {
	data, err := encodeSettings(set)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".config.json.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "config.json"))
}

// differingKeys lists the config keys whose values differ between a and b.
func differingKeys(a, b rl.Config) []string {
	ma, errA := settingsMap(runSettings{Config: a})
	mb, errB := settingsMap(runSettings{Config: b})
	if errA != nil || errB != nil {
		return nil
	}
	var keys []string
	for _, k := range runKeys {
		va, _ := json.Marshal(lookupPath(ma, k.path))
		vb, _ := json.Marshal(lookupPath(mb, k.path))
		if !bytes.Equal(va, vb) {
			keys = append(keys, k.name())
		}
	}
	return keys
}
