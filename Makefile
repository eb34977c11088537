# azr-native — the front door.
#   make            native libraries (build/) + bin/azr-native
#   make test       build, then run every test
#   make bench      the Go benchmarks of the hot paths
#   CUDA=1 make     also build ggml's CUDA backend as bin/libggml-cuda.so (needs nvcc;
#                   CUDA_ARCHS=90 picks the GPU architectures, default: this machine's GPU)
#   PORTABLE=1 make AVX2-class x86-64 code instead of -march=native
#   make gpu-bundle the GPU check bundle for a machine without Go (scripts/gpu-check.sh)
#   make nano       the built-in nano base, from scratch (docs/NANO-BASE.md)
#   make experiment the learning experiment, from scratch (docs/EXPERIMENT.md)
SHELL := /bin/bash
GO ?= go
BUILD := build
BIN := bin/azr-native
PKG := github.com/azr-native/azr-native
LLAMA_MODULE := github.com/ollama/ollama

CMAKE_FLAGS := -G Ninja -DCMAKE_BUILD_TYPE=Release
ifeq ($(PORTABLE),1)
CMAKE_FLAGS += -DAZR_PORTABLE=ON
else
CMAKE_FLAGS += -DAZR_PORTABLE=OFF
endif
# ccache, when installed, makes rebuilds in fresh build dirs (other checkouts, CI reruns) cheap.
ifneq ($(shell command -v ccache 2>/dev/null),)
CMAKE_FLAGS += -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
LAUNCHER_FLAGS := -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache
endif
# Loadable backend modules (native/backends): ggml's CPU backend as a module
# (what the loader's tests load) and, with CUDA=1, the CUDA backend.
CUDA_ARCHS ?= native
BACKENDS_FLAGS := -G Ninja -DCMAKE_BUILD_TYPE=Release $(LAUNCHER_FLAGS) -DAZR_MODULE_CPU=ON
ifeq ($(CUDA),1)
BACKENDS_FLAGS += -DAZR_MODULE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=$(CUDA_ARCHS)
else
BACKENDS_FLAGS += -DAZR_MODULE_CUDA=OFF
endif
# With CUDA=1, tests load the CUDA module from bin/ (test binaries run from a temporary dir).
TEST_ENV := $(if $(filter 1,$(CUDA)),AZR_BACKEND_DIR=$(CURDIR)/bin,)

# Hash of the native archives: passed to the linker so Go relinks (and
# re-runs cached tests) whenever a native library changes.
NATIVE_ID = $(shell cat $(BUILD)/*.a $(BUILD)/ggml/*.a 2>/dev/null | sha256sum | cut -c1-16)
VERSION = $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS = -X $(PKG)/bindings.nativeBuildID=$(NATIVE_ID) -X main.version=$(VERSION)

.PHONY: all native test test-go bench prereqs clean nano experiment gpu-bundle gpu-check-dry-run
all: $(BIN)

prereqs:
	@missing=""; \
	for t in cmake ninja:ninja-build g++:g++ python3:python3; do \
	  cmd=$${t%%:*}; pkg=$${t##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing build tools. Install them with:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

# Configure when the build dir is new or the CUDA choice changed, then let
# Ninja decide what to rebuild. The llama.cpp source comes from the Go module cache.
native: prereqs
	@dir=$$($(GO) mod download -json $(LLAMA_MODULE) | sed -n 's/.*"Dir": "\(.*\)",*/\1/p'); \
	if [ -z "$$dir" ]; then echo "cannot locate $(LLAMA_MODULE) (go mod download failed)"; exit 1; fi; \
	want="$(CMAKE_FLAGS) -DLLAMA_SRC_ROOT=$$dir"; \
	if [ ! -f $(BUILD)/build.ninja ] || [ "$$(cat $(BUILD)/.configured 2>/dev/null)" != "$$want" ]; then \
	  cmake -S . -B $(BUILD) $$want >/dev/null && echo "$$want" > $(BUILD)/.configured; \
	fi
	@flock /tmp/azr-build.lock ninja -C $(BUILD) azr_all | grep -v '^ninja: no work to do' || true
	@test -f $(BUILD)/libazrnative.a
	@dir=$$($(GO) mod download -json $(LLAMA_MODULE) | sed -n 's/.*"Dir": "\(.*\)",*/\1/p'); \
	want="$(BACKENDS_FLAGS) -DLLAMA_SRC_ROOT=$$dir"; \
	if [ ! -f $(BUILD)/backends/build.ninja ] || [ "$$(cat $(BUILD)/backends/.configured 2>/dev/null)" != "$$want" ]; then \
	  cmake -S native/backends -B $(BUILD)/backends $$want >/dev/null && echo "$$want" > $(BUILD)/backends/.configured; \
	fi
	@flock /tmp/azr-build.lock ninja -C $(BUILD)/backends azr_backend_modules | grep -v '^ninja: no work to do' || true
	@test -f $(BUILD)/backends/libggml-cpu.so
ifeq ($(CUDA),1)
	@mkdir -p bin && cp $(BUILD)/backends/libggml-cuda.so bin/libggml-cuda.so
endif

$(BIN): native FORCE
	@mkdir -p bin
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/azr-native

FORCE:

test: $(BIN)
	$(GO) vet ./...
	@# The engine's conformance checks through the C ABI alone (also run on CUDA machines).
	@d=$$(mktemp -d) && $(BUILD)/azr-engine-check --train --dir $$d --backend-dir $(CURDIR)/bin > $$d/check.jsonl; rc=$$?; cat $$d/check.jsonl; rm -rf $$d; exit $$rc
	$(TEST_ENV) $(GO) test -ldflags "$(LDFLAGS)" -timeout 30m ./...

bench: native
	$(GO) test -ldflags "$(LDFLAGS)" -run '^$$' -bench . -benchtime 3x ./...

# The built-in nano coder base (internal/nano/base/, compiled into the binary):
# corpus, then pretraining from scratch, then the shipped Q8_0 copy. Same
# commit, seeds and budget give the same file, whatever the thread count (docs/NANO-BASE.md).
NANO_DIR ?= $(BUILD)/nano
NANO_SEED ?= 1
NANO_PROGRAMS ?= 4000
NANO_TOKENS ?= 6804480
NANO_THREADS ?= 2
nano: $(BIN)
	test -f $(NANO_DIR)/data/stats.json || $(BIN) --threads 2 nano data --out $(NANO_DIR)/data --seed $(NANO_SEED) \
	    --programs $(NANO_PROGRAMS) --max-depth 1 --max-statements 2
	$(BIN) --threads $(NANO_THREADS) --seed $(NANO_SEED) nano pretrain --data $(NANO_DIR)/data --out $(NANO_DIR)/run \
	    --size micro --vocab 2048 --seq-len 768 --tokens $(NANO_TOKENS)
	cp $(NANO_DIR)/run/nano-q8_0.gguf internal/nano/base/nano-coder-q8_0.gguf
	$(MAKE) $(BIN)

# The learning experiment (docs/EXPERIMENT.md) on the built-in base: the base
# (made by 'make nano' first when its run is missing) is evaluated on its
# held-out test split, then the self-play arms and the pretraining control run
# and are evaluated; the results, table and plots are copied into
# docs/experiment/. Finished parts are reused when it is run again.
EXP_DIR ?= $(BUILD)/experiment
EXP_STEPS ?= 20
EXP_CONTROL_TOKENS ?= 1363968
EXP_ARGS ?= --batch-size 16 --n-samples 2 --lr 5e-4 --temperature 0.7
experiment: $(BIN)
	test -f $(NANO_DIR)/run/summary.json || $(MAKE) nano
	$(BIN) --threads 1 --seed 1 nano experiment --base-run $(NANO_DIR)/run --evals $(NANO_DIR)/data/eval/test \
	    --out $(EXP_DIR) --steps $(EXP_STEPS) --eval-every 10 --jobs 4 --control-tokens $(EXP_CONTROL_TOKENS) -- $(EXP_ARGS)
	mkdir -p docs/experiment
	cp $(EXP_DIR)/EXPERIMENT.md $(EXP_DIR)/results.json $(EXP_DIR)/experiment-*.png docs/experiment/

# The GPU check: a bundle of portable binaries, test binaries and ggml's source
# for a GPU machine without Go (scripts/make-gpu-bundle.sh), and its dry run
# on this machine's CPU (scripts/gpu-check.sh --cpu-dry-run).
gpu-bundle:
	scripts/make-gpu-bundle.sh gpu-bundle

gpu-check-dry-run: gpu-bundle
	scripts/gpu-check.sh --cpu-dry-run --out build/gpu-check-dry-run

clean:
	rm -rf $(BUILD) bin build-portable gpu-bundle
