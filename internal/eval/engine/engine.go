// Package engine loads a GGUF model, optionally with a LoRA adapter, as an
// eval.Generator: generation only, no trainer, so evaluating a base model or
// a checkpoint's adapter costs no optimizer memory.
package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/policy"
	"github.com/azr-native/azr-native/rl"
)

// Options configure Open.
type Options struct {
	// Adapter is a LoRA GGUF (a run's checkpoints/step-N/policy/adapter.gguf,
	// or any llama.cpp --lora file made for this base); "" evaluates the base.
	Adapter      string
	AdapterScale float32 // 0 = 1
	Threads      int
	GPULayers    int
	ContextSize  int // KV cells shared by a generation batch; 0 = 8192
	Slots        int // sequences decoded together; 0 = 8
}

// Generator samples from a model (and adapter) through the native engine.
type Generator struct {
	model   *bindings.Model
	gen     *bindings.Generator
	adapter *bindings.Adapter
}

// Open loads the model at path and attaches o.Adapter when given.
func Open(path string, o Options) (*Generator, error) {
	if o.ContextSize == 0 {
		o.ContextSize = 8192
	}
	if o.Slots == 0 {
		o.Slots = 8
	}
	if o.AdapterScale == 0 {
		o.AdapterScale = 1
	}
	m, err := bindings.LoadModel(path, bindings.ModelOptions{Threads: o.Threads, GPULayers: o.GPULayers})
	if err != nil {
		return nil, err
	}
	g := &Generator{model: m}
	if g.gen, err = m.NewGenerator(bindings.GeneratorOptions{ContextSize: o.ContextSize, Slots: o.Slots, Threads: o.Threads}); err != nil {
		g.Close()
		return nil, err
	}
	if o.Adapter != "" {
		if g.adapter, err = m.LoadAdapter(o.Adapter, ""); err != nil {
			g.Close()
			return nil, fmt.Errorf("adapter %s: %w", o.Adapter, err)
		}
		if err := g.gen.SetLoRA(g.adapter, o.AdapterScale); err != nil {
			g.Close()
			return nil, fmt.Errorf("adapter %s: %w", o.Adapter, err)
		}
	}
	return g, nil
}

// Model is the loaded model.
func (g *Generator) Model() *bindings.Model { return g.model }

// Close frees the generator, adapter and model. Safe to call more than once.
func (g *Generator) Close() error {
	var errs []error
	if g.gen != nil {
		errs = append(errs, g.gen.Close())
		g.gen = nil
	}
	if g.adapter != nil {
		errs = append(errs, g.adapter.Close())
		g.adapter = nil
	}
	if g.model != nil {
		errs = append(errs, g.model.Close())
		g.model = nil
	}
	return errors.Join(errs...)
}

// tokenize renders a prompt as self-play does: special tokens in the text
// (chat templates) are recognised, BOS is added when the model wants it.
func (g *Generator) tokenize(text string) ([]int32, error) { return g.model.Tokenize(text, true, true) }

// CountTokens implements rl.TokenCounter (eval skips over-long prompts with it).
func (g *Generator) CountTokens(text string) (int, error) {
	t, err := g.tokenize(text)
	return len(t), err
}

// Generate answers the requests; each request's seed gives its samples their
// own random streams. Requests with different sampling settings go to the
// engine in separate calls, in order of first appearance.
func (g *Generator) Generate(ctx context.Context, reqs []rl.GenRequest) ([]rl.GenResult, error) {
	if g.gen == nil {
		return nil, bindings.ErrClosed
	}
	return policy.Generate(ctx, g.model, g.gen, reqs)
}
