package bindings

/*
#include <stdlib.h>
#include "azr.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// GeneratorOptions configure a Generator.
type GeneratorOptions struct {
	ContextSize int // KV cells shared by all sequences; default 4096
	Slots       int // sequences decoded together; default 8
	BatchSize   int // max tokens per decode call; 0 = min(ContextSize, 2048)
	Threads     int // 0 = the model's
	// SplitKV gives each slot its own KV stream of ContextSize/Slots cells
	// instead of one unified cache: faster for unrelated prompts, but the
	// samples of a prompt cannot share it (use Sampling.NoPrefixSharing).
	SplitKV bool
}

// Generator runs batched generation over one llama.cpp context. Not for
// concurrent use: calls are serialised.
type Generator struct {
	mu      sync.Mutex
	ptr     *C.azr_generator
	model   *Model
	opts    GeneratorOptions
	adapter *Adapter // attached LoRA, nil when none
}

// NewGenerator creates a generation context for m.
func (m *Model) NewGenerator(opts GeneratorOptions) (*Generator, error) {
	if opts.ContextSize == 0 {
		opts.ContextSize = 4096
	}
	if opts.Slots == 0 {
		opts.Slots = 8
	}
	if opts.ContextSize < 0 || opts.Slots < 0 || opts.BatchSize < 0 || opts.Threads < 0 {
		return nil, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("new generator: sizes must be positive: %+v", opts)}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ptr == nil {
		return nil, ErrClosed
	}
	p := C.azr_generator_default_params()
	p.n_ctx = C.int32_t(opts.ContextSize)
	p.n_slots = C.int32_t(opts.Slots)
	p.n_batch = C.int32_t(opts.BatchSize)
	p.n_threads = C.int32_t(opts.Threads)
	p.split_kv = cbool(opts.SplitKV)
	eb := newErrBuf()
	defer eb.free()
	var ptr *C.azr_generator
	if err := eb.wrap(C.azr_generator_new(m.ptr, &p, &ptr, eb.p, errCap)); err != nil {
		return nil, err
	}
	m.holders++
	g := &Generator{ptr: ptr, model: m, opts: opts}
	runtime.SetFinalizer(g, func(g *Generator) { g.Close() })
	return g, nil
}

// Close frees the generator. Safe to call more than once.
func (g *Generator) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ptr == nil {
		return nil
	}
	C.azr_generator_free(g.ptr)
	g.ptr = nil
	g.release()
	g.model.mu.Lock()
	g.model.holders--
	g.model.mu.Unlock()
	return nil
}

// SetLoRA attaches a LoRA adapter (nil detaches) to every later Generate, at
// the given scale (1 = as trained). The adapter's parameters are read live:
// after a training step the next Generate sees them, with no reload. The
// adapter cannot be closed while attached.
func (g *Generator) SetLoRA(a *Adapter, scale float32) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ptr == nil {
		return ErrClosed
	}
	var lp *C.azr_lora
	if a != nil {
		if a.model != g.model {
			return &Error{Code: CodeInvalidArg, Msg: "set lora: the adapter belongs to another model"}
		}
		a.mu.Lock()
		lp = a.ptr
		if lp != nil {
			a.holders++
		}
		a.mu.Unlock()
		if lp == nil {
			return ErrClosed
		}
	}
	eb := newErrBuf()
	defer eb.free()
	if err := eb.wrap(C.azr_generator_set_lora(g.ptr, lp, C.float(scale), eb.p, errCap)); err != nil {
		if a != nil {
			a.mu.Lock()
			a.holders--
			a.mu.Unlock()
		}
		return err
	}
	g.release()
	g.adapter = a
	return nil
}

// release drops the generator's hold on its attached adapter.
func (g *Generator) release() {
	if g.adapter != nil {
		g.adapter.mu.Lock()
		g.adapter.holders--
		g.adapter.mu.Unlock()
		g.adapter = nil
	}
}

// ContextSize returns the KV cells the context really has (llama.cpp rounds
// the requested size up to its padding).
func (g *Generator) ContextSize() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ptr == nil {
		return 0
	}
	return int(C.azr_generator_n_ctx(g.ptr))
}

// Sampling controls one Generate call.
type Sampling struct {
	Temperature float32  // 0 = greedy
	TopP        float32  // 0 or 1 = off
	TopK        int      // 0 = off
	MaxTokens   int      // new tokens per sample
	Seed        uint64   // sample j of prompt i uses a stream derived from (Seed, i, j)
	Stop        []string // the text ends before the first stop string
	IgnoreEOS   bool     // keep generating past end-of-generation tokens
	// NoPrefixSharing evaluates the prompt once per sample instead of once per
	// prompt (the baseline that benchmarks compare against).
	NoPrefixSharing bool
}

// Prompt is one tokenized prompt and how many samples to draw from it.
type Prompt struct {
	Tokens  []int32
	Samples int
	// Seed, when not 0, gives the prompt's samples their own random streams
	// (Seed, j), independent of the batch and of Sampling.Seed.
	Seed uint64
}

// Finish says why a sample stopped.
type Finish int

const (
	FinishEOG    Finish = C.AZR_FINISH_EOG    // end-of-generation token
	FinishStop   Finish = C.AZR_FINISH_STOP   // a stop string
	FinishLength Finish = C.AZR_FINISH_LENGTH // MaxTokens reached
)

func (f Finish) String() string {
	switch f {
	case FinishEOG:
		return "eog"
	case FinishStop:
		return "stop"
	case FinishLength:
		return "length"
	}
	return fmt.Sprintf("finish(%d)", int(f))
}

// MarshalText renders the finish reason in JSON as its name.
func (f Finish) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// Sample is one generated continuation.
type Sample struct {
	Prompt int     `json:"prompt"`
	Index  int     `json:"index"`
	Tokens []int32 `json:"tokens"`
	// LogProbs holds each token's log-probability under the distribution it
	// was drawn from: softmax(logits / Temperature), renormalized over the
	// tokens TopK and TopP keep. Greedy (Temperature 0): the model's
	// log-probability at temperature 1.
	LogProbs []float32 `json:"logprobs"`
	Text     string    `json:"text"`
	Finish   Finish    `json:"finish"`
}

// GenerationStats describe where a Generate call spent its time.
type GenerationStats struct {
	PromptTokens    int64         `json:"prompt_tokens"`
	GeneratedTokens int64         `json:"generated_tokens"`
	DecodeCalls     int64         `json:"decode_calls"`
	Decode          time.Duration `json:"decode_ns"`
	Sampling        time.Duration `json:"sampling_ns"`
	Total           time.Duration `json:"total_ns"`
}

// cPrompts copies prompts into C memory; free with the returned func.
func cPrompts(prompts []Prompt) (*C.azr_prompt, func()) {
	if len(prompts) == 0 {
		return nil, func() {}
	}
	arr := (*C.azr_prompt)(C.malloc(C.size_t(len(prompts)) * C.size_t(unsafe.Sizeof(C.azr_prompt{}))))
	view := unsafe.Slice(arr, len(prompts))
	var toFree []unsafe.Pointer
	for i, p := range prompts {
		toks := cInt32s(p.Tokens)
		toFree = append(toFree, unsafe.Pointer(toks))
		view[i] = C.azr_prompt{tokens: toks, n_tokens: C.int32_t(len(p.Tokens)), n_samples: C.int32_t(p.Samples), seed: C.uint64_t(p.Seed)}
	}
	return arr, func() {
		for _, p := range toFree {
			C.free(p)
		}
		C.free(unsafe.Pointer(arr))
	}
}

// Generate draws p.Samples continuations of every prompt in one native call
// (prefix-shared, continuously batched). The result is prompt-major: all
// samples of prompt 0, then of prompt 1, and so on. Cancelling ctx stops the
// work at the next decode step with ErrCancelled.
func (g *Generator) Generate(ctx context.Context, prompts []Prompt, s Sampling) ([]Sample, GenerationStats, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ptr == nil {
		return nil, GenerationStats{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, GenerationStats{}, err
	}
	cp, freePrompts := cPrompts(prompts)
	defer freePrompts()
	sp := C.azr_sampling{
		temperature: C.float(s.Temperature), top_p: C.float(s.TopP), top_k: C.int32_t(s.TopK),
		max_tokens: C.int32_t(s.MaxTokens), seed: C.uint64_t(s.Seed), ignore_eos: cbool(s.IgnoreEOS),
		share_prefix: cbool(!s.NoPrefixSharing),
	}
	if s.TopP == 0 {
		sp.top_p = 1
	}
	if len(s.Stop) > 0 {
		stops := (**C.char)(C.malloc(C.size_t(len(s.Stop)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
		view := unsafe.Slice(stops, len(s.Stop))
		for i, st := range s.Stop {
			view[i] = C.CString(st)
		}
		defer func() {
			for _, p := range view {
				C.free(unsafe.Pointer(p))
			}
			C.free(unsafe.Pointer(stops))
		}()
		sp.stop = stops
		sp.n_stop = C.int32_t(len(s.Stop))
	}

	eb := newErrBuf()
	defer eb.free()
	var res *C.azr_generation
	var st C.azr_status
	cancellable(ctx, func(raised bool) { C.azr_generator_cancel(g.ptr, cbool(raised)) }, func() {
		st = C.azr_generate(g.ptr, cp, C.int32_t(len(prompts)), &sp, &res, eb.p, errCap)
	})
	if err := eb.wrap(st); err != nil {
		if st == C.AZR_ERR_CANCELLED && ctx.Err() != nil {
			return nil, GenerationStats{}, fmt.Errorf("%w: %w", ErrCancelled, ctx.Err())
		}
		return nil, GenerationStats{}, err
	}
	defer C.azr_generation_free(res)
	n := int(C.azr_generation_count(res))
	out := make([]Sample, n)
	for i := range out {
		var cs C.azr_sample
		C.azr_generation_sample(res, C.int32_t(i), &cs)
		k := int(cs.n_tokens)
		smp := Sample{Prompt: int(cs.prompt_index), Index: int(cs.sample_index), Finish: Finish(cs.finish),
			Tokens: make([]int32, k), LogProbs: make([]float32, k), Text: C.GoStringN(cs.text, cs.text_len)}
		if k > 0 {
			copy(smp.Tokens, unsafe.Slice((*int32)(unsafe.Pointer(cs.tokens)), k))
			copy(smp.LogProbs, unsafe.Slice((*float32)(unsafe.Pointer(cs.logprobs)), k))
		}
		out[i] = smp
	}
	var cst C.azr_generation_stats
	C.azr_generation_get_stats(res, &cst)
	stats := GenerationStats{
		PromptTokens: int64(cst.prompt_tokens), GeneratedTokens: int64(cst.generated_tokens), DecodeCalls: int64(cst.decode_calls),
		Decode: secs(cst.decode_seconds), Sampling: secs(cst.sample_seconds), Total: secs(cst.total_seconds),
	}
	return out, stats, nil
}

func secs(s C.double) time.Duration { return time.Duration(float64(s) * float64(time.Second)) }

// EvalLogits returns the logits of every position of tokens (len(tokens) rows
// of Vocab floats), computed by llama_decode from an empty cache.
func (g *Generator) EvalLogits(tokens []int32) ([]float32, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ptr == nil {
		return nil, ErrClosed
	}
	if len(tokens) == 0 {
		return nil, &Error{Code: CodeInvalidArg, Msg: "eval logits: no tokens"}
	}
	vocab := g.model.info.Vocab
	out := make([]float32, len(tokens)*vocab)
	ct := cInt32s(tokens)
	defer C.free(unsafe.Pointer(ct))
	buf := (*C.float)(C.malloc(C.size_t(len(out)) * 4))
	defer C.free(unsafe.Pointer(buf))
	eb := newErrBuf()
	defer eb.free()
	if err := eb.wrap(C.azr_eval_logits(g.ptr, ct, C.int32_t(len(tokens)), buf, eb.p, errCap)); err != nil {
		return nil, err
	}
	copy(out, unsafe.Slice((*float32)(unsafe.Pointer(buf)), len(out)))
	return out, nil
}

// BenchPlainDecode runs the benchmark baseline: the plainest C++ loop over
// llama_decode (a sequence per sample, greedy, no prefix sharing, no stop
// checks) and returns the tokens it generated and the time it took.
func (g *Generator) BenchPlainDecode(prompts []Prompt, maxTokens int) (int64, time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ptr == nil {
		return 0, 0, ErrClosed
	}
	cp, freePrompts := cPrompts(prompts)
	defer freePrompts()
	eb := newErrBuf()
	defer eb.free()
	var n C.int64_t
	var sec C.double
	if err := eb.wrap(C.azr_bench_plain_decode(g.ptr, cp, C.int32_t(len(prompts)), C.int32_t(maxTokens), &n, &sec, eb.p, errCap)); err != nil {
		return 0, 0, err
	}
	return int64(n), secs(sec), nil
}
