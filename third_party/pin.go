//go:build llamapin

// Package third_party pins the llama.cpp + ggml source tree. The file is never
// compiled (the build tag is never set); it exists so that go.mod requires the
// module and `go mod download` fetches it into the module cache, where
// CMakeLists.txt builds it out of tree.
package third_party

import _ "github.com/ollama/ollama/llama"
