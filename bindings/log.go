package bindings

/*
#include "azr.h"
extern void azrGoLogLine(int level, char *line, void *user);
*/
import "C"

import (
	"sync/atomic"
	"unsafe"
)

// LogLevel is the level of a llama.cpp/ggml log line.
type LogLevel int

const (
	LogDebug LogLevel = iota
	LogInfo
	LogWarn
	LogError
)

// LogSink receives llama.cpp/ggml log output, one whole line at a time
// (without its newline), from whichever thread logged it. It must not call
// back into this package.
type LogSink func(level LogLevel, line string)

var logSink atomic.Pointer[LogSink]

// SetLogSink routes llama.cpp/ggml's own log lines (those at or above the
// SetLogLevel level) to sink instead of stderr; nil restores stderr.
func SetLogSink(sink LogSink) {
	if sink == nil {
		C.azr_set_log_sink(nil, nil)
		logSink.Store(nil)
		return
	}
	logSink.Store(&sink)
	C.azr_set_log_sink(C.azr_log_fn(unsafe.Pointer(C.azrGoLogLine)), nil)
}

//export azrGoLogLine
func azrGoLogLine(level C.int, line *C.char, _ unsafe.Pointer) {
	if sink := logSink.Load(); sink != nil {
		(*sink)(LogLevel(level), C.GoString(line))
	}
}
