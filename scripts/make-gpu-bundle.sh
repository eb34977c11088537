#!/bin/bash
# Prepares, on a machine with Go, everything scripts/gpu-check.sh needs on a
# GPU machine that has a CUDA toolchain but no Go and no network:
#
#   gpu-bundle/
#     bin/azr-native, build/azr-engine-check   AVX2-class x86-64 builds (PORTABLE=1), gzipped
#     bindings/bindings.test                   the engine tests (go test -c), run from that dir, gzipped
#     build/backends/libggml-cpu.so            what those tests load as a module
#     src/<pin>/ml/backend/ggml/ggml/          ggml's source, for building libggml-cuda.so there
#     src/native/backends/, src/native/pin.cmake
#     MANIFEST.txt                             what was built from what, with checksums
#
#   scripts/make-gpu-bundle.sh [BUNDLE_DIR]     (make gpu-bundle; default gpu-bundle/)
#
# The binaries are built in a copy of this working tree (build-portable/,
# ignored by git) with PORTABLE=1, so they run on whatever x86-64 CPU the GPU
# machine has; ccache keeps rebuilds cheap. The bundle travels to the device
# machine as an ignored folder of the repository (carried), so it must stay
# small (the whole checkout travels within 64 MiB): Go binaries are stripped,
# and the executables gzipped (gpu-check.sh unpacks them).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bundle=$(realpath -m "${1:-$here/gpu-bundle}")
stage=$here/build-portable/src
GO=${GO:-go}
cd "$here"

echo "== copying the working tree to $stage"
mkdir -p "$stage"
# A fresh copy (files deleted here must not linger there); its build/ stays, for ccache-cheap rebuilds.
find "$stage" -mindepth 1 -maxdepth 1 ! -name build -exec rm -rf {} +
# Tracked and untracked-but-not-ignored files, as they are now (uncommitted edits included).
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$stage"

echo "== native build (PORTABLE=1) in $stage"
nice make -C "$stage" PORTABLE=1 native

version=$(git describe --always --dirty 2>/dev/null || echo dev)
ldflags="-s -w -X main.version=$version"
rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/build/backends" "$bundle/bindings" "$bundle/src/native"
echo "== Go binaries"
(cd "$stage" && nice $GO build -ldflags "$ldflags" -o "$bundle/bin/azr-native" ./cmd/azr-native)
(cd "$stage" && nice $GO test -c -ldflags "$ldflags" -o "$bundle/bindings/bindings.test" ./bindings)
cp "$stage/build/azr-engine-check" "$bundle/build/azr-engine-check"
cp "$stage/build/backends/libggml-cpu.so" "$bundle/build/backends/libggml-cpu.so"

echo "== ggml source"
llama=$($GO mod download -json github.com/ollama/ollama | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
pin=$(basename "$llama")
ggml_rel=ml/backend/ggml/ggml
mkdir -p "$bundle/src/$pin/$ggml_rel"
# Only what ggml's CMake reads for the CPU and CUDA backends: not the other
# GPU backends, not ollama's Go files.
(cd "$llama/$ggml_rel" && tar --exclude='*.go' --exclude='src/ggml-vulkan' --exclude='src/ggml-metal' \
	--exclude='src/ggml-hip' --exclude='src/ggml-blas' -cf - .) | tar -xf - -C "$bundle/src/$pin/$ggml_rel"
chmod -R u+w "$bundle/src"
cp -r native/backends "$bundle/src/native/backends"
cp native/pin.cmake "$bundle/src/native/pin.cmake"

{
	echo "azr-native $version, ggml pin $pin, built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m) ($(ldd --version | head -1))"
	echo "PORTABLE=1 (AVX2-class x86-64); run scripts/gpu-check.sh on the GPU machine"
	(cd "$bundle" && find . -type f ! -name MANIFEST.txt ! -path './src/*' -print0 | sort -z | xargs -0 sha256sum)
	echo "src: $(find "$bundle/src" -type f | wc -l) files"
} >"$bundle/MANIFEST.txt"
gzip -9 "$bundle/bin/azr-native" "$bundle/bindings/bindings.test" "$bundle/build/azr-engine-check"
du -sh "$bundle"
echo "bundle ready: $bundle (carry it to the device machine with the repository; see scripts/gpu-check.sh)"
