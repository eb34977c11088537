// Package policy adapts the native engine (package bindings) to the model
// interface of the self-play loop (rl.Policy): batched, prefix-shared
// generation and the LoRA policy-gradient step.
package policy

import (
	"context"
	"fmt"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/rl"
)

// Engine is an rl.Policy over one loaded model.
type Engine struct {
	model  *bindings.Model
	gen    *bindings.Generator
	addBOS bool
}

// Options configure New.
type Options struct {
	Threads     int
	GPULayers   int
	ContextSize int // KV cells shared by a generation batch
	Slots       int // sequences decoded together
}

// New loads the model at path and prepares generation.
func New(path string, opts Options) (*Engine, error) {
	m, err := bindings.LoadModel(path, bindings.ModelOptions{Threads: opts.Threads, GPULayers: opts.GPULayers})
	if err != nil {
		return nil, err
	}
	g, err := m.NewGenerator(bindings.GeneratorOptions{ContextSize: opts.ContextSize, Slots: opts.Slots, Threads: opts.Threads})
	if err != nil {
		m.Close()
		return nil, err
	}
	return &Engine{model: m, gen: g, addBOS: m.Info().AddBOS}, nil
}

// Model returns the loaded model.
func (e *Engine) Model() *bindings.Model { return e.model }

// Close frees the engine. Safe to call more than once.
func (e *Engine) Close() error {
	if e.gen != nil {
		e.gen.Close()
	}
	return e.model.Close()
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
	out := make([]rl.GenResult, len(reqs))
	var order []samplingKey
	groups := map[samplingKey][]int{}
	for i, r := range reqs {
		if r.N < 1 {
			return nil, fmt.Errorf("generate: request %d asks for %d samples", i, r.N)
		}
		toks, err := e.tokenize(r.Prompt)
		if err != nil {
			return nil, fmt.Errorf("generate: request %d: %w", i, err)
		}
		out[i].PromptTokens = toks
		k := keyOf(r.Sampling)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range order {
		idx := groups[k]
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
		samples, _, err := e.gen.Generate(ctx, prompts, bindings.Sampling{
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
