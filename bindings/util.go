package bindings

/*
#include <stdlib.h>
*/
import "C"

import (
	"context"
	"unsafe"
)

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

// nativeBuildID is a hash of the native libraries this binary was linked
// with, set by the Makefile (-X). It also forces Go to relink (and re-run
// cached tests) whenever a native library changes.
var nativeBuildID = "unknown"

// NativeBuildID returns the hash of the linked native libraries.
func NativeBuildID() string { return nativeBuildID }

// cancellable runs call (one long native call) while a watcher raises the
// native cancel flag through setCancel when ctx ends. The flag is cleared
// before and after, and the watcher is gone before cancellable returns, so a
// late cancellation never leaks into the next call.
func cancellable(ctx context.Context, setCancel func(raised bool), call func()) {
	setCancel(false)
	done := make(chan struct{})
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		select {
		case <-ctx.Done():
			setCancel(true)
		case <-done:
		}
	}()
	call()
	close(done)
	<-gone
	setCancel(false)
}
