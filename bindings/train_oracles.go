package bindings

// The training engine's test oracles (native/azr_train_oracles.h): unexported,
// for this package's tests. They live in a non-test file only because cgo
// cannot be used in _test.go files.

/*
#include <stdlib.h>
#include "azr_train_oracles.h"
*/
import "C"

import "unsafe"

// grads returns the loss gradient (the Adapter.Params layout) without a
// step. autodiff selects ggml's autodiff (the test oracle; F32/F16 bases,
// no PPO or entropy bonus) instead of the hand-built backward.
func (t *Trainer) grads(batch []TrainSeq, autodiff bool) ([]float32, StepResult, error) {
	cb, err := newCBatch(batch, true)
	if err != nil {
		return nil, StepResult{}, err
	}
	defer cb.free()
	if err := t.lock(); err != nil {
		return nil, StepResult{}, err
	}
	defer t.unlock()
	var ci C.azr_lora_info
	C.azr_lora_get_info(t.adapter.ptr, &ci)
	n := int64(ci.n_params)
	buf := (*C.float)(C.malloc(C.size_t(n) * 4))
	defer C.free(unsafe.Pointer(buf))
	mode := C.int32_t(0)
	if autodiff {
		mode = 1
	}
	eb := newErrBuf()
	defer eb.free()
	var r C.azr_train_result
	if err := eb.wrap(C.azr_train_grads(t.ptr, cb.seqs, C.int32_t(cb.n), mode, buf, C.int64_t(n), &r, eb.p, errCap)); err != nil {
		return nil, stepResult(&r), err
	}
	out := make([]float32, n)
	copy(out, unsafe.Slice((*float32)(unsafe.Pointer(buf)), n))
	return out, stepResult(&r), nil
}

// logits returns the training graph's logits (len(tokens) x vocab) for one
// sequence; they must equal llama_decode's for the same adapter.
func (t *Trainer) logits(tokens []int32) ([]float32, error) {
	if len(tokens) < 1 {
		return nil, &Error{Code: CodeInvalidArg, Msg: "train logits: no tokens"}
	}
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.unlock()
	return logitsCall(tokens, t.adapter.model.info.Vocab, func(ct *C.int32_t, out *C.float, eb errBuf) C.azr_status {
		return C.azr_train_logits(t.ptr, ct, C.int32_t(len(tokens)), out, eb.p, errCap)
	})
}

// logitsCall runs a native call that writes len(tokens) x nv logits into a C
// buffer and copies them out.
func logitsCall(tokens []int32, nv int, call func(ct *C.int32_t, out *C.float, eb errBuf) C.azr_status) ([]float32, error) {
	ct := cInt32s(tokens)
	defer C.free(unsafe.Pointer(ct))
	out := (*C.float)(C.malloc(C.size_t(len(tokens)*nv) * 4))
	defer C.free(unsafe.Pointer(out))
	eb := newErrBuf()
	defer eb.free()
	if err := eb.wrap(call(ct, out, eb)); err != nil {
		return nil, err
	}
	res := make([]float32, len(tokens)*nv)
	copy(res, unsafe.Slice((*float32)(unsafe.Pointer(out)), len(res)))
	return res, nil
}

// decodeLogitsWith runs llama_decode in a fresh llama.cpp context of m with the
// live adapter a (may be nil) or the LoRA file path (may be "") attached.
func decodeLogitsWith(m *Model, a *Adapter, path string, tokens []int32) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, &Error{Code: CodeInvalidArg, Msg: "decode logits: no tokens"}
	}
	var cpath *C.char
	if path != "" {
		cpath = C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
	}
	// Lock order everywhere: trainer, adapter, model.
	var lp *C.azr_lora
	if a != nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.ptr == nil {
			return nil, ErrClosed
		}
		lp = a.ptr
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return nil, ErrClosed
	}
	return logitsCall(tokens, m.info.Vocab, func(ct *C.int32_t, out *C.float, eb errBuf) C.azr_status {
		return C.azr_lora_decode_logits(m.ptr, lp, cpath, ct, C.int32_t(len(tokens)), out, eb.p, errCap)
	})
}

// decodeLogits returns llama_decode's logits (len(tokens) x vocab) for one
// sequence in a fresh llama.cpp context with this adapter attached.
func (a *Adapter) decodeLogits(tokens []int32) ([]float32, error) {
	return decodeLogitsWith(a.model, a, "", tokens)
}

// decodeLogitsWithLoRAFile loads a LoRA GGUF with stock llama_adapter_lora_init
// (path "" = no adapter) and returns llama_decode's logits for one sequence.
func (m *Model) decodeLogitsWithLoRAFile(path string, tokens []int32) ([]float32, error) {
	return decodeLogitsWith(m, nil, path, tokens)
}

// dequantizeGGUF rewrites a GGUF with every quantized/F16 tensor as F32.
func dequantizeGGUF(src, dst string) error {
	cs, cd := C.CString(src), C.CString(dst)
	defer C.free(unsafe.Pointer(cs))
	defer C.free(unsafe.Pointer(cd))
	eb := newErrBuf()
	defer eb.free()
	return eb.wrap(C.azr_gguf_dequantize(cs, cd, eb.p, errCap))
}

// liveUpdateCheck (tests): in one llama.cpp context with a attached, an
// in-place parameter change must show up at the next decode (stale > 0) and
// equal a fresh context's result (fresh == 0).
func (a *Adapter) liveUpdateCheck(tokens []int32, attachAfterDecode bool) (stale, fresh float64, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ptr == nil {
		return 0, 0, ErrClosed
	}
	m := a.model
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return 0, 0, ErrClosed
	}
	ct := cInt32s(tokens)
	defer C.free(unsafe.Pointer(ct))
	var s, f C.double
	eb := newErrBuf()
	defer eb.free()
	err = eb.wrap(C.azr_lora_live_update_check(m.ptr, a.ptr, ct, C.int32_t(len(tokens)), cbool(attachAfterDecode), &s, &f, eb.p, errCap))
	return float64(s), float64(f), err
}
