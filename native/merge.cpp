// Merging a LoRA adapter into its base model: a standalone GGUF file in
// which every adapted matrix is W + (alpha / rank) * B A, requantized.
#include "train_internal.h"

#include "gguf.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>
#include <unistd.h>

using namespace azr;

namespace {

// ggml type of an AZR_MERGE_* choice; GGML_TYPE_COUNT keeps the base's type.
ggml_type merge_type(int32_t choice, bool *ok) {
    *ok = true;
    switch (choice) {
    case AZR_MERGE_KEEP: return GGML_TYPE_COUNT;
    case AZR_MERGE_F32: return GGML_TYPE_F32;
    case AZR_MERGE_F16: return GGML_TYPE_F16;
    case AZR_MERGE_Q8_0: return GGML_TYPE_Q8_0;
    case AZR_MERGE_Q4_0: return GGML_TYPE_Q4_0;
    case AZR_MERGE_Q4_K: return GGML_TYPE_Q4_K;
    }
    *ok = false;
    return GGML_TYPE_COUNT;
}

// Runs fn(first, last) over [0, n) split across up to n_threads threads.
template <typename F> void parallel_rows(int64_t n, int n_threads, F fn) {
    const int t = (int)std::max<int64_t>(1, std::min<int64_t>(n_threads, n));
    if (t == 1) {
        fn(0, n);
        return;
    }
    std::vector<std::thread> th;
    const int64_t per = (n + t - 1) / t;
    for (int i = 0; i < t; i++) {
        const int64_t a = i * per, b = std::min(n, a + per);
        if (a < b) th.emplace_back([=] { fn(a, b); });
    }
    for (auto &x : th) x.join();
}

// Dequantizes a [in, out] matrix (ggml order: out rows of in values).
std::vector<float> to_f32(const void *data, ggml_type type, int64_t in, int64_t out) {
    std::vector<float> w((size_t)(in * out));
    if (type == GGML_TYPE_F32) {
        memcpy(w.data(), data, w.size() * sizeof(float));
        return w;
    }
    const ggml_type_traits *tr = ggml_get_type_traits(type);
    if (!tr->to_float) throw std::runtime_error(std::string("cannot dequantize type ") + ggml_type_name(type));
    const size_t rb = ggml_row_size(type, in);
    for (int64_t r = 0; r < out; r++) tr->to_float((const uint8_t *)data + (size_t)r * rb, w.data() + (size_t)(r * in), in);
    return w;
}

} // namespace

extern "C" azr_status azr_lora_merge(const azr_lora *l, const char *base_path, const char *out_path, int32_t quant,
                                     int32_t n_threads, azr_merge_info *info, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!l) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "merge: adapter is closed");
        if (!base_path || !*base_path || !out_path || !*out_path) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "merge: empty path");
        if (strcmp(base_path, out_path) == 0) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "merge: the output would overwrite the base model");
        bool ok;
        const ggml_type want = merge_type(quant, &ok);
        if (!ok) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "merge: unknown quantization choice %d", quant);
        if (n_threads <= 0) n_threads = (int32_t)std::max(1u, std::thread::hardware_concurrency());

        ggml_context *data_ctx = nullptr;
        gguf_init_params gp = {false, &data_ctx};
        clear_native_error();
        gguf_context *src = gguf_init_from_file(base_path, gp);
        if (!src) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "merge: %s is not a readable GGUF file %s", base_path, last_native_error().c_str());
        gguf_context *dst = gguf_init_empty();
        struct guard_t {
            gguf_context *a, *b;
            ggml_context *c;
            ~guard_t() {
                gguf_free(a);
                gguf_free(b);
                if (c) ggml_free(c);
            }
        } guard{src, dst, data_ctx};

        std::map<std::string, const lora_pair *> by_name;
        for (auto &pr : l->pairs) by_name[pr.w->name] = &pr;
        gguf_set_kv(dst, src);
        const int64_t n_tensors = gguf_get_n_tensors(src);
        for (int64_t i = 0; i < n_tensors; i++) {
            ggml_tensor *t = ggml_get_tensor(data_ctx, gguf_get_tensor_name(src, i));
            if (!t) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "merge: tensor %s has no data", gguf_get_tensor_name(src, i));
            gguf_add_tensor(dst, t);
        }

        // Merged matrices live here until the file is written.
        std::vector<std::vector<uint8_t>> merged;
        merged.reserve(by_name.size());
        const float scale = l->scale();
        int32_t n_merged = 0;
        bool type_changed = false;
        double delta_sq = 0, base_sq = 0;
        for (auto &[name, pr] : by_name) {
            ggml_tensor *t = ggml_get_tensor(data_ctx, name.c_str());
            if (!t) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "merge: %s has no %s: not the adapter's base model", base_path, name.c_str());
            const int64_t in = pr->w->ne[0], out = pr->w->ne[1], R = l->rank;
            if (t->ne[0] != in || t->ne[1] != out || ggml_nelements(t) != in * out)
                return fail(err, err_cap, AZR_ERR_INVALID_ARG, "merge: %s in %s has shape [%lld, %lld], the adapter expects [%lld, %lld]", name.c_str(),
                            base_path, (long long)t->ne[0], (long long)t->ne[1], (long long)in, (long long)out);
            ggml_type type = want == GGML_TYPE_COUNT ? t->type : want;
            if (ggml_quantize_requires_imatrix(type))
                return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "merge: %s is %s, which needs an importance matrix to requantize: choose a quantization",
                            name.c_str(), ggml_type_name(type));
            if (in % ggml_blck_size(type) != 0)
                return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "merge: %s rows of %lld values do not fit %s blocks of %lld: choose another quantization",
                            name.c_str(), (long long)in, ggml_type_name(type), (long long)ggml_blck_size(type));
            std::vector<float> w = to_f32(t->data, t->type, in, out);
            std::vector<float> A = tensor_to_f32(pr->a), B = tensor_to_f32(pr->b);
            // W[o][i] += scale * sum_k B[o][k] A[k][i]; A is [in, R] (R rows of in), B is [R, out] (out rows of R).
            std::vector<double> row_dsq((size_t)out), row_bsq((size_t)out);
            parallel_rows(out, n_threads, [&](int64_t o0, int64_t o1) {
                std::vector<float> d((size_t)in);
                for (int64_t o = o0; o < o1; o++) {
                    std::fill(d.begin(), d.end(), 0.0f);
                    for (int64_t k = 0; k < R; k++) {
                        const float c = scale * B[(size_t)(o * R + k)];
                        const float *a = A.data() + (size_t)(k * in);
                        for (int64_t i = 0; i < in; i++) d[(size_t)i] += c * a[i];
                    }
                    float *wr = w.data() + (size_t)(o * in);
                    double dsq = 0, bsq = 0;
                    for (int64_t i = 0; i < in; i++) {
                        bsq += (double)wr[i] * wr[i];
                        dsq += (double)d[(size_t)i] * d[(size_t)i];
                        wr[i] += d[(size_t)i];
                    }
                    row_dsq[(size_t)o] = dsq;
                    row_bsq[(size_t)o] = bsq;
                }
            });
            for (int64_t o = 0; o < out; o++) {
                delta_sq += row_dsq[(size_t)o];
                base_sq += row_bsq[(size_t)o];
            }
            std::vector<uint8_t> q(ggml_row_size(type, in) * (size_t)out);
            if (type == GGML_TYPE_F32) {
                memcpy(q.data(), w.data(), q.size());
            } else {
                const size_t rb = ggml_row_size(type, in);
                parallel_rows(out, n_threads, [&](int64_t o0, int64_t o1) {
                    ggml_quantize_chunk(type, w.data() + (size_t)(o0 * in), q.data() + (size_t)o0 * rb, 0, o1 - o0, in, nullptr);
                });
            }
            if (type != t->type) {
                type_changed = true;
                gguf_set_tensor_type(dst, name.c_str(), type);
            }
            merged.push_back(std::move(q));
            gguf_set_tensor_data(dst, name.c_str(), merged.back().data());
            n_merged++;
        }
        // The file type in the metadata describes the old tensors; llama.cpp
        // infers it from the tensors when the key is absent.
        if (type_changed) gguf_remove_key(dst, "general.file_type");
        gguf_set_val_str(dst, "azr.merged.adapter", "lora");
        gguf_set_val_f32(dst, "azr.merged.lora_alpha", l->alpha);
        gguf_set_val_i32(dst, "azr.merged.lora_rank", l->rank);
        gguf_set_val_i64(dst, "azr.merged.lora_step", l->step);

        std::string tmp = std::string(out_path) + ".tmp";
        if (!gguf_write_to_file(dst, tmp.c_str(), false)) {
            unlink(tmp.c_str());
            return fail(err, err_cap, AZR_ERR_IO, "merge: cannot write %s", tmp.c_str());
        }
        if (rename(tmp.c_str(), out_path) != 0) {
            unlink(tmp.c_str());
            return fail(err, err_cap, AZR_ERR_IO, "merge: cannot rename to %s: %s", out_path, strerror(errno));
        }
        if (info) {
            info->n_merged = n_merged;
            info->n_tensors = (int32_t)n_tensors;
            info->delta_rel = base_sq > 0 ? std::sqrt(delta_sq / base_sq) : 0;
        }
        return AZR_OK;
    });
}
