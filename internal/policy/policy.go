// Package policy adapts the native engine (package bindings) to the model
// interface of the self-play loop (rl.Policy): batched, prefix-shared
// generation and the LoRA policy-gradient step.
package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/rl"
)

// Engine is an rl.Policy over one loaded model: a generator with the live
// LoRA adapter attached and a trainer that updates that adapter in place,
// so every generation after a step samples from the updated policy.
type Engine struct {
	opts    Options
	model   *bindings.Model
	gen     *bindings.Generator
	adapter *bindings.Adapter
	trainer *bindings.Trainer
	train   bindings.TrainOptions // the settings from the config (SetOptim)
	// samplerRatio: the PPO ratio is taken against the sampler's log-probs
	// (optim.old_logprobs = sampler) instead of the training forward's own.
	samplerRatio bool
	// applied is what the trainer runs with: train, with the micro-batch
	// bounded for the current batch's sequence lengths.
	applied    bindings.TrainOptions
	appliedSet bool
}

var (
	_ rl.Policy            = (*Engine)(nil)
	_ rl.OptimConfigurable = (*Engine)(nil)
	_ rl.TokenCounter      = (*Engine)(nil)
)

// Options configure New.
type Options struct {
	Threads     int
	GPULayers   int
	ContextSize int // KV cells shared by a generation batch
	Slots       int // sequences decoded together
	LoRA        bindings.LoRAOptions
	TotalSteps  int // horizon of the cosine schedule used when warm-up is on
	// SamplingTemperature is the temperature rollouts are sampled at. The
	// engine's sample log-probs are temperature-scaled while the trainer's
	// policy is at temperature 1, so away from 1 (and 0, whose log-probs are
	// at temperature 1) the sampler's log-probs are never used as old
	// log-probs, whatever optim.old_logprobs says.
	SamplingTemperature float32
	// MicroBatchTokens bounds the padded token rows of one training graph
	// (sequences per micro-batch = this / the longest sequence, at least 1,
	// at most the config's micro_batch). A graph keeps every layer's
	// activations for the backward pass, so rows, not sequences, set the
	// memory: one AZR step's 12 sequences on a Qwen2-0.5B shape asked for
	// 67 GB as a single graph. 0 = 2048.
	MicroBatchTokens int
}

// New loads the model at path, creates a fresh LoRA adapter (B = 0, so the
// policy starts as the base model) and prepares generation and training.
func New(path string, opts Options) (*Engine, error) {
	m, err := bindings.LoadModel(path, bindings.ModelOptions{Threads: opts.Threads, GPULayers: opts.GPULayers})
	if err != nil {
		return nil, err
	}
	e := &Engine{opts: opts, model: m}
	if e.gen, err = m.NewGenerator(bindings.GeneratorOptions{ContextSize: opts.ContextSize, Slots: opts.Slots, Threads: opts.Threads}); err != nil {
		e.Close()
		return nil, err
	}
	a, err := m.NewAdapter(opts.LoRA)
	if err != nil {
		e.Close()
		return nil, err
	}
	e.train = bindings.TrainOptions{Threads: opts.Threads}
	if err := e.install(a); err != nil {
		a.Close()
		e.Close()
		return nil, err
	}
	return e, nil
}

// install makes a the live adapter: attached to generation, with a trainer.
func (e *Engine) install(a *bindings.Adapter) error {
	tr, err := a.NewTrainer(e.train)
	if err != nil {
		return err
	}
	if err := e.gen.SetLoRA(a, 1); err != nil {
		tr.Close()
		return err
	}
	e.adapter, e.trainer, e.appliedSet = a, tr, false
	return nil
}

// uninstall detaches and frees the live adapter and its trainer.
func (e *Engine) uninstall() error {
	var errs []error
	if e.trainer != nil {
		errs = append(errs, e.trainer.Close())
		e.trainer = nil
	}
	if e.gen != nil {
		errs = append(errs, e.gen.SetLoRA(nil, 0))
	}
	if e.adapter != nil {
		errs = append(errs, e.adapter.Close())
		e.adapter = nil
	}
	return errors.Join(errs...)
}

// Model returns the loaded model.
func (e *Engine) Model() *bindings.Model { return e.model }

// Adapter returns the live LoRA adapter.
func (e *Engine) Adapter() *bindings.Adapter { return e.adapter }

// Close frees the engine. Safe to call more than once.
func (e *Engine) Close() error {
	var errs []error
	if err := e.uninstall(); err != nil {
		errs = append(errs, err)
	}
	if e.gen != nil {
		errs = append(errs, e.gen.Close())
		e.gen = nil
	}
	if e.model != nil {
		errs = append(errs, e.model.Close())
		e.model = nil
	}
	return errors.Join(errs...)
}

// SetOptim implements rl.OptimConfigurable: the trainer's Config is the one
// source of the optimizer and loss settings, passed as they are. The PPO
// ratio is clipped to [1-ClipRatioLow, 1+ClipRatioHigh]; a warm-up switches to warm-up + cosine decay over
// Options.TotalSteps.
func (e *Engine) SetOptim(o rl.OptimConfig) error {
	if o.KLCoeff != 0 {
		return fmt.Errorf("optimizer: a KL term is not supported (kl_coeff must be 0, the reference's value)")
	}
	if o.PPOEpochs > 1 {
		return fmt.Errorf("optimizer: ppo_epochs %d: the engine makes one update per step", o.PPOEpochs)
	}
	t := bindings.TrainOptions{
		Threads: e.opts.Threads, LR: float32(o.LearningRate), Beta1: float32(o.Beta1), Beta2: float32(o.Beta2),
		Eps: float32(o.Eps), WeightDecay: float32(o.WeightDecay), GradClip: float32(o.GradClip),
		EntropyCoef: float32(o.EntropyCoeff), ClipEps: float32(o.ClipRatioLow), ClipEpsHigh: float32(o.ClipRatioHigh),
		MicroBatch: o.MicroBatch,
	}
	if o.WarmupSteps > 0 {
		t.Schedule, t.WarmupSteps, t.TotalSteps = "cosine", o.WarmupSteps, max(e.opts.TotalSteps, o.WarmupSteps+1)
	}
	if err := e.trainer.SetOptions(t); err != nil {
		return err
	}
	e.train, e.appliedSet = t, false
	e.samplerRatio = o.OldLogProbs == "sampler"
	return nil
}

// TrainStep implements rl.Policy: one optimizer update over the batch. A
// non-finite loss or gradient leaves the adapter unchanged and is reported
// as a skipped step, not an error, so a run carries on.
//
// The PPO ratio: the engine makes one update per batch, so the old policy
// is the one the training forward evaluates, and by default (old_logprobs
// = train) the ratio is taken against that forward's own detached
// log-probs. It is then exactly 1, the clip never binds, and the gradient
// is the plain policy gradient -A·∇log π, which is what the engine computes
// when it is given no old log-probs; that is what happens here (it also
// saves passing them). The reference gets the same ratio of 1 by
// recomputing old log-probs with its training model. With old_logprobs =
// sampler, the sampler's log-probs are passed instead.
func (e *Engine) TrainStep(ctx context.Context, batch []rl.TrainSequence) (rl.TrainStats, error) {
	if err := ctx.Err(); err != nil {
		return rl.TrainStats{}, err
	}
	seqs := make([]bindings.TrainSeq, 0, len(batch))
	t := e.opts.SamplingTemperature
	oldComparable := e.samplerRatio && (t == 0 || t == 1)
	for _, s := range batch {
		if s.ResponseStart >= len(s.Tokens) {
			continue // an empty response trains nothing
		}
		seq := bindings.TrainSeq{Tokens: s.Tokens, ResponseStart: max(s.ResponseStart, 1), Advantages: s.Advantages}
		if oldComparable {
			seq.OldLogProbs = s.OldLogProbs
		}
		seqs = append(seqs, seq)
	}
	if len(seqs) == 0 {
		return rl.TrainStats{Skipped: true}, nil
	}
	if err := e.boundMicroBatch(seqs); err != nil {
		return rl.TrainStats{}, err
	}
	start := time.Now()
	r, err := e.trainer.Step(ctx, seqs)
	// Give the step's compute buffer back: generation comes next and needs the memory.
	e.trainer.Trim()
	stats := rl.TrainStats{Loss: r.Loss, GradNorm: r.GradNorm, Entropy: r.Entropy, ClipFrac: r.ClipFrac,
		Tokens: int(r.Tokens), Skipped: r.Skipped, LearnRate: r.LR, DurationSec: time.Since(start).Seconds()}
	if err != nil && !r.Skipped {
		return stats, err
	}
	return stats, nil
}

// boundMicroBatch sets the trainer's micro-batch so one graph holds at most
// MicroBatchTokens padded rows (gradients accumulate over micro-batches, so
// the update is the same; only memory and speed change).
func (e *Engine) boundMicroBatch(seqs []bindings.TrainSeq) error {
	budget := e.opts.MicroBatchTokens
	if budget <= 0 {
		budget = 2048
	}
	longest := 1
	for _, s := range seqs {
		longest = max(longest, len(s.Tokens))
	}
	micro := max(1, budget/longest)
	if e.train.MicroBatch > 0 {
		micro = min(micro, e.train.MicroBatch)
	}
	if micro == e.applied.MicroBatch && e.appliedSet {
		return nil
	}
	t := e.train
	t.MicroBatch = micro
	if err := e.trainer.SetOptions(t); err != nil {
		return err
	}
	e.applied, e.appliedSet = t, true
	return nil
}

const (
	adapterFile   = "adapter.gguf"
	optimizerFile = "optimizer.bin"
)

// SaveState implements rl.Policy: the adapter as a LoRA GGUF that stock
// llama.cpp loads (--lora) and the optimizer state beside it.
func (e *Engine) SaveState(dir string) error {
	return e.adapter.Save(filepath.Join(dir, adapterFile), filepath.Join(dir, optimizerFile))
}

// LoadState implements rl.Policy: replaces the live adapter with the one in
// dir (refused when it was made for another base model).
func (e *Engine) LoadState(dir string) error {
	path, opt := filepath.Join(dir, adapterFile), filepath.Join(dir, optimizerFile)
	if _, err := os.Stat(opt); err != nil {
		opt = ""
	}
	a, err := e.model.LoadAdapter(path, opt)
	if err != nil {
		return err
	}
	if err := e.uninstall(); err != nil {
		a.Close()
		return err
	}
	if err := e.install(a); err != nil {
		a.Close()
		return err
	}
	return nil
}

// tokenize renders a prompt: special tokens in the text (chat templates) are
// recognised, BOS is added when the model wants it.
func (e *Engine) tokenize(text string) ([]int32, error) {
	return e.model.Tokenize(text, true, true)
}

// CountTokens implements rl.TokenCounter.
func (e *Engine) CountTokens(text string) (int, error) {
	toks, err := e.tokenize(text)
	return len(toks), err
}

// samplingKey groups requests that can share one native call.
type samplingKey struct {
	temperature, topP float32
	topK, maxTokens   int
	stop              string
}

func keyOf(s rl.Sampling) samplingKey {
	stop := ""
	for _, x := range s.Stop {
		stop += x + "\x00"
	}
	return samplingKey{s.Temperature, s.TopP, s.TopK, s.MaxTokens, stop}
}

// Generate implements rl.Policy: requests with the same sampling settings go
// to the engine in one batched call; each request's seed gives its samples
// their own random streams, so results do not depend on the grouping.
func (e *Engine) Generate(ctx context.Context, reqs []rl.GenRequest) ([]rl.GenResult, error) {
	return Generate(ctx, e.model, e.gen, reqs)
}

// Generate answers rl requests with gen (a generator over model): requests
// with the same sampling settings share one native call, in order of first
// appearance; each request's seed gives its samples their own random streams.
// Prompts are tokenized as self-play renders them (special tokens in the text
// recognised, BOS added when the model wants it). The evaluation engine uses
// it too, so evaluation samples exactly as self-play does.
func Generate(ctx context.Context, model *bindings.Model, gen *bindings.Generator, reqs []rl.GenRequest) ([]rl.GenResult, error) {
	out := make([]rl.GenResult, len(reqs))
	for i, r := range reqs {
		if r.N < 1 {
			return nil, fmt.Errorf("generate: request %d asks for %d samples", i, r.N)
		}
		toks, err := model.Tokenize(r.Prompt, true, true)
		if err != nil {
			return nil, fmt.Errorf("generate: request %d: %w", i, err)
		}
		out[i].PromptTokens = toks
	}
	for _, idx := range GroupBySampling(reqs) {
		prompts := make([]bindings.Prompt, len(idx))
		for j, i := range idx {
			// A zero seed would mean "derive from the batch position"; keep streams per request.
			seed := reqs[i].Sampling.Seed
			if seed == 0 {
				seed = 1
			}
			prompts[j] = bindings.Prompt{Tokens: out[i].PromptTokens, Samples: reqs[i].N, Seed: seed}
		}
		s := reqs[idx[0]].Sampling
		samples, _, err := gen.Generate(ctx, prompts, bindings.Sampling{
			Temperature: s.Temperature, TopP: s.TopP, TopK: max(s.TopK, 0), MaxTokens: s.MaxTokens, Stop: s.Stop,
		})
		if err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		for _, smp := range samples {
			i := idx[smp.Prompt]
			out[i].Samples = append(out[i].Samples, rl.Sample{
				Tokens: smp.Tokens, LogProbs: smp.LogProbs, Text: smp.Text, Finish: finishName(smp.Finish),
			})
		}
	}
	return out, nil
}

// GroupBySampling splits requests into the native calls Generate makes:
// requests with the same sampling settings, in order of first appearance,
// each group in request order. A batched call's floating-point results can
// depend on which prompts share it, so a remote engine (internal/cluster)
// sends exactly these groups to reproduce the in-process samples.
func GroupBySampling(reqs []rl.GenRequest) [][]int {
	var order []samplingKey
	groups := map[samplingKey][]int{}
	for i, r := range reqs {
		k := keyOf(r.Sampling)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	out := make([][]int, len(order))
	for g, k := range order {
		out[g] = groups[k]
	}
	return out
}

func finishName(f bindings.Finish) string {
	switch f {
	case bindings.FinishEOG:
		return "eos"
	case bindings.FinishStop:
		return "stop"
	default:
		return "length"
	}
}
