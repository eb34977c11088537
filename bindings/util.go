package bindings

/*
#include <stdlib.h>
*/
import "C"

import "unsafe"

func unsafePointer[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }

// cInt32s pins nothing: it copies a Go slice into C memory the caller frees.
func cInt32s(v []int32) *C.int32_t {
	if len(v) == 0 {
		return nil
	}
	p := (*C.int32_t)(C.malloc(C.size_t(len(v)) * 4))
	copy(unsafe.Slice((*int32)(unsafe.Pointer(p)), len(v)), v)
	return p
}
