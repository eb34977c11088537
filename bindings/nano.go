// Nano pretraining (native/azr_nano.h). The API agreed for the nano driver
// is unchanged: NewNanoTrainer, OpenNanoTrainer, Step, Loss, Save,
// SaveState, LoadState, Shape, Close. Additions: Vocab.ChatTemplate,
// NanoTrainOptions.InitStd, StepResult (loss, gradient norm, timing),
// Grads, Logits, Params/SetParams, SetName, Fingerprint, Steps, NumParams
// and VocabSize.
//
// Memory: a step keeps every layer's activations, and attention's are
// rows x heads x seqLen² floats per layer. Measured compute buffers: 4
// layers x 256 wide, 8 rows x 512: 615 MiB; 6 x 384 (6 heads), 4 x 1024:
// 2.1 GiB; 8 x 512 (8 heads), 4 x 1024: 3.7 GiB (gradients included).
// Weights and AdamW moments add 12 bytes per parameter. See docs/NANO-ENGINE.md.

package bindings

/*
#include <stdlib.h>
#include "azr_nano.h"
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

// NanoShape is the architecture of a nano Qwen2 model (what llama.cpp's
// qwen2 loader reads): Layers decoder blocks of width Embd, Heads query heads
// and KVHeads key/value heads (grouped-query attention), a SwiGLU of width FF,
// Context positions and a RoPE base RopeTheta (0 = 10000). The vocabulary
// size comes from the Vocab.
type NanoShape struct {
	Layers, Embd, Heads, KVHeads, FF, Context int
	RopeTheta                                 float32
}

// Vocab is a byte-level BPE vocabulary as llama.cpp's gpt2 tokenizer reads
// it. Tokens are in GPT-2 byte-to-unicode form (a space is "Ġ") and must
// include all 256 single-byte tokens; Types are llama token types (1 normal,
// 3 control; nil = all normal); Merges are "a b" pairs, highest priority
// first, each making a token. BOS/EOS/EOT/PAD are ids or -1 for none.
type Vocab struct {
	Tokens             []string
	Types              []int32
	Merges             []string
	BOS, EOS, EOT, PAD int32
	// ChatTemplate is written as tokenizer.chat_template when not empty.
	ChatTemplate string
}

// NanoTrainOptions configure a NanoTrainer. Zero values take the defaults
// noted, except WeightDecay, which is used as given (pretraining usually
// wants about 0.1).
type NanoTrainOptions struct {
	Threads     int     // 0 = all cores
	Seed        uint64  // weight initialisation; 0 = 1
	Beta1       float32 // AdamW; default 0.9
	Beta2       float32 // default 0.95
	Eps         float32 // default 1e-8
	WeightDecay float32 // decoupled, on matrices only (not biases or norm gains); 0 = none (as given, not defaulted)
	GradClip    float32 // global-norm clip; default 1, < 0 = off
	InitStd     float32 // std-dev of the initial matrices; default 0.02
	// HeadChunk is the number of token rows per chunk of the vocabulary-sized
	// loss head (memory vs. per-op overhead); 0 = auto (~64 MiB per tensor).
	HeadChunk int
}

func (o NanoTrainOptions) cParams() (C.azr_nano_params, error) {
	p := C.azr_nano_default_params()
	if o.Threads < 0 {
		return p, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("nano trainer: threads must be >= 0, got %d", o.Threads)}
	}
	p.n_threads = C.int32_t(o.Threads)
	if o.HeadChunk < 0 {
		return p, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("nano trainer: head chunk must be >= 0, got %d", o.HeadChunk)}
	}
	p.head_chunk = C.int32_t(o.HeadChunk)
	if o.Seed != 0 {
		p.seed = C.uint64_t(o.Seed)
	}
	set := func(dst *C.float, v float32, negOff bool) {
		switch {
		case v > 0:
			*dst = C.float(v)
		case v < 0 && negOff:
			*dst = 0
		case v < 0:
			*dst = C.float(v) // rejected by the engine with a clear message
		}
	}
	set(&p.beta1, o.Beta1, false)
	set(&p.beta2, o.Beta2, false)
	set(&p.eps, o.Eps, false)
	p.weight_decay = C.float(o.WeightDecay) // negative: rejected by the engine with a clear message
	set(&p.grad_clip, o.GradClip, true)
	set(&p.init_std, o.InitStd, false)
	return p, nil
}

// NanoResult reports one step or loss evaluation.
type NanoResult struct {
	Loss      float64       `json:"loss"`       // weighted mean next-token cross-entropy, nats
	GradNorm  float64       `json:"grad_norm"`  // before clipping (0 for Loss)
	WeightSum float64       `json:"weight_sum"` // sum of the token weights (tokens when unweighted)
	Duration  time.Duration `json:"duration_ns"`
}

// NanoTrainer pretrains a nano Qwen2 model with full-parameter AdamW on the
// CPU and writes it as a GGUF that llama.cpp loads. Not for concurrent use:
// calls are serialised.
type NanoTrainer struct {
	mu    sync.Mutex
	ptr   *C.azr_nano
	shape NanoShape
	vocab int
	name  string
}

// NewNanoTrainer makes a model of the given shape and vocabulary with
// deterministic random weights (by o.Seed).
func NewNanoTrainer(shape NanoShape, v Vocab, o NanoTrainOptions) (*NanoTrainer, error) {
	p, err := o.cParams()
	if err != nil {
		return nil, err
	}
	if len(v.Types) != 0 && len(v.Types) != len(v.Tokens) {
		return nil, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("new nano: %d token types for %d tokens", len(v.Types), len(v.Tokens))}
	}
	cs := C.azr_nano_shape{
		n_layer: C.int32_t(shape.Layers), n_embd: C.int32_t(shape.Embd), n_head: C.int32_t(shape.Heads),
		n_head_kv: C.int32_t(shape.KVHeads), n_ff: C.int32_t(shape.FF), n_ctx: C.int32_t(shape.Context),
		rope_theta: C.float(shape.RopeTheta),
	}
	toks, freeToks := cStrings(v.Tokens)
	defer freeToks()
	merges, freeMerges := cStrings(v.Merges)
	defer freeMerges()
	cv := C.azr_nano_vocab{
		tokens: toks, n_tokens: C.int32_t(len(v.Tokens)), merges: merges, n_merges: C.int32_t(len(v.Merges)),
		bos: C.int32_t(v.BOS), eos: C.int32_t(v.EOS), eot: C.int32_t(v.EOT), pad: C.int32_t(v.PAD),
	}
	if len(v.Types) > 0 {
		types := cInt32s(v.Types)
		defer C.free(unsafe.Pointer(types))
		cv.types = types
	}
	if v.ChatTemplate != "" {
		ct := C.CString(v.ChatTemplate)
		defer C.free(unsafe.Pointer(ct))
		cv.chat_template = ct
	}
	eb := newErrBuf()
	defer eb.free()
	var ptr *C.azr_nano
	if err := eb.wrap(C.azr_nano_new(&cs, &cv, &p, &ptr, eb.p, errCap)); err != nil {
		return nil, err
	}
	return newNanoTrainer(ptr), nil
}

// OpenNanoTrainer continues training from an F32 GGUF written by Save
// (shape, vocabulary and weights from the file). The optimizer starts
// fresh (step 0) unless LoadState restores the state saved with the file.
func OpenNanoTrainer(f32GGUF string, o NanoTrainOptions) (*NanoTrainer, error) {
	p, err := o.cParams()
	if err != nil {
		return nil, err
	}
	cpath := C.CString(f32GGUF)
	defer C.free(unsafe.Pointer(cpath))
	eb := newErrBuf()
	defer eb.free()
	var ptr *C.azr_nano
	if err := eb.wrap(C.azr_nano_open(cpath, &p, &ptr, eb.p, errCap)); err != nil {
		return nil, err
	}
	return newNanoTrainer(ptr), nil
}

func newNanoTrainer(ptr *C.azr_nano) *NanoTrainer {
	var cs C.azr_nano_shape
	C.azr_nano_get_shape(ptr, &cs)
	t := &NanoTrainer{ptr: ptr, vocab: int(cs.n_vocab), shape: NanoShape{
		Layers: int(cs.n_layer), Embd: int(cs.n_embd), Heads: int(cs.n_head), KVHeads: int(cs.n_head_kv),
		FF: int(cs.n_ff), Context: int(cs.n_ctx), RopeTheta: float32(cs.rope_theta),
	}}
	runtime.SetFinalizer(t, func(t *NanoTrainer) { t.Close() })
	return t
}

// Close frees the trainer. Safe to call more than once.
func (t *NanoTrainer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr != nil {
		C.azr_nano_free(t.ptr)
		t.ptr = nil
	}
	return nil
}

// Shape returns the model's architecture (also valid after Close).
func (t *NanoTrainer) Shape() NanoShape { return t.shape }

// VocabSize returns the number of tokens.
func (t *NanoTrainer) VocabSize() int { return t.vocab }

// SetName sets general.name of the files Save writes ("" = the name of the
// file the model was opened from, else a default).
func (t *NanoTrainer) SetName(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.name = name
}

// Steps returns the optimizer steps taken (restored by LoadState).
func (t *NanoTrainer) Steps() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return 0
	}
	return int64(C.azr_nano_steps(t.ptr))
}

// NumParams returns the number of trainable weights.
func (t *NanoTrainer) NumParams() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return 0
	}
	return int64(C.azr_nano_n_params(t.ptr))
}

// Fingerprint returns a hash of the current F32 weights (hex), the value
// Save records as azr.nano.fingerprint.
func (t *NanoTrainer) Fingerprint() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return ""
	}
	var buf [17]C.char
	C.azr_nano_fingerprint(t.ptr, &buf[0], 17)
	return C.GoString(&buf[0])
}

// batchArgs checks the Go-side lengths of a batch.
func (t *NanoTrainer) batchArgs(what string, tokens []int32, nSeq, seqLen int, weights []float32) error {
	if nSeq < 1 || seqLen < 1 {
		return &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("%s: need nSeq >= 1 and seqLen >= 1, got %d and %d", what, nSeq, seqLen)}
	}
	if len(tokens) != nSeq*(seqLen+1) {
		return &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("%s: %d tokens, want nSeq*(seqLen+1) = %d*%d = %d", what, len(tokens), nSeq, seqLen+1, nSeq*(seqLen+1))}
	}
	if weights != nil && len(weights) != nSeq*seqLen {
		return &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("%s: %d weights, want nSeq*seqLen = %d", what, len(weights), nSeq*seqLen)}
	}
	return nil
}

// watchCancel raises the native cancel flag when ctx ends while fn runs.
func (t *NanoTrainer) watchCancel(ctx context.Context, fn func() C.azr_status) C.azr_status {
	var st C.azr_status
	cancellable(ctx, func(raised bool) { C.azr_nano_cancel(t.ptr, cbool(raised)) }, func() { st = fn() })
	return st
}

// gradMode selects the backward of a gradient evaluation (azr_nano_grads).
type gradMode int

const (
	gradsHand     gradMode = 0 // the hand-built backward that Step uses
	gradsAutodiff gradMode = 1 // ggml's automatic backward (oracle; no token weights)
)

func (t *NanoTrainer) run(ctx context.Context, what string, tokens []int32, nSeq, seqLen int, weights []float32, lr float32, step bool, grads []float32, mode gradMode) (NanoResult, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return NanoResult{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return NanoResult{}, fmt.Errorf("%w: %w", &Error{Code: CodeCancelled, Msg: what + ": cancelled"}, err)
	}
	if err := t.batchArgs(what, tokens, nSeq, seqLen, weights); err != nil {
		return NanoResult{}, err
	}
	ct := (*C.int32_t)(unsafe.Pointer(&tokens[0]))
	var cw *C.float
	if weights != nil {
		cw = (*C.float)(unsafe.Pointer(&weights[0]))
	}
	eb := newErrBuf()
	defer eb.free()
	var res C.azr_nano_result
	st := t.watchCancel(ctx, func() C.azr_status {
		if step {
			return C.azr_nano_step(t.ptr, ct, C.int32_t(nSeq), C.int32_t(seqLen), cw, C.float(lr), &res, eb.p, errCap)
		}
		var cg *C.float
		if grads != nil {
			cg = (*C.float)(unsafe.Pointer(&grads[0]))
		}
		return C.azr_nano_grads(t.ptr, ct, C.int32_t(nSeq), C.int32_t(seqLen), cw, C.int32_t(mode), cg, C.int64_t(len(grads)), &res, eb.p, errCap)
	})
	runtime.KeepAlive(tokens)
	runtime.KeepAlive(weights)
	runtime.KeepAlive(grads)
	r := NanoResult{Loss: float64(res.loss), GradNorm: float64(res.grad_norm), WeightSum: float64(res.weight_sum), Duration: secs(res.seconds)}
	if err := eb.wrap(st); err != nil {
		if st == C.AZR_ERR_CANCELLED && ctx.Err() != nil {
			return r, fmt.Errorf("%w: %w", &Error{Code: CodeCancelled, Msg: what + ": cancelled"}, ctx.Err())
		}
		return r, err
	}
	return r, nil
}

// Step takes one AdamW step at learning rate lr on nSeq rows of seqLen+1
// token ids (row i trains tokens[i][:seqLen] to predict tokens[i][1:]).
// weights is nil or nSeq*seqLen non-negative per-predicted-token loss
// weights. It returns the batch loss before the update. Cancelling ctx
// stops the step between graph nodes with ErrCancelled and the weights
// unchanged; a non-finite loss or gradient returns an ErrInternal error and
// also leaves them unchanged.
func (t *NanoTrainer) Step(ctx context.Context, tokens []int32, nSeq, seqLen int, weights []float32, lr float32) (float64, error) {
	r, err := t.StepResult(ctx, tokens, nSeq, seqLen, weights, lr)
	return r.Loss, err
}

// StepResult is Step with the gradient norm and timing.
func (t *NanoTrainer) StepResult(ctx context.Context, tokens []int32, nSeq, seqLen int, weights []float32, lr float32) (NanoResult, error) {
	return t.run(ctx, "nano step", tokens, nSeq, seqLen, weights, lr, true, nil, gradsHand)
}

// Loss evaluates the weighted loss of a batch (laid out as for Step) without changing anything.
func (t *NanoTrainer) Loss(ctx context.Context, tokens []int32, nSeq, seqLen int, weights []float32) (float64, error) {
	r, err := t.run(ctx, "nano loss", tokens, nSeq, seqLen, weights, 0, false, nil, gradsHand)
	return r.Loss, err
}

// Grads returns the loss and its gradient (NumParams floats, the Params
// layout) of a batch, without changing anything. For tests and tools.
func (t *NanoTrainer) Grads(ctx context.Context, tokens []int32, nSeq, seqLen int, weights []float32) (NanoResult, []float32, error) {
	return t.grads(ctx, tokens, nSeq, seqLen, weights, gradsHand)
}

func (t *NanoTrainer) grads(ctx context.Context, tokens []int32, nSeq, seqLen int, weights []float32, mode gradMode) (NanoResult, []float32, error) {
	n := t.NumParams()
	if n == 0 {
		return NanoResult{}, nil, ErrClosed
	}
	g := make([]float32, n)
	r, err := t.run(ctx, "nano grads", tokens, nSeq, seqLen, weights, 0, false, g, mode)
	if err != nil {
		return r, nil, err
	}
	return r, g, nil
}

// Logits returns the training graph's logits for one sequence
// (len(tokens) rows of VocabSize floats), to compare with llama_decode.
func (t *NanoTrainer) Logits(tokens []int32) ([]float32, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return nil, ErrClosed
	}
	if len(tokens) == 0 {
		return nil, &Error{Code: CodeInvalidArg, Msg: "nano logits: no tokens"}
	}
	out := make([]float32, len(tokens)*t.vocab)
	eb := newErrBuf()
	defer eb.free()
	st := C.azr_nano_logits(t.ptr, (*C.int32_t)(unsafe.Pointer(&tokens[0])), C.int32_t(len(tokens)), (*C.float)(unsafe.Pointer(&out[0])), eb.p, errCap)
	runtime.KeepAlive(tokens)
	if err := eb.wrap(st); err != nil {
		return nil, err
	}
	return out, nil
}

// Params returns every weight, flattened (token_embd, output_norm, then per
// layer attn_norm, q, q bias, k, k bias, v, v bias, o, ffn_norm, gate, up, down).
func (t *NanoTrainer) Params() ([]float32, error) {
	n := t.NumParams()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return nil, ErrClosed
	}
	out := make([]float32, n)
	eb := newErrBuf()
	defer eb.free()
	if err := eb.wrap(C.azr_nano_get_params(t.ptr, (*C.float)(unsafe.Pointer(&out[0])), C.int64_t(n), eb.p, errCap)); err != nil {
		return nil, err
	}
	return out, nil
}

// SetParams replaces every weight (the Params layout).
func (t *NanoTrainer) SetParams(p []float32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return ErrClosed
	}
	if len(p) == 0 {
		return &Error{Code: CodeInvalidArg, Msg: "nano params: empty"}
	}
	eb := newErrBuf()
	defer eb.free()
	err := eb.wrap(C.azr_nano_set_params(t.ptr, (*C.float)(unsafe.Pointer(&p[0])), C.int64_t(len(p)), eb.p, errCap))
	runtime.KeepAlive(p)
	return err
}

// Save writes the model as a qwen2 GGUF that stock llama.cpp loads: quant
// "f32" (the only one OpenNanoTrainer continues from), "f16", "q8_0" or
// "q4_0". The file is written under a temporary name and renamed.
func (t *NanoTrainer) Save(path, quant string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return ErrClosed
	}
	cpath, cq := C.CString(path), C.CString(quant)
	defer C.free(unsafe.Pointer(cpath))
	defer C.free(unsafe.Pointer(cq))
	var cname *C.char
	if t.name != "" {
		cname = C.CString(t.name)
		defer C.free(unsafe.Pointer(cname))
	}
	eb := newErrBuf()
	defer eb.free()
	return eb.wrap(C.azr_nano_save(t.ptr, cpath, cq, cname, eb.p, errCap))
}

// SaveState writes the optimizer state (AdamW moments, step, and the
// fingerprint of the weights it belongs to). Resume exactly with
// OpenNanoTrainer on the F32 GGUF saved at the same moment, then LoadState.
func (t *NanoTrainer) SaveState(path string) error {
	return t.stateIO(path, true)
}

// LoadState restores optimizer state written by SaveState; it refuses a
// state saved for another shape or other weights.
func (t *NanoTrainer) LoadState(path string) error {
	return t.stateIO(path, false)
}

func (t *NanoTrainer) stateIO(path string, save bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return ErrClosed
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	eb := newErrBuf()
	defer eb.free()
	if save {
		return eb.wrap(C.azr_nano_save_state(t.ptr, cpath, eb.p, errCap))
	}
	return eb.wrap(C.azr_nano_load_state(t.ptr, cpath, eb.p, errCap))
}

// cStrings copies strings into a C array of C strings; call free when done.
func cStrings(ss []string) (**C.char, func()) {
	if len(ss) == 0 {
		return nil, func() {}
	}
	arr := (**C.char)(C.malloc(C.size_t(len(ss)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	view := unsafe.Slice(arr, len(ss))
	for i, s := range ss {
		view[i] = C.CString(s)
	}
	return arr, func() {
		for _, p := range view {
			C.free(unsafe.Pointer(p))
		}
		C.free(unsafe.Pointer(arr))
	}
}
