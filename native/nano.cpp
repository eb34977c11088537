// Full-parameter pretraining of a nano Qwen2 model on the CPU: the model's
// F32 weights, our own ggml graph of the decoder over whole rows (no KV
// cache, so none of llama_opt's cache-view problems), a hand-built backward
// that also produces every weight gradient, and AdamW on the host.
//
// The backward follows the per-piece formulas of the LoRA step (train.cpp);
// the additions are the weight gradients:
//   y = W z + b          dW = z dyᵀ (as a GEMM over the token axis), db = Σ_t dy
//   y = rmsnorm(x) ⊙ g   dg = Σ_t dy ⊙ rmsnorm(x)
//   x0 = E[tokens]       dE += scatter-add of dx0 into the token rows
//   logits = Eᵀ z        dE += z dlogitsᵀ (the head is tied to the embeddings)
// Files (GGUF, optimizer state) are in nano_gguf.cpp.
//
// Choices, measured with the nano benchmarks in bindings/nano_bench_test.go:
// ggml's automatic backward works on this graph (no KV-cache views) and is
// kept as the test oracle (azr_nano_grads mode 1), but it cannot express the
// stable weighted loss (the row max has no backward; log(softmax) with zero
// weights gives 0 * -inf), and it is slower (autodiff/hand 1.38, one
// thread; 1.01 before attention's dV and dK moved to OUT_PROD, which needs no
// transposed copy of the seqLen² matrices). Weight gradients as a GEMM on
// transposed copies or as OUT_PROD measure the same (outprod/gemm 0.91, 1.08,
// 1.03 in three runs).
// Development switches: AZR_NANO_WGRAD=outprod, AZR_NANO_PROFILE=1 (time per
// op kind), AZR_NANO_DEBUG=1 (graph size and compute buffer).
#include "nano_internal.h"

#include "ggml-cpu.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "ggml-impl.h" // ggml_graph_view, for the profiler
#pragma GCC diagnostic pop

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>

using namespace azr;

namespace {

using clock_type = std::chrono::steady_clock;

// splitmix64 with a Box-Muller normal: the same numbers on every platform.
struct nano_rng : azr::splitmix64 {
    double normal() { return std::sqrt(-2.0 * std::log(uniform())) * std::cos(6.283185307179586 * uniform()); }
};

} // namespace


azr_nano::~azr_nano() {
    train_graph.reset();
    eval_graph.reset();
    if (backend) ggml_backend_free(backend);
    if (wbuf) ggml_backend_buffer_free(wbuf);
    if (wctx) ggml_free(wctx);
}

namespace {

// The activations one layer's backward needs.
struct layer_acts {
    ggml_tensor *x, *r1, *n1, *Q, *Kg, *Vg, *P, *o2, *h, *r2, *n2, *ga, *up, *sg, *mm;
};

struct builder {
    azr_nano *nn;
    ggml_context *ctx;
    ggml_cgraph *gf;
    int S, T, n, E, nh, nkv, hd;
    bool outprod_wgrad;

    ggml_tensor *rope(ggml_tensor *x, ggml_tensor *pos, bool back) {
        const int n_rot = hd;
        const float base = nn->shape.rope_theta;
        if (back)
            return ggml_rope_ext_back(ctx, x, pos, nullptr, n_rot, GGML_ROPE_TYPE_NEOX, nn->shape.n_ctx, base, 1.0f, 0.0f, 1.0f, 32.0f,
                                      1.0f);
        return ggml_rope_ext(ctx, x, pos, nullptr, n_rot, GGML_ROPE_TYPE_NEOX, nn->shape.n_ctx, base, 1.0f, 0.0f, 1.0f, 32.0f, 1.0f);
    }
    ggml_tensor *T_(ggml_tensor *t) { return ggml_cont(ctx, ggml_transpose(ctx, t)); }

    // dW [in, out] of y = W z for z [in, n], dy [out, n]: a GEMM over the
    // token axis on transposed copies (ggml's MUL_MAT path), or OUT_PROD.
    ggml_tensor *wgrad(ggml_tensor *z, ggml_tensor *dy) {
        if (outprod_wgrad) return ggml_out_prod(ctx, z, dy);
        ggml_tensor *&zt = transposed[z]; // Q/K/V share their input, as do gate/up: transpose it once
        if (!zt) zt = T_(z);
        return ggml_mul_mat(ctx, zt, T_(dy));
    }
    std::map<ggml_tensor *, ggml_tensor *> transposed;

    // The CPU kernels of RMS_NORM_BACK and SOFT_MAX_BACK may take over an
    // input's memory (ggml-alloc's in-place list) but read it after writing
    // the output, which silently corrupts the gradient. Each such op is
    // expanded at once, followed by a free view of each input, so the inputs
    // stay alive one node longer than the op.
    ggml_tensor *keep_inputs(ggml_tensor *op) {
        ggml_build_forward_expand(gf, op);
        for (int j = 0; j < 2; j++)
            if (op->src[j]) ggml_build_forward_expand(gf, ggml_view_1d(ctx, op->src[j], 1, 0));
        return op;
    }

    // [hd, T, nkv, S] -> every q head's copy [hd, T, nh, S]; *grouped gets the compact [hd*T, 1, nkv, S].
    ggml_tensor *expand_kv(ggml_tensor *k, ggml_tensor **grouped) {
        ggml_tensor *g = ggml_reshape_4d(ctx, ggml_cont(ctx, k), (int64_t)hd * T, 1, nkv, S);
        *grouped = g;
        return regroup(g);
    }
    ggml_tensor *regroup(ggml_tensor *g) {
        const int r = nh / nkv;
        if (r == 1) return ggml_reshape_4d(ctx, g, hd, T, nh, S);
        return ggml_reshape_4d(ctx, ggml_repeat_4d(ctx, g, (int64_t)hd * T, r, nkv, S), hd, T, nh, S);
    }
    // Gradient of the expanded copy [hd, T, nh, S] back to [hd, nkv, n] (summing the heads of a group).
    ggml_tensor *group_sum(ggml_tensor *dx4, ggml_tensor *grouped) {
        const int r = nh / nkv;
        ggml_tensor *t = ggml_reshape_4d(ctx, dx4, (int64_t)hd * T, r, nkv, S);
        if (r > 1) t = ggml_repeat_back(ctx, t, grouped);
        t = ggml_reshape_4d(ctx, t, hd, T, nkv, S);
        return ggml_reshape_3d(ctx, ggml_cont(ctx, ggml_permute(ctx, t, 0, 2, 1, 3)), hd, nkv, n);
    }
};

// Rows per chunk of the loss head: the caller's choice, or ~64 MiB per
// [V, rows] F32 tensor; chunk-local flat indices row * V + y stay in int32.
int head_chunk_rows(const azr_nano *nn, int n) {
    const int64_t V = nn->shape.n_vocab;
    int64_t c = nn->p.head_chunk > 0 ? nn->p.head_chunk : std::max<int64_t>(1, (16ll << 20) / V);
    c = std::min<int64_t>(c, (int64_t)(INT32_MAX - 1) / V);
    return (int)std::max<int64_t>(1, std::min<int64_t>(c, n));
}

std::unique_ptr<nano_graph> build_graph(azr_nano *nn, nano_mode mode, int S, int T) {
    auto g = std::make_unique<nano_graph>();
    g->mode = mode;
    g->S = S;
    g->T = T;
    g->chunk = head_chunk_rows(nn, S * T);
    const size_t max_nodes = 16384;
    ggml_init_params ip = {ggml_tensor_overhead() * max_nodes * 2 + ggml_graph_overhead_custom(max_nodes, false), nullptr, true};
    g->ctx = ggml_init(ip);
    if (!g->ctx) throw std::bad_alloc();
    ggml_context *ctx = g->ctx;
    const azr_nano_shape &sh = nn->shape;
    builder b{nn, ctx, nullptr, S, T, S * T, sh.n_embd, sh.n_head, sh.n_head_kv, sh.n_embd / sh.n_head, false, {}};
    b.outprod_wgrad = getenv("AZR_NANO_WGRAD") && std::string(getenv("AZR_NANO_WGRAD")) == "outprod";
    g->gf = ggml_new_graph_custom(ctx, max_nodes, mode == NANO_AUTO);
    b.gf = g->gf;
    ggml_cgraph *gf = g->gf;
    const int n = b.n, E = b.E, nh = b.nh, nkv = b.nkv, hd = b.hd, V = sh.n_vocab;
    const float eps = nn->norm_eps;

    g->tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n);
    g->pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n);
    g->causal = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, T, T);
    for (ggml_tensor *t : {g->tokens, g->pos, g->causal}) ggml_set_input(t);

    std::vector<layer_acts> acts((size_t)sh.n_layer);
    const float kq_scale = 1.0f / std::sqrt((float)hd);
    ggml_tensor *x = ggml_get_rows(ctx, nn->tok_embd, g->tokens); // [E, n]
    for (int il = 0; il < sh.n_layer; il++) {
        const nano_layer &w = nn->layers[(size_t)il];
        layer_acts &a = acts[(size_t)il];
        a.x = x;
        a.r1 = ggml_rms_norm(ctx, x, eps);
        a.n1 = ggml_mul(ctx, a.r1, w.attn_norm);
        ggml_tensor *q = ggml_add(ctx, ggml_mul_mat(ctx, w.wq, a.n1), w.bq);
        ggml_tensor *k = ggml_add(ctx, ggml_mul_mat(ctx, w.wk, a.n1), w.bk);
        ggml_tensor *v = ggml_add(ctx, ggml_mul_mat(ctx, w.wv, a.n1), w.bv);
        q = b.rope(ggml_reshape_3d(ctx, q, hd, nh, n), g->pos, false);
        k = b.rope(ggml_reshape_3d(ctx, k, hd, nkv, n), g->pos, false);
        // [hd, heads, T, S] -> [hd, T, heads, S]: the S sequences sit in the outer dimension.
        a.Q = ggml_cont(ctx, ggml_permute(ctx, ggml_reshape_4d(ctx, q, hd, nh, T, S), 0, 2, 1, 3));
        ggml_tensor *K = ggml_permute(ctx, ggml_reshape_4d(ctx, k, hd, nkv, T, S), 0, 2, 1, 3);
        ggml_tensor *Vt = ggml_permute(ctx, ggml_reshape_4d(ctx, v, hd, nkv, T, S), 0, 2, 1, 3);
        ggml_tensor *Kx = b.expand_kv(K, &a.Kg);
        ggml_tensor *Vx = b.expand_kv(Vt, &a.Vg);
        ggml_tensor *kq = ggml_mul_mat(ctx, Kx, a.Q); // [Tk, Tq, nh, S]
        a.P = ggml_soft_max_ext(ctx, kq, g->causal, kq_scale, 0.0f);
        ggml_tensor *o = ggml_mul_mat(ctx, b.T_(Vx), a.P); // [hd, Tq, nh, S]
        a.o2 = ggml_reshape_2d(ctx, ggml_cont(ctx, ggml_permute(ctx, o, 0, 2, 1, 3)), E, n);
        a.h = ggml_add(ctx, x, ggml_mul_mat(ctx, w.wo, a.o2));
        a.r2 = ggml_rms_norm(ctx, a.h, eps);
        a.n2 = ggml_mul(ctx, a.r2, w.ffn_norm);
        a.ga = ggml_mul_mat(ctx, w.gate, a.n2);
        a.up = ggml_mul_mat(ctx, w.up, a.n2);
        a.sg = ggml_silu(ctx, a.ga);
        a.mm = ggml_mul(ctx, a.sg, a.up);
        x = ggml_add(ctx, a.h, ggml_mul_mat(ctx, w.down, a.mm));
    }
    ggml_tensor *xL = x;
    ggml_tensor *rf = ggml_rms_norm(ctx, xL, eps);
    ggml_tensor *zf = ggml_mul(ctx, rf, nn->output_norm);
    // Whole-batch logits for the logits and autodiff graphs; the loss graphs make them chunk by chunk below.
    ggml_tensor *logits = mode == NANO_LOGITS || mode == NANO_AUTO ? ggml_mul_mat(ctx, nn->tok_embd, zf) : nullptr; // [V, n]
    if (mode == NANO_LOGITS) {
        g->logits = logits;
        ggml_set_output(logits);
        ggml_build_forward_expand(gf, logits);
        return g;
    }

    if (mode == NANO_AUTO) {
        // ggml's own backward of its cross-entropy op (mean over rows, no
        // token weights): an independent check of the hand-built backward.
        g->labels = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, V, n);
        ggml_set_input(g->labels);
        g->loss = ggml_cross_entropy_loss(ctx, logits, g->labels);
        ggml_set_output(g->loss);
        ggml_set_loss(g->loss);
        for (ggml_tensor *p : nn->params) ggml_set_param(p);
        ggml_build_forward_expand(gf, g->loss);
        ggml_build_backward_expand(ctx, gf, nullptr);
        for (ggml_tensor *p : nn->params) {
            p->flags &= ~GGML_TENSOR_FLAG_PARAM; // the flag lives on the weights: do not leave it for other graphs
            ggml_tensor *gr = ggml_graph_get_grad(gf, p);
            if (!gr) throw std::runtime_error(std::string("autodiff produced no gradient for ") + ggml_get_name(p));
            ggml_set_output(gr);
            g->grads.push_back(gr);
        }
        // The inputs of RMS_NORM_BACK / SOFT_MAX_BACK must not be overwritten early (see keep_inputs).
        for (int i = 0; i < ggml_graph_n_nodes(gf); i++) {
            ggml_tensor *nd = ggml_graph_node(gf, i);
            if (nd->op == GGML_OP_RMS_NORM_BACK || nd->op == GGML_OP_SOFT_MAX_BACK)
                for (int j = 0; j < 2; j++)
                    if (nd->src[j]) ggml_set_output(nd->src[j]);
        }
        return g;
    }

    std::vector<ggml_tensor *> grad_of(nn->params.size(), nullptr);
    auto index_of = [&](ggml_tensor *p) -> size_t {
        return (size_t)(std::find(nn->params.begin(), nn->params.end(), p) - nn->params.begin());
    };
    auto set_grad = [&](ggml_tensor *p, ggml_tensor *gr) {
        const size_t i = index_of(p);
        grad_of[i] = grad_of[i] ? ggml_add(ctx, grad_of[i], gr) : gr;
    };
    auto norm_grad = [&](ggml_tensor *dy, ggml_tensor *normed, ggml_tensor *gain) { // Σ_t dy ⊙ rmsnorm(x)
        set_grad(gain, ggml_repeat_back(ctx, ggml_mul(ctx, dy, normed), gain));
    };

    // The vocabulary-sized head runs in chunks of rows, so only one chunk's
    // [V, rows] tensors are alive at a time. Expanding each chunk's results
    // as they are made fixes that order (each concat takes the chunks before
    // it as its first source).
    const bool train = mode == NANO_TRAIN;
    g->tgt = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n); // chunk-local flat index (r - r0) * V + y_r
    ggml_set_input(g->tgt);
    if (train) {
        g->w = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, n); // weight_r / Σ weights
        ggml_set_input(g->w);
    }
    auto rows_of = [&](ggml_tensor *t, int r0, int nr) { return ggml_view_2d(ctx, t, t->ne[0], nr, t->nb[1], (size_t)r0 * t->nb[1]); };
    auto cat = [&](ggml_tensor *acc, ggml_tensor *t) { return acc ? ggml_concat(ctx, acc, t, 1) : t; };
    ggml_tensor *ET = train ? b.T_(nn->tok_embd) : nullptr; // [V, E]
    ggml_tensor *dzf = nullptr;
    for (int r0 = 0; r0 < n; r0 += g->chunk) {
        const int nr = std::min(g->chunk, n - r0);
        ggml_tensor *zc = rows_of(zf, r0, nr);
        ggml_tensor *lg = ggml_mul_mat(ctx, nn->tok_embd, zc); // [V, nr]
        ggml_tensor *tgt = ggml_view_1d(ctx, g->tgt, nr, (size_t)r0 * sizeof(int32_t));
        // log p(y) = (z_y - c) - log Σ exp(z - c) with c the row max: stable for any logits.
        ggml_tensor *c = ggml_pool_2d(ctx, ggml_reshape_4d(ctx, lg, V, nr, 1, 1), GGML_OP_POOL_MAX, V, 1, V, 1, 0, 0);
        ggml_tensor *shl = ggml_sub(ctx, lg, ggml_reshape_2d(ctx, c, 1, nr));
        ggml_tensor *lse = ggml_log(ctx, ggml_sum_rows(ctx, ggml_exp(ctx, shl))); // [1, nr]
        ggml_tensor *ly = ggml_get_rows(ctx, ggml_reshape_2d(ctx, shl, 1, (int64_t)V * nr), tgt);
        g->logp = cat(g->logp, ggml_sub(ctx, ggml_reshape_2d(ctx, ly, 1, nr), lse));
        ggml_build_forward_expand(gf, g->logp);
        if (!train) continue;
        // dlogits = w_r (softmax - onehot(y_r))
        ggml_tensor *wc = rows_of(g->w, r0, nr);
        ggml_tensor *dl = ggml_mul(ctx, ggml_soft_max(ctx, lg), wc);
        ggml_tensor *onehot = ggml_get_rows_back(ctx, ggml_scale(ctx, wc, -1.0f), tgt, ggml_reshape_2d(ctx, lg, 1, (int64_t)V * nr));
        dl = ggml_add(ctx, dl, ggml_reshape_2d(ctx, onehot, V, nr));
        set_grad(nn->tok_embd, b.wgrad(zc, dl));
        ggml_build_forward_expand(gf, grad_of[index_of(nn->tok_embd)]);
        dzf = cat(dzf, ggml_mul_mat(ctx, ET, dl)); // [E, nr]
        ggml_build_forward_expand(gf, dzf);
    }
    ggml_set_output(g->logp);
    if (!train) return g;

    norm_grad(dzf, rf, nn->output_norm);
    ggml_tensor *dx = b.keep_inputs(ggml_rms_norm_back(ctx, ggml_mul(ctx, dzf, nn->output_norm), xL, eps));
    for (int il = sh.n_layer - 1; il >= 0; il--) {
        const nano_layer &w = nn->layers[(size_t)il];
        const layer_acts &a = acts[(size_t)il];
        // SwiGLU
        set_grad(w.down, b.wgrad(a.mm, dx));
        ggml_tensor *dmm = ggml_mul_mat(ctx, b.T_(w.down), dx); // [F, n]
        ggml_tensor *dga = ggml_silu_back(ctx, ggml_mul(ctx, dmm, a.up), a.ga);
        ggml_tensor *dup = ggml_mul(ctx, dmm, a.sg);
        set_grad(w.gate, b.wgrad(a.n2, dga));
        set_grad(w.up, b.wgrad(a.n2, dup));
        ggml_tensor *dn2 = ggml_add(ctx, ggml_mul_mat(ctx, b.T_(w.gate), dga), ggml_mul_mat(ctx, b.T_(w.up), dup));
        norm_grad(dn2, a.r2, w.ffn_norm);
        ggml_tensor *dh = ggml_add(ctx, dx, b.keep_inputs(ggml_rms_norm_back(ctx, ggml_mul(ctx, dn2, w.ffn_norm), a.h, eps)));
        // attention
        set_grad(w.wo, b.wgrad(a.o2, dh));
        ggml_tensor *do2 = ggml_mul_mat(ctx, b.T_(w.wo), dh); // [E, n]
        ggml_tensor *dO = ggml_cont(ctx, ggml_permute(ctx, ggml_reshape_4d(ctx, do2, hd, nh, T, S), 0, 2, 1, 3)); // [hd, Tq, nh, S]
        ggml_tensor *Vx = b.regroup(a.Vg), *Kx = b.regroup(a.Kg);
        ggml_tensor *dP = ggml_mul_mat(ctx, Vx, dO);                   // [Tk, Tq, nh, S]
        // dV = dO Pᵀ and dK = Q dXᵀ contract over the query axis, which is
        // the second axis of both operands: OUT_PROD, no transposed copies
        // of the [Tk, Tq] matrices.
        ggml_tensor *dVx = ggml_out_prod(ctx, dO, a.P);                 // [hd, Tk, nh, S]
        ggml_tensor *dX = b.keep_inputs(ggml_soft_max_ext_back(ctx, dP, a.P, kq_scale, 0.0f)); // [Tk, Tq, nh, S]
        ggml_tensor *dQ = ggml_mul_mat(ctx, b.T_(Kx), dX);              // [hd, Tq, nh, S]
        ggml_tensor *dKx = ggml_out_prod(ctx, a.Q, dX);                 // [hd, Tk, nh, S]
        ggml_tensor *dK = b.rope(b.group_sum(dKx, a.Kg), g->pos, true);
        ggml_tensor *dV = b.group_sum(dVx, a.Vg);
        ggml_tensor *dQ3 = b.rope(ggml_reshape_3d(ctx, ggml_cont(ctx, ggml_permute(ctx, dQ, 0, 2, 1, 3)), hd, nh, n), g->pos, true);
        ggml_tensor *dq = ggml_reshape_2d(ctx, dQ3, E, n);
        ggml_tensor *dk = ggml_reshape_2d(ctx, dK, (int64_t)hd * nkv, n);
        ggml_tensor *dv = ggml_reshape_2d(ctx, dV, (int64_t)hd * nkv, n);
        set_grad(w.wq, b.wgrad(a.n1, dq));
        set_grad(w.wk, b.wgrad(a.n1, dk));
        set_grad(w.wv, b.wgrad(a.n1, dv));
        set_grad(w.bq, ggml_repeat_back(ctx, dq, w.bq));
        set_grad(w.bk, ggml_repeat_back(ctx, dk, w.bk));
        set_grad(w.bv, ggml_repeat_back(ctx, dv, w.bv));
        ggml_tensor *dn1 = ggml_add(ctx, ggml_add(ctx, ggml_mul_mat(ctx, b.T_(w.wq), dq), ggml_mul_mat(ctx, b.T_(w.wk), dk)),
                                    ggml_mul_mat(ctx, b.T_(w.wv), dv));
        norm_grad(dn1, a.r1, w.attn_norm);
        dx = ggml_add(ctx, dh, b.keep_inputs(ggml_rms_norm_back(ctx, ggml_mul(ctx, dn1, w.attn_norm), a.x, eps)));
        // This layer's weight gradients now, so their inputs can be freed early.
        for (ggml_tensor *p : {w.down, w.gate, w.up, w.ffn_norm, w.wo, w.wq, w.wk, w.wv, w.bq, w.bk, w.bv, w.attn_norm})
            ggml_build_forward_expand(gf, grad_of[index_of(p)]);
    }
    set_grad(nn->tok_embd, ggml_get_rows_back(ctx, dx, g->tokens, nn->tok_embd));
    g->grads = grad_of;
    for (ggml_tensor *gr : g->grads) {
        ggml_set_output(gr);
        ggml_build_forward_expand(gf, gr);
    }
    return g;
}

bool abort_requested(void *data) { return static_cast<azr_nano *>(data)->cancel.load(std::memory_order_relaxed); }

// Checks one batch; on success fills the per-row inputs.
azr_status check_batch(const azr_nano *nn, const int32_t *tokens, int32_t n_seq, int32_t seq_len, const float *weights,
                       const char *what, double *wsum, char *err, size_t err_cap) {
    if (!tokens) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "%s: no tokens", what);
    if (n_seq < 1 || seq_len < 1)
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "%s: need at least 1 row of at least 1 predicted token, got %d rows of %d", what,
                    n_seq, seq_len);
    if (seq_len > nn->shape.n_ctx)
        return fail(err, err_cap, AZR_ERR_CONTEXT_FULL, "%s: rows of %d tokens exceed the model's context of %d", what, seq_len,
                    nn->shape.n_ctx);
    const int64_t n = (int64_t)n_seq * seq_len;
    if (n > INT32_MAX / 2) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "%s: %lld token rows is too many for one step", what, (long long)n);
    const int64_t total = (int64_t)n_seq * (seq_len + 1);
    for (int64_t i = 0; i < total; i++)
        if (tokens[i] < 0 || tokens[i] >= nn->shape.n_vocab)
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "%s: token %lld (row %lld, column %lld) = %d is outside the vocabulary [0, %d)", what,
                        (long long)i, (long long)(i / (seq_len + 1)), (long long)(i % (seq_len + 1)), tokens[i], nn->shape.n_vocab);
    double s = 0;
    if (weights) {
        for (int64_t i = 0; i < n; i++) {
            if (!std::isfinite(weights[i]) || weights[i] < 0)
                return fail(err, err_cap, AZR_ERR_INVALID_ARG, "%s: weight %lld = %g must be finite and >= 0", what, (long long)i, weights[i]);
            s += weights[i];
        }
        if (!(s > 0)) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "%s: all token weights are zero", what);
    } else {
        s = (double)n;
    }
    *wsum = s;
    return AZR_OK;
}

// Gets the cached graph of this mode and shape, building it when needed.
nano_graph *graph_for(azr_nano *nn, nano_mode mode, int S, int T) {
    std::unique_ptr<nano_graph> &slot = mode == NANO_TRAIN ? nn->train_graph : nn->eval_graph;
    if (slot && slot->mode == mode && slot->S == S && slot->T == T) return slot.get();
    slot.reset(); // free the old allocation before making the new one
    std::unique_ptr<nano_graph> g = build_graph(nn, mode, S, T);
    g->galloc = ggml_gallocr_new(ggml_backend_cpu_buffer_type());
    if (!g->galloc || !ggml_gallocr_alloc_graph(g->galloc, g->gf)) throw std::bad_alloc();
    if (getenv("AZR_NANO_DEBUG"))
        fprintf(stderr, "azr nano: mode %d, %d x %d rows, %d nodes, compute buffer %.1f MiB\n", (int)mode, S, T, ggml_graph_n_nodes(g->gf),
                ggml_gallocr_get_buffer_size(g->galloc, 0) / 1048576.0);
    slot = std::move(g);
    return slot.get();
}

// AZR_NANO_PROFILE=1: computes the graph node by node and prints the time
// per op kind to stderr (a development aid; slower than a whole-graph run).
ggml_status profile_compute(azr_nano *nn, ggml_cgraph *gf) {
    std::map<std::string, std::pair<double, int>> by_op;
    double total = 0;
    for (int i = 0; i < ggml_graph_n_nodes(gf); i++) {
        ggml_cgraph one = ggml_graph_view(gf, i, i + 1);
        const auto t0 = clock_type::now();
        const ggml_status st = ggml_backend_graph_compute(nn->backend, &one);
        if (st != GGML_STATUS_SUCCESS) return st;
        const double dt = std::chrono::duration<double>(clock_type::now() - t0).count();
        ggml_tensor *nd = ggml_graph_node(gf, i);
        std::string key = ggml_op_desc(nd);
        if (nd->op == GGML_OP_MUL_MAT || nd->op == GGML_OP_OUT_PROD)
            key += nd->src[0]->buffer == nn->wbuf ? " weight" : nd->ne[2] * nd->ne[3] > 1 ? " attention" : " other";
        auto &e = by_op[key];
        e.first += dt;
        e.second++;
        total += dt;
    }
    std::vector<std::pair<double, std::string>> rows;
    for (auto &kv : by_op) rows.push_back({kv.second.first, kv.first});
    std::sort(rows.rbegin(), rows.rend());
    fprintf(stderr, "azr nano profile: %.3f s over %d nodes\n", total, ggml_graph_n_nodes(gf));
    for (auto &r : rows) fprintf(stderr, "  %-20s %8.3f s %5.1f%%  (%d nodes)\n", r.second.c_str(), r.first, 100 * r.first / total, by_op[r.second].second);
    return GGML_STATUS_SUCCESS;
}

// Runs one batch through the graph of mode; returns the weighted loss.
azr_status run_batch(azr_nano *nn, nano_mode mode, const int32_t *tokens, int32_t n_seq, int32_t seq_len, const float *weights,
                     double wsum, nano_graph **out, double *loss, char *err, size_t err_cap) {
    const int S = n_seq, T = seq_len, n = S * T, V = nn->shape.n_vocab;
    nano_graph *g = graph_for(nn, mode, S, T);
    std::vector<int32_t> in((size_t)n), pos((size_t)n), tgt((size_t)n);
    std::vector<float> w((size_t)n), causal((size_t)T * T, 0.0f);
    for (int s = 0; s < S; s++)
        for (int t = 0; t < T; t++) {
            const int rr = s * T + t;
            const int32_t *row = tokens + (size_t)s * (T + 1);
            in[(size_t)rr] = row[t];
            pos[(size_t)rr] = t;
            tgt[(size_t)rr] = (rr % g->chunk) * V + row[t + 1];
            w[(size_t)rr] = (float)((weights ? weights[rr] : 1.0) / wsum);
        }
    for (int q = 0; q < T; q++)
        for (int k = q + 1; k < T; k++) causal[(size_t)q * T + k] = -INFINITY;
    ggml_backend_tensor_set(g->tokens, in.data(), 0, ggml_nbytes(g->tokens));
    ggml_backend_tensor_set(g->pos, pos.data(), 0, ggml_nbytes(g->pos));
    ggml_backend_tensor_set(g->causal, causal.data(), 0, ggml_nbytes(g->causal));
    if (g->tgt) ggml_backend_tensor_set(g->tgt, tgt.data(), 0, ggml_nbytes(g->tgt));
    if (g->w) ggml_backend_tensor_set(g->w, w.data(), 0, ggml_nbytes(g->w));
    if (g->labels) {
        std::vector<float> onehot((size_t)n * V, 0.0f);
        for (int i = 0; i < n; i++) onehot[(size_t)i * V + (size_t)(tgt[(size_t)i] % V)] = 1.0f;
        ggml_backend_tensor_set(g->labels, onehot.data(), 0, ggml_nbytes(g->labels));
        ggml_graph_reset(g->gf); // loss gradient 1, every other gradient 0
    }
    ggml_backend_cpu_set_n_threads(nn->backend, nn->n_threads);
    ggml_backend_cpu_set_abort_callback(nn->backend, abort_requested, nn);
    const ggml_status st = getenv("AZR_NANO_PROFILE") ? profile_compute(nn, g->gf) : ggml_backend_graph_compute(nn->backend, g->gf);
    if (st == GGML_STATUS_ABORTED || nn->cancel.load()) return fail(err, err_cap, AZR_ERR_CANCELLED, "nano: cancelled");
    if (st != GGML_STATUS_SUCCESS) return fail(err, err_cap, AZR_ERR_INTERNAL, "nano: graph compute failed (status %d)", (int)st);
    if (g->loss) {
        float l = 0;
        ggml_backend_tensor_get(g->loss, &l, 0, sizeof l);
        *loss = l;
    } else {
        std::vector<float> lp((size_t)n);
        ggml_backend_tensor_get(g->logp, lp.data(), 0, lp.size() * sizeof(float));
        double l = 0;
        for (int i = 0; i < n; i++) l -= (double)w[(size_t)i] * lp[(size_t)i];
        *loss = l;
    }
    *out = g;
    return AZR_OK;
}

// Σ‖g‖² over every gradient tensor of the last train graph run.
double grad_sq_norm(const nano_graph *g) {
    double s = 0;
    for (ggml_tensor *gr : g->grads) {
        const float *d = (const float *)gr->data;
        const int64_t k = ggml_nelements(gr);
        for (int64_t i = 0; i < k; i++) s += (double)d[i] * d[i];
    }
    return s;
}

azr_status check_params(const azr_nano_params &p, char *err, size_t err_cap) {
    if (!(p.beta1 >= 0 && p.beta1 < 1) || !(p.beta2 >= 0 && p.beta2 < 1))
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano: betas must be in [0, 1), got %g and %g", p.beta1, p.beta2);
    if (!(p.eps > 0) || !std::isfinite(p.eps)) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano: eps must be > 0, got %g", p.eps);
    if (!(p.weight_decay >= 0) || !std::isfinite(p.weight_decay))
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano: weight decay must be >= 0, got %g", p.weight_decay);
    if (p.head_chunk < 0) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano: head chunk must be >= 0, got %d", p.head_chunk);
    if (!std::isfinite(p.grad_clip) || !std::isfinite(p.init_std))
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano: grad clip and init std must be finite");
    return AZR_OK;
}

} // namespace

namespace azr {

int64_t nano_param_count(const azr_nano *nn) {
    int64_t k = 0;
    for (ggml_tensor *t : nn->params) k += ggml_nelements(t);
    return k;
}

azr_status nano_alloc(azr_nano *nn, char *err, size_t err_cap) {
    const azr_nano_shape &s = nn->shape;
    const int64_t E = s.n_embd, F = s.n_ff, V = s.n_vocab, KV = (int64_t)s.n_head_kv * (s.n_embd / s.n_head);
    const size_t n_tensors = 2 + 12 * (size_t)s.n_layer;
    ggml_init_params ip = {ggml_tensor_overhead() * (n_tensors + 4), nullptr, true};
    nn->wctx = ggml_init(ip);
    if (!nn->wctx) return fail(err, err_cap, AZR_ERR_NOMEM, "nano: ggml_init failed");
    ggml_context *c = nn->wctx;
    auto mat = [&](const std::string &name, int64_t ne0, int64_t ne1) {
        ggml_tensor *t = ggml_new_tensor_2d(c, GGML_TYPE_F32, ne0, ne1);
        ggml_set_name(t, name.c_str());
        nn->params.push_back(t);
        return t;
    };
    auto vec = [&](const std::string &name, int64_t ne0) {
        ggml_tensor *t = ggml_new_tensor_1d(c, GGML_TYPE_F32, ne0);
        ggml_set_name(t, name.c_str());
        nn->params.push_back(t);
        return t;
    };
    // Names are the GGUF tensor names llama.cpp's qwen2 loader looks up.
    nn->tok_embd = mat("token_embd.weight", E, V);
    nn->output_norm = vec("output_norm.weight", E);
    nn->layers.resize((size_t)s.n_layer);
    for (int l = 0; l < s.n_layer; l++) {
        const std::string b = "blk." + std::to_string(l) + ".";
        nano_layer &L = nn->layers[(size_t)l];
        L.attn_norm = vec(b + "attn_norm.weight", E);
        L.wq = mat(b + "attn_q.weight", E, E);
        L.bq = vec(b + "attn_q.bias", E);
        L.wk = mat(b + "attn_k.weight", E, KV);
        L.bk = vec(b + "attn_k.bias", KV);
        L.wv = mat(b + "attn_v.weight", E, KV);
        L.bv = vec(b + "attn_v.bias", KV);
        L.wo = mat(b + "attn_output.weight", E, E);
        L.ffn_norm = vec(b + "ffn_norm.weight", E);
        L.gate = mat(b + "ffn_gate.weight", E, F);
        L.up = mat(b + "ffn_up.weight", E, F);
        L.down = mat(b + "ffn_down.weight", F, E);
    }
    nn->wbuf = ggml_backend_alloc_ctx_tensors_from_buft(c, ggml_backend_cpu_buffer_type());
    if (!nn->wbuf) return fail(err, err_cap, AZR_ERR_NOMEM, "nano: cannot allocate %lld weights", (long long)nano_param_count(nn));
    ggml_backend_buffer_clear(nn->wbuf, 0);
    nn->m.assign(nn->params.size(), {});
    nn->v.assign(nn->params.size(), {});
    for (size_t i = 0; i < nn->params.size(); i++) {
        nn->m[i].assign((size_t)ggml_nelements(nn->params[i]), 0.0f);
        nn->v[i].assign((size_t)ggml_nelements(nn->params[i]), 0.0f);
    }
    nn->backend = ggml_backend_cpu_init();
    if (!nn->backend) return fail(err, err_cap, AZR_ERR_INTERNAL, "nano: cannot start the CPU backend");
    return AZR_OK;
}

// Shape checks shared by new and open. The vocabulary size is already set.
azr_status check_nano_shape(const azr_nano_shape &s, char *err, size_t err_cap) {
    if (s.n_layer < 1 || s.n_embd < 1 || s.n_head < 1 || s.n_head_kv < 1 || s.n_ff < 1 || s.n_ctx < 1)
        return fail(err, err_cap, AZR_ERR_INVALID_ARG,
                    "nano shape: layers, embd, heads, kv heads, ff and context must all be positive (got %d, %d, %d, %d, %d, %d)", s.n_layer,
                    s.n_embd, s.n_head, s.n_head_kv, s.n_ff, s.n_ctx);
    if (s.n_embd % s.n_head != 0)
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano shape: embd %d must divide by heads %d", s.n_embd, s.n_head);
    if (s.n_head % s.n_head_kv != 0)
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano shape: heads %d must divide by kv heads %d", s.n_head, s.n_head_kv);
    if ((s.n_embd / s.n_head) % 2 != 0)
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano shape: head size %d must be even (RoPE)", s.n_embd / s.n_head);
    if (!(s.rope_theta > 0) || !std::isfinite(s.rope_theta))
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano shape: rope theta must be > 0, got %g", s.rope_theta);
    if (s.n_layer > 256 || s.n_embd > 16384 || s.n_ff > 65536 || s.n_ctx > 1 << 20 || s.n_vocab > 1 << 20)
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano shape: sizes are beyond what a CPU can train");
    return AZR_OK;
}

} // namespace azr

extern "C" azr_nano_params azr_nano_default_params(void) {
    azr_nano_params p;
    std::memset(&p, 0, sizeof p);
    p.n_threads = 0;
    p.seed = 1;
    p.beta1 = 0.9f;
    p.beta2 = 0.95f;
    p.eps = 1e-8f;
    p.weight_decay = 0.1f;
    p.grad_clip = 1.0f;
    p.init_std = 0.02f;
    return p;
}

namespace azr {
azr_status nano_configure(azr_nano *nn, const azr_nano_params *params, char *err, size_t err_cap) {
    nn->p = params ? *params : azr_nano_default_params();
    if (azr_status s = check_params(nn->p, err, err_cap)) return s;
    nn->n_threads = nn->p.n_threads > 0 ? nn->p.n_threads : (int)std::max(1u, std::thread::hardware_concurrency());
    return AZR_OK;
}
} // namespace azr

extern "C" azr_status azr_nano_new(const azr_nano_shape *shape, const azr_nano_vocab *vocab, const azr_nano_params *params,
                                   azr_nano **out, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!out) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new nano: out is NULL");
        *out = nullptr;
        if (!shape || !vocab) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new nano: shape and vocabulary are required");
        ensure_backend();
        std::unique_ptr<azr_nano> nn(new azr_nano());
        if (azr_status s = nano_configure(nn.get(), params, err, err_cap)) return s;
        // The vocabulary.
        if (vocab->n_tokens < 1 || !vocab->tokens) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new nano: the vocabulary is empty");
        if (vocab->n_merges < 0 || (vocab->n_merges > 0 && !vocab->merges))
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new nano: bad merges");
        nano_vocab &v = nn->vocab;
        for (int32_t i = 0; i < vocab->n_tokens; i++) {
            if (!vocab->tokens[i]) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new nano: token %d is NULL", i);
            v.tokens.push_back(vocab->tokens[i]);
            v.types.push_back(vocab->types ? vocab->types[i] : 1);
        }
        for (int32_t i = 0; i < vocab->n_merges; i++) {
            if (!vocab->merges[i]) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new nano: merge %d is NULL", i);
            v.merges.push_back(vocab->merges[i]);
        }
        v.bos = vocab->bos;
        v.eos = vocab->eos;
        v.eot = vocab->eot;
        v.pad = vocab->pad;
        if (vocab->chat_template) v.chat_template = vocab->chat_template;
        std::string why = check_nano_vocab(v);
        if (!why.empty()) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new nano: %s", why.c_str());
        nn->shape = *shape;
        nn->shape.n_vocab = vocab->n_tokens;
        if (!(nn->shape.rope_theta > 0)) nn->shape.rope_theta = 10000.0f;
        if (azr_status s = check_nano_shape(nn->shape, err, err_cap)) return s;
        if (azr_status s = nano_alloc(nn.get(), err, err_cap)) return s;

        // Deterministic init: matrices N(0, std) (the residual outputs O and
        // down scaled by 1/sqrt(2 layers), as in GPT-2), biases 0, norms 1.
        nano_rng rng{{nn->p.seed * 0x2545F4914F6CDD1DULL + 0x1234567ULL}};
        const float sd = nn->p.init_std > 0 ? nn->p.init_std : 0.02f;
        const float sd_res = sd / std::sqrt(2.0f * (float)nn->shape.n_layer);
        for (ggml_tensor *t : nn->params) {
            float *d = (float *)t->data;
            const int64_t k = ggml_nelements(t);
            const std::string name = ggml_get_name(t);
            if (name.find("norm") != std::string::npos) {
                std::fill(d, d + k, 1.0f);
            } else if (name.find(".bias") != std::string::npos) {
                std::fill(d, d + k, 0.0f);
            } else {
                const bool res = name.find("attn_output") != std::string::npos || name.find("ffn_down") != std::string::npos;
                const double s = res ? sd_res : sd;
                for (int64_t i = 0; i < k; i++) d[i] = (float)(s * rng.normal());
            }
        }
        *out = nn.release();
        return AZR_OK;
    });
}

extern "C" void azr_nano_free(azr_nano *nn) { delete nn; }

extern "C" void azr_nano_get_shape(const azr_nano *nn, azr_nano_shape *out) {
    if (!out) return;
    std::memset(out, 0, sizeof *out);
    if (nn) *out = nn->shape;
}

extern "C" int64_t azr_nano_steps(const azr_nano *nn) { return nn ? nn->step : 0; }
extern "C" int64_t azr_nano_n_params(const azr_nano *nn) { return nn ? nano_param_count(nn) : 0; }

extern "C" void azr_nano_cancel(azr_nano *nn, int32_t on) {
    if (nn) nn->cancel.store(on != 0);
}

extern "C" azr_status azr_nano_grads(azr_nano *nn, const int32_t *tokens, int32_t n_seq, int32_t seq_len, const float *weights,
                                     int32_t mode, float *grads, int64_t n, azr_nano_result *res, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (res) std::memset(res, 0, sizeof *res);
        if (!nn) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano loss: trainer is closed");
        if (mode != 0 && mode != 1) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano grads: mode must be 0 or 1, got %d", mode);
        if (mode == 1 && (weights || !grads))
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano grads: the autodiff oracle takes no token weights and needs a gradient buffer");
        if (grads && n != nano_param_count(nn))
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano grads: need %lld floats, got %lld", (long long)nano_param_count(nn), (long long)n);
        const auto t0 = clock_type::now();
        double wsum = 0, loss = 0;
        if (azr_status s = check_batch(nn, tokens, n_seq, seq_len, weights, "nano loss", &wsum, err, err_cap)) return s;
        nano_graph *g = nullptr;
        const nano_mode m = mode == 1 ? NANO_AUTO : grads ? NANO_TRAIN : NANO_LOSS;
        if (azr_status s = run_batch(nn, m, tokens, n_seq, seq_len, weights, wsum, &g, &loss, err, err_cap))
            return s;
        double g2 = 0;
        if (grads) {
            g2 = grad_sq_norm(g);
            float *o = grads;
            for (ggml_tensor *gr : g->grads) {
                std::memcpy(o, gr->data, ggml_nbytes(gr));
                o += ggml_nelements(gr);
            }
        }
        if (res) {
            res->loss = loss;
            res->grad_norm = std::sqrt(g2);
            res->weight_sum = wsum;
            res->seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
        }
        return AZR_OK;
    });
}

extern "C" azr_status azr_nano_step(azr_nano *nn, const int32_t *tokens, int32_t n_seq, int32_t seq_len, const float *weights, float lr,
                                    azr_nano_result *res, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (res) std::memset(res, 0, sizeof *res);
        if (!nn) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano step: trainer is closed");
        if (!std::isfinite(lr) || lr < 0) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano step: learning rate %g must be finite and >= 0", lr);
        const auto t0 = clock_type::now();
        double wsum = 0, loss = 0;
        if (azr_status s = check_batch(nn, tokens, n_seq, seq_len, weights, "nano step", &wsum, err, err_cap)) return s;
        nano_graph *g = nullptr;
        if (azr_status s = run_batch(nn, NANO_TRAIN, tokens, n_seq, seq_len, weights, wsum, &g, &loss, err, err_cap)) return s;
        const double G = std::sqrt(grad_sq_norm(g));
        if (res) {
            res->loss = loss;
            res->grad_norm = G;
            res->weight_sum = wsum;
        }
        if (!std::isfinite(loss) || !std::isfinite(G))
            return fail(err, err_cap, AZR_ERR_INTERNAL, "nano step: non-finite %s (loss %g, gradient norm %g); step skipped, weights unchanged",
                        std::isfinite(loss) ? "gradient" : "loss", loss, G);
        const azr_nano_params &p = nn->p;
        const double clip = (p.grad_clip > 0 && G > p.grad_clip) ? p.grad_clip / G : 1.0;
        const int64_t t = nn->step + 1;
        const double bc1 = 1.0 - std::pow((double)p.beta1, (double)t), bc2 = 1.0 - std::pow((double)p.beta2, (double)t);
        for (size_t i = 0; i < nn->params.size(); i++) {
            ggml_tensor *w = nn->params[i];
            float *theta = (float *)w->data;
            const float *gr = (const float *)g->grads[i]->data;
            float *mo = nn->m[i].data(), *ve = nn->v[i].data();
            const double wd = w->ne[1] > 1 ? p.weight_decay : 0.0; // matrices only: no decay of biases and norm gains
            const int64_t k = ggml_nelements(w);
            for (int64_t j = 0; j < k; j++) {
                const double gj = gr[j] * clip;
                mo[j] = (float)(p.beta1 * mo[j] + (1.0 - p.beta1) * gj);
                ve[j] = (float)(p.beta2 * ve[j] + (1.0 - p.beta2) * gj * gj);
                const double mh = mo[j] / bc1, vh = ve[j] / bc2;
                theta[j] = (float)(theta[j] - lr * (mh / (std::sqrt(vh) + p.eps) + wd * theta[j]));
            }
        }
        nn->step = t;
        if (res) res->seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
        return AZR_OK;
    });
}

extern "C" azr_status azr_nano_logits(azr_nano *nn, const int32_t *tokens, int32_t n_tokens, float *logits, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!nn) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano logits: trainer is closed");
        if (!tokens || !logits || n_tokens < 1) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano logits: no tokens");
        if (n_tokens > nn->shape.n_ctx)
            return fail(err, err_cap, AZR_ERR_CONTEXT_FULL, "nano logits: %d tokens exceed the context of %d", n_tokens, nn->shape.n_ctx);
        for (int32_t i = 0; i < n_tokens; i++)
            if (tokens[i] < 0 || tokens[i] >= nn->shape.n_vocab)
                return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano logits: token %d = %d is outside the vocabulary", i, tokens[i]);
        std::unique_ptr<nano_graph> g = build_graph(nn, NANO_LOGITS, 1, n_tokens);
        g->galloc = ggml_gallocr_new(ggml_backend_cpu_buffer_type());
        if (!g->galloc || !ggml_gallocr_alloc_graph(g->galloc, g->gf)) return fail(err, err_cap, AZR_ERR_NOMEM, "nano logits: cannot allocate");
        std::vector<int32_t> pos((size_t)n_tokens);
        std::vector<float> causal((size_t)n_tokens * n_tokens, 0.0f);
        for (int32_t i = 0; i < n_tokens; i++) {
            pos[(size_t)i] = i;
            for (int32_t k = i + 1; k < n_tokens; k++) causal[(size_t)i * n_tokens + k] = -INFINITY;
        }
        ggml_backend_tensor_set(g->tokens, tokens, 0, ggml_nbytes(g->tokens));
        ggml_backend_tensor_set(g->pos, pos.data(), 0, ggml_nbytes(g->pos));
        ggml_backend_tensor_set(g->causal, causal.data(), 0, ggml_nbytes(g->causal));
        ggml_backend_cpu_set_n_threads(nn->backend, nn->n_threads);
        ggml_backend_cpu_set_abort_callback(nn->backend, nullptr, nullptr);
        if (ggml_backend_graph_compute(nn->backend, g->gf) != GGML_STATUS_SUCCESS)
            return fail(err, err_cap, AZR_ERR_INTERNAL, "nano logits: graph compute failed");
        ggml_backend_tensor_get(g->logits, logits, 0, ggml_nbytes(g->logits));
        return AZR_OK;
    });
}

extern "C" azr_status azr_nano_get_params(const azr_nano *nn, float *out, int64_t n, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!nn) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano params: trainer is closed");
        if (!out || n != nano_param_count(nn))
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano params: need %lld floats, got %lld", (long long)nano_param_count(nn), (long long)n);
        for (ggml_tensor *t : nn->params) {
            std::memcpy(out, t->data, ggml_nbytes(t));
            out += ggml_nelements(t);
        }
        return AZR_OK;
    });
}

extern "C" azr_status azr_nano_set_params(azr_nano *nn, const float *in, int64_t n, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!nn) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano params: trainer is closed");
        if (!in || n != nano_param_count(nn))
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano params: need %lld floats, got %lld", (long long)nano_param_count(nn), (long long)n);
        for (int64_t i = 0; i < n; i++)
            if (!std::isfinite(in[i])) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano params: value %lld is not finite", (long long)i);
        for (ggml_tensor *t : nn->params) {
            std::memcpy(t->data, in, ggml_nbytes(t));
            in += ggml_nelements(t);
        }
        return AZR_OK;
    });
}
