// LoRA adapters: creation, llama.cpp adapter view, GGUF save/load.
#include "train_internal.h"

#include "ggml-cpu.h"
#include "gguf.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <unistd.h>

namespace azr {

const char *proj_name(int p) {
    static const char *names[PROJ_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    return (p >= 0 && p < PROJ_COUNT) ? names[p] : "?";
}

ggml_tensor *layer_weight(const llama_model &m, int l, int p) {
    const llama_layer &L = m.layers[(size_t)l];
    switch (p) {
    case PROJ_Q: return L.wq;
    case PROJ_K: return L.wk;
    case PROJ_V: return L.wv;
    case PROJ_O: return L.wo;
    case PROJ_GATE: return L.ffn_gate;
    case PROJ_UP: return L.ffn_up;
    case PROJ_DOWN: return L.ffn_down;
    }
    return nullptr;
}

std::vector<float> tensor_to_f32(const ggml_tensor *t) {
    const int64_t n = ggml_nelements(t);
    std::vector<float> out((size_t)n);
    if (t->type == GGML_TYPE_F32) {
        ggml_backend_tensor_get(t, out.data(), 0, ggml_nbytes(t));
        return out;
    }
    std::vector<uint8_t> raw(ggml_nbytes(t));
    ggml_backend_tensor_get(t, raw.data(), 0, raw.size());
    const ggml_type_traits *tr = ggml_get_type_traits(t->type);
    if (!tr->to_float) throw std::runtime_error(std::string("cannot dequantize type ") + ggml_type_name(t->type));
    const int64_t rows = ggml_nrows(t), ne0 = t->ne[0];
    const size_t rb = ggml_row_size(t->type, ne0);
    for (int64_t r = 0; r < rows; r++) tr->to_float(raw.data() + (size_t)r * rb, out.data() + (size_t)(r * ne0), ne0);
    return out;
}

static void fingerprint_probe(const llama_model &m, std::vector<float> &probe) {
    // 4 rows of the token embeddings, dequantized: cheap and stable across quantizations.
    const ggml_tensor *e = m.tok_embd;
    probe.clear();
    const int64_t ne0 = e->ne[0];
    const size_t rb = ggml_row_size(e->type, ne0);
    std::vector<uint8_t> raw(rb);
    std::vector<float> row((size_t)ne0);
    const int64_t rows[4] = {0, 1, e->ne[1] / 2, e->ne[1] - 1};
    for (int64_t r : rows) {
        ggml_backend_tensor_get(e, raw.data(), (size_t)r * rb, rb);
        if (e->type == GGML_TYPE_F32) memcpy(row.data(), raw.data(), rb);
        else ggml_get_type_traits(e->type)->to_float(raw.data(), row.data(), ne0);
        for (int64_t i = 0; i < std::min<int64_t>(ne0, 64); i++) probe.push_back(row[(size_t)i]);
    }
}

base_fingerprint fingerprint_of(const azr_model &model) {
    base_fingerprint f;
    const llama_model &m = *model.model;
    f.arch = model.arch;
    f.n_layer = (int32_t)m.hparams.n_layer;
    f.n_embd = (int32_t)m.hparams.n_embd;
    f.n_head = (int32_t)m.hparams.n_head(0);
    f.n_head_kv = (int32_t)m.hparams.n_head_kv(0);
    f.n_ff = (int32_t)m.hparams.n_ff(0);
    f.n_vocab = (int32_t)m.tok_embd->ne[1];
    fingerprint_probe(m, f.probe);
    return f;
}

} // namespace azr

using namespace azr;

namespace {

// The buffer type for the adapter pair of frozen weight w: the device's when
// w was offloaded (the training graph and llama.cpp's decode then read A and
// B where the layer runs), host memory otherwise.
ggml_backend_buffer_type_t pair_buft(const ggml_tensor *w) {
    if (w->buffer && !ggml_backend_buffer_is_host(w->buffer)) {
        ggml_backend_buffer_type_t bt = ggml_backend_buffer_get_type(w->buffer);
        ggml_backend_dev_t dev = ggml_backend_buft_get_device(bt);
        if (dev && ggml_backend_dev_type(dev) != GGML_BACKEND_DEVICE_TYPE_CPU) return bt;
    }
    return ggml_backend_cpu_buffer_type();
}

// Allocates the A/B tensors of the chosen pairs (one backend buffer per
// buffer type: see pair_buft) and builds the llama.cpp adapter view. Values
// are left zero.
azr_status lora_alloc(azr_model *model, int32_t rank, float alpha, uint32_t projections, azr_lora **out, char *err,
                      size_t err_cap) {
    const llama_model &m = *model->model;
    std::unique_ptr<azr_lora> l(new azr_lora());
    l->model = model;
    l->rank = rank;
    l->alpha = alpha;
    l->projections = projections;
    const int n_layer = (int)m.hparams.n_layer;
    for (int il = 0; il < n_layer; il++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            if (!(projections & (1u << p))) continue;
            ggml_tensor *w = layer_weight(m, il, p);
            if (!w) return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "new adapter: layer %d has no %s weight", il, proj_name(p));
            lora_pair pr;
            pr.layer = il;
            pr.proj = p;
            pr.w = w;
            l->pairs.push_back(std::move(pr));
        }
    if (l->pairs.empty()) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new adapter: no projection selected");
    std::vector<ggml_backend_buffer_type_t> bufts;
    for (auto &pr : l->pairs) {
        ggml_backend_buffer_type_t bt = pair_buft(pr.w);
        size_t k = std::find(bufts.begin(), bufts.end(), bt) - bufts.begin();
        if (k == bufts.size()) {
            bufts.push_back(bt);
            ggml_init_params ip = {ggml_tensor_overhead() * (l->pairs.size() * 6 + 8), nullptr, true};
            ggml_context *c = ggml_init(ip);
            if (!c) return fail(err, err_cap, AZR_ERR_NOMEM, "new adapter: ggml_init failed");
            l->ctxs.push_back(c);
        }
        const int64_t in = pr.w->ne[0], outd = pr.w->ne[1];
        pr.a = ggml_new_tensor_2d(l->ctxs[k], GGML_TYPE_F32, in, rank);
        pr.b = ggml_new_tensor_2d(l->ctxs[k], GGML_TYPE_F32, rank, outd);
        ggml_format_name(pr.a, "%s.lora_a", pr.w->name);
        ggml_format_name(pr.b, "%s.lora_b", pr.w->name);
        struct { ggml_tensor **dst; const ggml_tensor *like; const char *suf; } moments[4] = {
            {&pr.m_a, pr.a, "m"}, {&pr.v_a, pr.a, "v"}, {&pr.m_b, pr.b, "m"}, {&pr.v_b, pr.b, "v"}};
        for (auto &mo : moments) {
            *mo.dst = ggml_dup_tensor(l->ctxs[k], mo.like);
            ggml_format_name(*mo.dst, "%s.%s", mo.like->name, mo.suf);
        }
    }
    for (size_t k = 0; k < bufts.size(); k++) {
        ggml_backend_buffer_t b = ggml_backend_alloc_ctx_tensors_from_buft(l->ctxs[k], bufts[k]);
        if (!b) {
            for (ggml_backend_buffer_t done : l->bufs) ggml_backend_buffer_free(done);
            for (ggml_context *c : l->ctxs) ggml_free(c);
            l->bufs.clear();
            l->ctxs.clear();
            return fail(err, err_cap, AZR_ERR_NOMEM, "new adapter: cannot allocate the adapter buffer (%s)", ggml_backend_buft_name(bufts[k]));
        }
        ggml_backend_buffer_clear(b, 0);
        // Weights to the backend scheduler: ops reading A or B run where they live.
        ggml_backend_buffer_set_usage(b, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
        l->bufs.push_back(b);
    }
    l->adapter = new llama_adapter_lora();
    l->adapter->alpha = alpha;
    for (auto &pr : l->pairs) l->adapter->ab_map[pr.w->name] = llama_adapter_lora_weight(pr.a, pr.b);
    *out = l.release();
    return AZR_OK;
}

bool file_exists(const char *p) { return access(p, F_OK) == 0; }

std::string gguf_str(const gguf_context *g, const char *key) {
    int64_t k = gguf_find_key(g, key);
    if (k < 0 || gguf_get_kv_type(g, k) != GGUF_TYPE_STRING) return "";
    return gguf_get_val_str(g, k);
}
bool gguf_i32(const gguf_context *g, const char *key, int32_t *v) {
    int64_t k = gguf_find_key(g, key);
    if (k < 0) return false;
    switch (gguf_get_kv_type(g, k)) {
    case GGUF_TYPE_INT32: *v = gguf_get_val_i32(g, k); return true;
    case GGUF_TYPE_UINT32: *v = (int32_t)gguf_get_val_u32(g, k); return true;
    default: return false;
    }
}

// Writes ctx to path through a temporary file and rename.
azr_status write_gguf(gguf_context *g, const char *path, char *err, size_t err_cap) {
    std::string tmp = std::string(path) + ".tmp";
    if (!gguf_write_to_file(g, tmp.c_str(), false)) {
        unlink(tmp.c_str());
        return fail(err, err_cap, AZR_ERR_IO, "save adapter: cannot write %s", tmp.c_str());
    }
    if (rename(tmp.c_str(), path) != 0) {
        unlink(tmp.c_str());
        return fail(err, err_cap, AZR_ERR_IO, "save adapter: cannot rename to %s: %s", path, strerror(errno));
    }
    return AZR_OK;
}

} // namespace

extern "C" azr_lora_params azr_lora_default_params(void) {
    azr_lora_params p;
    p.rank = 16;
    p.alpha = 32;
    p.projections = AZR_LORA_ALL;
    p.seed = 42;
    p.init_a_std = 0;
    p.init_b_std = 0;
    return p;
}

extern "C" azr_status azr_lora_new(azr_model *model, const azr_lora_params *params, azr_lora **out, char *err,
                                   size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!out) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new adapter: out is NULL");
        *out = nullptr;
        if (!model || !model->model) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new adapter: model is closed");
        azr_lora_params p = params ? *params : azr_lora_default_params();
        if (p.rank < 1 || p.rank > 4096) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new adapter: rank must be in 1..4096, got %d", p.rank);
        if (!std::isfinite(p.alpha) || p.alpha < 0) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new adapter: alpha must be >= 0");
        if (p.alpha == 0) p.alpha = (float)p.rank;
        if (p.projections == 0) p.projections = AZR_LORA_ALL;
        if (p.projections & ~(uint32_t)AZR_LORA_ALL)
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new adapter: unknown projection bits 0x%x", p.projections);
        if (!(p.init_a_std >= 0) || !(p.init_b_std >= 0)) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new adapter: init std must be >= 0");
        azr_lora *l = nullptr;
        if (azr_status s = lora_alloc(model, p.rank, p.alpha, p.projections, &l, err, err_cap)) return s;
        std::mt19937_64 rng(p.seed);
        std::normal_distribution<float> nd(0.0f, 1.0f);
        std::vector<float> tmp;
        for (auto &pr : l->pairs) {
            const float sa = p.init_a_std > 0 ? p.init_a_std : 1.0f / std::sqrt((float)pr.a->ne[0]);
            tmp.resize((size_t)ggml_nelements(pr.a));
            for (auto &x : tmp) x = nd(rng) * sa;
            ggml_backend_tensor_set(pr.a, tmp.data(), 0, ggml_nbytes(pr.a));
            tmp.resize((size_t)ggml_nelements(pr.b));
            for (auto &x : tmp) x = p.init_b_std > 0 ? nd(rng) * p.init_b_std : 0.0f;
            ggml_backend_tensor_set(pr.b, tmp.data(), 0, ggml_nbytes(pr.b));
        }
        *out = l;
        return AZR_OK;
    });
}

extern "C" void azr_lora_free(azr_lora *l) {
    if (!l) return;
    delete l->adapter;
    for (ggml_backend_buffer_t b : l->bufs) ggml_backend_buffer_free(b);
    for (ggml_context *c : l->ctxs) ggml_free(c);
    delete l;
}

extern "C" void azr_lora_get_info(const azr_lora *l, azr_lora_info *info) {
    if (!info) return;
    memset(info, 0, sizeof(*info));
    if (!l) return;
    info->rank = l->rank;
    info->alpha = l->alpha;
    info->projections = l->projections;
    info->n_pairs = (int32_t)l->pairs.size();
    info->n_params = l->n_params();
    info->step = l->step;
    info->version = l->version;
}

extern "C" azr_status azr_lora_get_params(const azr_lora *l, float *out, int64_t n, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!l) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "get params: adapter is closed");
        if (!out || n != l->n_params())
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "get params: need %lld floats, got %lld", (long long)l->n_params(), (long long)n);
        for (auto &pr : l->pairs) {
            ggml_backend_tensor_get(pr.a, out, 0, ggml_nbytes(pr.a));
            out += ggml_nelements(pr.a);
            ggml_backend_tensor_get(pr.b, out, 0, ggml_nbytes(pr.b));
            out += ggml_nelements(pr.b);
        }
        return AZR_OK;
    });
}

extern "C" azr_status azr_lora_set_params(azr_lora *l, const float *in, int64_t n, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!l) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "set params: adapter is closed");
        if (!in || n != l->n_params())
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "set params: need %lld floats, got %lld", (long long)l->n_params(), (long long)n);
        for (int64_t i = 0; i < n; i++)
            if (!std::isfinite(in[i])) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "set params: value %lld is not finite", (long long)i);
        for (auto &pr : l->pairs) {
            ggml_backend_tensor_set(pr.a, in, 0, ggml_nbytes(pr.a));
            in += ggml_nelements(pr.a);
            ggml_backend_tensor_set(pr.b, in, 0, ggml_nbytes(pr.b));
            in += ggml_nelements(pr.b);
        }
        l->version++;
        return AZR_OK;
    });
}

extern "C" void *azr_lora_llama_adapter(azr_lora *l) { return l ? (void *)l->adapter : nullptr; }

extern "C" azr_status azr_lora_save(const azr_lora *l, const char *path, const char *opt_path, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!l) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "save adapter: adapter is closed");
        if (!path || !*path) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "save adapter: empty path");
        base_fingerprint fp = fingerprint_of(*l->model);
        // Host copies of the tensors, named as llama.cpp expects.
        const size_t n_t = l->pairs.size() * 2;
        size_t bytes = 0;
        for (auto &pr : l->pairs) bytes += ggml_nbytes(pr.a) + ggml_nbytes(pr.b);
        ggml_init_params ip = {bytes + ggml_tensor_overhead() * (n_t + 4) + 1024, nullptr, false};
        ggml_context *hc = ggml_init(ip);
        if (!hc) return fail(err, err_cap, AZR_ERR_NOMEM, "save adapter: out of memory");
        gguf_context *g = gguf_init_empty();
        gguf_set_val_str(g, "general.architecture", fp.arch.c_str());
        gguf_set_val_str(g, "general.type", "adapter");
        gguf_set_val_str(g, "general.name", "azr-native lora");
        gguf_set_val_str(g, "adapter.type", "lora");
        gguf_set_val_f32(g, "adapter.lora.alpha", l->alpha);
        gguf_set_val_i32(g, "azr.lora.rank", l->rank);
        gguf_set_val_u32(g, "azr.lora.projections", l->projections);
        gguf_set_val_i64(g, "azr.lora.step", l->step);
        gguf_set_val_str(g, "azr.base.arch", fp.arch.c_str());
        gguf_set_val_i32(g, "azr.base.n_layer", fp.n_layer);
        gguf_set_val_i32(g, "azr.base.n_embd", fp.n_embd);
        gguf_set_val_i32(g, "azr.base.n_head", fp.n_head);
        gguf_set_val_i32(g, "azr.base.n_head_kv", fp.n_head_kv);
        gguf_set_val_i32(g, "azr.base.n_ff", fp.n_ff);
        gguf_set_val_i32(g, "azr.base.n_vocab", fp.n_vocab);
        gguf_set_arr_data(g, "azr.base.probe", GGUF_TYPE_FLOAT32, fp.probe.data(), fp.probe.size());
        for (auto &pr : l->pairs)
            for (ggml_tensor *t : {pr.a, pr.b}) {
                ggml_tensor *h = ggml_dup_tensor(hc, t);
                ggml_set_name(h, t->name);
                ggml_backend_tensor_get(t, h->data, 0, ggml_nbytes(t));
                gguf_add_tensor(g, h);
            }
        azr_status st = write_gguf(g, path, err, err_cap);
        gguf_free(g);
        if (st == AZR_OK && opt_path && *opt_path) {
            g = gguf_init_empty();
            gguf_set_val_str(g, "general.type", "azr.optimizer");
            gguf_set_val_i64(g, "azr.opt.step", l->step);
            gguf_set_val_i32(g, "azr.lora.rank", l->rank);
            gguf_set_val_u32(g, "azr.lora.projections", l->projections);
            ggml_init_params ip2 = {bytes * 2 + ggml_tensor_overhead() * (n_t * 2 + 4) + 1024, nullptr, false};
            ggml_context *oc = ggml_init(ip2);
            if (!oc) {
                gguf_free(g);
                ggml_free(hc);
                return fail(err, err_cap, AZR_ERR_NOMEM, "save adapter: out of memory");
            }
            for (auto &pr : l->pairs) {
                struct { ggml_tensor *t; const ggml_tensor *v; const char *suf; } items[4] = {
                    {pr.a, pr.m_a, "m"}, {pr.a, pr.v_a, "v"}, {pr.b, pr.m_b, "m"}, {pr.b, pr.v_b, "v"}};
                for (auto &it : items) { // read from wherever the moments live (host or device memory)
                    ggml_tensor *h = ggml_dup_tensor(oc, it.t);
                    ggml_format_name(h, "%s.%s", it.t->name, it.suf);
                    ggml_backend_tensor_get(it.v, h->data, 0, ggml_nbytes(h));
                    gguf_add_tensor(g, h);
                }
            }
            st = write_gguf(g, opt_path, err, err_cap);
            gguf_free(g);
            ggml_free(oc);
        }
        ggml_free(hc);
        return st;
    });
}

extern "C" azr_status azr_lora_load(azr_model *model, const char *path, const char *opt_path, azr_lora **out, char *err,
                                    size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!out) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "load adapter: out is NULL");
        *out = nullptr;
        if (!model || !model->model) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "load adapter: model is closed");
        if (!path || !*path) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "load adapter: empty path");
        if (!file_exists(path)) return fail(err, err_cap, AZR_ERR_IO, "load adapter %s: %s", path, strerror(errno));
        ggml_context *dc = nullptr;
        gguf_init_params gp = {false, &dc};
        clear_native_error();
        gguf_context *g = gguf_init_from_file(path, gp);
        if (!g) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "load adapter %s: not a readable GGUF file %s", path, last_native_error().c_str());
        struct guard_t {
            gguf_context *g; ggml_context *c;
            ~guard_t() { gguf_free(g); if (c) ggml_free(c); }
        } guard{g, dc};
        if (gguf_str(g, "general.type") != "adapter" || gguf_str(g, "adapter.type") != "lora")
            return fail(err, err_cap, AZR_ERR_BAD_MODEL, "load adapter %s: not a LoRA adapter (general.type/adapter.type)", path);
        base_fingerprint fp = fingerprint_of(*model);
        std::string arch = gguf_str(g, "general.architecture");
        if (arch != fp.arch)
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "load adapter %s: made for architecture '%s', the model is '%s'", path, arch.c_str(), fp.arch.c_str());
        struct { const char *key; int32_t want; } dims[] = {
            {"azr.base.n_layer", fp.n_layer}, {"azr.base.n_embd", fp.n_embd}, {"azr.base.n_head", fp.n_head},
            {"azr.base.n_head_kv", fp.n_head_kv}, {"azr.base.n_ff", fp.n_ff}, {"azr.base.n_vocab", fp.n_vocab}};
        for (auto &d : dims) {
            int32_t v;
            if (gguf_i32(g, d.key, &v) && v != d.want)
                return fail(err, err_cap, AZR_ERR_INVALID_ARG, "load adapter %s: made for another base model (%s = %d, the model has %d)", path,
                            d.key, v, d.want);
        }
        int64_t pk = gguf_find_key(g, "azr.base.probe");
        if (pk >= 0 && gguf_get_kv_type(g, pk) == GGUF_TYPE_ARRAY && gguf_get_arr_type(g, pk) == GGUF_TYPE_FLOAT32) {
            size_t n = gguf_get_arr_n(g, pk);
            const float *pv = (const float *)gguf_get_arr_data(g, pk);
            if (n != fp.probe.size())
                return fail(err, err_cap, AZR_ERR_INVALID_ARG, "load adapter %s: made for another base model (embedding probe size)", path);
            double num = 0, den = 0;
            for (size_t i = 0; i < n; i++) {
                num += (pv[i] - fp.probe[i]) * (double)(pv[i] - fp.probe[i]);
                den += (double)fp.probe[i] * fp.probe[i];
            }
            // Quantizing the same base changes the probe by a few percent; another base by ~100 %.
            if (!(num <= 0.09 * den))
                return fail(err, err_cap, AZR_ERR_INVALID_ARG,
                            "load adapter %s: made for another base model (token embeddings differ: rel. distance %.3f)", path,
                            std::sqrt(num / (den > 0 ? den : 1)));
        }
        float alpha = 0;
        int64_t ak = gguf_find_key(g, "adapter.lora.alpha");
        if (ak >= 0 && gguf_get_kv_type(g, ak) == GGUF_TYPE_FLOAT32) alpha = gguf_get_val_f32(g, ak);
        // Collect pairs and infer rank and projections from the tensors.
        const llama_model &m = *model->model;
        uint32_t proj = 0;
        int32_t rank = -1;
        for (int il = 0; il < (int)m.hparams.n_layer; il++)
            for (int p = 0; p < PROJ_COUNT; p++) {
                ggml_tensor *w = layer_weight(m, il, p);
                if (!w) continue;
                std::string an = std::string(w->name) + ".lora_a", bn = std::string(w->name) + ".lora_b";
                ggml_tensor *ta = ggml_get_tensor(dc, an.c_str()), *tb = ggml_get_tensor(dc, bn.c_str());
                if (!ta && !tb) continue;
                if (!ta || !tb) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "load adapter %s: %s has only one of lora_a/lora_b", path, w->name);
                if (ta->type != GGML_TYPE_F32 || tb->type != GGML_TYPE_F32)
                    return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "load adapter %s: %s is not F32", path, an.c_str());
                if (ta->ne[0] != w->ne[0] || tb->ne[1] != w->ne[1] || ta->ne[1] != tb->ne[0] || ta->ne[2] != 1 || tb->ne[2] != 1)
                    return fail(err, err_cap, AZR_ERR_INVALID_ARG, "load adapter %s: %s has the wrong shape for this base model", path, an.c_str());
                if (rank >= 0 && ta->ne[1] != rank)
                    return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "load adapter %s: mixed ranks are not supported", path);
                rank = (int32_t)ta->ne[1];
                proj |= 1u << p;
            }
        if (rank < 1) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "load adapter %s: no LoRA tensors for this model", path);
        if (alpha == 0) alpha = (float)rank;
        azr_lora *l = nullptr;
        if (azr_status s = lora_alloc(model, rank, alpha, proj, &l, err, err_cap)) return s;
        std::unique_ptr<azr_lora, void (*)(azr_lora *)> lp(l, azr_lora_free);
        for (auto &pr : l->pairs) {
            ggml_tensor *ta = ggml_get_tensor(dc, pr.a->name), *tb = ggml_get_tensor(dc, pr.b->name);
            if (!ta || !tb)
                return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "load adapter %s: %s missing (a projection adapted in some layers only)", path,
                            pr.a->name);
            ggml_backend_tensor_set(pr.a, ta->data, 0, ggml_nbytes(pr.a));
            ggml_backend_tensor_set(pr.b, tb->data, 0, ggml_nbytes(pr.b));
        }
        int64_t sk = gguf_find_key(g, "azr.lora.step");
        if (sk >= 0 && gguf_get_kv_type(g, sk) == GGUF_TYPE_INT64) l->step = gguf_get_val_i64(g, sk);
        if (opt_path && *opt_path) {
            ggml_context *oc = nullptr;
            gguf_init_params op = {false, &oc};
            gguf_context *og = gguf_init_from_file(opt_path, op);
            if (!og) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "load adapter: optimizer state %s is not a readable GGUF file", opt_path);
            guard_t og_guard{og, oc};
            if (gguf_str(og, "general.type") != "azr.optimizer")
                return fail(err, err_cap, AZR_ERR_BAD_MODEL, "load adapter: %s is not an optimizer state file", opt_path);
            for (auto &pr : l->pairs) {
                struct { ggml_tensor *t; ggml_tensor *v; const char *suf; } items[4] = {
                    {pr.a, pr.m_a, "m"}, {pr.a, pr.v_a, "v"}, {pr.b, pr.m_b, "m"}, {pr.b, pr.v_b, "v"}};
                for (auto &it : items) {
                    std::string nm = std::string(it.t->name) + "." + it.suf;
                    ggml_tensor *h = ggml_get_tensor(oc, nm.c_str());
                    if (!h || h->type != GGML_TYPE_F32 || ggml_nelements(h) != ggml_nelements(it.t))
                        return fail(err, err_cap, AZR_ERR_BAD_MODEL, "load adapter: optimizer state %s does not match the adapter (%s)", opt_path,
                                    nm.c_str());
                    ggml_backend_tensor_set(it.v, h->data, 0, ggml_nbytes(h));
                }
            }
            int64_t ok = gguf_find_key(og, "azr.opt.step");
            if (ok >= 0 && gguf_get_kv_type(og, ok) == GGUF_TYPE_INT64) l->step = gguf_get_val_i64(og, ok);
        }
        *out = lp.release();
        return AZR_OK;
    });
}
