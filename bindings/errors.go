package bindings

/*
#include <stdlib.h>
#include "azr.h"
*/
import "C"

import (
	"errors"
	"fmt"
)

// Code classifies a failure of the native engine; it mirrors azr_status.
type Code int

const (
	CodeInvalidArg  Code = C.AZR_ERR_INVALID_ARG
	CodeIO          Code = C.AZR_ERR_IO
	CodeBadModel    Code = C.AZR_ERR_BAD_MODEL
	CodeUnsupported Code = C.AZR_ERR_UNSUPPORTED
	CodeContextFull Code = C.AZR_ERR_CONTEXT_FULL
	CodeDecode      Code = C.AZR_ERR_DECODE
	CodeNoMemory    Code = C.AZR_ERR_NOMEM
	CodeInternal    Code = C.AZR_ERR_INTERNAL
	CodeCancelled   Code = C.AZR_ERR_CANCELLED
)

var codeNames = map[Code]string{
	CodeInvalidArg: "invalid argument", CodeIO: "i/o error", CodeBadModel: "bad model file",
	CodeUnsupported: "unsupported", CodeContextFull: "context full", CodeDecode: "decode failed",
	CodeNoMemory: "out of memory", CodeInternal: "internal error", CodeCancelled: "cancelled",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code %d", int(c))
}

// Error is a failure reported by the native engine, with the engine's message.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Is lets errors.Is(err, bindings.ErrBadModel) and friends match by code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Msg == "" && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrInvalidArg  = &Error{Code: CodeInvalidArg}
	ErrIO          = &Error{Code: CodeIO}
	ErrBadModel    = &Error{Code: CodeBadModel}
	ErrUnsupported = &Error{Code: CodeUnsupported}
	ErrContextFull = &Error{Code: CodeContextFull}
	ErrDecode      = &Error{Code: CodeDecode}
	ErrNoMemory    = &Error{Code: CodeNoMemory}
	ErrInternal    = &Error{Code: CodeInternal}
	ErrCancelled   = &Error{Code: CodeCancelled}
	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("bindings: use of a closed handle")
)

const errCap = 1024

// errBuf is a C buffer for one call's error message.
type errBuf struct{ p *C.char }

func newErrBuf() errBuf { return errBuf{(*C.char)(C.calloc(errCap, 1))} }
func (b errBuf) free()  { C.free(unsafePointer(b.p)) }

// wrap turns a non-OK status into an *Error (nil for AZR_OK).
func (b errBuf) wrap(st C.azr_status) error {
	if st == C.AZR_OK {
		return nil
	}
	msg := C.GoString(b.p)
	if msg == "" {
		msg = Code(st).String()
	}
	return &Error{Code: Code(st), Msg: msg}
}
