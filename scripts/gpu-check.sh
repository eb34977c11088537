#!/bin/bash
# The GPU checks of issue 9, in one script for a GPU machine that has a CUDA
# toolchain (nvcc, cmake, ninja, g++) but no Go and no network. Prepare the
# bundle first, on a machine with Go: `make gpu-bundle` (scripts/make-gpu-bundle.sh).
#
#   scripts/gpu-check.sh [--bundle DIR] [--work DIR] [--out DIR] [--deadline-s N] [--phases a,b,...] [--force] [--cpu-dry-run]
#
# Phases, in order, each with its own time budget (seconds, cut to what is
# left of --deadline-s, default 560, so that one call of a 10-minute limit
# ends with its outputs written):
#   env      60   GPU, driver, toolchain; fails fast when the build cannot work
#   build   420   libggml-cuda.so for sm_90 only (CUDA_ARCHS), -j$(nproc), ccache if present;
#                 meanwhile the models are written in the background:
#                 random-weight Qwen2.5-0.5B and -7B shapes, q4_k (Q4_K_M-like)
#   devices  60   azr-native devices --check: the CUDA device and a matrix-product self-check
#   check   150   azr-engine-check --train on CUDA (gradients vs CPU, training-graph
#                 logits vs llama_decode, loss falls, generation vs CPU)
#   gen     200   decode tok/s at batch 1 and aggregate at batch 64, prompt tok/s,
#                 on both shapes, with the bandwidth bound (model bytes / memory bandwidth)
#   train   200   LoRA train tok/s at 8 x 1024 tokens, rank 16, all projections, and the
#                 step/forward ratio, on both shapes; peak VRAM of the 7B step (nvidia-smi)
#   step    240   one full self-play step on the 7B shape (bench step: 4 prompts per task type
#                 and role, 2 rollouts, 256-token responses) with its time split
#   tests   240   the Go engine tests (bindings.test) with every model on the GPU
#
# A phase that finished is not run again (markers in the work dir, default
# build/gpu-check-work, outside the bundle so that carrying the bundle again
# does not wipe it; --force runs them anyway), so when the deadline cuts a
# call short, running the same command again on the same (warm) machine
# continues where it stopped. Everything goes under --out
# (default $OUT, else BUNDLE/out): results.jsonl (one JSON object per line:
# every check and figure, tagged with its phase), summary.txt (the table
# printed last), build.log, check.log, bench.log, tests.log.
#
# --cpu-dry-run runs the same phases on a machine without a GPU, small: the
# "GPU module" is ggml's CPU backend built from the bundle's source the same
# way, models are cut to a layer or two, everything runs on the CPU. It checks
# the script, the bundle and the build recipe, not the GPU.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bundle=$here/gpu-bundle
work=$here/build/gpu-check-work
out=${OUT:-}
deadline_s=560
phases_arg=env,build,devices,check,gen,train,step,tests
force=0
dry=0
while [ $# -gt 0 ]; do
	case "$1" in
	--bundle) bundle=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--deadline-s) deadline_s=$2; shift 2 ;;
	--phases) phases_arg=$2; shift 2 ;;
	--force) force=1; shift ;;
	--cpu-dry-run) dry=1; shift ;;
	-h | --help) sed -n '2,40p' "$0"; exit 0 ;;
	*) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
done
bundle=$(realpath -m "$bundle")
# The bundle's executables travel gzipped.
for gz in "$bundle/bin/azr-native.gz" "$bundle/bindings/bindings.test.gz" "$bundle/build/azr-engine-check.gz"; do
	[ -f "$gz" ] && { [ -x "${gz%.gz}" ] && [ "${gz%.gz}" -nt "$gz" ] || gunzip -kf "$gz"; }
done
[ -n "$out" ] || out=$bundle/out
mkdir -p "$out"
out=$(realpath "$out")
if [ ! -x "$bundle/bin/azr-native" ]; then
	echo "no bundle at $bundle: run make gpu-bundle on a machine with Go, and carry gpu-bundle/ along" >&2
	exit 2
fi

start=$(date +%s)
mkdir -p "$work"
work=$(realpath "$work")
# A new bundle starts over (the models, deterministic, are kept).
stamp=$(sha256sum "$bundle/MANIFEST.txt" | cut -c1-16)
if [ "$(cat "$work/bundle-stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$work/done" "$work/backend" "$work/cuda-build"
	echo "$stamp" >"$work/bundle-stamp"
fi
mkdir -p "$work/done" "$work/models" "$work/backend"
results=$out/results.jsonl
summary=$out/summary.txt
# This call's results only (earlier calls' are in their own $OUT, and in the
# work dir's results-*.jsonl copies).
: >"$results"
: >"$summary"
bin=$bundle/bin/azr-native
check_bin=$bundle/build/azr-engine-check
backend_dir=$work/backend
export AZR_BACKEND_DIR=$backend_dir
threads=$(nproc)
export AZR_THREADS=$threads
# GPU memory bandwidth for the decode bound: the H200's datasheet figure, and
# the device-to-device copy measured on such a machine (KINDS: ~4.3 TB/s).
bw_datasheet=${GPU_BW_DATASHEET:-4.8e12}
bw_measured=${GPU_BW_MEASURED:-4.3e12}
cuda_archs=${CUDA_ARCHS:-90}

if [ $dry = 1 ]; then
	m05=$work/models/dry-0.5b-q4k.gguf
	m7=$work/models/dry-7b-1layer-q4k.gguf
	seq_tokens=32
	train_steps=1
	step_model=$m05
	step_args=(--batch-size 1 --n-samples 2 --max-response-length 8 --ctx 4096 --slots 4)
	gen_new=8
	gen_prompt=128
else
	m05=$work/models/qwen2.5-0.5b-shaped-q4k.gguf
	m7=$work/models/qwen2.5-7b-shaped-q4k.gguf
	seq_tokens=1024
	train_steps=2
	step_model=$m7
	# Small enough to finish within the phase's budget on a 7B shape, whatever
	# the trainer's speed there turns out to be.
	step_args=(--batch-size 4 --n-samples 2 --max-response-length 256)
	gen_new=128
	gen_prompt=4096
fi

# ---------------------------------------------------------------- helpers
now() { date +%s; }
left() { echo $((deadline_s - ($(now) - start))); }

js() { python3 "$here/scripts/gpu-check-json.py" "$@"; }
# emit PHASE JSON_OBJECT: one line of results.jsonl, tagged with the phase.
emit() { js tag "$1" "$2" >>"$results" || echo "{\"phase\": \"$1\", \"unparsed\": true}" >>"$results"; }
# note PHASE KEY=VALUE...: a flat JSON line from shell values (strings).
note() { js kv "$@" >>"$results"; }
line() { printf '%-8s %-7s %6ss  %s\n' "$1" "$2" "$3" "$4" | tee -a "$summary"; }

# run_phase NAME BUDGET: runs phase_NAME under the time left; records ok/failed/skipped.
run_phase() {
	local name=$1 budget=$2 t0 rc remaining
	if [[ ",$phases_arg," != *",$name,"* ]]; then return 0; fi
	if [ $force = 0 ] && [ -f "$work/done/$name" ]; then
		line "$name" done - "finished in an earlier call ($(cat "$work/done/$name"))"
		return 0
	fi
	remaining=$(($(left) - 5))
	if [ "$remaining" -lt 20 ]; then
		note "$name" skipped="out of time: run the same command again to continue"
		line "$name" skipped - "out of time: run the same command again"
		return 0
	fi
	[ "$budget" -gt "$remaining" ] && budget=$remaining
	phase_budget=$budget
	phase_msg=""
	t0=$(now)
	echo "== $name (budget ${budget}s, $(left)s left)" >&2
	"phase_$name"
	rc=$?
	local took=$(($(now) - t0))
	if [ $rc = 0 ]; then
		echo "ok in ${took}s: $phase_msg" >"$work/done/$name"
		note "$name" ok=true seconds="$took" msg="$phase_msg"
		line "$name" ok "$took" "$phase_msg"
	else
		note "$name" ok=false seconds="$took" rc="$rc" msg="$phase_msg"
		line "$name" FAILED "$took" "$phase_msg"
	fi
	return 0
}

# within SECONDS CMD...: the command, killed when its budget is spent.
within() { local s=$1; shift; timeout --kill-after=10 "$s" "$@"; }

# json_of CMD...: runs an azr-native command that prints one JSON document and
# prints it on one line; its log goes to bench.log.
json_of() {
	local tmp rc
	tmp=$(mktemp)
	"$@" >"$tmp" 2>>"$out/bench.log"
	rc=$?
	if [ $rc = 0 ]; then js oneline "$tmp"; fi
	rm -f "$tmp"
	return $rc
}

vram_used_mib() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1; }

# ---------------------------------------------------------------- phases
phase_env() {
	{
		echo "== env $(date -u)"
		uname -a; nproc; free -g 2>/dev/null
		nvidia-smi 2>&1 | head -20
		command -v nvcc && nvcc --version
		cmake --version | head -1; ninja --version; g++ --version | head -1; python3 --version
		command -v ccache
	} >>"$out/build.log" 2>&1
	local gpu driver nvcc_v
	gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)
	driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
	nvcc_v=$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p')
	note env gpu="$gpu" driver="$driver" nvcc="$nvcc_v" cmake="$(cmake --version 2>/dev/null | head -1)" \
		gxx="$(g++ -dumpfullversion 2>/dev/null)" ccache="$(command -v ccache || echo none)" threads="$threads" \
		cpu="$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)" bundle="$(head -1 "$bundle/MANIFEST.txt")" dry_run="$dry"
	local missing=""
	for t in cmake ninja g++ python3; do command -v $t >/dev/null || missing="$missing $t"; done
	[ $dry = 1 ] || command -v nvcc >/dev/null || missing="$missing nvcc"
	[ $dry = 1 ] || [ -n "$gpu" ] || missing="$missing nvidia-smi/GPU"
	"$bin" --version >/dev/null 2>&1 || missing="$missing runnable-azr-native"
	if [ -n "$missing" ]; then phase_msg="missing:$missing"; return 1; fi
	phase_msg="${gpu:-no GPU (dry run)}, driver ${driver:-none}, nvcc ${nvcc_v:-none}, $threads threads"
}

write_models() {
	# Random weights, deterministic (seed 1). 0.5B: rows of 896 do not divide
	# the K-quant block, so those matrices fall back to Q8_0 (as real Q4_K_M
	# files fall back); the 7B shape is Q4_K throughout.
	local small=()
	[ $dry = 1 ] && small=(--vocab 4096)
	if [ ! -f "$m05" ]; then
		"$bin" model tiny --size 0.5b --quant q4_k "${small[@]}" $([ $dry = 1 ] && echo --layers 2) --out "$m05.tmp" && mv -f "$m05.tmp" "$m05"
	fi
	if [ ! -f "$m7" ]; then
		"$bin" model tiny --size 7b --quant q4_k "${small[@]}" $([ $dry = 1 ] && echo --layers 1) --out "$m7.tmp" && mv -f "$m7.tmp" "$m7"
	fi
}

phase_build() {
	# The models need only the CPU: written while the module compiles.
	(write_models >>"$out/build.log" 2>&1) &
	local models_pid=$!
	local src=$bundle/src
	local pin
	pin=$(ls "$src" | grep -v '^native$' | head -1)
	local bdir=$work/cuda-build
	local launcher=()
	if command -v ccache >/dev/null; then
		launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
	fi
	local modules module
	if [ $dry = 1 ]; then
		modules=(-DAZR_MODULE_CPU=ON -DAZR_MODULE_CUDA=OFF)
		module=libggml-cpu.so
	else
		local nvcc
		nvcc=$(command -v nvcc)
		modules=(-DAZR_MODULE_CPU=OFF -DAZR_MODULE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$cuda_archs" -DCMAKE_CUDA_COMPILER="$nvcc")
		module=libggml-cuda.so
	fi
	local t0
	t0=$(now)
	{
		echo "== configure $(date -u)"
		within 120 cmake -S "$src/native/backends" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
			-DLLAMA_SRC_ROOT="$src/$pin" "${modules[@]}" "${launcher[@]}" &&
			echo "== build $(date -u)" &&
			within $((phase_budget - ($(now) - t0) - 10)) ninja -C "$bdir" -j "$threads" azr_backend_modules
	} >>"$out/build.log" 2>&1
	local rc=$?
	local build_s=$(($(now) - t0))
	if [ $rc = 0 ] && [ -f "$bdir/$module" ]; then
		cp "$bdir/$module" "$backend_dir/libggml-cuda.so"
		note build module="$module" seconds="$build_s" archs="$cuda_archs" bytes="$(stat -c %s "$bdir/$module")"
	fi
	# The models must exist before the next phases; wait for them within the budget.
	local waited=0
	while kill -0 $models_pid 2>/dev/null && [ $(($(now) - t0)) -lt "$phase_budget" ]; do sleep 2; waited=1; done
	if kill -0 $models_pid 2>/dev/null; then
		kill $models_pid 2>/dev/null
		phase_msg="models not written within the budget"
		return 1
	fi
	if [ $rc != 0 ] || [ ! -f "$backend_dir/libggml-cuda.so" ]; then
		phase_msg="module build failed after ${build_s}s (rc $rc): see build.log"
		tail -30 "$out/build.log" >&2
		return 1
	fi
	if [ ! -f "$m05" ] || [ ! -f "$m7" ]; then phase_msg="a model was not written: see build.log"; return 1; fi
	phase_msg="$module in ${build_s}s$([ $dry = 0 ] && echo " (sm ${cuda_archs})"); models $(du -h "$m05" | cut -f1) and $(du -h "$m7" | cut -f1)"
}

phase_devices() {
	local j
	j=$(json_of within "$phase_budget" "$bin" devices --check --json) || { phase_msg="devices --check failed: see bench.log"; [ -n "$j" ] && emit devices "$j"; return 1; }
	emit devices "$j"
	phase_msg=$(js summary devices "$j")
	if [ $dry = 0 ] && ! js has-gpu "$j"; then
		phase_msg="no GPU device: $phase_msg"
		return 1
	fi
}

phase_check() {
	local ec=$work/engine-check
	mkdir -p "$ec"
	within "$phase_budget" "$check_bin" --train --threads "$threads" --dir "$ec" --backend-dir "$backend_dir" >"$ec/check.jsonl" 2>>"$out/check.log"
	local rc=$?
	cat "$ec/check.jsonl" >>"$out/check.log"
	while IFS= read -r l; do emit check "$l"; done <"$ec/check.jsonl"
	phase_msg=$(js summary check "$ec/check.jsonl")
	return $rc
}

# gen_case LABEL MODEL ARGS...: one bench gen run, emitted with the decode bound.
gen_case() {
	local label=$1 model=$2; shift 2
	local j
	j=$(json_of within "$phase_budget" "$bin" bench gen --model "$model" --gpu-layers -1 --json "$@") || { note gen case="$label" ok=false; return 1; }
	local size
	size=$(stat -c %s "$model")
	emit gen "$(js gen "$label" "$size" "$bw_datasheet" "$bw_measured" "$j")"
}

phase_gen() {
	local rc=0 name model
	for name in 0.5b 7b; do
		model=$m05; [ $name = 7b ] && model=$m7
		gen_case "$name batch 1" "$model" --batch 1 --new-tokens "$gen_new" --samples 1 --prompt-tokens 64 || rc=1
		gen_case "$name batch 64" "$model" --batch 64 --new-tokens "$gen_new" --samples 8 --prompt-tokens 512 || rc=1
		# Prompt throughput: one long prompt and a single new token; the time
		# includes that token, so prompt tok/s is a lower bound.
		gen_case "$name prompt" "$model" --batch 1 --new-tokens 1 --samples 1 --prompt-tokens "$gen_prompt" || rc=1
	done
	phase_msg=$(js summary gen "$results")
	return $rc
}

phase_train() {
	local rc=0 name model j
	for name in 0.5b 7b; do
		model=$m05; [ $name = 7b ] && model=$m7
		local base peak sampler=""
		base=$(vram_used_mib)
		if [ -n "$base" ]; then
			(while :; do vram_used_mib; sleep 0.1; done >"$work/vram-$name.log") &
			sampler=$!
		fi
		local gpu_flag=(--gpu-layers -1)
		[ $dry = 1 ] && gpu_flag=()
		j=$(json_of within "$phase_budget" "$bin" bench train --model "$model" --seqs 8 --tokens "$seq_tokens" --rank 16 --steps "$train_steps" "${gpu_flag[@]}" --json)
		local r=$?
		[ -n "$sampler" ] && kill $sampler 2>/dev/null && wait $sampler 2>/dev/null
		peak=""
		[ -n "$base" ] && peak=$(sort -n "$work/vram-$name.log" | tail -1)
		if [ $r != 0 ]; then
			rc=1
			note train model="$name" ok=false blocked="bench train failed: $(grep -h -i 'error\|fatal' "$out/bench.log" | tail -1 | cut -c1-300)"
			continue
		fi
		emit train "$(js train "$name" "$peak" "$base" "$j")"
	done
	phase_msg=$(js summary train "$results")
	return $rc
}

phase_step() {
	local j gpu_flag=(--gpu-layers -1)
	[ $dry = 1 ] && gpu_flag=()
	j=$(json_of within "$phase_budget" "$bin" bench step --model "$step_model" "${step_args[@]}" "${gpu_flag[@]}" \
		--sandbox-isolation best-effort --json)
	local rc=$?
	if [ $rc != 0 ]; then
		phase_msg="bench step failed: $(grep -h -i 'error\|fatal' "$out/bench.log" | tail -1 | cut -c1-300) (see bench.log)"
		note step ok=false args="${step_args[*]}"
		return 1
	fi
	emit step "$j"
	phase_msg="$(basename "$step_model"), ${step_args[*]}: $(js summary step "$j")"
}

phase_tests() {
	local pkg=$bundle/bindings
	local test_env=(AZR_BACKEND_DIR="$backend_dir")
	local args=(-test.v -test.timeout "$((phase_budget - 10))s")
	if [ $dry = 1 ]; then
		args+=(-test.run 'Backend|RealModule|EngineCheck|TinyModel')
	else
		test_env+=(AZR_TEST_GPU_LAYERS=-1)
	fi
	(cd "$pkg" && env "${test_env[@]}" timeout --kill-after=10 "$phase_budget" ./bindings.test "${args[@]}") >"$out/tests.log" 2>&1
	local rc=$?
	local pass fail
	pass=$(grep -c '^--- PASS' "$out/tests.log")
	fail=$(grep -c '^--- FAIL' "$out/tests.log")
	note tests rc="$rc" passed="$pass" failed="$fail" failed_tests="$(grep '^--- FAIL' "$out/tests.log" | awk '{print $3}' | tr '\n' ' ')"
	phase_msg="$pass passed, $fail failed$( [ "$fail" -gt 0 ] && echo ": $(grep '^--- FAIL' "$out/tests.log" | awk '{print $3}' | head -8 | tr '\n' ' ')")"
	return $rc
}

# ---------------------------------------------------------------- main
# CUDA libraries for the module, wherever this image keeps them.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
	[ -d "$d" ] && LD_LIBRARY_PATH=$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
done
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
command -v nvcc >/dev/null || { [ -x /usr/local/cuda/bin/nvcc ] && export PATH=/usr/local/cuda/bin:$PATH; }

echo "gpu-check: bundle $bundle, out $out, deadline ${deadline_s}s, phases $phases_arg$( [ $dry = 1 ] && echo ', CPU DRY RUN')" | tee -a "$summary"
run_phase env 60
if [ ! -f "$work/done/env" ]; then
	echo "the machine lacks what the checks need (see results.jsonl); stopping" | tee -a "$summary"
	exit 1
fi
run_phase build 420
if [ -f "$work/done/build" ]; then
	run_phase devices 60
	run_phase check 150
	run_phase gen 200
	run_phase train 200
	run_phase step 240
	run_phase tests 240
else
	echo "no module and models: the other phases need them; run again to retry the build" | tee -a "$summary"
fi
cp "$results" "$work/results-$(date +%s).jsonl" 2>/dev/null
echo "== summary ($(($(now) - start))s; outputs in $out)"
cat "$summary"
