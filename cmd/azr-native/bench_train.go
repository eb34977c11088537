package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/progress"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

func init() {
	registerBench(&cli.Command{
		Name:  "train",
		Usage: "LoRA policy-gradient step time against a forward-only pass of the same batch",
		Description: `Times one training step (forward, hand-built backward through the frozen quantized
weights, AdamW on the adapter) and a forward-only log-prob pass over the same batch of
--seqs x --tokens random tokens, in the same process. Goal: step / forward <= 3.5.

Without --model it writes a Qwen2-0.5B-shaped random model (--quant) to a temp dir.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "GGUF model `FILE`; default: a temporary 0.5B-shaped tiny model", EnvVars: envVar("model")},
			&cli.StringFlag{Name: "quant", Value: "q4_0", Usage: "quantization of the temporary model", EnvVars: envVar("quant")},
			&cli.IntFlag{Name: "seqs", Value: 8, Usage: "sequences per step", EnvVars: envVar("seqs")},
			&cli.IntFlag{Name: "tokens", Value: 128, Usage: "tokens per sequence", EnvVars: envVar("tokens")},
			&cli.IntFlag{Name: "rank", Value: 16, Usage: "LoRA rank (all projections)", EnvVars: envVar("rank")},
			&cli.IntFlag{Name: "steps", Value: 2, Usage: "measured steps (the best is reported)", EnvVars: envVar("steps")},
			trainerGPULayersFlag(),
			&cli.BoolFlag{Name: "force-scheduler", Usage: "time the backend-scheduler path (the graph GPU training runs) even with every weight on the CPU, to compare with the direct CPU path", EnvVars: envVar("force-scheduler")},
			jsonFlag(),
		},
		Action: benchTrain,
	})
}

func benchTrain(c *cli.Context) error {
	gpuLayers, err := gpuLayersLogged(c.Int("gpu-layers"))
	if err != nil {
		return err
	}
	path, cleanup, err := benchModel(c)
	if err != nil {
		return err
	}
	defer cleanup()
	m, err := bindings.LoadModel(path, bindings.ModelOptions{Threads: c.Int("threads"), GPULayers: gpuLayers})
	if err != nil {
		return err
	}
	defer m.Close()
	logger.Info("timing train step and forward pass", zap.Int("seqs", c.Int("seqs")), zap.Int("tokens", c.Int("tokens")))
	// One native call: the tracker shows it is alive.
	track := progress.New(logger, "bench train", 0, progress.Unit("runs"), progress.Ticking())
	r, err := bindings.BenchTrain(m, bindings.BenchTrainOptions{Seqs: c.Int("seqs"), Tokens: c.Int("tokens"),
		Rank: c.Int("rank"), Threads: c.Int("threads"), Steps: c.Int("steps"), Seed: int64(c.Uint64("seed")),
		ForceScheduler: c.Bool("force-scheduler")})
	track.Finish()
	if err != nil {
		return err
	}
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Model   string `json:"model"`
			Devices string `json:"devices"`
			bindings.BenchTrainResult
		}{m.Info().Description, placement(m.Info()), r})
	}
	fmt.Printf("model %s, %s, %d threads, %d x %d tokens, rank %d (%d params)\n", m.Info().Description, placement(m.Info()), r.Threads, r.Seqs, r.Tokens, r.Rank, r.AdapterParams)
	fmt.Printf("train step %.2fs (%.0f tok/s), forward %.2fs (%.0f tok/s), step/forward %.2fx; setup %.1fs, peak RSS %.0f MiB\n",
		r.StepSeconds, r.StepTokensPerSec, r.ForwardSeconds, r.FwdTokensPerSec, r.StepOverForward, r.SetupSeconds, r.PeakRSSMiB)
	return nil
}
