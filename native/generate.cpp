// Batched generation with prefix sharing and continuous batching.
//
// One azr_generate call runs the whole schedule in C++: prompts are admitted
// into free sequence slots as groups (the samples of one prompt), a group's
// prompt is evaluated once in its lead slot and then shared with the other
// slots through the unified KV cache (llama_memory_seq_cp shares cells, it
// does not copy them), finished samples free their slot and KV cells for the
// next group, and every llama_decode mixes prompt chunks with decode tokens.
#include "internal.h"
#include "sampling_math.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Per-sample random stream: splitmix64 seeded from (seed, prompt, sample), so a
// sample's draws do not depend on which other samples share the batch.
struct SampleRng : azr::splitmix64 {
    SampleRng(uint64_t seed, int32_t prompt, int32_t sample)
        : splitmix64{azr::mix64(seed ^ azr::mix64(0x9E3779B97F4A7C15ULL * (uint64_t)(prompt + 1) + (uint64_t)sample))} {}
};

// Draws one token from a logits row. Returns the token and its
// log-probability under the distribution actually sampled: softmax(logits/T),
// cut by top-k (the k most probable tokens) and then top-p (the smallest
// most-probable prefix holding top_p of what top-k kept), renormalized over
// the kept tokens. Greedy (T = 0) reports the model's log-probability at
// temperature 1 (the draw itself is certain).
struct Sampler {
    std::vector<float> prob;     // scratch: exp((z - max) / T), one per vocab entry
    std::vector<int32_t> order;  // scratch: candidate ids for top-k/top-p

    int32_t sample(const float *logits, int32_t n_vocab, const azr_sampling &sp, SampleRng &rng, float *logprob) {
        const bool greedy = sp.temperature <= 0.0f;
        const float inv_t = greedy ? 1.0f : 1.0f / sp.temperature;
        int32_t best = 0;
        float mx;
        if (greedy) {
            mx = logits[0];
            for (int32_t i = 1; i < n_vocab; i++) {
                if (logits[i] > mx) {
                    mx = logits[i];
                    best = i;
                }
            }
        } else {
            mx = azr::row_max(logits, n_vocab);
        }
        prob.resize((size_t)n_vocab);
        // The vectorized sum (fast-math, partial sums in any order) is close
        // to, but not exactly, the sum the walks below accumulate.
        const double approx_sum = azr::exp_shifted(logits, n_vocab, mx, inv_t, prob.data());
        double norm = approx_sum; // normalizer of the sampled distribution
        int32_t tok = best;
        if (!greedy) {
            const bool use_k = sp.top_k > 0 && sp.top_k < n_vocab;
            const bool use_p = sp.top_p > 0.0f && sp.top_p < 1.0f;
            if (!use_k && !use_p) {
                // Inverse-CDF walk in id order. Drawing u below the
                // approximate sum would, where it exceeds the walk's own
                // total, hand the excess to the last token (or, where it
                // falls short, starve the last tokens). So u is drawn below
                // a bound safely above the total (the float sum's relative
                // error is far below 1%), and a u past the walk's end is
                // redrawn below the now exact total: a rejection, which
                // leaves every token's probability exact, and is rare.
                double bound = approx_sum * 1.01;
                for (;;) {
                    const double u = rng.uniform() * bound;
                    double acc = 0.0;
                    tok = -1;
                    for (int32_t i = 0; i < n_vocab; i++) {
                        acc += prob[(size_t)i];
                        if (acc >= u) {
                            tok = i;
                            break;
                        }
                    }
                    if (tok >= 0) break;
                    bound = acc; // the exact total: the next draw succeeds
                }
            } else {
                order.resize((size_t)n_vocab);
                std::iota(order.begin(), order.end(), 0);
                auto by_prob = [&](int32_t a, int32_t b) {
                    return prob[(size_t)a] > prob[(size_t)b] || (prob[(size_t)a] == prob[(size_t)b] && a < b);
                };
                size_t k = use_k ? (size_t)sp.top_k : order.size();
                std::partial_sort(order.begin(), order.begin() + (ptrdiff_t)k, order.end(), by_prob);
                order.resize(k);
                double kept = 0.0;
                size_t n = 0;
                double total_k = 0.0;
                for (int32_t id : order) total_k += prob[(size_t)id];
                for (; n < order.size(); n++) {
                    kept += prob[(size_t)order[n]];
                    if (use_p && kept >= sp.top_p * total_k) {
                        n++;
                        break;
                    }
                }
                // The walk sums the same values in the same order as kept,
                // so it always ends inside the kept set.
                double u = rng.uniform() * kept, acc = 0.0;
                tok = order[n - 1];
                for (size_t i = 0; i < n; i++) {
                    acc += prob[(size_t)order[i]];
                    if (acc >= u) {
                        tok = order[i];
                        break;
                    }
                }
                norm = kept;
            }
        }
        *logprob = (float)((double)(logits[tok] - mx) * inv_t - std::log(norm));
        return tok;
    }
};

struct Sample {
    int32_t prompt = 0, index = 0;
    SampleRng rng{0, 0, 0};
    std::vector<int32_t> tokens;
    std::vector<float> logprobs;
    std::string text;
    int32_t finish = AZR_FINISH_LENGTH;
    bool done = false;
    llama_seq_id slot = -1;
    llama_pos pos = 0;      // position of the next token to feed
    int32_t batch_row = -1; // row of this sample's logits in the last batch
};

struct Group {
    int32_t prompt = 0;
    std::vector<size_t> samples; // indices into the sample list
    int32_t evaluated = 0;       // prompt tokens already fed
    int32_t reserved = 0;        // KV cells reserved for this group
    int32_t live = 0;            // samples still generating
    int32_t logits_row = -1;     // batch row of the prompt's last token
};

} // namespace

struct azr_generation {
    std::vector<Sample> samples;
    azr_generation_stats stats{};
};

struct azr_generator {
    azr_model *model = nullptr;
    llama_context *ctx = nullptr;
    int32_t n_ctx = 0, n_slots = 0, n_batch = 0, n_vocab = 0;
    bool split_kv = false;
    llama_context_params cparams{};
    void *lora = nullptr; // the attached llama_adapter_lora, owned by its azr_lora
    float lora_scale = 1.0f;
    llama_batch batch{};
    std::vector<Sampler> samplers; // one per sampling thread
    std::atomic<bool> cancel{false};
};

extern "C" azr_generator_params azr_generator_default_params(void) {
    azr_generator_params p;
    p.n_ctx = 4096;
    p.n_slots = 8;
    p.n_batch = 0;
    p.n_threads = 0;
    p.split_kv = 0;
    return p;
}

extern "C" azr_status azr_generator_new(azr_model *model, const azr_generator_params *params, azr_generator **out,
                                        char *err, size_t err_cap) {
    return azr::guarded(err, err_cap, [&]() -> azr_status {
        if (!out) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "new generator: out is NULL");
        *out = nullptr;
        if (!model || !model->model) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "new generator: model is closed");
        azr_generator_params p = params ? *params : azr_generator_default_params();
        if (p.n_ctx < 1) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "new generator: n_ctx must be >= 1, got %d", p.n_ctx);
        if (p.n_slots < 1 || p.n_slots > 256)
            return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "new generator: n_slots must be in 1..256, got %d", p.n_slots);
        if (p.n_batch < 0) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "new generator: n_batch must be >= 0, got %d", p.n_batch);
        int32_t n_batch = p.n_batch == 0 ? std::min(p.n_ctx, 2048) : p.n_batch;
        n_batch = std::max(n_batch, p.n_slots);
        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = (uint32_t)p.n_ctx;
        cp.n_batch = (uint32_t)n_batch;
        cp.n_ubatch = (uint32_t)std::min(n_batch, 512);
        cp.n_seq_max = (uint32_t)p.n_slots;
        cp.kv_unified = !p.split_kv; // unified: samples of one prompt share its cells
        cp.n_threads = cp.n_threads_batch = p.n_threads > 0 ? p.n_threads : model->n_threads;
        cp.no_perf = true;
        azr::clear_native_error();
        llama_context *ctx = llama_init_from_model(model->model, cp);
        if (!ctx) {
            std::string why = azr::last_native_error();
            return azr::fail(err, err_cap, AZR_ERR_NOMEM, "new generator: cannot create a context of %d cells%s%s", p.n_ctx,
                             why.empty() ? "" : ": ", why.c_str());
        }
        auto *g = new azr_generator;
        g->model = model;
        g->ctx = ctx;
        g->cparams = cp;
        g->n_ctx = (int32_t)llama_n_ctx(ctx);
        g->n_slots = p.n_slots;
        g->split_kv = p.split_kv != 0;
        g->n_batch = n_batch;
        g->n_vocab = llama_vocab_n_tokens(model->vocab);
        g->batch = llama_batch_init(n_batch, 0, 1);
        g->samplers.resize((size_t)std::max<int32_t>(1, std::min<int32_t>(cp.n_threads, p.n_slots)));
        *out = g;
        return AZR_OK;
    });
}

extern "C" azr_status azr_generator_set_lora(azr_generator *g, azr_lora *lora, float scale, char *err, size_t err_cap) {
    return azr::guarded(err, err_cap, [&]() -> azr_status {
        if (!g || !g->ctx) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "set lora: generator is closed");
        if (!std::isfinite(scale)) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "set lora: scale must be finite");
        void *adapter = lora ? azr_lora_llama_adapter(lora) : nullptr;
        if (lora && !adapter) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "set lora: the adapter has no llama.cpp form");
        // llama.cpp reuses a decode graph when only tensor data changed, and
        // its reuse check does not notice adapters being attached or
        // detached. A fresh context (cheap next to a generation) makes the
        // attachment part of every graph from the start; later in-place
        // updates of the adapter's tensors are then seen by every decode.
        llama_context *ctx = llama_init_from_model(g->model->model, g->cparams);
        if (!ctx) return azr::fail(err, err_cap, AZR_ERR_NOMEM, "set lora: cannot recreate the context");
        if (adapter && llama_set_adapter_lora(ctx, (llama_adapter_lora *)adapter, scale) != 0) {
            azr::free_llama_context(ctx);
            return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "set lora: llama.cpp refused the adapter (made for another model?)");
        }
        azr::free_llama_context(g->ctx);
        g->ctx = ctx;
        g->lora = adapter;
        g->lora_scale = scale;
        return AZR_OK;
    });
}

extern "C" int32_t azr_generator_n_ctx(const azr_generator *g) { return g ? g->n_ctx : 0; }

extern "C" void azr_generator_cancel(azr_generator *g, int32_t on) {
    if (g) g->cancel.store(on != 0);
}

extern "C" void azr_generator_free(azr_generator *g) {
    if (!g) return;
    llama_batch_free(g->batch);
    if (g->ctx) azr::free_llama_context(g->ctx);
    delete g;
}

namespace {

void batch_add(llama_batch &b, int32_t token, llama_pos pos, llama_seq_id seq, bool logits) {
    b.token[b.n_tokens] = token;
    b.pos[b.n_tokens] = pos;
    b.n_seq_id[b.n_tokens] = 1;
    b.seq_id[b.n_tokens][0] = seq;
    b.logits[b.n_tokens] = logits ? 1 : 0;
    b.n_tokens++;
}

azr_status check_prompts(const azr_generator *g, const azr_prompt *prompts, int32_t n, char *err, size_t cap) {
    if (n < 0 || (n > 0 && !prompts)) return azr::fail(err, cap, AZR_ERR_INVALID_ARG, "generate: bad prompt list");
    for (int32_t i = 0; i < n; i++) {
        const azr_prompt &p = prompts[i];
        if (p.n_tokens < 1 || !p.tokens) return azr::fail(err, cap, AZR_ERR_INVALID_ARG, "generate: prompt %d is empty", i);
        if (p.n_samples < 1) return azr::fail(err, cap, AZR_ERR_INVALID_ARG, "generate: prompt %d asks for %d samples", i, p.n_samples);
        for (int32_t t = 0; t < p.n_tokens; t++)
            if (p.tokens[t] < 0 || p.tokens[t] >= g->n_vocab)
                return azr::fail(err, cap, AZR_ERR_INVALID_ARG, "generate: prompt %d token %d has id %d outside the vocabulary (0..%d)", i, t,
                                 p.tokens[t], g->n_vocab - 1);
    }
    return AZR_OK;
}

// Appends the piece of token to s (special tokens are not rendered).
void append_piece(const llama_vocab *vocab, int32_t token, std::string &s) {
    char buf[256];
    int32_t n = llama_token_to_piece(vocab, token, buf, sizeof buf, 0, false);
    if (n > 0) {
        s.append(buf, (size_t)n);
    } else if (n < 0) {
        std::string big((size_t)-n, '\0');
        n = llama_token_to_piece(vocab, token, big.data(), (int32_t)big.size(), 0, false);
        if (n > 0) s.append(big.data(), (size_t)n);
    }
}

} // namespace

extern "C" azr_status azr_generate(azr_generator *g, const azr_prompt *prompts, int32_t n_prompts, const azr_sampling *spp,
                                   azr_generation **out, char *err, size_t err_cap) {
    return azr::guarded(err, err_cap, [&]() -> azr_status {
        if (!out) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "generate: out is NULL");
        *out = nullptr;
        if (!g || !g->ctx) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "generate: generator is closed");
        if (!spp) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "generate: sampling is NULL");
        const azr_sampling sp = *spp;
        if (sp.max_tokens < 1) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "generate: max_tokens must be >= 1, got %d", sp.max_tokens);
        if (!(sp.temperature >= 0.0f) || !std::isfinite(sp.temperature))
            return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "generate: temperature must be a finite number >= 0");
        if (!(sp.top_p >= 0.0f && sp.top_p <= 1.0f)) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "generate: top_p must be in [0, 1]");
        if (sp.n_stop < 0 || (sp.n_stop > 0 && !sp.stop)) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "generate: bad stop list");
        std::vector<std::string> stops;
        size_t max_stop = 0;
        for (int32_t i = 0; i < sp.n_stop; i++) {
            if (!sp.stop[i] || !*sp.stop[i]) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "generate: stop string %d is empty", i);
            stops.emplace_back(sp.stop[i]);
            max_stop = std::max(max_stop, stops.back().size());
        }
        if (azr_status s = check_prompts(g, prompts, n_prompts, err, err_cap)) return s;
        if (sp.share_prefix && g->split_kv)
            return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "generate: prefix sharing needs a unified KV cache (split_kv = 0)");
        // With split streams each sequence owns n_ctx / n_slots cells.
        const int32_t cells = g->split_kv ? g->n_ctx / g->n_slots : g->n_ctx;

        const auto t_start = clock_type::now();
        auto gen = std::make_unique<azr_generation>();
        std::deque<Group> pending;
        for (int32_t i = 0; i < n_prompts; i++) {
            const azr_prompt &p = prompts[i];
            // Largest group whose prompt + generations fit the cache at once.
            int32_t fit = (cells - p.n_tokens) / sp.max_tokens;
            if (p.n_tokens + sp.max_tokens > cells)
                return azr::fail(err, err_cap, AZR_ERR_CONTEXT_FULL,
                                 "generate: prompt %d has %d tokens; with max_tokens %d it needs %d cells but a sequence has %d", i,
                                 p.n_tokens, sp.max_tokens, p.n_tokens + sp.max_tokens, cells);
            int32_t group = sp.share_prefix ? std::max(1, std::min(g->n_slots, fit)) : 1;
            for (int32_t j = 0; j < p.n_samples; j += group) {
                Group gr;
                gr.prompt = i;
                for (int32_t k = j; k < std::min(p.n_samples, j + group); k++) {
                    Sample s;
                    s.prompt = i;
                    s.index = k;
                    s.rng = p.seed != 0 ? SampleRng(p.seed, -1, k) : SampleRng(sp.seed, i, k);
                    gr.samples.push_back(gen->samples.size());
                    gen->samples.push_back(std::move(s));
                }
                pending.push_back(std::move(gr));
            }
        }

        llama_memory_t mem = llama_get_memory(g->ctx);
        llama_memory_clear(mem, true);
        std::vector<llama_seq_id> free_slots;
        for (int32_t s = g->n_slots - 1; s >= 0; s--) free_slots.push_back(s);
        std::deque<Group> active;
        int32_t reserved = 0;
        auto &st = gen->stats;
        const llama_vocab *vocab = g->model->vocab;

        while (!pending.empty() || !active.empty()) {
            if (g->cancel.load()) {
                llama_memory_clear(mem, true);
                return azr::fail(err, err_cap, AZR_ERR_CANCELLED, "generate: cancelled");
            }
            // 1. Admit groups in order while slots and KV cells allow.
            while (!pending.empty()) {
                Group &gr = pending.front();
                const azr_prompt &p = prompts[gr.prompt];
                int32_t need = p.n_tokens + (int32_t)gr.samples.size() * sp.max_tokens;
                if ((int32_t)free_slots.size() < (int32_t)gr.samples.size()) break;
                if (!g->split_kv && reserved + need > g->n_ctx) break;
                for (size_t si : gr.samples) {
                    gen->samples[si].slot = free_slots.back();
                    free_slots.pop_back();
                }
                gr.reserved = need;
                gr.live = (int32_t)gr.samples.size();
                reserved += need;
                active.push_back(std::move(gr));
                pending.pop_front();
            }

            // 2. One batch: a decode token per generating sample, then prompt chunks.
            llama_batch &b = g->batch;
            b.n_tokens = 0;
            for (Group &gr : active) {
                if (gr.evaluated < prompts[gr.prompt].n_tokens) continue;
                for (size_t si : gr.samples) {
                    Sample &s = gen->samples[si];
                    if (s.done) continue;
                    s.batch_row = b.n_tokens;
                    batch_add(b, s.tokens.back(), s.pos, s.slot, true);
                }
            }
            for (Group &gr : active) {
                const azr_prompt &p = prompts[gr.prompt];
                gr.logits_row = -1;
                if (gr.evaluated >= p.n_tokens) continue;
                const llama_seq_id lead = gen->samples[gr.samples[0]].slot;
                while (gr.evaluated < p.n_tokens && b.n_tokens < g->n_batch) {
                    bool last = gr.evaluated == p.n_tokens - 1;
                    if (last) gr.logits_row = b.n_tokens;
                    batch_add(b, p.tokens[gr.evaluated], gr.evaluated, lead, last);
                    gr.evaluated++;
                    st.prompt_tokens++;
                }
                if (b.n_tokens >= g->n_batch) break;
            }
            if (b.n_tokens == 0) return azr::fail(err, err_cap, AZR_ERR_INTERNAL, "generate: scheduler stalled");

            const auto t_dec = clock_type::now();
            int32_t rc = llama_decode(g->ctx, b);
            st.decode_seconds += seconds_since(t_dec);
            st.decode_calls++;
            if (rc == 1) return azr::fail(err, err_cap, AZR_ERR_CONTEXT_FULL, "generate: the KV cache (%d cells) is full", g->n_ctx);
            if (rc != 0) return azr::fail(err, err_cap, AZR_ERR_DECODE, "generate: llama_decode failed with code %d", rc);

            // 3. Sample: first tokens of groups whose prompt just finished, next
            //    tokens of the rest. The draws run in parallel (each sample has
            //    its own stream, so the result does not depend on the split);
            //    bookkeeping follows in order.
            const auto t_samp = clock_type::now();
            struct Draw {
                Sample *s;
                Group *gr;
                const float *logits;
                int32_t tok;
                float lp;
                bool first;
            };
            std::vector<Draw> draws;
            for (Group &gr : active) {
                const azr_prompt &p = prompts[gr.prompt];
                const bool prompt_done_now = gr.logits_row >= 0;
                if (prompt_done_now) {
                    const llama_seq_id lead = gen->samples[gr.samples[0]].slot;
                    for (size_t k = 1; k < gr.samples.size(); k++)
                        llama_memory_seq_cp(mem, lead, gen->samples[gr.samples[k]].slot, -1, -1);
                } else if (gr.evaluated < p.n_tokens) {
                    continue; // prompt still being fed
                }
                for (size_t si : gr.samples) {
                    Sample &s = gen->samples[si];
                    if (s.done) continue;
                    const int32_t row = prompt_done_now ? gr.logits_row : s.batch_row;
                    if (!prompt_done_now && row < 0) continue;
                    const float *logits = llama_get_logits_ith(g->ctx, row);
                    if (!logits) return azr::fail(err, err_cap, AZR_ERR_INTERNAL, "generate: no logits for batch row %d", row);
                    draws.push_back({&s, &gr, logits, 0, 0.0f, prompt_done_now});
                }
            }
            const size_t n_workers = std::min(draws.size(), g->samplers.size());
            auto work = [&](size_t w) {
                for (size_t d = w; d < draws.size(); d += n_workers)
                    draws[d].tok = g->samplers[w].sample(draws[d].logits, g->n_vocab, sp, draws[d].s->rng, &draws[d].lp);
            };
            if (n_workers <= 1) {
                if (!draws.empty()) work(0);
            } else {
                std::vector<std::thread> pool;
                for (size_t w = 1; w < n_workers; w++) pool.emplace_back(work, w);
                work(0);
                for (auto &t : pool) t.join();
            }
            for (Draw &d : draws) {
                Sample &s = *d.s;
                Group &gr = *d.gr;
                const int32_t tok = d.tok;
                s.tokens.push_back(tok);
                s.logprobs.push_back(d.lp);
                s.pos = d.first ? prompts[gr.prompt].n_tokens : s.pos + 1;
                st.generated_tokens++;
                size_t old_len = s.text.size();
                bool eog = !sp.ignore_eos && llama_vocab_is_eog(vocab, tok);
                if (eog) {
                    s.done = true;
                    s.finish = AZR_FINISH_EOG;
                } else {
                    append_piece(vocab, tok, s.text);
                    if (!stops.empty()) {
                        size_t from = old_len >= max_stop ? old_len - max_stop + 1 : 0;
                        size_t cut = std::string::npos;
                        for (const auto &stop : stops) cut = std::min(cut, s.text.find(stop, from));
                        if (cut != std::string::npos) {
                            s.text.resize(cut);
                            s.done = true;
                            s.finish = AZR_FINISH_STOP;
                        }
                    }
                    if (!s.done && (int32_t)s.tokens.size() >= sp.max_tokens) {
                        s.done = true;
                        s.finish = AZR_FINISH_LENGTH;
                    }
                }
                if (s.done) {
                    llama_memory_seq_rm(mem, s.slot, -1, -1);
                    free_slots.push_back(s.slot);
                    gr.live--;
                }
            }
            st.sample_seconds += seconds_since(t_samp);
            // 4. Retire finished groups and give back their cells.
            for (auto it = active.begin(); it != active.end();) {
                if (it->live == 0) {
                    reserved -= it->reserved;
                    it = active.erase(it);
                } else {
                    ++it;
                }
            }
        }
        llama_memory_clear(mem, true);
        st.total_seconds = seconds_since(t_start);
        *out = gen.release();
        return AZR_OK;
    });
}

extern "C" int32_t azr_generation_count(const azr_generation *g) { return g ? (int32_t)g->samples.size() : 0; }

extern "C" void azr_generation_sample(const azr_generation *g, int32_t i, azr_sample *out) {
    if (!out) return;
    std::memset(out, 0, sizeof *out);
    if (!g || i < 0 || i >= (int32_t)g->samples.size()) return;
    const Sample &s = g->samples[(size_t)i];
    out->prompt_index = s.prompt;
    out->sample_index = s.index;
    out->tokens = s.tokens.data();
    out->logprobs = s.logprobs.data();
    out->n_tokens = (int32_t)s.tokens.size();
    out->text = s.text.c_str();
    out->text_len = (int32_t)s.text.size();
    out->finish = s.finish;
}

extern "C" void azr_generation_get_stats(const azr_generation *g, azr_generation_stats *out) {
    if (!out) return;
    if (!g) {
        std::memset(out, 0, sizeof *out);
        return;
    }
    *out = g->stats;
}

extern "C" void azr_generation_free(azr_generation *g) { delete g; }

extern "C" azr_status azr_eval_logits(azr_generator *g, const int32_t *tokens, int32_t n_tokens, float *logits, char *err,
                                      size_t err_cap) {
    return azr::guarded(err, err_cap, [&]() -> azr_status {
        if (!g || !g->ctx) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "eval logits: generator is closed");
        if (!logits) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "eval logits: output is NULL");
        azr_prompt p{tokens, n_tokens, 1, 0};
        if (azr_status s = check_prompts(g, &p, 1, err, err_cap)) return s;
        if (n_tokens > g->n_ctx)
            return azr::fail(err, err_cap, AZR_ERR_CONTEXT_FULL, "eval logits: %d tokens do not fit the context of %d", n_tokens, g->n_ctx);
        llama_memory_t mem = llama_get_memory(g->ctx);
        llama_memory_clear(mem, true);
        for (int32_t start = 0; start < n_tokens; start += g->n_batch) {
            llama_batch &b = g->batch;
            b.n_tokens = 0;
            const int32_t end = std::min(n_tokens, start + g->n_batch);
            for (int32_t t = start; t < end; t++) batch_add(b, tokens[t], t, 0, true);
            int32_t rc = llama_decode(g->ctx, b);
            if (rc != 0) {
                llama_memory_clear(mem, true);
                return azr::fail(err, err_cap, AZR_ERR_DECODE, "eval logits: llama_decode failed with code %d", rc);
            }
            for (int32_t t = start; t < end; t++)
                std::memcpy(logits + (size_t)t * (size_t)g->n_vocab, llama_get_logits_ith(g->ctx, t - start),
                            sizeof(float) * (size_t)g->n_vocab);
        }
        llama_memory_clear(mem, true);
        return AZR_OK;
    });
}

extern "C" azr_status azr_bench_plain_decode(azr_generator *g, const azr_prompt *prompts, int32_t n_prompts, int32_t max_tokens,
                                             int64_t *generated, double *seconds, char *err, size_t err_cap) {
    return azr::guarded(err, err_cap, [&]() -> azr_status {
        if (!g || !g->ctx) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "plain decode: generator is closed");
        if (max_tokens < 1) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "plain decode: max_tokens must be >= 1");
        if (azr_status s = check_prompts(g, prompts, n_prompts, err, err_cap)) return s;
        // Every sample is its own sequence with its own copy of the prompt.
        std::vector<int32_t> seqs;
        for (int32_t i = 0; i < n_prompts; i++)
            for (int32_t j = 0; j < prompts[i].n_samples; j++) seqs.push_back(i);
        llama_memory_t mem = llama_get_memory(g->ctx);
        int64_t produced = 0;
        const auto t0 = clock_type::now();
        for (size_t wave = 0; wave < seqs.size(); wave += (size_t)g->n_slots) {
            const size_t n = std::min(seqs.size() - wave, (size_t)g->n_slots);
            int64_t cells = 0;
            for (size_t k = 0; k < n; k++) cells += prompts[seqs[wave + k]].n_tokens + max_tokens;
            if (cells > g->n_ctx)
                return azr::fail(err, err_cap, AZR_ERR_CONTEXT_FULL, "plain decode: a wave needs %lld cells, the context has %d",
                                 (long long)cells, g->n_ctx);
            llama_memory_clear(mem, true);
            std::vector<int32_t> last(n), pos(n);
            llama_batch &b = g->batch;
            // Prompts packed into batches of up to n_batch tokens; a sequence's
            // first token is taken right after the decode holding its last
            // prompt token.
            std::vector<std::pair<size_t, int32_t>> finishing; // (sequence, batch row)
            auto flush = [&]() -> bool {
                if (b.n_tokens == 0) return true;
                if (llama_decode(g->ctx, b) != 0) return false;
                for (auto [k, r] : finishing) {
                    const float *lg = llama_get_logits_ith(g->ctx, r);
                    if (!lg) return false;
                    last[k] = (int32_t)(std::max_element(lg, lg + g->n_vocab) - lg);
                }
                finishing.clear();
                b.n_tokens = 0;
                return true;
            };
            b.n_tokens = 0;
            for (size_t k = 0; k < n; k++) {
                const azr_prompt &p = prompts[seqs[wave + k]];
                for (int32_t t = 0; t < p.n_tokens; t++) {
                    if (b.n_tokens == g->n_batch && !flush())
                        return azr::fail(err, err_cap, AZR_ERR_DECODE, "plain decode: llama_decode failed");
                    const bool is_last = t == p.n_tokens - 1;
                    if (is_last) finishing.emplace_back(k, b.n_tokens);
                    batch_add(b, p.tokens[t], t, (llama_seq_id)k, is_last);
                }
                pos[k] = p.n_tokens;
            }
            if (!flush()) return azr::fail(err, err_cap, AZR_ERR_DECODE, "plain decode: llama_decode failed");
            produced += (int64_t)n;
            for (int32_t step = 1; step < max_tokens; step++) {
                b.n_tokens = 0;
                for (size_t k = 0; k < n; k++) batch_add(b, last[k], pos[k]++, (llama_seq_id)k, true);
                if (llama_decode(g->ctx, b) != 0) return azr::fail(err, err_cap, AZR_ERR_DECODE, "plain decode: llama_decode failed");
                for (size_t k = 0; k < n; k++) {
                    const float *lg = llama_get_logits_ith(g->ctx, (int32_t)k);
                    if (!lg) return azr::fail(err, err_cap, AZR_ERR_INTERNAL, "plain decode: no logits");
                    last[k] = (int32_t)(std::max_element(lg, lg + g->n_vocab) - lg);
                }
                produced += (int64_t)n;
            }
        }
        llama_memory_clear(mem, true);
        if (generated) *generated = produced;
        if (seconds) *seconds = seconds_since(t0);
        return AZR_OK;
    });
}
