package bindings

/*
#include <stdlib.h>
#include "azr.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// MergeQuants are the choices of Adapter.Merge's quant: "" keeps each
// merged matrix in its base type.
var MergeQuants = map[string]C.int32_t{
	"": C.AZR_MERGE_KEEP, "f32": C.AZR_MERGE_F32, "f16": C.AZR_MERGE_F16,
	"q8_0": C.AZR_MERGE_Q8_0, "q4_0": C.AZR_MERGE_Q4_0, "q4_k": C.AZR_MERGE_Q4_K,
}

// MergeInfo reports what Merge did.
type MergeInfo struct {
	Merged   int     `json:"merged"`    // matrices with the adapter folded in
	Tensors  int     `json:"tensors"`   // tensors in the written file
	DeltaRel float64 `json:"delta_rel"` // ||alpha/r B A|| / ||W|| over the merged matrices
}

// Merge writes a standalone model to outPath: the GGUF file basePath (the
// adapter's base; its matrices must have the shapes of the model the adapter
// was loaded on) with W + alpha/rank * B A in place of every adapted matrix,
// quantized as quant says (see MergeQuants), everything else copied.
func (a *Adapter) Merge(basePath, outPath, quant string, threads int) (MergeInfo, error) {
	q, ok := MergeQuants[quant]
	if !ok {
		return MergeInfo{}, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("merge: unknown quantization %q (f32, f16, q8_0, q4_0, q4_k, or none to keep the base's)", quant)}
	}
	cb, co := C.CString(basePath), C.CString(outPath)
	defer C.free(unsafe.Pointer(cb))
	defer C.free(unsafe.Pointer(co))
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ptr == nil {
		return MergeInfo{}, ErrClosed
	}
	eb := newErrBuf()
	defer eb.free()
	var ci C.azr_merge_info
	if err := eb.wrap(C.azr_lora_merge(a.ptr, cb, co, q, C.int32_t(threads), &ci, eb.p, errCap)); err != nil {
		return MergeInfo{}, err
	}
	return MergeInfo{Merged: int(ci.n_merged), Tensors: int(ci.n_tensors), DeltaRel: float64(ci.delta_rel)}, nil
}
