package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/azr-native/azr-native/internal/nano"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

func init() {
	d := nano.DefaultPretrainConfig()
	registerNano(&cli.Command{
		Name:      "pretrain",
		Usage:     "train the nano coder base model from scratch on CPU (tokenizer, then full-parameter AdamW)",
		UsageText: "azr-native nano pretrain --data DIR --out DIR [--minutes M | --tokens N] [--size nano] [--seed S]",
		Description: `Trains a Qwen2-architecture model from scratch on the corpus that
'azr-native nano data --out DIR' wrote (DIR/corpus.jsonl):

  1. a byte-level BPE tokenizer (--vocab tokens) is learned from the corpus;
  2. a share of the documents is held out (--heldout-percent), the rest is
     tokenized and packed into rows of --seq-len tokens;
  3. AdamW steps of --batch-rows rows with linear warmup and cosine decay of the
     learning rate; the held-out loss is measured every --eval-every steps;
  4. the model is written as GGUF, F32 and a quantized copy (--quant), which
     llama.cpp loads and 'azr-native model info' describes.

The budget is either --tokens (exactly reproducible) or --minutes of training
time: then the first steps are timed and the step count is fixed from them
(summary.json gives the equivalent --tokens to repeat the run exactly).
Same data, flags and --seed give the same model on CPU, whatever --threads is
(on a machine shared with other busy processes, --threads 1 is often fastest:
ggml's worker threads spin while they wait for each other).

Everything goes into --out: config.json, tokenizer.json, data/ (token streams),
checkpoint/, metrics.jsonl (loss, held-out loss, speed), nano-f32.gguf,
nano-<quant>.gguf and summary.json. Ctrl-C saves a checkpoint; running the same
command again resumes and ends with the same weights as an uninterrupted run.

Sizes: ` + sizeHelp() + `

Example (the shipped default base is made this way by 'make nano'):
  azr-native nano data --out nano-data
  azr-native --threads 2 nano pretrain --data nano-data --out nano-run --minutes 20`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "data `DIR` from 'nano data' (reads DIR/corpus.jsonl); required unless --init is given", EnvVars: envVar("data")},
			&cli.StringFlag{Name: "init", Usage: "continue from the finished pretraining run `DIR`: its weights, tokenizer and token streams, with a fresh optimizer and a new schedule over this budget (size, vocab and seq-len are taken from it)", EnvVars: envVar("init")},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "run `DIR`; an existing run is resumed", EnvVars: envVar("out")},
			&cli.Float64Flag{Name: "minutes", Value: d.Minutes, Usage: "training time budget (ignored when --tokens is given)", EnvVars: envVar("minutes")},
			&cli.Int64Flag{Name: "tokens", Usage: "training budget in tokens (rounded up to whole steps); exactly reproducible", EnvVars: envVar("tokens")},
			&cli.StringFlag{Name: "size", Value: d.Size, Usage: "model shape: " + strings.Join(nano.SizeNames(), ", "), EnvVars: envVar("size")},
			&cli.IntFlag{Name: "vocab", Value: d.VocabSize, Usage: "tokenizer vocabulary size (256 bytes + merges + 3 specials)", EnvVars: envVar("vocab")},
			&cli.IntFlag{Name: "seq-len", Value: d.SeqLen, Usage: "tokens per training row; also the model's context length", EnvVars: envVar("seq-len")},
			&cli.IntFlag{Name: "batch-rows", Value: d.BatchRows, Usage: "rows per optimizer step", EnvVars: envVar("batch-rows")},
			&cli.Float64Flag{Name: "lr", Value: d.LR, Usage: "peak learning rate (AdamW)", EnvVars: envVar("lr")},
			&cli.Float64Flag{Name: "min-lr", Value: d.MinLR, Usage: "learning rate at the end of the cosine decay", EnvVars: envVar("min-lr")},
			&cli.IntFlag{Name: "warmup", Value: d.WarmupSteps, Usage: "linear warmup steps", EnvVars: envVar("warmup")},
			&cli.IntFlag{Name: "eval-every", Value: d.EvalEvery, Usage: "steps between held-out loss measurements", EnvVars: envVar("eval-every")},
			&cli.IntFlag{Name: "heldout-rows", Value: d.HeldOutRows, Usage: "held-out rows in each measurement", EnvVars: envVar("heldout-rows")},
			&cli.Float64Flag{Name: "heldout-percent", Value: d.HeldOutPercent, Usage: "share of documents held out of training", EnvVars: envVar("heldout-percent")},
			&cli.StringFlag{Name: "quant", Value: d.Quant, Usage: "type of the quantized copy (q8_0, q4_0, ...)", EnvVars: envVar("quant")},
			&cli.DurationFlag{Name: "checkpoint-every", Value: 0, Usage: "wall time between checkpoints (0: 5m)", EnvVars: envVar("checkpoint-every")},
		},
		Action: nanoPretrain,
	})
}

func sizeHelp() string {
	var parts []string
	for _, name := range nano.SizeNames() {
		s := nano.Sizes[name]
		parts = append(parts, fmt.Sprintf("%s (%d layers x %d wide, %d heads, ff %d)", name, s.Layers, s.Embd, s.Heads, s.FF))
	}
	return strings.Join(parts, "; ")
}

func nanoPretrainConfig(c *cli.Context) (nano.PretrainConfig, error) {
	cfg := nano.DefaultPretrainConfig()
	size, ok := nano.Sizes[c.String("size")]
	if !ok {
		return cfg, fmt.Errorf("--size %q: choose one of %s", c.String("size"), strings.Join(nano.SizeNames(), ", "))
	}
	cfg.Size, cfg.Shape = c.String("size"), size
	cfg.VocabSize = c.Int("vocab")
	cfg.SeqLen = c.Int("seq-len")
	cfg.BatchRows = c.Int("batch-rows")
	cfg.Tokens = c.Int64("tokens")
	cfg.Minutes = c.Float64("minutes")
	if cfg.Tokens > 0 {
		cfg.Minutes = 0 // the token budget decides; keep the saved config independent of --minutes
	}
	cfg.LR, cfg.MinLR = c.Float64("lr"), c.Float64("min-lr")
	cfg.WarmupSteps = c.Int("warmup")
	cfg.EvalEvery, cfg.HeldOutRows = c.Int("eval-every"), c.Int("heldout-rows")
	cfg.HeldOutPercent = c.Float64("heldout-percent")
	cfg.Quant = strings.ToLower(c.String("quant"))
	cfg.Seed = c.Uint64("seed")
	if dir := c.String("init"); dir != "" {
		var err error
		if cfg, err = cfg.InitFrom(dir); err != nil {
			return cfg, err
		}
	} else if c.String("data") == "" {
		return cfg, errors.New("nano pretrain: give --data DIR (from 'azr-native nano data') or --init RUN_DIR")
	}
	return cfg, cfg.Validate()
}

func nanoPretrain(c *cli.Context) error {
	cfg, err := nanoPretrainConfig(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := nano.Pretrain(ctx, nano.PretrainOptions{
		DataDir: c.String("data"), OutDir: c.String("out"), Config: cfg, Logger: logger, Threads: c.Int("threads"),
		CheckpointEvery: c.Duration("checkpoint-every"),
	})
	if errors.Is(err, nano.ErrStopped) {
		return nil // the driver logged where the checkpoint is
	}
	if err != nil {
		return err
	}
	logger.Info("nano base ready", zap.String("model", sum.ModelQuant), zap.String("f32", sum.ModelF32),
		zap.Float64("heldout_loss", sum.FinalHeldOut), zap.Int64("reproduce_with_tokens", sum.ReproduceTokens))
	return nil
}
