//go:build !cuda

package bindings

/*
#cgo CFLAGS: -I${SRCDIR}/../native
#cgo LDFLAGS: -L${SRCDIR}/../build -L${SRCDIR}/../build/ggml -Wl,--start-group -lazrnative -lllama -lggml -lggml-cpu -lggml-base -Wl,--end-group -lstdc++ -lm -lpthread -ldl
*/
import "C"

// Backend names the compute backend this binary was linked with.
const Backend = "cpu"
