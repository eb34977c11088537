package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

func init() {
	registerCommand(&cli.Command{
		Name:  "model",
		Usage: "inspect GGUF models and write tiny random ones for tests and demos",
		Subcommands: []*cli.Command{
			{
				Name:      "info",
				Usage:     "print what a GGUF model is: architecture, sizes, quantization, special tokens",
				ArgsUsage: "MODEL.gguf",
				Flags:     []cli.Flag{jsonFlag()},
				Action:    modelInfo,
			},
			{
				Name:  "tiny",
				Usage: "write a small Qwen-architecture GGUF with deterministic random weights",
				Description: `Writes a model that loads, tokenizes and generates like a real Qwen checkpoint but
knows nothing: for tests, demos and benchmarks, with no download. The vocabulary is
byte-level BPE with the Qwen special tokens <|endoftext|>, <|im_start|>, <|im_end|>.

  azr-native model tiny --out tiny.gguf                     # ~0.5 MB, 2 layers
  azr-native model tiny --out q05b.gguf --size 0.5b --quant q4_0   # Qwen2-0.5B shapes`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "output `FILE`", EnvVars: envVar("out")},
					&cli.StringFlag{Name: "size", Value: "test", Usage: "test (2 layers, 64 wide), 0.5b (Qwen2/2.5-0.5B shapes) or 7b (Qwen2.5-7B shapes, ~4.4 GB)", EnvVars: envVar("size")},
					&cli.StringFlag{Name: "arch", Value: "qwen2", Usage: "qwen2 or qwen3", EnvVars: envVar("arch")},
					&cli.StringFlag{Name: "quant", Value: "", Usage: "f32, f16, q8_0, q4_0 or q4_k (default: f32 for test, q4_0 for 0.5b, q4_k for 7b)", EnvVars: envVar("quant")},
					&cli.IntFlag{Name: "layers", Usage: "override the number of layers", EnvVars: envVar("layers")},
					&cli.IntFlag{Name: "vocab", Usage: "override the vocabulary size (>= 259)", EnvVars: envVar("vocab")},
					&cli.Float64Flag{Name: "init-scale", Usage: "std-dev of the random weights (default 0.02)", EnvVars: envVar("init-scale")},
				},
				Action: modelTiny,
			},
		},
	})
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON", EnvVars: envVar("json")}
}

// tinySpec turns the tiny-model flags into a bindings.TinyModel.
func tinySpec(size, arch, quant string, seed uint64) (bindings.TinyModel, error) {
	var t bindings.TinyModel
	switch size {
	case "test":
		t = bindings.TinyTest
	case "0.5b", "0.5B", "qwen2-0.5b":
		t = bindings.TinyQwen05B
	case "7b", "7B", "qwen2.5-7b":
		t = bindings.TinyQwen25_7B
	default:
		return t, fmt.Errorf("--size must be test, 0.5b or 7b, not %q", size)
	}
	t.Arch = arch
	if quant != "" {
		t.Quant = quant
	}
	t.Seed = seed
	return t, nil
}

func modelTiny(c *cli.Context) error {
	t, err := tinySpec(c.String("size"), c.String("arch"), c.String("quant"), c.Uint64("seed"))
	if err != nil {
		return err
	}
	if c.IsSet("layers") {
		t.Layers = c.Int("layers")
	}
	if c.IsSet("vocab") {
		t.Vocab = c.Int("vocab")
	}
	if c.IsSet("init-scale") {
		t.InitScale = float32(c.Float64("init-scale"))
	}
	start := time.Now()
	if err := bindings.WriteTinyModel(c.String("out"), t); err != nil {
		return err
	}
	st, _ := os.Stat(c.String("out"))
	logger.Info("wrote tiny model", zap.String("path", c.String("out")), zap.String("arch", t.Arch),
		zap.String("quant", t.Quant), zap.Int("layers", t.Layers), zap.Int64("bytes", st.Size()), zap.Duration("took", time.Since(start)))
	return nil
}

func modelInfo(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("model info needs exactly one MODEL.gguf argument")
	}
	bindings.SetLogLevel(4)
	m, err := bindings.LoadModel(c.Args().First(), bindings.ModelOptions{Threads: 1})
	if err != nil {
		return err
	}
	defer m.Close()
	info := m.Info()
	devices := bindings.LoadBackends().Devices
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			bindings.ModelInfo
			ComputeDevices []bindings.Device `json:"compute_devices"`
		}{info, devices})
	}
	fmt.Printf("%s\n  architecture  %s\n  weights       %s, %d params, %.1f MiB\n  layers        %d (embedding %d, feed-forward %d)\n  heads         %d (kv %d)\n  vocabulary    %d tokens (eos %d, eot %d, add bos %v)\n  train context %d\n  chat template %v\n",
		info.Description, info.Arch, info.FileType, info.Params, float64(info.SizeBytes)/(1<<20), info.Layers, info.Embedding,
		info.FeedForward, info.Heads, info.KVHeads, info.Vocab, info.EOS, info.EOT, info.AddBOS, info.TrainContext, info.HasChatTemplate)
	for i, d := range devices {
		label := ""
		if i == 0 {
			label = "devices"
		}
		fmt.Printf("  %-13s %s\n", label, d)
	}
	return nil
}
