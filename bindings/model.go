// Package bindings is the only cgo package of azr-native: Go types over the C
// ABI in native/azr.h. Handles are closed with an idempotent Close; engine
// failures come back as *Error values that errors.Is matches against the
// Err* sentinels.
package bindings

/*
#include <stdlib.h>
#include "azr.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// LogLevel sets the minimum level of llama.cpp/ggml log lines that reach
// stderr: 0 debug, 1 info, 2 warn (default), 3 error, 4 none.
func SetLogLevel(level int) { C.azr_set_log_level(C.int(level)) }

// ModelOptions configure LoadModel.
type ModelOptions struct {
	Threads     int  // CPU threads; 0 = all cores
	GPULayers   int  // layers offloaded to a GPU, when a GPU backend is loaded (LoadBackends); -1 = all, 0 = none
	NoMmap      bool // read the file instead of mapping it
	AllowRepack bool // CPU weight repacking: faster inference, but training cannot use those weights
}

// Model is a loaded GGUF model. Safe for concurrent use by readers; Close
// waits for no one, so close it only after its generators are closed.
type Model struct {
	mu      sync.RWMutex
	ptr     *C.azr_model
	info    ModelInfo
	holders int // open generators (and later trainers) that use ptr
}

// ModelInfo describes a loaded model.
type ModelInfo struct {
	Arch            string `json:"arch"`
	Description     string `json:"description"`
	FileType        string `json:"file_type"`
	Layers          int    `json:"layers"`
	Embedding       int    `json:"embedding"`
	Heads           int    `json:"heads"`
	KVHeads         int    `json:"kv_heads"`
	FeedForward     int    `json:"feed_forward"`
	Vocab           int    `json:"vocab"`
	TrainContext    int    `json:"train_context"`
	Params          uint64 `json:"params"`
	SizeBytes       uint64 `json:"size_bytes"`
	BOS             int32  `json:"bos"`
	EOS             int32  `json:"eos"`
	EOT             int32  `json:"eot"`
	AddBOS          bool   `json:"add_bos"`
	HasChatTemplate bool   `json:"has_chat_template"`
	GPULayers       int    `json:"gpu_layers"`    // repeating layers whose weights live on a GPU
	OutputOnGPU     bool   `json:"output_on_gpu"` // the output layer lives on a GPU
	Devices         string `json:"devices"`       // devices holding the weights, e.g. "CUDA0" or "CPU"
}

// forcedGPULayers, when set, replaces ModelOptions.GPULayers in every
// LoadModel: this package's tests set it from AZR_TEST_GPU_LAYERS so that the
// same engine tests run with the weights on a GPU (scripts/gpu-check.sh).
var forcedGPULayers *int

// LoadModel loads a GGUF file (qwen2 or qwen3 architecture).
func LoadModel(path string, opts ModelOptions) (*Model, error) {
	if forcedGPULayers != nil {
		opts.GPULayers = *forcedGPULayers
	}
	if opts.Threads < 0 {
		return nil, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("load model: threads must be >= 0, got %d", opts.Threads)}
	}
	LoadBackends() // GPU modules must be registered before llama.cpp picks devices
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	p := C.azr_model_default_params()
	p.n_threads = C.int32_t(opts.Threads)
	p.n_gpu_layers = C.int32_t(opts.GPULayers)
	if opts.NoMmap {
		p.use_mmap = 0
	}
	if opts.AllowRepack {
		p.allow_repack = 1
	}
	eb := newErrBuf()
	defer eb.free()
	var ptr *C.azr_model
	if err := eb.wrap(C.azr_model_load(cpath, &p, &ptr, eb.p, errCap)); err != nil {
		return nil, err
	}
	m := &Model{ptr: ptr}
	var ci C.azr_model_info
	C.azr_model_get_info(ptr, &ci)
	m.info = ModelInfo{
		Arch: C.GoString(&ci.arch[0]), Description: C.GoString(&ci.desc[0]), FileType: C.GoString(&ci.file_type[0]),
		Layers: int(ci.n_layer), Embedding: int(ci.n_embd), Heads: int(ci.n_head), KVHeads: int(ci.n_head_kv),
		FeedForward: int(ci.n_ff), Vocab: int(ci.n_vocab), TrainContext: int(ci.n_ctx_train),
		Params: uint64(ci.n_params), SizeBytes: uint64(ci.size_bytes),
		BOS: int32(ci.tok_bos), EOS: int32(ci.tok_eos), EOT: int32(ci.tok_eot),
		AddBOS: ci.add_bos != 0, HasChatTemplate: ci.has_chat_template != 0,
		GPULayers: int(ci.n_layer_gpu), OutputOnGPU: ci.output_gpu != 0, Devices: C.GoString(&ci.devices[0]),
	}
	runtime.SetFinalizer(m, func(m *Model) { m.Close() })
	return m, nil
}

// Close frees the model. Safe to call more than once. It refuses while
// generators made from the model are still open.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holders > 0 {
		return &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("close model: %d generator(s) still open; close them first", m.holders)}
	}
	if m.ptr != nil {
		C.azr_model_free(m.ptr)
		m.ptr = nil
	}
	return nil
}

// Info returns the model's description (also valid after Close).
func (m *Model) Info() ModelInfo { return m.info }

// ChatTemplate returns the model's chat template, "" when it has none.
func (m *Model) ChatTemplate() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return ""
	}
	n := C.azr_model_chat_template(m.ptr, nil, 0)
	if n <= 0 {
		return ""
	}
	buf := (*C.char)(C.malloc(C.size_t(n)))
	defer C.free(unsafe.Pointer(buf))
	C.azr_model_chat_template(m.ptr, buf, C.size_t(n))
	return C.GoString(buf)
}

// Tokenize converts text to token ids. addSpecial adds BOS when the model
// wants it; parseSpecial recognises special tokens such as <|im_start|>.
func (m *Model) Tokenize(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return nil, ErrClosed
	}
	if len(text) == 0 && !addSpecial {
		return []int32{}, nil
	}
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	capacity := len(text) + 8
	for {
		buf := make([]int32, capacity)
		n := C.azr_tokenize(m.ptr, ctext, C.int32_t(len(text)), cbool(addSpecial), cbool(parseSpecial),
			(*C.int32_t)(unsafe.Pointer(&buf[0])), C.int32_t(capacity))
		switch {
		case n == C.INT32_MIN:
			return nil, &Error{Code: CodeInvalidArg, Msg: "tokenize: the text could not be tokenized"}
		case n < 0:
			capacity = int(-n)
		default:
			return buf[:n], nil
		}
	}
}

// Detokenize converts token ids to text. renderSpecial writes special tokens
// (such as <|im_end|>) as text instead of dropping them.
func (m *Model) Detokenize(tokens []int32, renderSpecial bool) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return "", ErrClosed
	}
	if len(tokens) == 0 {
		return "", nil
	}
	ct := cInt32s(tokens)
	defer C.free(unsafe.Pointer(ct))
	capacity := len(tokens)*8 + 16
	for {
		buf := (*C.char)(C.malloc(C.size_t(capacity)))
		n := C.azr_detokenize(m.ptr, ct, C.int32_t(len(tokens)), cbool(renderSpecial), buf, C.int32_t(capacity))
		if n >= 0 {
			s := C.GoStringN(buf, n)
			C.free(unsafe.Pointer(buf))
			return s, nil
		}
		C.free(unsafe.Pointer(buf))
		if n == C.INT32_MIN {
			return "", &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("detokenize: a token id is outside the vocabulary (0..%d)", m.info.Vocab-1)}
		}
		capacity = int(-n) + 1
	}
}

// IsEOG reports whether token ends a generation (EOS, EOT, <|im_end|>, ...).
func (m *Model) IsEOG(token int32) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.ptr != nil && C.azr_token_is_eog(m.ptr, C.int32_t(token)) != 0
}

// TokenByText returns the id of the token whose text is exactly s, or -1.
func (m *Model) TokenByText(s string) int32 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return -1
	}
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	return int32(C.azr_token_by_text(m.ptr, cs))
}

func cbool(b bool) C.int32_t {
	if b {
		return 1
	}
	return 0
}
