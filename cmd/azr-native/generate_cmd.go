package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/progress"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

func init() {
	registerCommand(&cli.Command{
		Name:  "generate",
		Usage: "sample continuations of prompts with the native engine (batched, prefix-shared)",
		Description: `Generates --samples continuations for every prompt in one batched call: the samples of
a prompt share its evaluated prefix, and finished sequences free their slot for the next.

Prompts come from --prompt (repeatable) or --prompts FILE: one prompt per line, or JSON
lines {"prompt": "..."} for prompts with newlines; "-" reads standard input.

  azr-native generate --model m.gguf --prompt 'def f(x):' --samples 4 --max-tokens 32
  azr-native generate --model m.gguf --prompts prompts.jsonl --chat --json > out.json`,
		Flags: append(modelFlags(),
			&cli.StringSliceFlag{Name: "prompt", Aliases: []string{"p"}, Usage: "a prompt (repeatable)", EnvVars: envVar("prompt")},
			&cli.StringFlag{Name: "prompts", Usage: "`FILE` of prompts: one per line or JSON lines {\"prompt\": ...}; - for stdin", EnvVars: envVar("prompts")},
			&cli.BoolFlag{Name: "chat", Usage: "wrap each prompt as a user turn in the model's chat format (ChatML for Qwen)", EnvVars: envVar("chat")},
			&cli.IntFlag{Name: "samples", Aliases: []string{"n"}, Value: 1, Usage: "samples per prompt", EnvVars: envVar("samples")},
			&cli.IntFlag{Name: "max-tokens", Value: 256, Usage: "new tokens per sample", EnvVars: envVar("max-tokens")},
			&cli.Float64Flag{Name: "temperature", Value: 1.0, Usage: "sampling temperature; 0 = greedy", EnvVars: envVar("temperature")},
			&cli.Float64Flag{Name: "top-p", Value: 1.0, Usage: "nucleus sampling mass; 1 = off", EnvVars: envVar("top-p")},
			&cli.IntFlag{Name: "top-k", Value: 0, Usage: "keep the k most likely tokens; 0 = off", EnvVars: envVar("top-k")},
			&cli.StringSliceFlag{Name: "stop", Usage: "stop string (repeatable); the text ends before it", EnvVars: envVar("stop")},
			&cli.BoolFlag{Name: "ignore-eos", Usage: "keep going past end-of-generation tokens", EnvVars: envVar("ignore-eos")},
			jsonFlag(),
		),
		Action: generate,
	})
}

// modelFlags are the flags of every command that loads a model for generation.
func modelFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "GGUF model `FILE` (qwen2/qwen3)", EnvVars: envVar("model")},
		&cli.IntFlag{Name: "ctx", Value: 8192, Usage: "KV cache cells shared by all sequences of a batch", EnvVars: envVar("ctx")},
		&cli.IntFlag{Name: "slots", Value: 8, Usage: "sequences decoded together", EnvVars: envVar("slots")},
		&cli.IntFlag{Name: "gpu-layers", Value: -1, Usage: "layers to offload to a GPU when one is present (azr-native devices); -1 = all, 0 = none", EnvVars: envVar("gpu-layers")},
	}
}

type loadedModel struct {
	model *bindings.Model
	gen   *bindings.Generator
}

func (l *loadedModel) Close() {
	if l.gen != nil {
		l.gen.Close()
	}
	if l.model != nil {
		l.model.Close()
	}
}

func openModel(c *cli.Context) (*loadedModel, error) {
	start := time.Now()
	m, err := bindings.LoadModel(c.String("model"), bindings.ModelOptions{Threads: c.Int("threads"), GPULayers: c.Int("gpu-layers")})
	if err != nil {
		return nil, err
	}
	g, err := m.NewGenerator(bindings.GeneratorOptions{ContextSize: c.Int("ctx"), Slots: c.Int("slots"), Threads: c.Int("threads")})
	if err != nil {
		m.Close()
		return nil, err
	}
	info := m.Info()
	logger.Info("model loaded", zap.String("model", info.Description), zap.Uint64("params", info.Params),
		zap.Int("threads", c.Int("threads")), zap.String("devices", placement(info)), zap.Duration("took", time.Since(start)))
	return &loadedModel{model: m, gen: g}, nil
}

func readPrompts(c *cli.Context) ([]string, error) {
	prompts := append([]string{}, c.StringSlice("prompt")...)
	if file := c.String("prompts"); file != "" {
		var r io.Reader
		if file == "-" {
			r = os.Stdin
		} else {
			f, err := os.Open(file)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			r = f
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for line := 1; sc.Scan(); line++ {
			text := sc.Text()
			if strings.TrimSpace(text) == "" {
				continue
			}
			if strings.HasPrefix(strings.TrimSpace(text), "{") {
				var obj struct {
					Prompt *string `json:"prompt"`
				}
				if err := json.Unmarshal([]byte(text), &obj); err != nil || obj.Prompt == nil {
					return nil, fmt.Errorf("%s:%d: a line starting with { must be JSON with a \"prompt\" string", file, line)
				}
				text = *obj.Prompt
			}
			prompts = append(prompts, text)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("no prompts: give --prompt or --prompts FILE")
	}
	return prompts, nil
}

// chatWrap renders one user turn in ChatML, the chat format of Qwen models.
func chatWrap(prompt string) string {
	return "<|im_start|>user\n" + prompt + "<|im_end|>\n<|im_start|>assistant\n"
}

type generateOutput struct {
	Prompt  string            `json:"prompt"`
	Samples []bindings.Sample `json:"samples"`
}

func generate(c *cli.Context) error {
	texts, err := readPrompts(c)
	if err != nil {
		return err
	}
	lm, err := openModel(c)
	if err != nil {
		return err
	}
	defer lm.Close()
	prompts := make([]bindings.Prompt, len(texts))
	for i, t := range texts {
		if c.Bool("chat") {
			t = chatWrap(t)
		}
		toks, err := lm.model.Tokenize(t, true, c.Bool("chat"))
		if err != nil {
			return fmt.Errorf("prompt %d: %w", i, err)
		}
		if len(toks) == 0 {
			return fmt.Errorf("prompt %d is empty", i)
		}
		prompts[i] = bindings.Prompt{Tokens: toks, Samples: c.Int("samples")}
	}
	// One native call does the whole batch and reports nothing until it ends:
	// the tracker shows that it is alive (elapsed time) and the rate at the end.
	track := progress.New(logger, "generating", int64(len(prompts)*c.Int("samples")), progress.Unit("samples"), progress.Ticking())
	samples, stats, err := lm.gen.Generate(c.Context, prompts, bindings.Sampling{
		Temperature: float32(c.Float64("temperature")), TopP: float32(c.Float64("top-p")), TopK: c.Int("top-k"),
		MaxTokens: c.Int("max-tokens"), Seed: c.Uint64("seed"), Stop: c.StringSlice("stop"), IgnoreEOS: c.Bool("ignore-eos"),
	})
	if err == nil {
		track.Set(int64(len(samples)))
	}
	track.Finish()
	if err != nil {
		return err
	}
	logger.Info("generated", zap.Int64("tokens", stats.GeneratedTokens), zap.Int64("prompt_tokens", stats.PromptTokens),
		zap.Duration("took", stats.Total), zap.Float64("tokens_per_s", float64(stats.GeneratedTokens)/stats.Total.Seconds()))
	out := make([]generateOutput, len(texts))
	for i := range texts {
		out[i].Prompt = texts[i]
	}
	for _, s := range samples {
		out[s.Prompt].Samples = append(out[s.Prompt].Samples, s)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for i, o := range out {
		for _, s := range o.Samples {
			fmt.Printf("=== prompt %d, sample %d (%d tokens, %s)\n%s\n", i, s.Index, len(s.Tokens), s.Finish, s.Text)
		}
	}
	return nil
}
