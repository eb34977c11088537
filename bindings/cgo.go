package bindings

// The engine and ggml are linked statically; GPU backends are loadable modules
// (backend.go). --export-dynamic puts the executable's ggml symbols in its
// dynamic symbol table, where a module's undefined ggml symbols bind when it
// is loaded; libggml-base-whole.a is all of ggml-base in one object, so every
// symbol a module may need is linked in (docs/ENGINE.md, "Backends").

/*
#cgo CFLAGS: -I${SRCDIR}/../native
#cgo LDFLAGS: -L${SRCDIR}/../build -L${SRCDIR}/../build/ggml -Wl,--export-dynamic -Wl,--start-group -lazrnative -lllama -lggml -lggml-cpu -lggml-base-whole -Wl,--end-group -lstdc++ -lm -lpthread -ldl
*/
import "C"
