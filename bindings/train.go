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

// TrainOptions configure a Trainer. The engine has no opinion on a run's
// settings (rl.DefaultConfig owns those and passes every one): only the
// fields that cannot be zero (LR, Beta1, Beta2, Eps) take the engine's
// azr_trainer_default_params values when left zero; every other field is
// used as given, and zero means off.
type TrainOptions struct {
	Threads     int     // 0 = the model's
	LR          float32 // peak learning rate; 0 = the engine's 1e-5
	Beta1       float32 // 0 = the engine's 0.9
	Beta2       float32 // 0 = the engine's 0.999
	Eps         float32 // 0 = the engine's 1e-8
	WeightDecay float32 // 0 = none
	GradClip    float32 // global-norm clip; <= 0 = off
	Schedule    string  // "constant" (default) or "cosine" (linear warm-up, cosine decay to MinLR)
	WarmupSteps int
	TotalSteps  int // cosine horizon
	MinLR       float32
	EntropyCoef float32 // entropy bonus beta (loss -= beta*H); 0 = off
	// With OldLogProbs the PPO ratio is clipped to [1-ClipEps, 1+ClipEpsHigh]
	// (0 leaves no room on that side: set both, e.g. 0.2 and 0.2).
	ClipEps     float32
	ClipEpsHigh float32
	MicroBatch  int // sequences per graph evaluation (gradient accumulation); 0 = whole batch
	// Transposed copies of a quantized base's matrices (input gradients):
	// "" = Q8_0 for the layers and F16 for the output head, or "q8_0", "f16", "f32".
	WTType string
	// HeadChunk is the number of rows per chunk of the vocabulary-sized loss
	// head (memory vs. per-call overhead); 0 = auto (~64 MiB per tensor).
	HeadChunk int
	// ForceScheduler runs the training graph through ggml's backend
	// scheduler even when every weight is in host memory (it is used
	// anyway when layers are offloaded to a GPU): tests compare this path
	// with the direct CPU one.
	ForceScheduler bool
	// DequantBlockBytes is the F32 scratch per dequantized block of a frozen
	// matrix on the scheduler path (input gradients without transposed
	// copies): less memory, more and smaller kernels; 0 = 64 MiB.
	DequantBlockBytes int64
}

func (o TrainOptions) cParams() (C.azr_trainer_params, error) {
	p := C.azr_trainer_default_params()
	p.n_threads = C.int32_t(o.Threads)
	if o.LR != 0 {
		p.lr = C.float(o.LR)
	}
	if o.Beta1 != 0 {
		p.beta1 = C.float(o.Beta1)
	}
	if o.Beta2 != 0 {
		p.beta2 = C.float(o.Beta2)
	}
	if o.Eps != 0 {
		p.eps = C.float(o.Eps)
	}
	p.weight_decay = C.float(o.WeightDecay)
	p.grad_clip = C.float(o.GradClip)
	switch o.Schedule {
	case "", "constant":
		p.schedule = 0
	case "cosine":
		p.schedule = 1
	default:
		return p, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("trainer: unknown schedule %q (constant, cosine)", o.Schedule)}
	}
	p.warmup_steps = C.int32_t(o.WarmupSteps)
	p.total_steps = C.int32_t(o.TotalSteps)
	p.min_lr = C.float(o.MinLR)
	p.entropy_coef = C.float(o.EntropyCoef)
	p.clip_eps = C.float(o.ClipEps)
	p.clip_eps_high = C.float(o.ClipEpsHigh)
	if o.MicroBatch < 0 || o.Threads < 0 || o.HeadChunk < 0 {
		return p, &Error{Code: CodeInvalidArg, Msg: "trainer: MicroBatch, Threads and HeadChunk must be >= 0"}
	}
	p.head_chunk = C.int32_t(o.HeadChunk)
	if o.DequantBlockBytes < 0 {
		return p, &Error{Code: CodeInvalidArg, Msg: "trainer: DequantBlockBytes must be >= 0"}
	}
	p.dequant_block_bytes = C.int64_t(o.DequantBlockBytes)
	p.scheduler = C.AZR_SCHED_AUTO
	if o.ForceScheduler {
		p.scheduler = C.AZR_SCHED_ALWAYS
	}
	p.micro_batch = C.int32_t(o.MicroBatch)
	switch o.WTType {
	case "":
		p.wt_type = C.AZR_WT_AUTO
	case "q8_0":
		p.wt_type = C.AZR_WT_Q8_0
	case "f16":
		p.wt_type = C.AZR_WT_F16
	case "f32":
		p.wt_type = C.AZR_WT_F32
	default:
		return p, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("trainer: unknown WTType %q (q8_0, f16, f32)", o.WTType)}
	}
	return p, nil
}

// TrainSeq is one sequence of a training batch. Index t of the per-token
// slices belongs to Tokens[t], predicted from Tokens[:t]; tokens before
// ResponseStart (the prompt) are not trained.
type TrainSeq struct {
	Tokens        []int32
	ResponseStart int       // first trained token index, >= 1
	Mask          []bool    // optional, len(Tokens): false excludes a response token
	Advantages    []float32 // len(Tokens), or 1 value for the whole sequence
	OldLogProbs   []float32 // optional, len(Tokens): enables the PPO clipped ratio
}

// StepResult reports one training step (or one gradient evaluation).
type StepResult struct {
	Loss     float64       `json:"loss"`
	GradNorm float64       `json:"grad_norm"` // before clipping
	LR       float64       `json:"lr"`
	Entropy  float64       `json:"entropy"`   // mean over trained tokens
	ClipFrac float64       `json:"clip_frac"` // PPO: fraction of clipped tokens
	Tokens   int64         `json:"tokens"`    // trained tokens
	Rows     int64         `json:"rows"`      // rows evaluated, padding included
	Skipped  bool          `json:"skipped"`
	Duration time.Duration `json:"duration_ns"`
	// MicroBatches is the number of micro-batches evaluated: all of the
	// batch's, or fewer when the step was cancelled.
	MicroBatches int `json:"micro_batches"`
}

// Trainer runs policy-gradient steps on an Adapter. Not for concurrent use:
// calls are serialised.
type Trainer struct {
	mu      sync.Mutex
	ptr     *C.azr_trainer
	adapter *Adapter
	opts    TrainOptions
}

// NewTrainer prepares training of a (transposed copies of the frozen weights
// are built here: seconds for a 0.5B model).
func (a *Adapter) NewTrainer(opts TrainOptions) (*Trainer, error) {
	p, err := opts.cParams()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ptr == nil {
		return nil, ErrClosed
	}
	m := a.model
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ptr == nil {
		return nil, ErrClosed
	}
	eb := newErrBuf()
	defer eb.free()
	var ptr *C.azr_trainer
	if err := eb.wrap(C.azr_trainer_new(m.ptr, a.ptr, &p, &ptr, eb.p, errCap)); err != nil {
		return nil, err
	}
	a.holders++
	m.holders++
	t := &Trainer{ptr: ptr, adapter: a, opts: opts}
	runtime.SetFinalizer(t, func(t *Trainer) { t.Close() })
	return t, nil
}

// Close frees the trainer. Safe to call more than once.
func (t *Trainer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return nil
	}
	C.azr_trainer_free(t.ptr)
	t.ptr = nil
	a := t.adapter
	a.mu.Lock()
	a.holders--
	a.mu.Unlock()
	a.model.mu.Lock()
	a.model.holders--
	a.model.mu.Unlock()
	return nil
}

// Trim frees the trainer's compute buffer (kept between calls, sized by the
// largest micro-batch so far; gigabytes for long batches of a 0.5B model).
// The next call allocates it again.
func (t *Trainer) Trim() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr != nil {
		C.azr_trainer_trim(t.ptr)
	}
}

// PlacedOp is a node of a training graph that the backend scheduler ran on
// the CPU while a GPU backend was present.
type PlacedOp struct {
	Op          string // ggml operation, e.g. "GET_ROWS"
	Name        string // the node's tensor name (may be empty)
	Elements    int64  // of its result
	SrcElements int64  // of its largest source
}

// CPUOps lists the nodes of the last training graph that the scheduler
// placed on the CPU although a GPU backend holds weights: a silent CPU
// fallback. Empty on the direct CPU path and when the CPU is the only backend.
func (t *Trainer) CPUOps() []PlacedOp {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return nil
	}
	n := int(C.azr_trainer_cpu_ops(t.ptr, nil, 0))
	if n == 0 {
		return nil
	}
	buf := make([]C.azr_placed_op, n)
	n = min(n, int(C.azr_trainer_cpu_ops(t.ptr, &buf[0], C.int32_t(n))))
	out := make([]PlacedOp, n)
	for i := range out {
		out[i] = PlacedOp{Op: C.GoString(&buf[i].op[0]), Name: C.GoString(&buf[i].name[0]),
			Elements: int64(buf[i].n_elements), SrcElements: int64(buf[i].src_elements)}
	}
	return out
}

// UsesScheduler reports whether the trainer runs its graphs through the
// backend scheduler (layers offloaded to a GPU, or ForceScheduler).
func (t *Trainer) UsesScheduler() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ptr != nil && C.azr_trainer_uses_scheduler(t.ptr) != 0
}

// SetOptions replaces the optimizer and loss settings (Threads is kept).
func (t *Trainer) SetOptions(opts TrainOptions) error {
	p, err := opts.cParams()
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return ErrClosed
	}
	eb := newErrBuf()
	defer eb.free()
	if err := eb.wrap(C.azr_trainer_set_params(t.ptr, &p, eb.p, errCap)); err != nil {
		return err
	}
	t.opts = opts
	return nil
}

// cBatch holds a batch in C memory.
type cBatch struct {
	seqs  *C.azr_train_seq
	n     int
	alloc []unsafe.Pointer
}

func (b *cBatch) free() {
	for _, p := range b.alloc {
		C.free(p)
	}
}

func (b *cBatch) mallocf(n int) *C.float {
	p := C.malloc(C.size_t(n) * 4)
	b.alloc = append(b.alloc, p)
	return (*C.float)(p)
}

func newCBatch(batch []TrainSeq, withAdv bool) (*cBatch, error) {
	if len(batch) == 0 {
		return nil, &Error{Code: CodeInvalidArg, Msg: "train: empty batch"}
	}
	b := &cBatch{n: len(batch)}
	sz := C.size_t(unsafe.Sizeof(C.azr_train_seq{}))
	b.seqs = (*C.azr_train_seq)(C.calloc(C.size_t(len(batch)), sz))
	b.alloc = append(b.alloc, unsafe.Pointer(b.seqs))
	cs := unsafe.Slice(b.seqs, len(batch))
	for i, s := range batch {
		n := len(s.Tokens)
		if n < 2 {
			b.free()
			return nil, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("train: sequence %d needs at least 2 tokens", i)}
		}
		tok := cInt32s(s.Tokens)
		b.alloc = append(b.alloc, unsafe.Pointer(tok))
		cs[i].tokens = tok
		cs[i].n_tokens = C.int32_t(n)
		cs[i].response_start = C.int32_t(s.ResponseStart)
		if !withAdv {
			continue
		}
		switch len(s.Advantages) {
		case n:
		case 1:
		default:
			b.free()
			return nil, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("train: sequence %d has %d advantages for %d tokens (want %d or 1)", i, len(s.Advantages), n, n)}
		}
		adv := b.mallocf(n)
		av := unsafe.Slice((*float32)(unsafe.Pointer(adv)), n)
		for t := range av {
			if len(s.Advantages) == 1 {
				av[t] = s.Advantages[0]
			} else {
				av[t] = s.Advantages[t]
			}
		}
		cs[i].advantages = adv
		if s.Mask != nil {
			if len(s.Mask) != n {
				b.free()
				return nil, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("train: sequence %d mask has %d entries for %d tokens", i, len(s.Mask), n)}
			}
			mp := C.malloc(C.size_t(n))
			b.alloc = append(b.alloc, mp)
			ms := unsafe.Slice((*uint8)(mp), n)
			for t, v := range s.Mask {
				ms[t] = 0
				if v {
					ms[t] = 1
				}
			}
			cs[i].mask = (*C.uint8_t)(mp)
		}
		if s.OldLogProbs != nil {
			if len(s.OldLogProbs) != n {
				b.free()
				return nil, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("train: sequence %d has %d old log-probs for %d tokens", i, len(s.OldLogProbs), n)}
			}
			op := b.mallocf(n)
			copy(unsafe.Slice((*float32)(unsafe.Pointer(op)), n), s.OldLogProbs)
			cs[i].old_logprobs = op
		}
	}
	return b, nil
}

func stepResult(r *C.azr_train_result) StepResult {
	return StepResult{
		Loss: float64(r.loss), GradNorm: float64(r.grad_norm), LR: float64(r.lr), Entropy: float64(r.entropy),
		ClipFrac: float64(r.clip_frac), Tokens: int64(r.n_tokens), Rows: int64(r.n_rows), Skipped: r.skipped != 0,
		Duration:     time.Duration(float64(r.seconds) * float64(time.Second)),
		MicroBatches: int(r.n_micro_batches),
	}
}

// lock takes the trainer and its adapter (lock order: trainer, adapter, model).
func (t *Trainer) lock() error {
	t.mu.Lock()
	if t.ptr == nil {
		t.mu.Unlock()
		return ErrClosed
	}
	t.adapter.mu.Lock()
	return nil
}

func (t *Trainer) unlock() {
	t.adapter.mu.Unlock()
	t.mu.Unlock()
}

// Step runs one optimizer step on batch: the token-mean policy-gradient loss
// over response tokens (PPO-clipped where OldLogProbs are given), gradients
// accumulated over micro-batches, global-norm clipping, AdamW. A non-finite
// loss or gradient skips the step (Skipped, error) and leaves the adapter as it was.
//
// Cancelling ctx stops the step before its next micro-batch (on the CPU also
// between the nodes of the one running) with an error that matches both
// ErrCancelled and ctx.Err(); the adapter and its optimizer state are then exactly as before
// the step, since the update is applied only once every gradient is in.
func (t *Trainer) Step(ctx context.Context, batch []TrainSeq) (StepResult, error) {
	if err := ctx.Err(); err != nil {
		return StepResult{}, fmt.Errorf("%w: %w", &Error{Code: CodeCancelled, Msg: "train step: cancelled"}, err)
	}
	cb, err := newCBatch(batch, true)
	if err != nil {
		return StepResult{}, err
	}
	defer cb.free()
	if err := t.lock(); err != nil {
		return StepResult{}, err
	}
	defer t.unlock()
	eb := newErrBuf()
	defer eb.free()
	var r C.azr_train_result
	var st C.azr_status
	cancellable(ctx, func(raised bool) { C.azr_trainer_cancel(t.ptr, cbool(raised)) }, func() {
		st = C.azr_train_step(t.ptr, cb.seqs, C.int32_t(cb.n), &r, eb.p, errCap)
	})
	if st == C.AZR_ERR_CANCELLED && ctx.Err() != nil {
		return stepResult(&r), fmt.Errorf("%w: %w", &Error{Code: CodeCancelled, Msg: "train step: cancelled"}, ctx.Err())
	}
	return stepResult(&r), eb.wrap(st)
}

// LogProbs runs the forward pass only: out[i][t] = log pi(seqs[i][t] | seqs[i][:t])
// for t >= 1 (out[i][0] = 0).
func (t *Trainer) LogProbs(seqs [][]int32) ([][]float32, error) {
	batch := make([]TrainSeq, len(seqs))
	for i, s := range seqs {
		batch[i] = TrainSeq{Tokens: s}
	}
	cb, err := newCBatch(batch, false)
	if err != nil {
		return nil, err
	}
	defer cb.free()
	outs := (**C.float)(C.calloc(C.size_t(len(seqs)), C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(outs))
	ov := unsafe.Slice(outs, len(seqs))
	for i, s := range seqs {
		ov[i] = cb.mallocf(len(s))
	}
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.unlock()
	eb := newErrBuf()
	defer eb.free()
	if err := eb.wrap(C.azr_train_logprobs(t.ptr, cb.seqs, C.int32_t(cb.n), outs, eb.p, errCap)); err != nil {
		return nil, err
	}
	res := make([][]float32, len(seqs))
	for i, s := range seqs {
		res[i] = make([]float32, len(s))
		copy(res[i], unsafe.Slice((*float32)(unsafe.Pointer(ov[i])), len(s)))
	}
	return res, nil
}
