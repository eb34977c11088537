package bindings

/*
#include <stdlib.h>
#include "azr.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// Projection names accepted by LoRAOptions.Projections.
var projectionBits = map[string]uint32{
	"q": C.AZR_LORA_Q, "k": C.AZR_LORA_K, "v": C.AZR_LORA_V, "o": C.AZR_LORA_O,
	"gate": C.AZR_LORA_GATE, "up": C.AZR_LORA_UP, "down": C.AZR_LORA_DOWN,
}

var projectionOrder = []string{"q", "k", "v", "o", "gate", "up", "down"}

// LoRAOptions configure NewAdapter.
type LoRAOptions struct {
	Rank        int      // >= 1 (rl.DefaultConfig owns the run's 16)
	Alpha       float32  // scale = Alpha/Rank; 0 = Rank (scale 1, llama.cpp's reading of a missing alpha)
	Projections []string // subset of q,k,v,o,gate,up,down; empty = all
	Seed        uint64   // A ~ N(0, InitAStd), B = 0
	InitAStd    float32  // 0 = 1/sqrt(in)
	InitBStd    float32  // 0 = B starts at zero (tests set it > 0)
}

// AdapterInfo describes an adapter.
type AdapterInfo struct {
	Rank        int      `json:"rank"`
	Alpha       float32  `json:"alpha"`
	Projections []string `json:"projections"`
	Pairs       int      `json:"pairs"`
	Params      int64    `json:"params"`
	Step        int64    `json:"step"`
	Version     uint64   `json:"version"`
}

// Adapter is a LoRA adapter over a Model: the trainable parameters (F32) and
// their AdamW state. Generation contexts that attach it see every update.
type Adapter struct {
	mu      sync.Mutex
	ptr     *C.azr_lora
	model   *Model
	holders int // open trainers and generators that use ptr
}

func projectionMask(names []string) (uint32, error) {
	var mask uint32
	for _, n := range names {
		b, ok := projectionBits[strings.ToLower(strings.TrimSpace(n))]
		if !ok {
			return 0, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("lora: unknown projection %q (want q,k,v,o,gate,up,down)", n)}
		}
		mask |= b
	}
	return mask, nil
}

func projectionNames(mask uint32) []string {
	var out []string
	for _, n := range projectionOrder {
		if mask&projectionBits[n] != 0 {
			out = append(out, n)
		}
	}
	return out
}

func (m *Model) addAdapter(ptr *C.azr_lora) *Adapter {
	m.holders++
	a := &Adapter{ptr: ptr, model: m}
	runtime.SetFinalizer(a, func(a *Adapter) { a.Close() })
	return a
}

// NewAdapter creates a fresh adapter (A random, B zero unless InitBStd > 0).
func (m *Model) NewAdapter(opts LoRAOptions) (*Adapter, error) {
	mask, err := projectionMask(opts.Projections)
	if err != nil {
		return nil, err
	}
	p := C.azr_lora_default_params()
	p.rank = C.int32_t(opts.Rank)
	p.alpha = C.float(opts.Alpha)
	p.projections = C.uint32_t(mask)
	p.seed = C.uint64_t(opts.Seed)
	p.init_a_std = C.float(opts.InitAStd)
	p.init_b_std = C.float(opts.InitBStd)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ptr == nil {
		return nil, ErrClosed
	}
	eb := newErrBuf()
	defer eb.free()
	var ptr *C.azr_lora
	if err := eb.wrap(C.azr_lora_new(m.ptr, &p, &ptr, eb.p, errCap)); err != nil {
		return nil, err
	}
	return m.addAdapter(ptr), nil
}

// LoadAdapter loads a LoRA GGUF written by Save (optPath, if not "", restores
// the optimizer state). It refuses an adapter made for another base model.
func (m *Model) LoadAdapter(path, optPath string) (*Adapter, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var copt *C.char
	if optPath != "" {
		copt = C.CString(optPath)
		defer C.free(unsafe.Pointer(copt))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ptr == nil {
		return nil, ErrClosed
	}
	eb := newErrBuf()
	defer eb.free()
	var ptr *C.azr_lora
	if err := eb.wrap(C.azr_lora_load(m.ptr, cpath, copt, &ptr, eb.p, errCap)); err != nil {
		return nil, err
	}
	return m.addAdapter(ptr), nil
}

// Save writes the adapter as a GGUF LoRA file that stock llama.cpp loads
// (--lora), and, when optPath is not "", the optimizer state for resuming.
func (a *Adapter) Save(path, optPath string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var copt *C.char
	if optPath != "" {
		copt = C.CString(optPath)
		defer C.free(unsafe.Pointer(copt))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ptr == nil {
		return ErrClosed
	}
	eb := newErrBuf()
	defer eb.free()
	return eb.wrap(C.azr_lora_save(a.ptr, cpath, copt, eb.p, errCap))
}

// Close frees the adapter. Safe to call more than once; refuses while
// trainers of the adapter are open. Detach it from generators first.
func (a *Adapter) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ptr == nil {
		return nil
	}
	if a.holders > 0 {
		return &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("close adapter: %d trainer(s)/generator(s) still use it; close them first", a.holders)}
	}
	C.azr_lora_free(a.ptr)
	a.ptr = nil
	a.model.mu.Lock()
	a.model.holders--
	a.model.mu.Unlock()
	return nil
}

// Info describes the adapter (zero after Close).
func (a *Adapter) Info() AdapterInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ptr == nil {
		return AdapterInfo{}
	}
	var ci C.azr_lora_info
	C.azr_lora_get_info(a.ptr, &ci)
	return AdapterInfo{
		Rank: int(ci.rank), Alpha: float32(ci.alpha), Projections: projectionNames(uint32(ci.projections)),
		Pairs: int(ci.n_pairs), Params: int64(ci.n_params), Step: int64(ci.step), Version: uint64(ci.version),
	}
}

// Params returns every parameter, flattened (per adapted matrix: A then B).
func (a *Adapter) Params() ([]float32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ptr == nil {
		return nil, ErrClosed
	}
	var ci C.azr_lora_info
	C.azr_lora_get_info(a.ptr, &ci)
	n := int64(ci.n_params)
	buf := (*C.float)(C.malloc(C.size_t(n) * 4))
	defer C.free(unsafe.Pointer(buf))
	eb := newErrBuf()
	defer eb.free()
	if err := eb.wrap(C.azr_lora_get_params(a.ptr, buf, C.int64_t(n), eb.p, errCap)); err != nil {
		return nil, err
	}
	out := make([]float32, n)
	copy(out, unsafe.Slice((*float32)(unsafe.Pointer(buf)), n))
	return out, nil
}

// SetParams replaces every parameter (the layout of Params).
func (a *Adapter) SetParams(v []float32) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ptr == nil {
		return ErrClosed
	}
	if len(v) == 0 {
		return &Error{Code: CodeInvalidArg, Msg: "set params: empty"}
	}
	buf := (*C.float)(C.malloc(C.size_t(len(v)) * 4))
	defer C.free(unsafe.Pointer(buf))
	copy(unsafe.Slice((*float32)(unsafe.Pointer(buf)), len(v)), v)
	eb := newErrBuf()
	defer eb.free()
	return eb.wrap(C.azr_lora_set_params(a.ptr, buf, C.int64_t(len(v)), eb.p, errCap))
}
