package bindings

/*
#include <stdlib.h>
#include "azr.h"
*/
import "C"

import "unsafe"

// TinyModel describes a small Qwen-architecture model with deterministic
// random weights, written by WriteTinyModel.
type TinyModel struct {
	Arch        string  `json:"arch"` // "qwen2" or "qwen3"
	Layers      int     `json:"layers"`
	Embedding   int     `json:"embedding"`
	Heads       int     `json:"heads"`
	KVHeads     int     `json:"kv_heads"`
	FeedForward int     `json:"feed_forward"`
	Vocab       int     `json:"vocab"` // >= 259: 256 bytes, merges, 3 specials
	Context     int     `json:"context"`
	TiedOutput  bool    `json:"tied_output"`
	Quant       string  `json:"quant"` // f32, f16, q8_0, q4_0, q4_k
	Seed        uint64  `json:"seed"`
	InitScale   float32 `json:"init_scale"` // std-dev of the weights; 0 = 0.02
}

// Tiny sizes.
var (
	// TinyTest is small enough for unit tests: ~100 KB, loads in milliseconds.
	TinyTest = TinyModel{Arch: "qwen2", Layers: 2, Embedding: 64, Heads: 4, KVHeads: 2, FeedForward: 128, Vocab: 512, Context: 4096, Quant: "f32", Seed: 1}
	// TinyQwen05B has the shapes of Qwen2-0.5B (24 layers, 896 wide, 14/2
	// heads, 4864 FFN, 151936 tokens, tied output): for benchmarks.
	TinyQwen05B = TinyModel{Arch: "qwen2", Layers: 24, Embedding: 896, Heads: 14, KVHeads: 2, FeedForward: 4864, Vocab: 151936, Context: 32768, TiedOutput: true, Quant: "q4_0", Seed: 1}
	// TinyQwen25_7B has the shapes of Qwen2.5-7B (28 layers, 3584 wide, 28/4
	// heads, 18944 FFN, 152064 tokens, untied output): for GPU benchmarks
	// (about 4.4 GB as q4_k; written in memory, so it needs that much RAM).
	TinyQwen25_7B = TinyModel{Arch: "qwen2", Layers: 28, Embedding: 3584, Heads: 28, KVHeads: 4, FeedForward: 18944, Vocab: 152064, Context: 32768, Quant: "q4_k", Seed: 1}
)

// WriteTinyModel writes t as a GGUF file at path.
func WriteTinyModel(path string, t TinyModel) error {
	p := C.azr_tiny_default_params()
	arch := C.CString(t.Arch)
	defer C.free(unsafe.Pointer(arch))
	quant := C.CString(t.Quant)
	defer C.free(unsafe.Pointer(quant))
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	p.arch = arch
	p.quant = quant
	p.n_layer = C.int32_t(t.Layers)
	p.n_embd = C.int32_t(t.Embedding)
	p.n_head = C.int32_t(t.Heads)
	p.n_head_kv = C.int32_t(t.KVHeads)
	p.n_ff = C.int32_t(t.FeedForward)
	p.n_vocab = C.int32_t(t.Vocab)
	p.n_ctx_train = C.int32_t(t.Context)
	p.tied_output = cbool(t.TiedOutput)
	p.seed = C.uint64_t(t.Seed)
	p.init_scale = C.float(t.InitScale)
	eb := newErrBuf()
	defer eb.free()
	return eb.wrap(C.azr_tiny_model_write(&p, cpath, eb.p, errCap))
}
