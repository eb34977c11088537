// Test oracles of the training engine (declared in azr_train_oracles.h):
// gradients without a step (hand-built or ggml autodiff), the training
// graph's logits, llama_decode's logits with an adapter, a dequantized copy
// of a GGUF model and the live-adapter check. Compiled into the library so
// that the Go tests and azr-engine-check can reach them, but not part of the
// public ABI (azr.h).
#include "azr_train_oracles.h"
#include "train_internal.h"

#include "gguf.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

using namespace azr;

extern "C" azr_status azr_train_grads(azr_trainer *tr, const azr_train_seq *seqs, int32_t n_seqs, int32_t mode, float *grads,
                                      int64_t n, azr_train_result *res, char *err, size_t err_cap) {
    return train_grads(tr, seqs, n_seqs, mode, grads, n, res, err, err_cap);
}

extern "C" azr_status azr_train_logits(azr_trainer *tr, const int32_t *tokens, int32_t n_tokens, float *logits, char *err,
                                       size_t err_cap) {
    return train_logits(tr, tokens, n_tokens, logits, err, err_cap);
}

extern "C" azr_status azr_gguf_dequantize(const char *src, const char *dst, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!src || !dst) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "dequantize: NULL path");
        ggml_context *dc = nullptr;
        gguf_init_params gp = {false, &dc};
        gguf_context *g = gguf_init_from_file(src, gp);
        if (!g) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "dequantize: cannot read %s", src);
        gguf_context *o = gguf_init_empty();
        gguf_set_kv(o, g);
        size_t bytes = 0;
        const int64_t nt = gguf_get_n_tensors(g);
        for (int64_t i = 0; i < nt; i++) bytes += (size_t)ggml_nelements(ggml_get_tensor(dc, gguf_get_tensor_name(g, i))) * 4 + 64;
        ggml_init_params ip = {bytes + ggml_tensor_overhead() * (size_t)(nt + 4), nullptr, false};
        ggml_context *hc = ggml_init(ip);
        for (int64_t i = 0; i < nt; i++) {
            ggml_tensor *t = ggml_get_tensor(dc, gguf_get_tensor_name(g, i));
            ggml_tensor *h;
            if (ggml_is_quantized(t->type) || t->type == GGML_TYPE_F16) {
                h = ggml_new_tensor(hc, GGML_TYPE_F32, GGML_MAX_DIMS, t->ne);
                const int64_t rows = ggml_nrows(t), ne0 = t->ne[0];
                const size_t rb = ggml_row_size(t->type, ne0);
                for (int64_t r = 0; r < rows; r++)
                    ggml_get_type_traits(t->type)->to_float((const uint8_t *)t->data + r * rb, (float *)h->data + r * ne0, ne0);
            } else {
                h = ggml_dup_tensor(hc, t);
                memcpy(h->data, t->data, ggml_nbytes(t));
            }
            ggml_set_name(h, t->name);
            gguf_add_tensor(o, h);
        }
        gguf_set_val_u32(o, "general.file_type", 0); // ALL_F32
        bool ok = gguf_write_to_file(o, dst, false);
        gguf_free(o);
        gguf_free(g);
        ggml_free(hc);
        ggml_free(dc);
        if (!ok) return fail(err, err_cap, AZR_ERR_IO, "dequantize: cannot write %s", dst);
        return AZR_OK;
    });
}

namespace {

llama_context *new_exact_context(azr_model *model, int32_t n_tokens) {
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)std::max(n_tokens, 16);
    cp.n_batch = cp.n_ctx;
    cp.n_ubatch = cp.n_ctx;
    cp.n_seq_max = 1;
    cp.type_k = GGML_TYPE_F32; // exact comparisons: no F16 cache, no flash attention
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.n_threads = model->n_threads;
    cp.n_threads_batch = model->n_threads;
    return llama_init_from_model(model->model, cp);
}

int decode_all(llama_context *ctx, const int32_t *tokens, int32_t n_tokens, int32_t nv, float *logits) {
    llama_memory_clear(llama_get_memory(ctx), true);
    llama_batch b = llama_batch_init(n_tokens, 0, 1);
    for (int32_t i = 0; i < n_tokens; i++) {
        b.token[i] = tokens[i];
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = 1;
    }
    b.n_tokens = n_tokens;
    int rc = llama_decode(ctx, b);
    if (rc == 0)
        for (int32_t i = 0; i < n_tokens; i++) memcpy(logits + (size_t)i * nv, llama_get_logits_ith(ctx, i), sizeof(float) * (size_t)nv);
    llama_batch_free(b);
    return rc;
}

} // namespace

extern "C" azr_status azr_lora_live_update_check(azr_model *model, azr_lora *lora, const int32_t *tokens, int32_t n_tokens,
                                                 int32_t attach_after_decode, double *stale, double *fresh, char *err,
                                                 size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!model || !model->model || !lora || !tokens || n_tokens < 1 || !stale || !fresh)
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "live update check: bad arguments");
        const int32_t nv = llama_vocab_n_tokens(model->vocab);
        for (int32_t i = 0; i < n_tokens; i++)
            if (tokens[i] < 0 || tokens[i] >= nv) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "live update check: token out of range");
        const size_t n = (size_t)n_tokens * nv;
        std::vector<float> l0(n), l1(n), l2(n);
        std::vector<float> saved((size_t)lora->n_params()), moved;
        if (azr_status s = azr_lora_get_params(lora, saved.data(), (int64_t)saved.size(), err, err_cap)) return s;
        llama_context *ctx = new_exact_context(model, n_tokens);
        if (!ctx) return fail(err, err_cap, AZR_ERR_INTERNAL, "live update check: cannot create a context");
        std::unique_ptr<llama_context, void (*)(llama_context *)> cg(ctx, llama_free);
        // With attach_after_decode the context decodes once without the adapter
        // first: llama.cpp's graph reuse compares only the adapter map pointer,
        // so that context keeps its adapter-less graph (see the header).
        if (attach_after_decode && decode_all(ctx, tokens, n_tokens, nv, l0.data()))
            return fail(err, err_cap, AZR_ERR_DECODE, "live update check: decode failed");
        llama_set_adapter_lora(ctx, lora->adapter, 1.0f);
        if (decode_all(ctx, tokens, n_tokens, nv, l0.data())) return fail(err, err_cap, AZR_ERR_DECODE, "live update check: decode failed");
        moved = saved;
        size_t off = 0;
        for (auto &pr : lora->pairs) {
            off += (size_t)ggml_nelements(pr.a);
            for (int64_t j = 0; j < ggml_nelements(pr.b); j++) moved[off + (size_t)j] += 0.01f;
            off += (size_t)ggml_nelements(pr.b);
        }
        azr_lora_set_params(lora, moved.data(), (int64_t)moved.size(), nullptr, 0);
        int rc1 = decode_all(ctx, tokens, n_tokens, nv, l1.data());
        llama_context *ctx2 = new_exact_context(model, n_tokens);
        int rc2 = -1;
        if (ctx2) {
            llama_set_adapter_lora(ctx2, lora->adapter, 1.0f);
            rc2 = decode_all(ctx2, tokens, n_tokens, nv, l2.data());
            azr::free_llama_context(ctx2);
        }
        azr_lora_set_params(lora, saved.data(), (int64_t)saved.size(), nullptr, 0);
        if (rc1 || rc2) return fail(err, err_cap, AZR_ERR_DECODE, "live update check: decode failed");
        double s = 0, f = 0;
        for (size_t i = 0; i < n; i++) {
            s = std::max(s, (double)std::fabs(l1[i] - l0[i]));
            f = std::max(f, (double)std::fabs(l1[i] - l2[i]));
        }
        *stale = s;
        *fresh = f;
        return AZR_OK;
    });
}

extern "C" azr_status azr_lora_decode_logits(azr_model *model, azr_lora *lora, const char *lora_path, const int32_t *tokens,
                                             int32_t n_tokens, float *logits, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!model || !model->model) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "decode logits: model is closed");
        if (!tokens || n_tokens < 1 || !logits) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "decode logits: bad arguments");
        const int32_t nv = llama_vocab_n_tokens(model->vocab);
        for (int32_t i = 0; i < n_tokens; i++)
            if (tokens[i] < 0 || tokens[i] >= nv) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "decode logits: token out of range");
        llama_adapter_lora *stock = nullptr;
        if (lora_path) {
            clear_native_error();
            stock = llama_adapter_lora_init(model->model, lora_path);
            if (!stock) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "decode logits: llama_adapter_lora_init failed: %s", last_native_error().c_str());
        }
        std::unique_ptr<llama_adapter_lora, void (*)(llama_adapter_lora *)> sg(stock, llama_adapter_lora_free);
        llama_context *ctx = new_exact_context(model, n_tokens);
        if (!ctx) return fail(err, err_cap, AZR_ERR_INTERNAL, "decode logits: cannot create a context");
        std::unique_ptr<llama_context, void (*)(llama_context *)> cg(ctx, llama_free);
        if (lora) llama_set_adapter_lora(ctx, lora->adapter, 1.0f);
        if (stock) llama_set_adapter_lora(ctx, stock, 1.0f);
        int rc = decode_all(ctx, tokens, n_tokens, nv, logits);
        if (rc != 0) return fail(err, err_cap, AZR_ERR_DECODE, "decode logits: llama_decode returned %d", rc);
        return AZR_OK;
    });
}
