// engine_check: the native engine's conformance checks and generation
// benchmark, driven through the C ABI (plus ggml's device list, to know
// whether there is a GPU). It exists for machines that have a GPU toolchain
// but no Go (the CUDA build is checked there); the Go tests in bindings/ are
// the full suite. Prints one JSON object per line; exits 1 when a check fails.
//
//   azr-engine-check [--gpu-layers N] [--train] [--bench] [--threads N] [--dir DIR] [--backend-dir DIR]
//
// GPU backends are loadable modules (libggml-cuda.so): they are looked for in
// --backend-dir, by default the directory of this executable.
//
// Two kinds of checks:
//  - comparisons: the backend under test (the GPU, with --gpu-layers layers
//    offloaded; default all) against the CPU on the same model and inputs.
//    Without a GPU (or with --gpu-layers 0) there is nothing to compare: each
//    is reported as {"check": ..., "skipped": true, "why": ...}, never as ok.
//  - properties of the backend under test (GPU, else CPU): batch
//    independence, determinism, prefix sharing, training-graph logits equal
//    llama_decode's, the loss falls.
// The first line says which device is under test.
#include "azr.h"
#include "azr_train_oracles.h"
#include "ggml-backend.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int failures = 0;

// The device under test: set once in main.
bool on_gpu = false;
std::string skip_reason;

std::string json_escape(const std::string &in) {
    std::string out;
    for (char c : in) {
        if (c == '"' || c == '\\') out += '\\';
        if ((unsigned char)c < 0x20) continue;
        out += c;
    }
    return out;
}

// Names of the GPU devices this binary's ggml registered; empty when none
// (a CPU-only build, or no device present).
std::string gpu_devices() {
    std::string names;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t d = ggml_backend_dev_get(i);
        const auto t = ggml_backend_dev_type(d);
        if (t != GGML_BACKEND_DEVICE_TYPE_GPU && t != GGML_BACKEND_DEVICE_TYPE_IGPU) continue;
        if (!names.empty()) names += ", ";
        names += std::string(ggml_backend_dev_name(d)) + " (" + ggml_backend_dev_description(d) + ")";
    }
    return names;
}

// Progress markers on stderr (unbuffered), so a crash shows its stage.
void stage(const char *what, int n) { fprintf(stderr, "stage: %s (%d)\n", what, n); }

void check(bool ok, const char *name, const std::string &detail = "") {
    printf("{\"check\": \"%s\", \"ok\": %s%s%s}\n", name, ok ? "true" : "false", detail.empty() ? "" : ", ", detail.c_str());
    fflush(stdout);
    if (!ok) failures++;
}

// A comparison of the backend under test with the CPU: run only when the
// backend under test is a GPU; otherwise reported as skipped.
template <class F> void compare(const char *name, F &&run_check) {
    if (on_gpu) {
        run_check();
        return;
    }
    printf("{\"check\": \"%s\", \"skipped\": true, \"why\": \"%s\"}\n", name, json_escape(skip_reason).c_str());
    fflush(stdout);
}

void die(const char *what, const char *err) {
    printf("{\"fatal\": \"%s\", \"error\": \"%s\"}\n", what, err);
    exit(2);
}

struct Gen {
    azr_model *m = nullptr;
    azr_generator *g = nullptr;
    ~Gen() {
        azr_generator_free(g);
        azr_model_free(m);
    }
};

void open(Gen &x, const std::string &path, int gpu_layers, int threads, int n_ctx, int slots, int split = 0) {
    char err[512];
    azr_model_params mp = azr_model_default_params();
    mp.n_gpu_layers = gpu_layers;
    mp.n_threads = threads;
    if (azr_model_load(path.c_str(), &mp, &x.m, err, sizeof err) != AZR_OK) die("load", err);
    azr_generator_params gp = azr_generator_default_params();
    gp.n_ctx = n_ctx;
    gp.n_slots = slots;
    gp.split_kv = split;
    if (azr_generator_new(x.m, &gp, &x.g, err, sizeof err) != AZR_OK) die("generator", err);
}

// Tokens of every sample; their reported log-probs go to *logprobs when given.
std::vector<std::vector<int32_t>> run(Gen &x, const std::vector<std::vector<int32_t>> &prompts, int samples, azr_sampling sp,
                                      azr_generation_stats *stats = nullptr, std::vector<std::vector<float>> *logprobs = nullptr) {
    std::vector<azr_prompt> ps;
    for (auto &p : prompts) ps.push_back({p.data(), (int32_t)p.size(), samples, 0});
    azr_generation *res = nullptr;
    char err[512];
    if (azr_generate(x.g, ps.data(), (int32_t)ps.size(), &sp, &res, err, sizeof err) != AZR_OK) die("generate", err);
    std::vector<std::vector<int32_t>> out;
    for (int i = 0; i < azr_generation_count(res); i++) {
        azr_sample s;
        azr_generation_sample(res, i, &s);
        out.emplace_back(s.tokens, s.tokens + s.n_tokens);
        if (logprobs) logprobs->emplace_back(s.logprobs, s.logprobs + s.n_tokens);
    }
    if (stats) azr_generation_get_stats(res, stats);
    azr_generation_free(res);
    return out;
}

std::vector<int32_t> synthetic(int n, int vocab, int seed) {
    std::vector<int32_t> t(n);
    uint32_t x = (uint32_t)seed * 7919u + 17u;
    for (auto &v : t) {
        x = x * 1664525u + 1013904223u;
        v = (int32_t)((x >> 8) % (uint32_t)(vocab - 3));
    }
    return t;
}

// How two sets of sampled continuations (same prompts, seeds and settings)
// agree: sample i of one against sample i of the other, over their common
// prefix (up to the first differing token).
struct Agreement {
    int pairs = 0, identical = 0, long_prefix = 0; // long: a common prefix of >= 4 tokens
    double max_logprob_diff = 0;                   // over the common prefixes
    std::string json() const {
        char buf[160];
        snprintf(buf, sizeof buf, "\"identical\": %d, \"of\": %d, \"common_prefix_ge_4\": %d, \"max_logprob_diff\": %.6f", identical, pairs,
                 long_prefix, max_logprob_diff);
        return buf;
    }
    // Exact: every continuation identical (bitwise-equal logits, as on one
    // CPU build). Close: kernels that change with the batch shape or the
    // device move logits by ~1e-3, which can flip a draw that falls near a
    // boundary and, from there, the whole continuation; so the log-probs
    // must agree wherever the tokens do, and most pairs must share a long
    // prefix (a wrong KV cache or a wrong distribution diverges at once).
    bool exact() const { return pairs > 0 && identical == pairs && max_logprob_diff < 1e-4; }
    // (0.05 nats: logits within the 1e-2 relative error "logits close to the
    // CPU's" allows; a wrong cache or distribution is off by whole nats.)
    bool close() const { return pairs > 0 && max_logprob_diff < 5e-2 && 2 * long_prefix >= pairs; }
};

Agreement agreement(const std::vector<std::vector<int32_t>> &ta, const std::vector<std::vector<float>> &la,
                    const std::vector<std::vector<int32_t>> &tb, const std::vector<std::vector<float>> &lb) {
    Agreement a;
    for (size_t i = 0; i < ta.size() && i < tb.size(); i++) {
        a.pairs++;
        a.identical += ta[i] == tb[i];
        size_t k = 0;
        for (; k < ta[i].size() && k < tb[i].size() && ta[i][k] == tb[i][k]; k++)
            a.max_logprob_diff = std::max(a.max_logprob_diff, (double)std::fabs(la[i][k] - lb[i][k]));
        a.long_prefix += k >= 4;
    }
    return a;
}

double rel_l2(const std::vector<float> &a, const std::vector<float> &b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); i++) {
        num += (double)(a[i] - b[i]) * (a[i] - b[i]);
        den += (double)a[i] * a[i];
    }
    return std::sqrt(num / (den > 0 ? den : 1));
}

struct Train {
    azr_lora *lora = nullptr;
    azr_trainer *tr = nullptr;
    ~Train() {
        azr_trainer_free(tr);
        azr_lora_free(lora);
    }
};

void open_train(Train &t, Gen &x, int threads) {
    char err[512];
    azr_lora_params lp = azr_lora_default_params();
    lp.rank = 4;
    lp.seed = 11;
    lp.init_b_std = 0.05f;
    if (azr_lora_new(x.m, &lp, &t.lora, err, sizeof err) != AZR_OK) die("lora", err);
    azr_trainer_params tp = azr_trainer_default_params();
    tp.n_threads = threads;
    if (azr_trainer_new(x.m, t.lora, &tp, &t.tr, err, sizeof err) != AZR_OK) die("trainer", err);
}

void train_checks(const std::string &tiny, int gpu_layers, int threads, bool bench, const std::string &dir) {
    char err[512];
    Gen dev;
    open(dev, tiny, gpu_layers, threads, 512, 1);
    Train td;
    open_train(td, dev, threads);
    // The CPU's model and trainer, opened only for the comparisons (same
    // seed, so the same initial adapter).
    std::unique_ptr<Gen> cpu;
    std::unique_ptr<Train> tc;
    auto cpu_train = [&]() -> Train & {
        if (!tc) {
            cpu = std::make_unique<Gen>();
            open(*cpu, tiny, 0, threads, 512, 1);
            tc = std::make_unique<Train>();
            open_train(*tc, *cpu, threads);
        }
        return *tc;
    };
    std::vector<std::vector<int32_t>> toks = {synthetic(40, 512, 5), synthetic(28, 512, 6)};
    std::vector<std::vector<float>> adv;
    std::vector<azr_train_seq> seqs;
    for (size_t i = 0; i < toks.size(); i++) {
        adv.emplace_back(toks[i].size(), i == 0 ? 1.0f : -0.5f);
        seqs.push_back({toks[i].data(), (int32_t)toks[i].size(), 10, nullptr, adv[i].data(), nullptr});
    }
    azr_lora_info info;
    azr_lora_get_info(td.lora, &info);
    // Comparisons first: the steps below change the adapter.
    compare("LoRA gradient equals the CPU's", [&] {
        std::vector<float> gc((size_t)info.n_params), gd(gc.size());
        azr_train_result rc{}, rd{};
        if (azr_train_grads(cpu_train().tr, seqs.data(), (int32_t)seqs.size(), 0, gc.data(), info.n_params, &rc, err, sizeof err) != AZR_OK)
            die("grads cpu", err);
        if (azr_train_grads(td.tr, seqs.data(), (int32_t)seqs.size(), 0, gd.data(), info.n_params, &rd, err, sizeof err) != AZR_OK)
            die("grads dev", err);
        double g = rel_l2(gc, gd);
        check(g < 1e-2, "LoRA gradient equals the CPU's",
              "\"relative_l2\": " + std::to_string(g) + ", \"loss_cpu\": " + std::to_string(rc.loss) + ", \"loss_dev\": " + std::to_string(rd.loss));
    });
    {
        // No silent CPU fallback: every node of the training graph that the
        // scheduler put on the CPU while a GPU holds the weights is listed;
        // any that touches 64Ki+ elements fails. (CPU-only: nothing to list.)
        std::vector<float> g((size_t)info.n_params);
        azr_train_result r{};
        if (azr_train_grads(td.tr, seqs.data(), (int32_t)seqs.size(), 0, g.data(), info.n_params, &r, err, sizeof err) != AZR_OK)
            die("grads", err);
        const int32_t n = azr_trainer_cpu_ops(td.tr, nullptr, 0);
        std::vector<azr_placed_op> ops((size_t)n);
        if (n > 0) azr_trainer_cpu_ops(td.tr, ops.data(), n);
        std::string list;
        int big = 0;
        for (const azr_placed_op &op : ops) {
            const bool is_big = op.n_elements >= 65536 || op.src_elements >= 65536;
            big += is_big;
            if (list.size() < 2000)
                list += std::string(list.empty() ? "" : ", ") + "\"" + op.op + " " + json_escape(op.name) + " " + std::to_string(op.n_elements) +
                        (is_big ? " BIG" : "") + "\"";
        }
        check(big == 0, "training ops stay on the model's backend",
              "\"scheduler\": " + std::to_string(azr_trainer_uses_scheduler(td.tr)) + ", \"cpu_ops\": " + std::to_string(n) +
                  ", \"big_cpu_ops\": " + std::to_string(big) + ", \"ops\": [" + list + "]");
    }
    std::vector<float> lt((size_t)40 * 512), le(lt.size());
    if (azr_train_logits(td.tr, toks[0].data(), 40, lt.data(), err, sizeof err) != AZR_OK) die("train logits", err);
    compare("training-graph logits equal the CPU's", [&] {
        std::vector<float> lc(lt.size());
        if (azr_train_logits(cpu_train().tr, toks[0].data(), 40, lc.data(), err, sizeof err) != AZR_OK) die("train logits cpu", err);
        double l = rel_l2(lc, lt);
        check(l < 1e-2, "training-graph logits equal the CPU's", "\"relative_l2\": " + std::to_string(l));
    });
    if (azr_lora_decode_logits(dev.m, td.lora, nullptr, toks[0].data(), 40, le.data(), err, sizeof err) != AZR_OK) die("decode logits", err);
    double l = rel_l2(le, lt);
    check(l < 1e-2, "training-graph logits equal llama_decode's", "\"relative_l2\": " + std::to_string(l));
    azr_train_result r1{}, r2{};
    if (azr_train_step(td.tr, seqs.data(), (int32_t)seqs.size(), &r1, err, sizeof err) != AZR_OK) die("step", err);
    for (int i = 0; i < 20; i++)
        if (azr_train_step(td.tr, seqs.data(), (int32_t)seqs.size(), &r2, err, sizeof err) != AZR_OK) die("step", err);
    check(r2.loss < r1.loss, "loss falls over 20 steps", "\"first\": " + std::to_string(r1.loss) + ", \"last\": " + std::to_string(r2.loss));

    if (!bench) return;
    // Train step vs forward-only on the 0.5B-shaped model, 8 x 128 tokens.
    azr_tiny_params q = azr_tiny_default_params();
    q.n_layer = 24; q.n_embd = 896; q.n_head = 14; q.n_head_kv = 2; q.n_ff = 4864; q.n_vocab = 151936;
    q.n_ctx_train = 32768; q.tied_output = 1; q.quant = "q4_0";
    std::string big = dir + "/check-q05b.gguf";
    if (azr_tiny_model_write(&q, big.c_str(), err, sizeof err) != AZR_OK) die("tiny 0.5b", err);
    Gen x;
    open(x, big, gpu_layers, threads, 512, 1);
    Train t;
    open_train(t, x, threads);
    std::vector<std::vector<int32_t>> bt;
    std::vector<std::vector<float>> ba, lp(8, std::vector<float>(128));
    std::vector<azr_train_seq> bs;
    std::vector<float *> outs;
    for (int i = 0; i < 8; i++) {
        bt.push_back(synthetic(128, q.n_vocab, 100 + i));
        ba.emplace_back(128, i % 2 ? 1.0f : -1.0f);
    }
    for (int i = 0; i < 8; i++) {
        bs.push_back({bt[i].data(), 128, 32, nullptr, ba[i].data(), nullptr});
        outs.push_back(lp[i].data());
    }
    azr_train_result r{};
    azr_train_step(t.tr, bs.data(), 8, &r, err, sizeof err); // warm-up
    auto t0 = std::chrono::steady_clock::now();
    const int reps = 3;
    for (int i = 0; i < reps; i++)
        if (azr_train_step(t.tr, bs.data(), 8, &r, err, sizeof err) != AZR_OK) die("bench step", err);
    double step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    azr_train_logprobs(t.tr, bs.data(), 8, outs.data(), err, sizeof err); // warm-up
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; i++)
        if (azr_train_logprobs(t.tr, bs.data(), 8, outs.data(), err, sizeof err) != AZR_OK) die("bench fwd", err);
    double fwd_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    printf("{\"bench\": \"train\", \"sequences\": 8, \"tokens\": 128, \"step_s\": %.4f, \"forward_s\": %.4f, \"ratio\": %.2f, \"tokens_per_s\": %.0f}\n",
           step_s, fwd_s, step_s / fwd_s, 8 * 128 / step_s);
    fflush(stdout);
}

} // namespace

int main(int argc, char **argv) {
    int gpu_layers = INT_MIN, threads = 2; // INT_MIN: all layers when there is a GPU, else none
    bool bench = false, train = false, bench_only = false, free_test = false;
    std::string dir = "/tmp", backend_dir;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--gpu-layers" && i + 1 < argc) gpu_layers = atoi(argv[++i]);
        else if (a == "--threads" && i + 1 < argc) threads = atoi(argv[++i]);
        else if (a == "--dir" && i + 1 < argc) dir = argv[++i];
        else if (a == "--backend-dir" && i + 1 < argc) backend_dir = argv[++i];
        else if (a == "--bench") bench = true;
        else if (a == "--train") train = true;
        else if (a == "--bench-only") bench = bench_only = true;
        else if (a == "--free-test") free_test = true;
    }
    azr_set_log_level(3);
    char err[512];
    char backend_warn[2048];
    azr_backends_load_dir(backend_dir.c_str(), backend_warn, sizeof backend_warn);
    const std::string gpus = gpu_devices();
    if (gpu_layers == INT_MIN) gpu_layers = gpus.empty() ? 0 : -1;
    on_gpu = !gpus.empty() && gpu_layers != 0;
    if (gpus.empty())
        skip_reason = "no GPU device (CPU-only build or no device present): the CPU would only be compared with itself";
    else if (!on_gpu)
        skip_reason = "--gpu-layers 0: nothing is offloaded, the CPU would only be compared with itself";
    printf("{\"device\": \"%s\", \"gpu_devices\": \"%s\", \"gpu_layers\": %d, \"backend_warnings\": \"%s\"}\n", on_gpu ? "gpu" : "cpu",
           json_escape(gpus).c_str(), on_gpu ? gpu_layers : 0, json_escape(backend_warn).c_str());
    fflush(stdout);

    if (free_test) {
        // Load, generate and free twice, with and without another model alive.
        azr_tiny_params ft = azr_tiny_default_params();
        std::string path = dir + "/check-free.gguf";
        if (azr_tiny_model_write(&ft, path.c_str(), err, sizeof err) != AZR_OK) die("tiny", err);
        azr_sampling s{};
        s.temperature = 1; s.top_p = 1; s.max_tokens = 8; s.share_prefix = 1; s.seed = 1;
        std::vector<std::vector<int32_t>> p1 = {synthetic(8, 512, 1)};
        for (int round = 0; round < 2; round++) {
            Gen keep;
            open(keep, path, gpu_layers, threads, 256, 2);
            for (int k = 0; k < 2; k++) {
                stage("free-test open", round * 10 + k);
                Gen x;
                open(x, path, gpu_layers, threads, 256, 2);
                run(x, p1, 2, s);
                stage("free-test free generator", round * 10 + k);
                azr_generator_free(x.g);
                x.g = nullptr;
                stage("free-test free model", round * 10 + k);
                azr_model_free(x.m);
                x.m = nullptr;
                stage("free-test freed", round * 10 + k);
            }
            stage("free-test freed inner", round);
        }
        stage("free-test done", 0);
        return 0;
    }
    if (!bench_only) {
    // 1. A tiny model with peaked logits: the backend under test must agree
    //    with the CPU on greedy tokens, (closely) on logits, and on sampled
    //    continuations.
    azr_tiny_params tp = azr_tiny_default_params();
    tp.seed = 7;
    tp.init_scale = 0.3f;
    std::string tiny = dir + "/check-tiny.gguf";
    if (azr_tiny_model_write(&tp, tiny.c_str(), err, sizeof err) != AZR_OK) die("tiny", err);
    Gen dev;
    open(dev, tiny, gpu_layers, threads, 2048, 4);
    std::unique_ptr<Gen> cpu; // opened only for the comparisons
    auto cpu_gen = [&]() -> Gen & {
        if (!cpu) {
            cpu = std::make_unique<Gen>();
            open(*cpu, tiny, 0, threads, 2048, 4);
        }
        return *cpu;
    };
    std::vector<std::vector<int32_t>> prompts = {synthetic(9, 512, 1), synthetic(30, 512, 2), synthetic(3, 512, 3)};
    azr_sampling greedy{};
    greedy.temperature = 0;
    greedy.top_p = 1;
    greedy.max_tokens = 16;
    greedy.ignore_eos = 1;
    greedy.share_prefix = 1;
    azr_sampling samp = greedy;
    samp.temperature = 0.8f;
    samp.seed = 42;
    auto b = run(dev, prompts, 2, greedy);
    compare("greedy tokens equal the CPU's", [&] { check(run(cpu_gen(), prompts, 2, greedy) == b, "greedy tokens equal the CPU's"); });
    compare("logits close to the CPU's", [&] {
        std::vector<float> la((size_t)30 * 512), lb(la.size());
        if (azr_eval_logits(cpu_gen().g, prompts[1].data(), 30, la.data(), err, sizeof err) != AZR_OK) die("eval logits cpu", err);
        if (azr_eval_logits(dev.g, prompts[1].data(), 30, lb.data(), err, sizeof err) != AZR_OK) die("eval logits dev", err);
        double rel = rel_l2(la, lb);
        check(rel < 1e-2, "logits close to the CPU's", "\"relative_l2\": " + std::to_string(rel));
    });
    compare("sampled continuations agree with the CPU's", [&] {
        std::vector<std::vector<float>> lc, ld;
        auto tc = run(cpu_gen(), prompts, 3, samp, nullptr, &lc);
        auto td = run(dev, prompts, 3, samp, nullptr, &ld);
        Agreement ag = agreement(tc, lc, td, ld);
        check(ag.close(), "sampled continuations agree with the CPU's", ag.json());
    });

    // 2. Batch independence, determinism and prefix sharing on the backend
    //    under test.
    std::vector<std::vector<int32_t>> one = {prompts[1]};
    auto alone = run(dev, one, 1, greedy);
    check(alone[0] == b[2], "greedy alone equals greedy in batch");
    check(run(dev, prompts, 3, samp) == run(dev, prompts, 3, samp), "same seed, same samples");
    azr_sampling greedy_unshared = greedy;
    greedy_unshared.share_prefix = 0;
    check(run(dev, prompts, 3, greedy_unshared) == run(dev, prompts, 3, greedy), "prefix-shared greedy equals unshared greedy");
    {
        std::vector<std::vector<float>> lu, ls;
        samp.share_prefix = 0;
        auto unshared = run(dev, prompts, 3, samp, nullptr, &lu);
        samp.share_prefix = 1;
        auto shared = run(dev, prompts, 3, samp, nullptr, &ls);
        // Bitwise-equal logits (CPU) give identical samples; GPU kernels
        // change with the batch shape, so there the samples must agree as
        // Agreement::close says.
        Agreement ag = agreement(unshared, lu, shared, ls);
        check(on_gpu ? ag.close() : ag.exact(), "prefix-shared samples equal unshared ones", ag.json());
    }

    // 3. Training: on a GPU, the gradient of the same batch and the training
    //    graph's logits equal the CPU's; everywhere, the training graph's
    //    logits equal llama_decode's and the loss falls.
    if (train) train_checks(tiny, gpu_layers, threads, bench, dir);
    }

    // 4. The generation benchmark of `azr-native bench gen`, on this backend.
    if (bench) {
        azr_tiny_params q = azr_tiny_default_params();
        q.n_layer = 24; q.n_embd = 896; q.n_head = 14; q.n_head_kv = 2; q.n_ff = 4864; q.n_vocab = 151936;
        q.n_ctx_train = 32768; q.tied_output = 1; q.quant = "q4_0";
        std::string big = dir + "/check-q05b.gguf";
        if (azr_tiny_model_write(&q, big.c_str(), err, sizeof err) != AZR_OK) die("tiny 0.5b", err);
        for (int nseq : {8, 64}) {
            stage("bench batch open", nseq);
            Gen x;
            open(x, big, gpu_layers, threads, nseq * 128 * 2, nseq);
            std::vector<std::vector<int32_t>> batch;
            for (int i = 0; i < nseq; i++) batch.push_back(synthetic(64, q.n_vocab, i));
            azr_sampling s{};
            s.temperature = 1; s.top_p = 1; s.max_tokens = 64; s.ignore_eos = 1; s.share_prefix = 1; s.seed = 1;
            stage("bench batch warm-up", nseq);
            run(x, {batch[0]}, 1, s); // warm-up
            stage("bench batch plain loop", nseq);
            std::vector<azr_prompt> ps;
            for (auto &p : batch) ps.push_back({p.data(), (int32_t)p.size(), 1, 0});
            int64_t n = 0;
            double sec = 0;
            if (azr_bench_plain_decode(x.g, ps.data(), (int32_t)ps.size(), 64, &n, &sec, err, sizeof err) != AZR_OK) die("plain", err);
            azr_generation_stats st;
            stage("bench batch ours", nseq);
            run(x, batch, 1, s, &st);
            double ours = st.generated_tokens / st.total_seconds, plain = n / sec;
            printf("{\"bench\": \"batch\", \"sequences\": %d, \"ours_tok_s\": %.1f, \"plain_tok_s\": %.1f, \"ratio\": %.3f, \"sampling_pct\": %.1f}\n",
                   nseq, ours, plain, ours / plain, 100 * st.sample_seconds / st.total_seconds);
            fflush(stdout);
        }
        std::vector<std::vector<int32_t>> longp = {synthetic(512, q.n_vocab, 1000)};
        azr_sampling s{};
        s.temperature = 1; s.top_p = 1; s.max_tokens = 64; s.ignore_eos = 1; s.seed = 1;
        Gen sh, sp;
        open(sh, big, gpu_layers, threads, 512 + 8 * 64 + 64, 8);
        open(sp, big, gpu_layers, threads, 8 * (512 + 64 + 64), 8, 1);
        s.share_prefix = 1;
        run(sh, {longp[0]}, 1, s); // warm-up
        azr_generation_stats a1, a2;
        run(sh, longp, 8, s, &a1);
        s.share_prefix = 0;
        run(sp, longp, 8, s, &a2);
        printf("{\"bench\": \"prefix\", \"shared_s\": %.3f, \"unshared_s\": %.3f, \"speedup\": %.2f}\n", a1.total_seconds,
               a2.total_seconds, a2.total_seconds / a1.total_seconds);
        fflush(stdout);
    }
    printf("{\"failures\": %d}\n", failures);
    return failures == 0 ? 0 : 1;
}
