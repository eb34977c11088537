package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/policy"
	"github.com/azr-native/azr-native/internal/progress"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
	"github.com/urfave/cli/v2"
)

func init() {
	d := rl.DefaultConfig()
	registerBench(&cli.Command{
		Name:  "step",
		Usage: "one full self-play step, its time split into generation (prompt, decode), sandbox, reward and training",
		Description: `Runs --steps real self-play steps (propose, validate, learnability rollouts, solve,
reward, one LoRA update) on a model with the real engine and the real sandbox, and
reports where the time of each step went:

  generation   inside the policy's Generate calls (proposals, learnability rollouts,
               answers), split into
                 prompt   evaluating the prompts: measured after the step by replaying
                          the step's generation requests with one new token each
                 decode   the rest: generating the response tokens
  sandbox      wall time with at least one sandbox call in flight (validation,
               answer checks; calls run in parallel)
  reward       the rest of the step outside training: parsing, rewards, advantages,
               buffers, metrics
  train        the policy update (forward, backward, AdamW on the adapter)

The step starts from the zero triplet (no seeding phase). On a random model almost
nothing proposed is valid, so the sandbox and learnability shares are the smallest
they can be; a trained model spends more there. The first step includes one-time
setup inside the engine (graph allocation); --steps 2 shows a warm step as well.

Without --model it writes a Qwen2-0.5B-shaped random model (--quant) to a temp dir.

  azr-native --threads 2 bench step --batch-size 2 --n-samples 2 --max-response-length 64 --json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "GGUF model `FILE`; default: a temporary 0.5B-shaped random model", EnvVars: envVar("model")},
			&cli.StringFlag{Name: "quant", Value: "q4_0", Usage: "quantization of the temporary model", EnvVars: envVar("quant")},
			&cli.IntFlag{Name: "steps", Value: 1, Usage: "self-play steps to time (each is reported)", EnvVars: envVar("steps")},
			&cli.IntFlag{Name: "batch-size", Value: 2, Usage: "prompts per (task type x role) batch", EnvVars: envVar("batch-size")},
			&cli.IntFlag{Name: "n-samples", Value: 2, Usage: "learnability rollouts per valid proposal", EnvVars: envVar("n-samples")},
			&cli.IntFlag{Name: "max-response-length", Value: 64, Usage: "tokens per response", EnvVars: envVar("max-response-length")},
			&cli.StringFlag{Name: "prompt-style", Value: d.PromptStyle, Usage: "full or compact prompts (see run --help)", EnvVars: envVar("prompt-style")},
			&cli.IntFlag{Name: "ctx", Value: 32768, Usage: "KV cache cells shared by a generation batch", EnvVars: envVar("ctx")},
			&cli.IntFlag{Name: "slots", Value: 16, Usage: "sequences decoded together", EnvVars: envVar("slots")},
			trainerGPULayersFlag(),
			&cli.StringFlag{Name: "sandbox-isolation", Value: string(sandbox.IsolationStrict), Usage: "strict or best-effort (see run --help)", EnvVars: envVar("sandbox-isolation")},
			jsonFlag(),
		},
		Action: benchStep,
	})
}

// stepSplit is where one step's time went, in seconds.
type stepSplit struct {
	Step       int     `json:"step"`
	Total      float64 `json:"total_s"`
	Generation float64 `json:"generation_s"`
	Prompt     float64 `json:"generation_prompt_s"`
	Decode     float64 `json:"generation_decode_s"`
	Sandbox    float64 `json:"sandbox_s"`
	Reward     float64 `json:"reward_s"` // parsing, rewards, advantages, buffers, metrics
	Train      float64 `json:"train_s"`
	// Percent of Total for generation, sandbox, reward and train (they add up to 100).
	Percent map[string]float64 `json:"percent"`

	GenerateCalls   int     `json:"generate_calls"`
	Sequences       int     `json:"sequences_generated"`
	PromptTokens    int     `json:"prompt_tokens"` // summed over requests (a prompt's samples share it)
	GeneratedTokens int     `json:"generated_tokens"`
	DecodeTokPerSec float64 `json:"decode_tokens_per_s"`
	PromptTokPerSec float64 `json:"prompt_tokens_per_s"`
	SandboxCalls    int     `json:"sandbox_calls"`
	TrainSequences  int     `json:"train_sequences"`
	TrainTokens     int     `json:"train_tokens"`
	TrainTokPerSec  float64 `json:"train_tokens_per_s"`
	ValidProposals  int     `json:"valid_proposals"`
}

type benchStepReport struct {
	Model             string      `json:"model"`
	Backend           string      `json:"backend"`
	Threads           int         `json:"threads"`
	BatchSize         int         `json:"batch_size"`
	NSamples          int         `json:"n_samples"`
	MaxResponseLength int         `json:"max_response_length"`
	PromptStyle       string      `json:"prompt_style"`
	SetupSeconds      float64     `json:"setup_s"` // model load, adapter, sandbox pool
	Steps             []stepSplit `json:"steps"`
	PeakRSSMiB        float64     `json:"peak_rss_mib"`
}

func benchStep(c *cli.Context) error {
	ctx := c.Context
	if c.Int("steps") < 1 {
		return fmt.Errorf("--steps must be at least 1, got %d", c.Int("steps"))
	}
	path, cleanup, err := benchModel(c)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg := rl.DefaultConfig()
	cfg.Seed = c.Uint64("seed")
	cfg.BatchSize, cfg.NSamples, cfg.MaxResponseLength = c.Int("batch-size"), c.Int("n-samples"), c.Int("max-response-length")
	cfg.PromptStyle = c.String("prompt-style")
	cfg.SeedBatchFactor, cfg.SaveEvery, cfg.Steps = 0, 0, c.Int("steps")
	if err := cfg.Validate(); err != nil {
		return err
	}
	threads := c.Int("threads")
	gpuLayers, err := gpuLayersLogged(c.Int("gpu-layers"))
	if err != nil {
		return err
	}

	start := time.Now()
	pool, err := sandbox.New(ctx, sandbox.Config{Workers: threads, Timeout: cfg.ExecTimeout, BannedModules: cfg.BannedModules,
		Isolation: sandbox.Isolation(c.String("sandbox-isolation")), Logger: logger})
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer pool.Close()
	eng, err := policy.New(path, policy.Options{Threads: threads, GPULayers: gpuLayers, ContextSize: c.Int("ctx"), Slots: c.Int("slots"),
		LoRA:       bindings.LoRAOptions{Rank: cfg.Optim.LoRARank, Alpha: float32(cfg.Optim.LoRAAlpha), Seed: cfg.Seed},
		TotalSteps: cfg.Steps, SamplingTemperature: cfg.Temperature})
	if err != nil {
		return err
	}
	defer eng.Close()
	timed := &timedPolicy{Engine: eng}
	exec := &timedExecutor{exec: pool}
	tr, err := rl.NewTrainer(cfg, timed, exec, logger)
	if err != nil {
		return err
	}
	rep := benchStepReport{Model: eng.Model().Info().Description, Backend: placement(eng.Model().Info()), Threads: threads,
		BatchSize: cfg.BatchSize, NSamples: cfg.NSamples, MaxResponseLength: cfg.MaxResponseLength, PromptStyle: cfg.PromptStyle,
		SetupSeconds: time.Since(start).Seconds()}

	track := progress.New(logger, "bench step", int64(cfg.Steps), progress.Unit("steps"))
	tr.OnProgress = func(p rl.Progress) {
		if p.Phase != "" {
			track.Note(fmt.Sprintf("step %d: %s", p.Step, p.Phase))
		}
	}
	for i := 0; i < cfg.Steps; i++ {
		timed.reset()
		exec.reset()
		m, err := tr.Step(ctx)
		if err != nil {
			return err
		}
		track.Note(fmt.Sprintf("step %d: replaying prompts", m.Step))
		prompt, err := timed.replayPrompts(ctx)
		if err != nil {
			return fmt.Errorf("timing the prompts: %w", err)
		}
		rep.Steps = append(rep.Steps, splitOf(m, timed, exec, prompt))
		track.Add(1)
	}
	track.Finish()
	rep.PeakRSSMiB = peakRSSMiB()

	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Printf("model %s, %s, %d threads; batch %d, n-samples %d, max response %d, %s prompts; setup %.1fs\n",
		rep.Model, rep.Backend, rep.Threads, rep.BatchSize, rep.NSamples, rep.MaxResponseLength, rep.PromptStyle, rep.SetupSeconds)
	for _, s := range rep.Steps {
		fmt.Printf("step %d: %.1fs = generation %.1fs (%.0f%%: prompt %.1fs, decode %.1fs) + sandbox %.1fs (%.0f%%) + reward %.2fs (%.0f%%) + train %.1fs (%.0f%%)\n",
			s.Step, s.Total, s.Generation, s.Percent["generation"], s.Prompt, s.Decode, s.Sandbox, s.Percent["sandbox"],
			s.Reward, s.Percent["reward"], s.Train, s.Percent["train"])
		fmt.Printf("  %d generate calls, %d sequences: %d prompt tokens (%.0f tok/s), %d generated (%.1f tok/s); %d sandbox calls; train %d seqs, %d tokens (%.0f tok/s); %d valid proposals\n",
			s.GenerateCalls, s.Sequences, s.PromptTokens, s.PromptTokPerSec, s.GeneratedTokens, s.DecodeTokPerSec,
			s.SandboxCalls, s.TrainSequences, s.TrainTokens, s.TrainTokPerSec, s.ValidProposals)
	}
	fmt.Printf("peak RSS %.0f MiB\n", rep.PeakRSSMiB)
	return nil
}

// splitOf derives a step's split from the trainer's metrics and the wrappers' clocks.
func splitOf(m rl.StepMetrics, p *timedPolicy, e *timedExecutor, prompt float64) stepSplit {
	s := stepSplit{Step: m.Step, Total: m.Seconds["total"], Generation: p.genSeconds, Train: m.Seconds["train"],
		GenerateCalls: p.calls, Sequences: p.sequences, PromptTokens: p.promptTokens, GeneratedTokens: p.generated,
		SandboxCalls: e.calls, TrainSequences: m.Sequences, TrainTokens: m.Train.Tokens, ValidProposals: m.ValidProposals}
	s.Sandbox = e.wall
	// The replay cannot take longer than the real generation it replays,
	// unless the machine got busier in between; keep the split consistent.
	s.Prompt = min(prompt, s.Generation)
	s.Decode = s.Generation - s.Prompt
	s.Reward = max(0, s.Total-s.Generation-s.Sandbox-s.Train)
	if s.Total > 0 {
		s.Percent = map[string]float64{}
		for k, v := range map[string]float64{"generation": s.Generation, "sandbox": s.Sandbox, "reward": s.Reward, "train": s.Train} {
			s.Percent[k] = 100 * v / s.Total
		}
	}
	if s.Decode > 0 {
		s.DecodeTokPerSec = float64(s.GeneratedTokens) / s.Decode
	}
	if s.Prompt > 0 {
		s.PromptTokPerSec = float64(s.PromptTokens) / s.Prompt
	}
	if s.Train > 0 {
		s.TrainTokPerSec = float64(s.TrainTokens) / s.Train
	}
	return s
}

// timedPolicy is the engine with a clock on Generate; it keeps the step's
// requests so their prompts can be replayed. Embedding keeps the engine's
// TokenCounter and OptimConfigurable visible to the trainer.
type timedPolicy struct {
	*policy.Engine
	genSeconds   float64
	calls        int
	sequences    int
	promptTokens int
	generated    int
	requests     [][]rl.GenRequest // per Generate call
}

func (p *timedPolicy) reset() {
	*p = timedPolicy{Engine: p.Engine}
}

func (p *timedPolicy) Generate(ctx context.Context, reqs []rl.GenRequest) ([]rl.GenResult, error) {
	start := time.Now()
	res, err := p.Engine.Generate(ctx, reqs)
	p.genSeconds += time.Since(start).Seconds()
	p.calls++
	p.requests = append(p.requests, reqs)
	for _, r := range res {
		p.promptTokens += len(r.PromptTokens)
		for _, s := range r.Samples {
			p.sequences++
			p.generated += len(s.Tokens)
		}
	}
	return res, err
}

// replayPrompts repeats each of the step's Generate calls with one new token
// per sample and returns the seconds: the prompt share of the step's
// generation (the same prompts, batched and prefix-shared the same way).
func (p *timedPolicy) replayPrompts(ctx context.Context) (float64, error) {
	var total float64
	for _, call := range p.requests {
		reqs := make([]rl.GenRequest, len(call))
		for i, r := range call {
			r.Sampling.MaxTokens = 1
			r.Sampling.Stop = nil
			reqs[i] = r
		}
		start := time.Now()
		if _, err := p.Engine.Generate(ctx, reqs); err != nil {
			return 0, err
		}
		total += time.Since(start).Seconds()
	}
	return total, nil
}

// timedExecutor measures the wall time during which at least one sandbox
// call is in flight (the trainer runs them in parallel).
type timedExecutor struct {
	exec     rl.Executor
	now      func() time.Time // nil: time.Now
	mu       sync.Mutex
	inFlight int
	since    time.Time
	wall     float64
	calls    int
}

func (e *timedExecutor) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.wall, e.calls = 0, 0
}

func (e *timedExecutor) enter() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inFlight == 0 {
		e.since = e.clock()
	}
	e.inFlight++
	e.calls++
}

func (e *timedExecutor) leave() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inFlight--
	if e.inFlight == 0 {
		e.wall += e.clock().Sub(e.since).Seconds()
	}
}

func (e *timedExecutor) clock() time.Time {
	if e.now != nil {
		return e.now()
	}
	return time.Now()
}

func (e *timedExecutor) Validate(ctx context.Context, program string, inputs []string) (sandbox.Validation, error) {
	e.enter()
	defer e.leave()
	return e.exec.Validate(ctx, program, inputs)
}

func (e *timedExecutor) ValidateInputs(ctx context.Context, program string, inputs []string) (sandbox.Validation, error) {
	e.enter()
	defer e.leave()
	return e.exec.ValidateInputs(ctx, program, inputs)
}

func (e *timedExecutor) CheckOutput(ctx context.Context, gold, predicted string) (bool, error) {
	e.enter()
	defer e.leave()
	return e.exec.CheckOutput(ctx, gold, predicted)
}

func (e *timedExecutor) CheckInput(ctx context.Context, program string, imports []string, gold, predictedInput string) (bool, error) {
	e.enter()
	defer e.leave()
	return e.exec.CheckInput(ctx, program, imports, gold, predictedInput)
}

func (e *timedExecutor) CheckProgram(ctx context.Context, program string, imports []string, inputs, outputs []string) (bool, error) {
	e.enter()
	defer e.leave()
	return e.exec.CheckProgram(ctx, program, imports, inputs, outputs)
}

var _ rl.Executor = (*timedExecutor)(nil)
