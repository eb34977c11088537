//go:build cuda

package bindings

/*
#cgo CFLAGS: -I${SRCDIR}/../native
#cgo LDFLAGS: -L${SRCDIR}/../build -L${SRCDIR}/../build/ggml -L${SRCDIR}/../build/ggml/ggml-cuda -L/usr/local/cuda/lib64 -L/usr/local/cuda/lib64/stubs -Wl,--start-group -lazrnative -lllama -lggml -lggml-cuda -lggml-cpu -lggml-base -Wl,--end-group -lcudart -lcublas -lcublasLt -lcuda -lstdc++ -lm -lpthread -ldl
*/
import "C"

// Backend names the compute backend this binary was linked with.
const Backend = "cuda"
