// The LoRA policy-gradient step: our own ggml graph of the Qwen2/Qwen3
// decoder over full sequences (no KV cache), a hand-built backward that never
// differentiates through a quantized matrix (input gradients multiply by a
// transposed copy with the ordinary MUL_MAT), and AdamW: on the host on the
// direct CPU path, with ggml ops where the adapter lives on the scheduler path.
// The math is written out in docs/TRAINING.md.
#include "train_internal.h"

#include "ggml-alloc.h"
#include "ggml-cpu.h"
#include "gguf.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

using namespace azr;

namespace {

using clock_type = std::chrono::steady_clock;

enum graph_mode { MODE_LOGITS, MODE_LOGPROBS, MODE_HAND, MODE_AUTO };

// One micro-batch laid out as S right-padded sequences of T rows; row r = s*T + t.
struct micro_batch {
    int S = 0, T = 0;
    int chunk = 1; // rows per chunk of the vocabulary-sized loss head
    std::vector<int32_t> tokens, pos, tgt;   // tgt: flat index r*V + y (0 for untrained rows)
    std::vector<float> adv_w, old_lp, mask;  // per row: A/N (0 untrained), old log-prob, trained mask
    std::vector<float> dense_w;              // MODE_AUTO: [V, n] weights
    std::vector<float> causal;               // [T, T]
    bool ppo = false;
    std::vector<int> row_seq, row_tok;        // for every row: batch sequence index and token index it predicts (-1 none)
};

struct layer_io {
    ggml_tensor *z = nullptr, *u = nullptr; // input and A z of one linear
};

struct layer_saved {
    ggml_tensor *x = nullptr, *n1 = nullptr;
    layer_io lq, lk, lv, lo, lg, lu, ld;
    ggml_tensor *q_pre = nullptr, *k_pre = nullptr; // Qwen3: before the q/k norms, [hd, heads, n]
    ggml_tensor *Q = nullptr, *Kx = nullptr, *Vx = nullptr, *Kg = nullptr, *Vg = nullptr, *P = nullptr;
    ggml_tensor *h = nullptr, *n2 = nullptr, *ga = nullptr, *up = nullptr, *sg = nullptr;
};

} // namespace

struct azr_trainer {
    azr_model *model = nullptr;
    azr_lora *lora = nullptr;
    azr_trainer_params p{};
    int n_threads = 1;
    ggml_backend_t backend = nullptr;
    ggml_context *wt_ctx = nullptr;
    ggml_backend_buffer_t wt_buf = nullptr;
    std::vector<std::array<ggml_tensor *, PROJ_COUNT>> wt; // transposed frozen matrices per layer
    ggml_tensor *out_t = nullptr;                         // transposed output matrix [V, d]
    // The backend-scheduler path, taken when a frozen weight lives off the
    // host (layers offloaded to a GPU) or when forced (tests): the graph runs
    // through ggml_backend_sched over the backends of the devices holding
    // weights plus the CPU, and there are no transposed copies (wt, out_t
    // stay empty; input gradients dequantize W a block at a time instead).
    ggml_backend_sched_t sched = nullptr;
    std::vector<ggml_backend_t> backends; // device backends, then the CPU backend (== backend)
    int64_t max_rows = 0;                 // largest `out` of a frozen matrix: length of the row-id input
    std::map<int64_t, int64_t> unit_cols; // `in` -> widest identity block of a matrix that GET_ROWS cannot dequantize everywhere
    std::vector<azr_placed_op> cpu_ops;   // the last graph's nodes the scheduler put on the CPU while a device backend exists
    std::map<std::pair<int, int>, lora_pair *> pair_of;
    ggml_gallocr_t galloc = nullptr;
    // Scheduler path: the batch's gradient accumulators, one per adapter
    // tensor (dA, dB) in that tensor's buffer type, so micro-batches add into
    // them where they are computed and nothing is read back until the update.
    ggml_context *acc_ctx = nullptr;
    std::vector<ggml_backend_buffer_t> acc_bufs;
    std::map<const lora_pair *, std::array<ggml_tensor *, 2>> acc;
    // Raised by azr_trainer_cancel from any thread: the step stops at the next
    // micro-batch (or graph node) and returns AZR_ERR_CANCELLED.
    std::atomic<bool> cancel{false};
    // hparams
    int n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, hd = 0, n_ff = 0, n_vocab = 0, n_rot = 0, rope_mode = 0, n_ctx_orig = 0;
    float eps = 1e-6f, freq_base = 10000, freq_scale = 1, attn_factor = 1, beta_fast = 32, beta_slow = 1;
    bool qk_norm = false;
};

namespace {

ggml_tensor *out_weight(const llama_model &m) { return m.output ? m.output : m.tok_embd; }

lora_pair *find_pair(azr_trainer *tr, int il, int p) {
    auto it = tr->pair_of.find({il, p});
    return it == tr->pair_of.end() ? nullptr : it->second;
}

// y = W z (+ b) + s * B (A z)
ggml_tensor *lin(ggml_context *ctx, azr_trainer *tr, int il, int p, ggml_tensor *W, ggml_tensor *bias, ggml_tensor *z,
                 layer_io &io) {
    io.z = z;
    ggml_tensor *y = ggml_mul_mat(ctx, W, z);
    if (bias) y = ggml_add(ctx, y, bias);
    if (lora_pair *pr = find_pair(tr, il, p)) {
        io.u = ggml_mul_mat(ctx, pr->a, z);
        y = ggml_add(ctx, y, ggml_scale(ctx, ggml_mul_mat(ctx, pr->b, io.u), tr->lora->scale()));
    }
    return y;
}

struct grad_out {
    std::map<lora_pair *, std::pair<ggml_tensor *, ggml_tensor *>> g; // pair -> (dA, dB)
    ggml_tensor *row_ids = nullptr; // scheduler path: input holding 0, 1, 2, ... (rows to dequantize)
    std::map<int64_t, ggml_tensor *> units; // scheduler path: `in` -> identity-block source (see input_grad_by_identity)
};

// dz = W dy' for a frozen W [in, out] of any type without a transposed
// copy: W is dequantized a block of `out` rows at a time (GET_ROWS into an
// F32 scratch of at most ~64 MiB, freed after its block) and multiplied by
// the matching rows of dy with OUT_PROD, accumulating over blocks. The
// scheduler path's input gradient: extra memory is one block, not a copy of
// the model.
ggml_tensor *input_grad_by_blocks(ggml_context *ctx, ggml_tensor *W, ggml_tensor *dy, ggml_tensor *row_ids, int64_t block_bytes) {
    const int64_t in = W->ne[0], out = W->ne[1], n = dy->ne[1];
    const int64_t block = std::max<int64_t>(1, std::min<int64_t>(out, block_bytes / (4 * in)));
    ggml_tensor *dz = nullptr;
    for (int64_t o0 = 0; o0 < out; o0 += block) {
        const int64_t c = std::min(block, out - o0);
        ggml_tensor *Wc = ggml_get_rows(ctx, W, ggml_view_1d(ctx, row_ids, c, (size_t)o0 * sizeof(int32_t))); // [in, c] F32
        ggml_tensor *dyc = ggml_view_2d(ctx, dy, c, n, dy->nb[1], (size_t)o0 * dy->nb[0]);                     // [c, n]
        ggml_tensor *part = ggml_out_prod(ctx, Wc, ggml_transpose(ctx, dyc));                                  // [in, n]
        dz = dz ? ggml_add(ctx, dz, part) : part;
    }
    return dz;
}

// Scratch per dequantized block on the scheduler path.
int64_t block_bytes(const azr_trainer_params &p) { return p.dequant_block_bytes > 0 ? p.dequant_block_bytes : (64ll << 20); }

// Weight types whose rows every ggml backend can dequantize with GET_ROWS
// (ggml's CUDA kernel covers these, not the K-quants nor the i-quants).
bool rows_dequantizable(ggml_type t) {
    switch (t) {
    case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16: case GGML_TYPE_Q4_0: case GGML_TYPE_Q4_1:
    case GGML_TYPE_Q5_0: case GGML_TYPE_Q5_1: case GGML_TYPE_Q8_0:
        return true;
    default:
        return false;
    }
}

// Columns per identity block of W [in, out]: the F32 block of W^T stays near 64 MiB.
int64_t identity_block(int64_t in, int64_t out, int64_t block_bytes) {
    return std::max<int64_t>(1, std::min<int64_t>(in, block_bytes / (4 * std::max(in, out))));
}

// Length of the identity-block source for matrices with `in` rows and blocks of up to c columns.
int64_t unit_len(int64_t in, int64_t c) { return in * c + in + 1; }

// dz = W dy' for a frozen W [in, out] of a type GET_ROWS cannot dequantize
// on every backend (K-quants): W^T is formed a block of c of its `in` rows at
// a time as W times a slice of the identity (MUL_MAT, which every backend
// runs for every type), then multiplied by dy.
// The slice is a view of `unit`, which holds ones exactly at the multiples
// of in+1: viewed as [in, c] rows of length in from offset off, element
// (i, k) sits at off + i + k*in, congruent to off + i - k modulo in+1, so
// off = -i0 (mod in+1) puts the ones at i = i0 + k and nowhere else. Extra
// memory is one F32 block; the price is in*in*out multiply-adds per matrix.
// The blocks' rows of dz are written in place into one tensor.
ggml_tensor *input_grad_by_identity(ggml_context *ctx, ggml_tensor *W, ggml_tensor *dy, ggml_tensor *unit, int64_t block_bytes) {
    const int64_t in = W->ne[0], out = W->ne[1];
    const int64_t c = identity_block(in, out, block_bytes);
    ggml_tensor *dz = nullptr;
    for (int64_t i0 = 0; i0 < in; i0 += c) {
        const int64_t cc = std::min(c, in - i0);
        const int64_t off = (in + 1 - i0) % (in + 1);
        ggml_tensor *eye = ggml_view_2d(ctx, unit, in, cc, (size_t)in * sizeof(float), (size_t)off * sizeof(float)); // [in, cc]
        ggml_tensor *wt = ggml_mul_mat(ctx, W, eye);   // [out, cc]: rows i0.. of W^T
        ggml_tensor *part = ggml_mul_mat(ctx, wt, dy); // [cc, n]
        // Block rows land in place in one [in, n] tensor (the first block,
        // zero-padded to full height, is that tensor), not in a growing concat.
        dz = dz ? ggml_set_2d_inplace(ctx, dz, part, dz->nb[1], (size_t)i0 * sizeof(float)) : ggml_pad(ctx, part, (int)(in - cc), 0, 0, 0);
    }
    return dz;
}

// dz = W^T dy for the frozen matrix of projection p in layer il. The direct
// CPU path multiplies by the trainer's transposed copy WT with the ordinary
// MUL_MAT (a quantized W is never differentiated through); the scheduler
// path makes no copies and dequantizes W block by block.
ggml_tensor *input_grad(ggml_context *ctx, azr_trainer *tr, int il, int p, ggml_tensor *dy, const grad_out &go) {
    if (tr->sched) {
        ggml_tensor *W = layer_weight(*tr->model->model, il, p);
        if (rows_dequantizable(W->type)) return input_grad_by_blocks(ctx, W, dy, go.row_ids, block_bytes(tr->p));
        return input_grad_by_identity(ctx, W, dy, go.units.at(W->ne[0]), block_bytes(tr->p));
    }
    return ggml_mul_mat(ctx, tr->wt[(size_t)il][(size_t)p], dy);
}

// dz = W_out^T dlogits for the output head, with the transposed copy of the
// output matrix (kept on both paths: on the scheduler path it is the one
// copy, in the output's own memory; the head runs once per row chunk, so
// dequantizing it each time would cost far more than the copy).
ggml_tensor *head_input_grad(ggml_context *ctx, azr_trainer *tr, ggml_tensor *dl) { return ggml_mul_mat(ctx, tr->out_t, dl); }

// Backward of lin: returns dz (nullptr when !need_dz) and records dA, dB.
ggml_tensor *lin_back(ggml_context *ctx, azr_trainer *tr, int il, int p, const layer_io &io, ggml_tensor *dy, bool need_dz,
                      grad_out &go) {
    ggml_tensor *dz = need_dz ? input_grad(ctx, tr, il, p, dy, go) : nullptr;
    if (lora_pair *pr = find_pair(tr, il, p)) {
        const float s = tr->lora->scale();
        ggml_tensor *dB = ggml_scale(ctx, ggml_out_prod(ctx, io.u, dy), s);                               // [r, out]
        ggml_tensor *du = ggml_scale(ctx, ggml_mul_mat(ctx, ggml_cont(ctx, ggml_transpose(ctx, pr->b)), dy), s); // [r, n]
        ggml_tensor *dA = ggml_out_prod(ctx, io.z, du);                                                    // [in, r]
        ggml_set_output(dA);
        ggml_set_output(dB);
        go.g[pr] = {dA, dB};
        if (need_dz) dz = ggml_add(ctx, dz, ggml_mul_mat(ctx, ggml_cont(ctx, ggml_transpose(ctx, pr->a)), du));
    }
    return dz;
}

// The CPU kernels of RMS_NORM_BACK and SOFT_MAX_BACK are on ggml-alloc's
// in-place list but read their inputs after writing the output: if the output
// took over an input's memory the gradient is silently wrong. An input is
// only taken over by its last consumer, so each back op is put in the graph
// right away, followed by a (free) view of each input: the inputs outlive the
// op by one node and their memory is released right after.
ggml_tensor *guarded_back(ggml_context *ctx, ggml_cgraph *gf, ggml_tensor *op) {
    ggml_build_forward_expand(gf, op);
    for (int j = 0; j < 2; j++)
        if (op->src[j]) ggml_build_forward_expand(gf, ggml_view_1d(ctx, op->src[j], 1, 0));
    return op;
}

struct built {
    ggml_cgraph *gf = nullptr;
    ggml_tensor *tokens = nullptr, *pos = nullptr, *tgt = nullptr, *adv_w = nullptr, *old_lp = nullptr, *ent_w = nullptr,
                *causal = nullptr, *dense_w = nullptr;
    ggml_tensor *logits = nullptr, *logp = nullptr, *entropy = nullptr, *clipped = nullptr, *loss = nullptr;
    grad_out go;
};

ggml_tensor *rope(ggml_context *ctx, azr_trainer *tr, ggml_tensor *x, ggml_tensor *pos) {
    return ggml_rope_ext(ctx, x, pos, nullptr, tr->n_rot, tr->rope_mode, tr->n_ctx_orig, tr->freq_base, tr->freq_scale, 0.0f,
                         tr->attn_factor, tr->beta_fast, tr->beta_slow);
}
ggml_tensor *rope_back(ggml_context *ctx, azr_trainer *tr, ggml_tensor *dx, ggml_tensor *pos) {
    return ggml_rope_ext_back(ctx, dx, pos, nullptr, tr->n_rot, tr->rope_mode, tr->n_ctx_orig, tr->freq_base, tr->freq_scale,
                              0.0f, tr->attn_factor, tr->beta_fast, tr->beta_slow);
}

// [hd*T, 1, n_kv, S] (grouped) -> [hd, T, n_head, S]: q head h reads kv head h / (n_head / n_kv).
ggml_tensor *regroup(ggml_context *ctx, azr_trainer *tr, ggml_tensor *g, int T, int S) {
    const int r = tr->n_head / tr->n_head_kv;
    if (r == 1) return ggml_reshape_4d(ctx, g, tr->hd, T, tr->n_head, S);
    ggml_tensor *x = ggml_repeat_4d(ctx, g, (int64_t)tr->hd * T, r, tr->n_head_kv, S);
    return ggml_reshape_4d(ctx, x, tr->hd, T, tr->n_head, S);
}

float kq_scale_of(const azr_trainer *tr) { return 1.0f / std::sqrt((float)tr->hd); }

// Expands [hd, T, n_kv, S] to [hd, T, n_head, S]; *grouped receives the compact copy.
ggml_tensor *expand_kv(ggml_context *ctx, azr_trainer *tr, ggml_tensor *k, int T, int S, ggml_tensor **grouped) {
    ggml_tensor *g = ggml_reshape_4d(ctx, ggml_cont(ctx, k), (int64_t)tr->hd * T, 1, tr->n_head_kv, S);
    *grouped = g;
    return regroup(ctx, tr, g, T, S);
}

// Forward of decoder layer il over n = S*T rows: returns x + attention + MLP
// and keeps in s what the backward needs.
ggml_tensor *layer_forward(ggml_context *ctx, azr_trainer *tr, int il, ggml_tensor *x, const built &b, int T, int S, layer_saved &s) {
    const llama_layer &ly = tr->model->model->layers[(size_t)il];
    const int n = S * T, hd = tr->hd, nh = tr->n_head, nkv = tr->n_head_kv;
    s.x = x;
    s.n1 = ggml_mul(ctx, ggml_rms_norm(ctx, x, tr->eps), ly.attn_norm);
    ggml_tensor *q = lin(ctx, tr, il, PROJ_Q, ly.wq, ly.bq, s.n1, s.lq);
    ggml_tensor *k = lin(ctx, tr, il, PROJ_K, ly.wk, ly.bk, s.n1, s.lk);
    ggml_tensor *v = lin(ctx, tr, il, PROJ_V, ly.wv, ly.bv, s.n1, s.lv);
    q = ggml_reshape_3d(ctx, q, hd, nh, n);
    k = ggml_reshape_3d(ctx, k, hd, nkv, n);
    if (tr->qk_norm) {
        s.q_pre = q;
        s.k_pre = k;
        q = ggml_mul(ctx, ggml_rms_norm(ctx, q, tr->eps), ly.attn_q_norm);
        k = ggml_mul(ctx, ggml_rms_norm(ctx, k, tr->eps), ly.attn_k_norm);
    }
    q = rope(ctx, tr, q, b.pos);
    k = rope(ctx, tr, k, b.pos);
    // [hd, heads, T, S] -> [hd, T, heads, S]
    s.Q = ggml_cont(ctx, ggml_permute(ctx, ggml_reshape_4d(ctx, q, hd, nh, T, S), 0, 2, 1, 3));
    ggml_tensor *K = ggml_permute(ctx, ggml_reshape_4d(ctx, k, hd, nkv, T, S), 0, 2, 1, 3);
    ggml_tensor *Vt = ggml_permute(ctx, ggml_reshape_4d(ctx, v, hd, nkv, T, S), 0, 2, 1, 3);
    s.Kx = expand_kv(ctx, tr, K, T, S, &s.Kg);
    s.Vx = expand_kv(ctx, tr, Vt, T, S, &s.Vg);
    ggml_tensor *kq = ggml_mul_mat(ctx, s.Kx, s.Q); // [Tk, Tq, nh, S]
    s.P = ggml_soft_max_ext(ctx, kq, b.causal, kq_scale_of(tr), 0.0f);
    ggml_tensor *VT = ggml_cont(ctx, ggml_transpose(ctx, s.Vx)); // [Tk, hd, nh, S]
    ggml_tensor *o = ggml_mul_mat(ctx, VT, s.P);                 // [hd, Tq, nh, S]
    o = ggml_reshape_2d(ctx, ggml_cont(ctx, ggml_permute(ctx, o, 0, 2, 1, 3)), (int64_t)hd * nh, n);
    ggml_tensor *att = lin(ctx, tr, il, PROJ_O, ly.wo, ly.bo, o, s.lo);
    s.h = ggml_add(ctx, x, att);
    s.n2 = ggml_mul(ctx, ggml_rms_norm(ctx, s.h, tr->eps), ly.ffn_norm);
    s.ga = lin(ctx, tr, il, PROJ_GATE, ly.ffn_gate, nullptr, s.n2, s.lg);
    s.up = lin(ctx, tr, il, PROJ_UP, ly.ffn_up, nullptr, s.n2, s.lu);
    s.sg = ggml_silu(ctx, s.ga);
    ggml_tensor *mm = ggml_mul(ctx, s.sg, s.up);
    ggml_tensor *dn = lin(ctx, tr, il, PROJ_DOWN, ly.ffn_down, nullptr, mm, s.ld);
    return ggml_add(ctx, s.h, dn);
}

// Backward of decoder layer il: dx is the loss gradient at the layer's output;
// returns the gradient at its input (nullptr for layer 0: nothing below it is
// trained) and records this layer's LoRA gradients in go.
ggml_tensor *layer_backward(ggml_context *ctx, ggml_cgraph *gf, azr_trainer *tr, int il, const layer_saved &s, ggml_tensor *dx,
                            const built &b, int T, int S, grad_out &go) {
    const llama_layer &lyr = tr->model->model->layers[(size_t)il];
    const int n = S * T, hd = tr->hd, nh = tr->n_head, nkv = tr->n_head_kv, r = nh / nkv;
    const bool need_in = il > 0;
    // MLP
    // silu(gate) and the MLP product are recomputed here rather than kept
    // from the forward (a third of the activation memory for Qwen shapes).
    ggml_tensor *sg = ggml_silu(ctx, s.ga);
    layer_io ld = s.ld;
    ld.z = ggml_mul(ctx, sg, s.up);
    ggml_tensor *dm = lin_back(ctx, tr, il, PROJ_DOWN, ld, dx, true, go);
    ggml_tensor *dsg = ggml_mul(ctx, dm, s.up);
    ggml_tensor *dup = ggml_mul(ctx, dm, sg);
    ggml_tensor *dga = ggml_silu_back(ctx, dsg, s.ga);
    ggml_tensor *dn2 = lin_back(ctx, tr, il, PROJ_GATE, s.lg, dga, true, go);
    dn2 = ggml_add(ctx, dn2, lin_back(ctx, tr, il, PROJ_UP, s.lu, dup, true, go));
    ggml_tensor *dh = ggml_add(ctx, dx, guarded_back(ctx, gf, ggml_rms_norm_back(ctx, ggml_mul(ctx, dn2, lyr.ffn_norm), s.h, tr->eps)));
    // attention
    ggml_tensor *do2 = lin_back(ctx, tr, il, PROJ_O, s.lo, dh, true, go);                                   // [hd*nh, n]
    ggml_tensor *dO = ggml_cont(ctx, ggml_permute(ctx, ggml_reshape_4d(ctx, do2, hd, nh, T, S), 0, 2, 1, 3)); // [hd, Tq, nh, S]
    // K and V expanded to every q head again from the grouped copies (GQA: r times smaller).
    ggml_tensor *Vx = regroup(ctx, tr, s.Vg, T, S), *Kx = regroup(ctx, tr, s.Kg, T, S);
    ggml_tensor *dP = ggml_mul_mat(ctx, Vx, dO);                                                                                 // [Tk, Tq, nh, S]
    ggml_tensor *dVx = ggml_mul_mat(ctx, ggml_cont(ctx, ggml_transpose(ctx, dO)), ggml_cont(ctx, ggml_transpose(ctx, s.P)));      // [hd, Tk, nh, S]
    ggml_tensor *dX = guarded_back(ctx, gf, ggml_soft_max_ext_back(ctx, dP, s.P, kq_scale_of(tr), 0.0f));                        // [Tk, Tq, nh, S]
    ggml_tensor *dQ = ggml_mul_mat(ctx, ggml_cont(ctx, ggml_transpose(ctx, Kx)), dX);                                            // [hd, Tq, nh, S]
    ggml_tensor *dKx = ggml_mul_mat(ctx, ggml_cont(ctx, ggml_transpose(ctx, s.Q)), ggml_cont(ctx, ggml_transpose(ctx, dX)));     // [hd, Tk, nh, S]
    auto group_sum = [&](ggml_tensor *dx4, ggml_tensor *grouped) {
        ggml_tensor *t = ggml_reshape_4d(ctx, dx4, (int64_t)hd * T, r, nkv, S);
        if (r > 1) t = ggml_repeat_back(ctx, t, grouped);
        t = ggml_reshape_4d(ctx, t, hd, T, nkv, S);
        return ggml_reshape_3d(ctx, ggml_cont(ctx, ggml_permute(ctx, t, 0, 2, 1, 3)), hd, nkv, n); // [hd, nkv, n]
    };
    ggml_tensor *dK = group_sum(dKx, s.Kg);
    ggml_tensor *dV = group_sum(dVx, s.Vg);
    ggml_tensor *dQ3 = ggml_reshape_3d(ctx, ggml_cont(ctx, ggml_permute(ctx, dQ, 0, 2, 1, 3)), hd, nh, n);
    dQ3 = rope_back(ctx, tr, dQ3, b.pos);
    dK = rope_back(ctx, tr, dK, b.pos);
    if (tr->qk_norm) {
        dQ3 = guarded_back(ctx, gf, ggml_rms_norm_back(ctx, ggml_mul(ctx, dQ3, lyr.attn_q_norm), s.q_pre, tr->eps));
        dK = guarded_back(ctx, gf, ggml_rms_norm_back(ctx, ggml_mul(ctx, dK, lyr.attn_k_norm), s.k_pre, tr->eps));
    }
    ggml_tensor *dq = ggml_reshape_2d(ctx, dQ3, (int64_t)hd * nh, n);
    ggml_tensor *dk = ggml_reshape_2d(ctx, dK, (int64_t)hd * nkv, n);
    ggml_tensor *dv = ggml_reshape_2d(ctx, dV, (int64_t)hd * nkv, n);
    ggml_tensor *dn1 = lin_back(ctx, tr, il, PROJ_Q, s.lq, dq, need_in, go);
    ggml_tensor *t2 = lin_back(ctx, tr, il, PROJ_K, s.lk, dk, need_in, go);
    ggml_tensor *t3 = lin_back(ctx, tr, il, PROJ_V, s.lv, dv, need_in, go);
    // This layer's gradients now, in projection order, so that their inputs
    // can be freed before the layer below starts.
    for (int p = 0; p < PROJ_COUNT; p++)
        if (lora_pair *pr = find_pair(tr, il, p)) {
            ggml_build_forward_expand(gf, go.g[pr].first);
            ggml_build_forward_expand(gf, go.g[pr].second);
        }
    if (!need_in) return nullptr;
    dn1 = ggml_add(ctx, ggml_add(ctx, dn1, t2), t3);
    return ggml_add(ctx, dh, guarded_back(ctx, gf, ggml_rms_norm_back(ctx, ggml_mul(ctx, dn1, lyr.attn_norm), s.x, tr->eps)));
}

// [V, rows] logits of the final hidden rows z.
ggml_tensor *head_logits(ggml_context *ctx, azr_trainer *tr, ggml_tensor *z) {
    const llama_model &m = *tr->model->model;
    ggml_tensor *lg = ggml_mul_mat(ctx, out_weight(m), z);
    if (m.output_b) lg = ggml_add(ctx, lg, m.output_b);
    return lg;
}

// The loss head over the final normed hidden rows zf [d, n]: per-row
// log-probabilities of the targets (b.logp) and, when training, entropies,
// PPO clip indicators and the loss gradient at zf (returned; nullptr when
// not training). The vocabulary-sized part runs in chunks of rows (mb.chunk)
// so that only one chunk's [V, rows] tensors are alive at a time; the graph
// visits the chunks in order because each concat takes the previous chunks
// as its first source and is expanded as soon as it is built.
ggml_tensor *loss_head(ggml_context *ctx, azr_trainer *tr, const micro_batch &mb, bool train, ggml_tensor *zf, float clip_low,
                       float clip_high, built &b) {
    const int n = mb.S * mb.T, V = tr->n_vocab;
    auto rows = [&](ggml_tensor *t, int r0, int nr) { // view of rows [r0, r0+nr) of a [k, n] tensor
        return ggml_view_2d(ctx, t, t->ne[0], nr, t->nb[1], (size_t)r0 * t->nb[1]);
    };
    auto cat = [&](ggml_tensor *acc, ggml_tensor *t) { return acc ? ggml_concat(ctx, acc, t, 1) : t; };
    ggml_tensor *logp_all = nullptr, *ent_all = nullptr, *clip_all = nullptr, *dzf = nullptr;
    for (int r0 = 0; r0 < n; r0 += mb.chunk) {
        const int nr = std::min(mb.chunk, n - r0);
        ggml_tensor *logits = head_logits(ctx, tr, rows(zf, r0, nr)); // [V, nr]
        ggml_tensor *tgt = ggml_view_1d(ctx, b.tgt, nr, (size_t)r0 * sizeof(int32_t));
        // Stable log-softmax pieces: c = row max, sh = logits - c, lse0 = log sum exp(sh).
        ggml_tensor *c = ggml_pool_2d(ctx, ggml_reshape_4d(ctx, logits, V, nr, 1, 1), GGML_OP_POOL_MAX, V, 1, V, 1, 0, 0);
        c = ggml_reshape_2d(ctx, c, 1, nr);
        ggml_tensor *sh = ggml_sub(ctx, logits, c);
        ggml_tensor *lse0 = ggml_log(ctx, ggml_sum_rows(ctx, ggml_exp(ctx, sh))); // [1, nr]
        ggml_tensor *ly = ggml_get_rows(ctx, ggml_reshape_2d(ctx, sh, 1, (int64_t)V * nr), tgt);
        ggml_tensor *logp = ggml_sub(ctx, ggml_reshape_2d(ctx, ly, 1, nr), lse0);
        logp_all = cat(logp_all, logp);
        ggml_build_forward_expand(b.gf, logp_all);
        if (!train) continue;
        ggml_tensor *p = ggml_soft_max(ctx, logits);
        ggml_tensor *H = ggml_sub(ctx, lse0, ggml_sum_rows(ctx, ggml_mul(ctx, p, sh))); // H = lse - sum p z
        ent_all = cat(ent_all, H);
        ggml_build_forward_expand(b.gf, ent_all);
        ggml_tensor *w = rows(b.adv_w, r0, nr);
        if (mb.ppo) {
            ggml_tensor *ratio = ggml_exp(ctx, ggml_sub(ctx, logp, rows(b.old_lp, r0, nr)));
            ggml_tensor *hi = ggml_mul(ctx, ggml_step(ctx, w), ggml_step(ctx, ggml_scale_bias(ctx, ratio, 1.0f, -(1.0f + clip_high))));
            ggml_tensor *lo = ggml_mul(ctx, ggml_step(ctx, ggml_scale(ctx, w, -1.0f)),
                                       ggml_step(ctx, ggml_scale_bias(ctx, ratio, -1.0f, 1.0f - clip_low)));
            ggml_tensor *clipped = ggml_add(ctx, hi, lo);
            clip_all = cat(clip_all, clipped);
            ggml_build_forward_expand(b.gf, clip_all);
            w = ggml_mul(ctx, ggml_mul(ctx, w, ratio), ggml_scale_bias(ctx, clipped, -1.0f, 1.0f));
        }
        // dlogits = w (p - onehot(y)) [+ beta/N m p (log p + H)]
        ggml_tensor *dl = ggml_mul(ctx, p, w);
        ggml_tensor *tmpl = ggml_reshape_2d(ctx, logits, 1, (int64_t)V * nr);
        ggml_tensor *onehot = ggml_get_rows_back(ctx, ggml_scale(ctx, w, -1.0f), tgt, tmpl);
        dl = ggml_add(ctx, dl, ggml_reshape_2d(ctx, onehot, V, nr));
        if (b.ent_w) {
            ggml_tensor *lpz = ggml_add(ctx, ggml_sub(ctx, sh, lse0), H);
            dl = ggml_add(ctx, dl, ggml_mul(ctx, ggml_mul(ctx, p, lpz), rows(b.ent_w, r0, nr)));
        }
        dzf = cat(dzf, head_input_grad(ctx, tr, dl)); // [d, nr]
        ggml_build_forward_expand(b.gf, dzf);
    }
    b.logp = logp_all;
    ggml_set_output(b.logp);
    if (!train) return nullptr;
    b.entropy = ent_all;
    ggml_set_output(b.entropy);
    if (clip_all) {
        b.clipped = clip_all;
        ggml_set_output(b.clipped);
    }
    return dzf;
}

// The autodiff oracle: a dense loss -sum w log softmax(logits) differentiated
// by ggml (F32/F16 bases only; the adapter's tensors are marked parameters).
void autodiff_loss(ggml_context *ctx, azr_trainer *tr, ggml_tensor *zf, int n, built &b) {
    ggml_tensor *logits = head_logits(ctx, tr, zf);
    b.dense_w = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, tr->n_vocab, n);
    ggml_set_input(b.dense_w);
    ggml_tensor *lp = ggml_log(ctx, ggml_soft_max(ctx, logits));
    b.loss = ggml_scale(ctx, ggml_sum(ctx, ggml_mul(ctx, lp, b.dense_w)), -1.0f);
    ggml_set_output(b.loss);
    ggml_set_loss(b.loss);
    for (auto &kv : tr->pair_of) {
        ggml_set_param(kv.second->a);
        ggml_set_param(kv.second->b);
    }
    ggml_build_forward_expand(b.gf, b.loss);
    ggml_build_backward_expand(ctx, b.gf, nullptr);
    for (auto &kv : tr->pair_of) {
        ggml_tensor *ga = ggml_graph_get_grad(b.gf, kv.second->a), *gb = ggml_graph_get_grad(b.gf, kv.second->b);
        if (ga) ggml_set_output(ga);
        if (gb) ggml_set_output(gb);
        b.go.g[kv.second] = {ga, gb};
    }
    // ggml built this backward: keep the inputs of RMS_NORM_BACK /
    // SOFT_MAX_BACK out of in-place reuse by marking them outputs (see guarded_back).
    for (int i = 0; i < ggml_graph_n_nodes(b.gf); i++) {
        ggml_tensor *nd = ggml_graph_node(b.gf, i);
        if (nd->op == GGML_OP_RMS_NORM_BACK || nd->op == GGML_OP_SOFT_MAX_BACK)
            for (int j = 0; j < 2; j++)
                if (nd->src[j]) ggml_set_output(nd->src[j]);
    }
}

// The graph of one micro-batch: the decoder forward over full sequences, then
// (by mode) the logits, the target log-probs, or the loss with its hand-built
// backward (MODE_HAND) or ggml's autodiff (MODE_AUTO).
built build_graph(ggml_context *ctx, azr_trainer *tr, const micro_batch &mb, graph_mode mode, float entropy_coef, float clip_low,
                  float clip_high) {
    const llama_model &m = *tr->model->model;
    const int S = mb.S, T = mb.T, n = S * T;
    built b;
    b.gf = ggml_new_graph_custom(ctx, 65536, mode == MODE_AUTO);

    b.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n);
    b.pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n);
    b.causal = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, T, T);
    for (ggml_tensor *t : {b.tokens, b.pos, b.causal}) ggml_set_input(t);

    std::vector<layer_saved> L((size_t)tr->n_layer);
    ggml_tensor *x = ggml_get_rows(ctx, m.tok_embd, b.tokens); // [d, n]
    for (int il = 0; il < tr->n_layer; il++) x = layer_forward(ctx, tr, il, x, b, T, S, L[(size_t)il]);
    ggml_tensor *xL = x;
    ggml_tensor *zf = ggml_mul(ctx, ggml_rms_norm(ctx, xL, tr->eps), m.output_norm);

    if (mode == MODE_LOGITS) {
        b.logits = head_logits(ctx, tr, zf);
        ggml_set_output(b.logits);
        ggml_build_forward_expand(b.gf, b.logits);
        return b;
    }
    if (mode == MODE_AUTO) {
        autodiff_loss(ctx, tr, zf, n, b);
        return b;
    }
    b.tgt = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n); // row-local flat index (r - r0) * V + y
    ggml_set_input(b.tgt);
    const bool train = mode == MODE_HAND;
    if (train) {
        b.adv_w = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, n);
        ggml_set_input(b.adv_w);
        if (mb.ppo) {
            b.old_lp = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, n);
            ggml_set_input(b.old_lp);
        }
        if (entropy_coef != 0.0f) {
            b.ent_w = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, n);
            ggml_set_input(b.ent_w);
        }
    }
    if (train && tr->sched) {
        b.go.row_ids = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, tr->max_rows);
        ggml_set_input(b.go.row_ids);
        for (const auto &kv : tr->unit_cols) {
            ggml_tensor *u = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, unit_len(kv.first, kv.second));
            ggml_set_input(u);
            b.go.units[kv.first] = u;
        }
    }
    ggml_tensor *dzf = loss_head(ctx, tr, mb, train, zf, clip_low, clip_high, b);
    if (!train) {
        ggml_build_forward_expand(b.gf, b.logp);
        return b;
    }
    ggml_tensor *dx = guarded_back(ctx, b.gf, ggml_rms_norm_back(ctx, ggml_mul(ctx, dzf, m.output_norm), xL, tr->eps));
    for (int il = tr->n_layer - 1; il >= 0 && dx; il--) dx = layer_backward(ctx, b.gf, tr, il, L[(size_t)il], dx, b, T, S, b.go);
    for (auto &kv : b.go.g) {
        ggml_build_forward_expand(b.gf, kv.second.first);
        ggml_build_forward_expand(b.gf, kv.second.second);
    }
    ggml_build_forward_expand(b.gf, b.entropy);
    ggml_build_forward_expand(b.gf, b.logp);
    if (b.clipped) ggml_build_forward_expand(b.gf, b.clipped);
    return b;
}

// ------------------------------------------------------------- batches

azr_status check_seqs(azr_trainer *tr, const azr_train_seq *seqs, int32_t n_seqs, bool need_adv, const char *what, char *err,
                      size_t err_cap) {
    if (!seqs || n_seqs < 1) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "%s: no sequences", what);
    for (int32_t i = 0; i < n_seqs; i++) {
        const azr_train_seq &s = seqs[i];
        if (!s.tokens || s.n_tokens < 2)
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "%s: sequence %d needs at least 2 tokens", what, i);
        if (s.n_tokens > tr->n_ctx_orig)
            return fail(err, err_cap, AZR_ERR_CONTEXT_FULL, "%s: sequence %d has %d tokens", what, i, s.n_tokens);
        for (int32_t t = 0; t < s.n_tokens; t++)
            if (s.tokens[t] < 0 || s.tokens[t] >= tr->n_vocab)
                return fail(err, err_cap, AZR_ERR_INVALID_ARG, "%s: sequence %d token %d = %d is outside the vocabulary", what, i, t, s.tokens[t]);
        if (need_adv) {
            if (s.response_start < 1 || s.response_start > s.n_tokens)
                return fail(err, err_cap, AZR_ERR_INVALID_ARG, "%s: sequence %d: response_start %d not in 1..%d", what, i, s.response_start,
                            s.n_tokens);
            if (!s.advantages) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "%s: sequence %d has no advantages", what, i);
            for (int32_t t = s.response_start; t < s.n_tokens; t++) {
                if (!std::isfinite(s.advantages[t]))
                    return fail(err, err_cap, AZR_ERR_INVALID_ARG, "%s: sequence %d advantage %d is not finite", what, i, t);
                if (s.old_logprobs && !std::isfinite(s.old_logprobs[t]) && (!s.mask || s.mask[t]))
                    return fail(err, err_cap, AZR_ERR_INVALID_ARG, "%s: sequence %d old log-prob %d is not finite", what, i, t);
            }
        }
    }
    return AZR_OK;
}

bool trained(const azr_train_seq &s, int32_t t) { return t >= s.response_start && t < s.n_tokens && (!s.mask || s.mask[t]); }

micro_batch make_batch(azr_trainer *tr, const azr_train_seq *seqs, int32_t first, int32_t count, double inv_n, bool with_adv,
                       bool dense) {
    micro_batch mb;
    mb.S = count;
    for (int32_t i = 0; i < count; i++) mb.T = std::max(mb.T, seqs[first + i].n_tokens);
    const int T = mb.T, n = mb.S * mb.T;
    const int64_t V = tr->n_vocab;
    int64_t chunk = tr->p.head_chunk > 0 ? tr->p.head_chunk : std::max<int64_t>(1, (16ll << 20) / V);
    chunk = std::min<int64_t>(chunk, (int64_t)INT32_MAX / V); // flat indices stay in int32
    mb.chunk = (int)std::max<int64_t>(1, std::min<int64_t>(chunk, n));
    mb.tokens.assign((size_t)n, 0);
    mb.pos.assign((size_t)n, 0);
    mb.tgt.assign((size_t)n, 0);
    mb.adv_w.assign((size_t)n, 0.0f);
    mb.old_lp.assign((size_t)n, 0.0f);
    mb.mask.assign((size_t)n, 0.0f);
    mb.row_seq.assign((size_t)n, -1);
    mb.row_tok.assign((size_t)n, -1);
    if (dense) mb.dense_w.assign((size_t)n * (size_t)V, 0.0f);
    mb.causal.assign((size_t)T * T, 0.0f);
    for (int q = 0; q < T; q++)
        for (int k = q + 1; k < T; k++) mb.causal[(size_t)q * T + k] = -INFINITY;
    for (int32_t i = 0; i < count; i++) {
        const azr_train_seq &s = seqs[first + i];
        if (s.old_logprobs && with_adv) mb.ppo = true;
        for (int t = 0; t < T; t++) {
            const int r = i * T + t;
            mb.pos[(size_t)r] = t;
            if (t < s.n_tokens) mb.tokens[(size_t)r] = s.tokens[t];
            // row r predicts token t+1
            if (t + 1 < s.n_tokens) {
                mb.tgt[(size_t)r] = (int32_t)((int64_t)(r % mb.chunk) * V + s.tokens[t + 1]);
                mb.row_seq[(size_t)r] = first + i;
                mb.row_tok[(size_t)r] = t + 1;
                if (with_adv && trained(s, t + 1)) {
                    mb.mask[(size_t)r] = 1.0f;
                    mb.adv_w[(size_t)r] = (float)(s.advantages[t + 1] * inv_n);
                    if (s.old_logprobs) mb.old_lp[(size_t)r] = s.old_logprobs[t + 1];
                    if (dense) mb.dense_w[(size_t)r * (size_t)V + (size_t)s.tokens[t + 1]] = mb.adv_w[(size_t)r];
                }
            }
        }
    }
    return mb;
}

// True when t (a source of a node) is a weight kept in host memory: the ops
// reading it run on the CPU by design (llama.cpp keeps the token embeddings
// there; layers not offloaded stay there with their adapter pairs).
bool host_weight(const ggml_tensor *t) {
    const ggml_tensor *base = t->view_src ? t->view_src : t;
    return base->buffer && ggml_backend_buffer_is_host(base->buffer) &&
           ggml_backend_buffer_get_usage(base->buffer) == GGML_BACKEND_BUFFER_USAGE_WEIGHTS;
}

// Notes every node of gf that the scheduler placed on the CPU backend while
// a device backend exists (nothing on a CPU-only machine), except those that
// read a weight kept in host memory: a silent CPU fallback of a big op would
// make GPU training crawl.
void record_cpu_ops(azr_trainer *tr, ggml_cgraph *gf) {
    tr->cpu_ops.clear();
    if (tr->backends.size() < 2) return;
    for (int i = 0; i < ggml_graph_n_nodes(gf); i++) {
        ggml_tensor *nd = ggml_graph_node(gf, i);
        if (ggml_backend_sched_get_tensor_backend(tr->sched, nd) != tr->backend) continue;
        bool by_design = false;
        for (int j = 0; j < GGML_MAX_SRC; j++) by_design |= nd->src[j] && host_weight(nd->src[j]);
        if (by_design) continue;
        azr_placed_op op{};
        snprintf(op.op, sizeof op.op, "%s", ggml_op_desc(nd));
        snprintf(op.name, sizeof op.name, "%s", nd->name);
        op.n_elements = ggml_nelements(nd);
        for (int j = 0; j < GGML_MAX_SRC; j++)
            if (nd->src[j]) op.src_elements = std::max<int64_t>(op.src_elements, ggml_nelements(nd->src[j]));
        tr->cpu_ops.push_back(op);
    }
}

// Scheduler path: acc += g for every adapter gradient of the micro-batch, as
// nodes of its graph, so the sum stays in the accumulators' (device) memory.
void add_accumulation(ggml_context *ctx, azr_trainer *tr, built &b) {
    for (const auto &kv : b.go.g) {
        const std::array<ggml_tensor *, 2> &acc = tr->acc.at(kv.first);
        ggml_tensor *g[2] = {kv.second.first, kv.second.second};
        for (int k = 0; k < 2; k++)
            if (g[k]) ggml_build_forward_expand(b.gf, ggml_cpy(ctx, ggml_add(ctx, acc[(size_t)k], g[k]), acc[(size_t)k]));
    }
}

bool cancel_requested(void *data) { return static_cast<azr_trainer *>(data)->cancel.load(std::memory_order_relaxed); }

struct graph_run {
    ggml_context *ctx = nullptr;
    built b;
    ~graph_run() {
        if (ctx) ggml_free(ctx);
    }
};

azr_status run_graph(azr_trainer *tr, const micro_batch &mb, graph_mode mode, float entropy_coef, float clip_low, float clip_high,
                     graph_run &gr,
                     char *err, size_t err_cap) {
    const size_t n_tensors = 65536 * 2;
    ggml_init_params ip = {ggml_tensor_overhead() * n_tensors + ggml_graph_overhead_custom(65536, true), nullptr, true};
    gr.ctx = ggml_init(ip);
    if (!gr.ctx) return fail(err, err_cap, AZR_ERR_NOMEM, "train: ggml_init failed");
    gr.b = build_graph(gr.ctx, tr, mb, mode, entropy_coef, clip_low, clip_high);
    if (mode == MODE_HAND && tr->sched) add_accumulation(gr.ctx, tr, gr.b);
    if (mode == MODE_AUTO)
        for (auto &kv : tr->pair_of) { // the flags live on the adapter's tensors: clear them again
            kv.second->a->flags &= ~GGML_TENSOR_FLAG_PARAM;
            kv.second->b->flags &= ~GGML_TENSOR_FLAG_PARAM;
        }
    if (tr->sched) {
        ggml_backend_sched_reset(tr->sched);
        if (!ggml_backend_sched_alloc_graph(tr->sched, gr.b.gf))
            return fail(err, err_cap, AZR_ERR_NOMEM, "train: cannot allocate the compute graph on the model's backends");
        record_cpu_ops(tr, gr.b.gf);
    } else {
        if (!tr->galloc) return fail(err, err_cap, AZR_ERR_NOMEM, "train: no graph allocator");
        if (!ggml_gallocr_alloc_graph(tr->galloc, gr.b.gf)) return fail(err, err_cap, AZR_ERR_NOMEM, "train: cannot allocate the compute graph");
    }
    if (getenv("AZR_TRAIN_DEBUG"))
        fprintf(stderr, "azr train: mode %d, %d x %d rows, %d nodes, compute buffer %.1f MiB%s\n", (int)mode, mb.S, mb.T,
                ggml_graph_n_nodes(gr.b.gf),
                (tr->sched ? ggml_backend_sched_get_buffer_size(tr->sched, tr->backends[0]) : ggml_gallocr_get_buffer_size(tr->galloc, 0)) / 1048576.0,
                tr->sched ? " (first backend, scheduler path)" : "");
    built &b = gr.b;
    // The dequantization inputs are only allocated when some matrix uses them
    // (layer 0's q/k/v need no input gradient, K-quants use no row ids).
    if (b.go.row_ids && b.go.row_ids->buffer) {
        std::vector<int32_t> ids((size_t)tr->max_rows);
        for (size_t i = 0; i < ids.size(); i++) ids[i] = (int32_t)i;
        ggml_backend_tensor_set(b.go.row_ids, ids.data(), 0, ggml_nbytes(b.go.row_ids));
    }
    for (const auto &kv : b.go.units) {
        if (!kv.second->buffer) continue;
        std::vector<float> e((size_t)ggml_nelements(kv.second), 0.0f);
        for (size_t m = 0; m < e.size(); m += (size_t)kv.first + 1) e[m] = 1.0f;
        ggml_backend_tensor_set(kv.second, e.data(), 0, ggml_nbytes(kv.second));
    }
    ggml_backend_tensor_set(b.tokens, mb.tokens.data(), 0, ggml_nbytes(b.tokens));
    ggml_backend_tensor_set(b.pos, mb.pos.data(), 0, ggml_nbytes(b.pos));
    ggml_backend_tensor_set(b.causal, mb.causal.data(), 0, ggml_nbytes(b.causal));
    if (b.tgt) ggml_backend_tensor_set(b.tgt, mb.tgt.data(), 0, ggml_nbytes(b.tgt));
    if (b.adv_w) ggml_backend_tensor_set(b.adv_w, mb.adv_w.data(), 0, ggml_nbytes(b.adv_w));
    if (b.old_lp) ggml_backend_tensor_set(b.old_lp, mb.old_lp.data(), 0, ggml_nbytes(b.old_lp));
    if (b.ent_w) {
        std::vector<float> ew(mb.mask.size()); // beta / N on trained rows (entropy_coef arrives already divided by N)
        for (size_t i = 0; i < ew.size(); i++) ew[i] = mb.mask[i] * entropy_coef;
        ggml_backend_tensor_set(b.ent_w, ew.data(), 0, ggml_nbytes(b.ent_w));
    }
    if (b.dense_w) ggml_backend_tensor_set(b.dense_w, mb.dense_w.data(), 0, ggml_nbytes(b.dense_w));
    if (mode == MODE_AUTO) ggml_graph_reset(b.gf);
    ggml_backend_cpu_set_n_threads(tr->backend, tr->n_threads);
    ggml_backend_cpu_set_abort_callback(tr->backend, cancel_requested, tr);
    const ggml_status st = tr->sched ? ggml_backend_sched_graph_compute(tr->sched, b.gf) : ggml_backend_graph_compute(tr->backend, b.gf);
    if (st == GGML_STATUS_ABORTED || tr->cancel.load()) return fail(err, err_cap, AZR_ERR_CANCELLED, "train: cancelled");
    if (st != GGML_STATUS_SUCCESS) return fail(err, err_cap, AZR_ERR_INTERNAL, "train: graph compute failed (status %d)", (int)st);
    return AZR_OK;
}

std::vector<float> read_f32(ggml_tensor *t) {
    if (!t->buffer && !(t->view_src && t->view_src->buffer))
        throw std::runtime_error(std::string("tensor not computed: ") + t->name + " op " + ggml_op_desc(t));
    std::vector<float> v((size_t)ggml_nelements(t));
    ggml_backend_tensor_get(t, v.data(), 0, ggml_nbytes(t));
    return v;
}

// Loss and gradients of a whole batch, accumulated over micro-batches.
struct batch_result {
    double loss = 0, entropy = 0, clipped = 0;
    int64_t n_tok = 0, n_rows = 0;
    int32_t n_micro = 0; // micro-batches whose gradients were accumulated
    std::vector<std::vector<float>> ga, gb; // per pair; empty when they stay on the device (tr->acc)
    bool on_device = false;
};

// A small graph (norm or update) run through the trainer's scheduler: no
// abort callback, so a cancellation cannot stop an update half-applied.
struct small_graph {
    ggml_context *ctx = nullptr;
    ggml_cgraph *gf = nullptr;
    explicit small_graph(size_t n_nodes) {
        ggml_init_params ip = {ggml_tensor_overhead() * (n_nodes + 16) + ggml_graph_overhead_custom(n_nodes + 16, false), nullptr, true};
        ctx = ggml_init(ip);
        if (ctx) gf = ggml_new_graph_custom(ctx, n_nodes + 16, false);
    }
    ~small_graph() {
        if (ctx) ggml_free(ctx);
    }
};

azr_status alloc_small(azr_trainer *tr, small_graph &sg, const char *what, char *err, size_t err_cap) {
    ggml_backend_sched_reset(tr->sched);
    if (!ggml_backend_sched_alloc_graph(tr->sched, sg.gf))
        return fail(err, err_cap, AZR_ERR_NOMEM, "train: cannot allocate the %s graph on the model's backends", what);
    return AZR_OK;
}

azr_status compute_small(azr_trainer *tr, small_graph &sg, const char *what, char *err, size_t err_cap) {
    ggml_backend_cpu_set_n_threads(tr->backend, tr->n_threads);
    ggml_backend_cpu_set_abort_callback(tr->backend, nullptr, nullptr);
    const ggml_status st = ggml_backend_sched_graph_compute(tr->sched, sg.gf);
    if (st != GGML_STATUS_SUCCESS) return fail(err, err_cap, AZR_ERR_INTERNAL, "train: the %s graph failed (status %d)", what, (int)st);
    return AZR_OK;
}

// Scheduler path: the global L2 norm of the accumulated gradient, from one
// sum of squares per adapter tensor computed where it lives (only those
// scalars are read back; they are summed in double here).
azr_status device_global_norm(azr_trainer *tr, double &norm, char *err, size_t err_cap) {
    small_graph sg(tr->acc.size() * 12);
    if (!sg.gf) return fail(err, err_cap, AZR_ERR_NOMEM, "train: ggml_init failed");
    std::vector<ggml_tensor *> sums;
    for (const auto &kv : tr->acc)
        for (ggml_tensor *a : kv.second) {
            ggml_tensor *s = ggml_sum(sg.ctx, ggml_sqr(sg.ctx, a));
            ggml_set_output(s);
            ggml_build_forward_expand(sg.gf, s);
            sums.push_back(s);
        }
    if (azr_status s = alloc_small(tr, sg, "gradient norm", err, err_cap)) return s;
    if (azr_status s = compute_small(tr, sg, "gradient norm", err, err_cap)) return s;
    double g2 = 0;
    for (ggml_tensor *s : sums) {
        float v = 0;
        ggml_backend_tensor_get(s, &v, 0, sizeof v);
        g2 += v;
    }
    norm = std::sqrt(g2);
    return AZR_OK;
}

// Scheduler path: one AdamW update of every adapter tensor with ggml's
// OPT_STEP_ADAMW where the tensor lives, from the device accumulators scaled
// by clip. Its semantics are the host update's (adamw_update): moments
// m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, bias correction by
// 1/(1-b^t), decoupled weight decay theta (1 - lr wd), eps added after the
// square root; the arithmetic is float instead of the host's double.
azr_status device_adamw_update(azr_trainer *tr, float lr, double clip, char *err, size_t err_cap) {
    const azr_trainer_params &p = tr->p;
    azr_lora &l = *tr->lora;
    const int64_t t = l.step + 1;
    const double bc1 = 1.0 - std::pow((double)p.beta1, (double)t), bc2 = 1.0 - std::pow((double)p.beta2, (double)t);
    small_graph sg(l.pairs.size() * 12); // per pair: 8 leaves (A, B, their moments and accumulators), up to 4 nodes
    if (!sg.gf) return fail(err, err_cap, AZR_ERR_NOMEM, "train: ggml_init failed");
    ggml_tensor *hp = ggml_new_tensor_1d(sg.ctx, GGML_TYPE_F32, 7);
    ggml_set_input(hp);
    for (lora_pair &pr : l.pairs) {
        const std::array<ggml_tensor *, 2> &acc = tr->acc.at(&pr);
        ggml_tensor *w[2] = {pr.a, pr.b}, *m[2] = {pr.m_a, pr.m_b}, *v[2] = {pr.v_a, pr.v_b};
        for (int k = 0; k < 2; k++) {
            ggml_tensor *g = clip != 1.0 ? ggml_scale(sg.ctx, acc[(size_t)k], (float)clip) : acc[(size_t)k];
            w[k]->flags |= GGML_TENSOR_FLAG_PARAM; // asserted by ggml_opt_step_adamw only; cleared at once
            ggml_tensor *up = ggml_opt_step_adamw(sg.ctx, w[k], g, m[k], v[k], hp);
            w[k]->flags &= ~GGML_TENSOR_FLAG_PARAM;
            ggml_build_forward_expand(sg.gf, up);
        }
    }
    if (azr_status s = alloc_small(tr, sg, "AdamW update", err, err_cap)) return s;
    const float hv[7] = {lr, p.beta1, p.beta2, p.eps, p.weight_decay, (float)(1.0 / bc1), (float)(1.0 / bc2)};
    ggml_backend_tensor_set(hp, hv, 0, sizeof hv);
    if (azr_status s = compute_small(tr, sg, "AdamW update", err, err_cap)) return s;
    l.step = t;
    l.version++;
    return AZR_OK;
}

// Scheduler path: copies the device accumulators into br (for the gradient oracle).
void read_accumulators(azr_trainer *tr, batch_result &br) {
    auto &pairs = tr->lora->pairs;
    br.ga.resize(pairs.size());
    br.gb.resize(pairs.size());
    for (size_t i = 0; i < pairs.size(); i++) {
        const std::array<ggml_tensor *, 2> &acc = tr->acc.at(&pairs[i]);
        br.ga[i] = read_f32(acc[0]);
        br.gb[i] = read_f32(acc[1]);
    }
}

azr_status compute_batch(azr_trainer *tr, const azr_train_seq *seqs, int32_t n_seqs, graph_mode mode, batch_result &br, char *err,
                         size_t err_cap) {
    if (azr_status s = check_seqs(tr, seqs, n_seqs, true, "train", err, err_cap)) return s;
    int64_t N = 0;
    bool any_ppo = false;
    for (int32_t i = 0; i < n_seqs; i++) {
        for (int32_t t = 1; t < seqs[i].n_tokens; t++) N += trained(seqs[i], t);
        any_ppo |= seqs[i].old_logprobs != nullptr;
    }
    if (N == 0) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "train: the batch has no response tokens");
    if (any_ppo)
        for (int32_t i = 0; i < n_seqs; i++)
            if (!seqs[i].old_logprobs)
                return fail(err, err_cap, AZR_ERR_INVALID_ARG, "train: old log-probs given for some sequences but not sequence %d", i);
    if (mode == MODE_AUTO && (any_ppo || tr->p.entropy_coef != 0.0f))
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "train: the autodiff oracle supports neither PPO clipping nor the entropy bonus");
    if (mode == MODE_AUTO && ggml_is_quantized(tr->model->model->layers[0].wq->type))
        return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "train: the autodiff oracle needs an F32/F16 base");
    const double inv_n = 1.0 / (double)N;
    // The PPO ratio is clipped to [1 - clip_eps, 1 + clip_eps_high] (as given: the caller owns the defaults).
    const float clip_low = tr->p.clip_eps, clip_high = tr->p.clip_eps_high;
    const float ent = (float)(tr->p.entropy_coef * inv_n);
    auto &pairs = tr->lora->pairs;
    br = batch_result();
    br.n_tok = N;
    br.on_device = mode == MODE_HAND && tr->sched;
    if (br.on_device) {
        // Scratch for this batch only: the adapter and its moments are untouched until the update.
        for (ggml_backend_buffer_t b : tr->acc_bufs) ggml_backend_buffer_clear(b, 0);
    } else {
        br.ga.resize(pairs.size());
        br.gb.resize(pairs.size());
        for (size_t i = 0; i < pairs.size(); i++) {
            br.ga[i].assign((size_t)ggml_nelements(pairs[i].a), 0.0f);
            br.gb[i].assign((size_t)ggml_nelements(pairs[i].b), 0.0f);
        }
    }
    const int32_t mbs = tr->p.micro_batch > 0 ? tr->p.micro_batch : n_seqs;
    for (int32_t first = 0; first < n_seqs; first += mbs) {
        if (tr->cancel.load()) return fail(err, err_cap, AZR_ERR_CANCELLED, "train: cancelled");
        const int32_t count = std::min(mbs, n_seqs - first);
        micro_batch mb = make_batch(tr, seqs, first, count, inv_n, true, mode == MODE_AUTO);
        br.n_rows += (int64_t)mb.S * mb.T;
        graph_run gr;
        if (azr_status s = run_graph(tr, mb, mode, ent, clip_low, clip_high, gr, err, err_cap)) return s;
        if (mode == MODE_AUTO) {
            br.loss += read_f32(gr.b.loss)[0];
        } else {
            std::vector<float> lp = read_f32(gr.b.logp), H = read_f32(gr.b.entropy);
            std::vector<float> cl = gr.b.clipped ? read_f32(gr.b.clipped) : std::vector<float>();
            for (size_t r = 0; r < lp.size(); r++) {
                if (mb.mask[r] == 0.0f) continue;
                const azr_train_seq &s = seqs[mb.row_seq[r]];
                const int t = mb.row_tok[r];
                const double A = s.advantages[t];
                double obj;
                if (s.old_logprobs) {
                    const double ratio = std::exp((double)lp[r] - s.old_logprobs[t]);
                    const double rc = std::min(std::max(ratio, 1.0 - clip_low), 1.0 + clip_high);
                    obj = std::min(ratio * A, rc * A);
                    if (!cl.empty()) br.clipped += cl[r];
                } else {
                    obj = A * lp[r];
                }
                br.loss += -obj * inv_n - tr->p.entropy_coef * inv_n * H[r];
                br.entropy += H[r] * inv_n;
            }
        }
        for (size_t i = 0; i < pairs.size() && !br.on_device; i++) {
            auto it = gr.b.go.g.find(&pairs[i]);
            if (it == gr.b.go.g.end()) continue;
            for (int k = 0; k < 2; k++) {
                ggml_tensor *g = k == 0 ? it->second.first : it->second.second;
                if (!g) continue;
                std::vector<float> v = read_f32(g);
                std::vector<float> &acc = k == 0 ? br.ga[i] : br.gb[i];
                for (size_t j = 0; j < v.size(); j++) acc[j] += v[j];
            }
        }
        br.n_micro++;
    }
    return AZR_OK;
}

// Global L2 norm of the accumulated gradient (before clipping).
double global_norm(const batch_result &br) {
    double g2 = 0;
    for (size_t i = 0; i < br.ga.size(); i++)
        for (const auto *v : {&br.ga[i], &br.gb[i]})
            for (float x : *v) g2 += (double)x * x;
    return std::sqrt(g2);
}

// The factor that scales the gradient to the global-norm clip (1 when off or within).
double clip_factor(const azr_trainer_params &p, double grad_norm) {
    return (p.grad_clip > 0 && grad_norm > p.grad_clip) ? p.grad_clip / grad_norm : 1.0;
}

void fill_result(const batch_result &br, double grad_norm, azr_train_result *res) {
    res->loss = br.loss;
    res->grad_norm = grad_norm;
    res->entropy = br.entropy;
    res->clip_frac = br.n_tok ? br.clipped / (double)br.n_tok : 0;
    res->n_tokens = br.n_tok;
    res->n_rows = br.n_rows;
    res->n_micro_batches = br.n_micro;
}

// One AdamW update of every adapter parameter from the accumulated gradient
// (scaled by clip), with bias-corrected moments and decoupled weight decay;
// then the adapter's step and version advance.
float *host_f32(ggml_tensor *t) {
    if (!t->buffer || !ggml_backend_buffer_is_host(t->buffer)) throw std::runtime_error(std::string("not in host memory: ") + t->name);
    return static_cast<float *>(t->data);
}

void adamw_update(const azr_trainer_params &p, float lr, double clip, batch_result &br, azr_lora &l) {
    const int64_t t = l.step + 1;
    const double bc1 = 1.0 - std::pow((double)p.beta1, (double)t), bc2 = 1.0 - std::pow((double)p.beta2, (double)t);
    std::vector<float> theta;
    for (size_t i = 0; i < l.pairs.size(); i++) {
        lora_pair &pr = l.pairs[i];
        for (int k = 0; k < 2; k++) {
            ggml_tensor *w = k == 0 ? pr.a : pr.b;
            const std::vector<float> &g = k == 0 ? br.ga[i] : br.gb[i];
            // The direct path keeps every adapter tensor in host memory.
            float *mo = host_f32(k == 0 ? pr.m_a : pr.m_b), *ve = host_f32(k == 0 ? pr.v_a : pr.v_b);
            theta.resize(g.size());
            ggml_backend_tensor_get(w, theta.data(), 0, ggml_nbytes(w));
            for (size_t j = 0; j < g.size(); j++) {
                const double gj = g[j] * clip;
                mo[j] = (float)(p.beta1 * mo[j] + (1.0 - p.beta1) * gj);
                ve[j] = (float)(p.beta2 * ve[j] + (1.0 - p.beta2) * gj * gj);
                const double mh = mo[j] / bc1, vh = ve[j] / bc2;
                theta[j] = (float)(theta[j] - lr * (mh / (std::sqrt(vh) + p.eps) + p.weight_decay * theta[j]));
            }
            ggml_backend_tensor_set(w, theta.data(), 0, ggml_nbytes(w));
        }
    }
    l.step = t;
    l.version++;
}

float lr_at(const azr_trainer_params &p, int64_t step) {
    if (p.schedule != 1) return p.lr;
    if (p.warmup_steps > 0 && step < p.warmup_steps) return p.lr * (float)(step + 1) / (float)p.warmup_steps;
    const int64_t span = std::max<int64_t>(1, (int64_t)p.total_steps - p.warmup_steps);
    double prog = std::min(1.0, std::max(0.0, (double)(step - p.warmup_steps) / (double)span));
    return (float)(p.min_lr + 0.5 * (p.lr - p.min_lr) * (1.0 + std::cos(M_PI * prog)));
}

azr_status check_params(const azr_trainer_params &p, char *err, size_t err_cap) {
    if (!(p.lr >= 0) || !std::isfinite(p.lr)) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: lr must be >= 0");
    if (!(p.beta1 >= 0 && p.beta1 < 1) || !(p.beta2 >= 0 && p.beta2 < 1))
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: betas must be in [0, 1)");
    if (!(p.eps > 0)) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: eps must be > 0");
    if (!(p.weight_decay >= 0)) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: weight_decay must be >= 0");
    if (p.schedule != 0 && p.schedule != 1) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: schedule must be 0 or 1");
    if (p.schedule == 1 && (p.total_steps < 1 || p.warmup_steps < 0))
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: the cosine schedule needs total_steps >= 1 and warmup_steps >= 0");
    if (p.head_chunk < 0) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: head_chunk must be >= 0");
    if (p.dequant_block_bytes < 0) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: dequant_block_bytes must be >= 0");
    if (p.scheduler != AZR_SCHED_AUTO && p.scheduler != AZR_SCHED_ALWAYS)
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: unknown scheduler choice %d", p.scheduler);
    if (p.wt_type < AZR_WT_AUTO || p.wt_type > AZR_WT_F32)
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: unknown wt_type %d", p.wt_type);
    if (!std::isfinite(p.entropy_coef) || !std::isfinite(p.grad_clip))
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: entropy_coef and grad_clip must be finite");
    if (!(p.clip_eps >= 0 && p.clip_eps < 1) || !(p.clip_eps_high >= 0 && std::isfinite(p.clip_eps_high)))
        return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: clip_eps must be in [0, 1) and clip_eps_high >= 0, got %g and %g",
                    (double)p.clip_eps, (double)p.clip_eps_high);
    return AZR_OK;
}

// Transposes W [in, out] into WT [out, in] of type wt->type.
void fill_transposed(const ggml_tensor *w, ggml_tensor *wt) {
    const int64_t in = w->ne[0], out = w->ne[1];
    std::vector<float> src = tensor_to_f32(w), dst((size_t)(in * out));
    const int64_t B = 64;
    for (int64_t o0 = 0; o0 < out; o0 += B)
        for (int64_t i0 = 0; i0 < in; i0 += B)
            for (int64_t o = o0; o < std::min(out, o0 + B); o++)
                for (int64_t i = i0; i < std::min(in, i0 + B); i++) dst[(size_t)(i * out + o)] = src[(size_t)(o * in + i)];
    src.clear();
    src.shrink_to_fit();
    if (wt->type == GGML_TYPE_F32) {
        ggml_backend_tensor_set(wt, dst.data(), 0, ggml_nbytes(wt));
        return;
    }
    std::vector<uint8_t> q(ggml_nbytes(wt));
    ggml_quantize_chunk(wt->type, dst.data(), q.data(), 0, in, out, nullptr);
    ggml_backend_tensor_set(wt, q.data(), 0, q.size());
}

// Type of the transposed copy WT [out, in] of a frozen W [in, out]. F32/F16
// bases keep their precision; quantized bases use the trainer's choice.
ggml_type transposed_type(const ggml_tensor *w, int32_t choice, bool is_output) {
    if (w->type == GGML_TYPE_F32) return GGML_TYPE_F32;
    if (w->type == GGML_TYPE_F16 || w->type == GGML_TYPE_BF16) return GGML_TYPE_F16;
    ggml_type t;
    switch (choice) {
    case AZR_WT_F32: t = GGML_TYPE_F32; break;
    case AZR_WT_F16: t = GGML_TYPE_F16; break;
    case AZR_WT_Q8_0: t = GGML_TYPE_Q8_0; break;
    default: t = is_output ? GGML_TYPE_F16 : GGML_TYPE_Q8_0; break;
    }
    if (t == GGML_TYPE_Q8_0 && w->ne[1] % 32 != 0) t = GGML_TYPE_F16; // rows of WT have `out` entries
    return t;
}

ggml_backend_sched_t new_scheduler(azr_trainer *tr) {
    return ggml_backend_sched_new(tr->backends.data(), nullptr, (int)tr->backends.size(), 2 * 65536, false, true);
}

// The gradient accumulators of the scheduler path, each in the buffer type of
// its adapter tensor (one context, one buffer per buffer type).
azr_status alloc_accumulators(azr_trainer *tr, char *err, size_t err_cap) {
    auto &pairs = tr->lora->pairs;
    ggml_init_params ip = {ggml_tensor_overhead() * (pairs.size() * 2 + 4), nullptr, true};
    tr->acc_ctx = ggml_init(ip);
    if (!tr->acc_ctx) return fail(err, err_cap, AZR_ERR_NOMEM, "new trainer: ggml_init failed");
    std::vector<ggml_backend_buffer_type_t> bufts;
    std::vector<std::vector<ggml_tensor *>> by_buft;
    for (lora_pair &pr : pairs) {
        std::array<ggml_tensor *, 2> acc{};
        for (int k = 0; k < 2; k++) {
            ggml_tensor *w = k == 0 ? pr.a : pr.b;
            acc[(size_t)k] = ggml_dup_tensor(tr->acc_ctx, w);
            ggml_format_name(acc[(size_t)k], "%s.grad_acc", w->name);
            ggml_backend_buffer_type_t bt = ggml_backend_buffer_get_type(w->buffer);
            size_t j = std::find(bufts.begin(), bufts.end(), bt) - bufts.begin();
            if (j == bufts.size()) {
                bufts.push_back(bt);
                by_buft.emplace_back();
            }
            by_buft[j].push_back(acc[(size_t)k]);
        }
        tr->acc[&pr] = acc;
    }
    for (size_t j = 0; j < bufts.size(); j++) {
        size_t size = 0, align = ggml_backend_buft_get_alignment(bufts[j]);
        for (ggml_tensor *t : by_buft[j]) size += GGML_PAD(ggml_backend_buft_get_alloc_size(bufts[j], t), align);
        ggml_backend_buffer_t b = ggml_backend_buft_alloc_buffer(bufts[j], size);
        if (!b) return fail(err, err_cap, AZR_ERR_NOMEM, "new trainer: cannot allocate the gradient accumulators (%s)", ggml_backend_buft_name(bufts[j]));
        tr->acc_bufs.push_back(b);
        ggml_tallocr ta = ggml_tallocr_new(b);
        for (ggml_tensor *t : by_buft[j])
            if (ggml_tallocr_alloc(&ta, t) != GGML_STATUS_SUCCESS)
                return fail(err, err_cap, AZR_ERR_NOMEM, "new trainer: cannot place %s", t->name);
    }
    return AZR_OK;
}

// The scheduler path: one backend per device holding weights, then the CPU
// backend (the scheduler's fallback, last by its rules).
azr_status start_scheduler(azr_trainer *tr, const std::vector<ggml_backend_dev_t> &devices, char *err, size_t err_cap) {
    for (ggml_backend_dev_t dev : devices) {
        ggml_backend_t be = ggml_backend_dev_init(dev, nullptr);
        if (!be) return fail(err, err_cap, AZR_ERR_INTERNAL, "new trainer: cannot start the backend of device %s", ggml_backend_dev_name(dev));
        tr->backends.push_back(be);
    }
    tr->backend = ggml_backend_cpu_init();
    if (!tr->backend) return fail(err, err_cap, AZR_ERR_INTERNAL, "new trainer: cannot start the CPU backend");
    tr->backends.push_back(tr->backend);
    tr->sched = new_scheduler(tr);
    if (!tr->sched) return fail(err, err_cap, AZR_ERR_INTERNAL, "new trainer: cannot create the backend scheduler");
    return alloc_accumulators(tr, err, err_cap);
}

} // namespace

extern "C" azr_trainer_params azr_trainer_default_params(void) {
    azr_trainer_params p;
    memset(&p, 0, sizeof(p));
    p.n_threads = 0;
    p.lr = 1e-5f;
    p.beta1 = 0.9f;
    p.beta2 = 0.999f;
    p.eps = 1e-8f;
    p.weight_decay = 0.0f;
    p.grad_clip = 1.0f;
    p.schedule = 0;
    p.warmup_steps = 0;
    p.total_steps = 0;
    p.min_lr = 0.0f;
    p.entropy_coef = 0.0f;
    p.clip_eps = 0.2f;
    p.clip_eps_high = 0.2f;
    p.micro_batch = 0;
    return p;
}

extern "C" azr_status azr_trainer_new(azr_model *model, azr_lora *lora, const azr_trainer_params *params, azr_trainer **out,
                                      char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!out) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new trainer: out is NULL");
        *out = nullptr;
        if (!model || !model->model) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new trainer: model is closed");
        if (!lora) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new trainer: adapter is closed");
        if (lora->model != model) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "new trainer: the adapter belongs to another model");
        azr_trainer_params p = params ? *params : azr_trainer_default_params();
        if (azr_status s = check_params(p, err, err_cap)) return s;
        const llama_model &m = *model->model;
        const llama_hparams &hp = m.hparams;
        if (hp.rope_scaling_type_train == LLAMA_ROPE_SCALING_TYPE_YARN)
            return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "new trainer: YaRN rope scaling is not supported");
        if (hp.n_embd_head_k != hp.n_embd_head_v || hp.n_rot != hp.n_embd_head_k)
            return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "new trainer: partial rotary or uneven head sizes are not supported");
        std::unique_ptr<azr_trainer, void (*)(azr_trainer *)> tr(new azr_trainer(), azr_trainer_free);
        tr->model = model;
        tr->lora = lora;
        tr->p = p;
        tr->n_threads = p.n_threads > 0 ? p.n_threads : model->n_threads;
        tr->n_layer = (int)hp.n_layer;
        tr->n_embd = (int)hp.n_embd;
        tr->n_head = (int)hp.n_head(0);
        tr->n_head_kv = (int)hp.n_head_kv(0);
        tr->hd = (int)hp.n_embd_head_k;
        tr->n_ff = (int)hp.n_ff(0);
        tr->n_vocab = (int)out_weight(m)->ne[1];
        tr->n_rot = (int)hp.n_rot;
        tr->rope_mode = (int)llama_model_rope_type(&m);
        tr->n_ctx_orig = (int)(hp.n_ctx_orig_yarn ? hp.n_ctx_orig_yarn : hp.n_ctx_train);
        tr->eps = hp.f_norm_rms_eps;
        tr->freq_base = hp.rope_freq_base_train;
        tr->freq_scale = hp.rope_scaling_type_train == LLAMA_ROPE_SCALING_TYPE_NONE ? 1.0f : hp.rope_freq_scale_train;
        tr->attn_factor = hp.yarn_attn_factor * hp.rope_attn_factor;
        tr->beta_fast = hp.yarn_beta_fast;
        tr->beta_slow = hp.yarn_beta_slow;
        tr->qk_norm = m.layers[0].attn_q_norm != nullptr;
        if (tr->n_head_kv <= 0 || tr->n_head % tr->n_head_kv != 0)
            return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "new trainer: n_head %d not a multiple of n_head_kv %d", tr->n_head, tr->n_head_kv);
        for (int il = 0; il < tr->n_layer; il++) {
            if (hp.n_head(il) != (uint32_t)tr->n_head || hp.n_head_kv(il) != (uint32_t)tr->n_head_kv)
                return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "new trainer: per-layer head counts are not supported");
            for (int p2 = 0; p2 < PROJ_COUNT; p2++)
                if (!layer_weight(m, il, p2)) return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "new trainer: layer %d lacks %s", il, proj_name(p2));
            if (tr->qk_norm != (m.layers[(size_t)il].attn_q_norm != nullptr) || !m.layers[(size_t)il].attn_norm ||
                !m.layers[(size_t)il].ffn_norm)
                return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "new trainer: layer %d has an unexpected layout", il);
        }
        // Where the frozen weights live decides the path: all in plain host
        // memory -> the direct CPU path; some on a device (offloaded layers)
        // -> the backend scheduler over those devices and the CPU.
        std::vector<ggml_backend_dev_t> devices;
        {
            std::vector<const ggml_tensor *> ws = {out_weight(m), m.tok_embd, m.output_norm};
            for (int il = 0; il < tr->n_layer; il++)
                for (int p2 = 0; p2 < PROJ_COUNT; p2++) ws.push_back(layer_weight(m, il, p2));
            for (const ggml_tensor *w : ws) {
                if (!w->buffer) return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "new trainer: %s has no buffer", w->name);
                if (ggml_backend_buffer_is_host(w->buffer)) continue;
                ggml_backend_dev_t dev = ggml_backend_buft_get_device(ggml_backend_buffer_get_type(w->buffer));
                if (!dev || ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_CPU) // CPU weight repacking
                    return fail(err, err_cap, AZR_ERR_UNSUPPORTED,
                                "new trainer: %s is in a repacked CPU buffer the training graph cannot read (load the model "
                                "without CPU weight repacking)", w->name);
                if (std::find(devices.begin(), devices.end(), dev) == devices.end()) devices.push_back(dev);
            }
            for (const ggml_tensor *w : ws) tr->max_rows = std::max<int64_t>(tr->max_rows, w->ne[1]);
        }
        for (auto &pr : lora->pairs) tr->pair_of[{pr.layer, pr.proj}] = &pr;
        const bool scheduled = !devices.empty() || p.scheduler == AZR_SCHED_ALWAYS;
        if (scheduled)
            for (int il = 0; il < tr->n_layer; il++)
                for (int p2 = 0; p2 < PROJ_COUNT; p2++) {
                    const ggml_tensor *w = layer_weight(m, il, p2);
                    if (rows_dequantizable(w->type)) continue;
                    int64_t &c = tr->unit_cols[w->ne[0]];
                    c = std::max(c, identity_block(w->ne[0], w->ne[1], block_bytes(p)));
                }

        // Transposed copies: of every frozen matrix on the direct path; of the
        // output head only on the scheduler path, where it lives with the
        // output matrix (a GPU's memory when the output layer is offloaded).
        const size_t n_wt = (size_t)tr->n_layer * PROJ_COUNT + 1;
        ggml_init_params ip = {ggml_tensor_overhead() * (n_wt + 4), nullptr, true};
        tr->wt_ctx = ggml_init(ip);
        if (!tr->wt_ctx) return fail(err, err_cap, AZR_ERR_NOMEM, "new trainer: ggml_init failed");
        std::vector<std::pair<const ggml_tensor *, ggml_tensor *>> jobs;
        tr->wt.resize((size_t)tr->n_layer);
        for (int il = 0; il < tr->n_layer && !scheduled; il++)
            for (int p2 = 0; p2 < PROJ_COUNT; p2++) {
                const ggml_tensor *w = layer_weight(m, il, p2);
                ggml_tensor *t = ggml_new_tensor_2d(tr->wt_ctx, transposed_type(w, p.wt_type, false), w->ne[1], w->ne[0]);
                ggml_format_name(t, "%s.T", w->name);
                tr->wt[(size_t)il][(size_t)p2] = t;
                jobs.push_back({w, t});
            }
        {
            const ggml_tensor *w = out_weight(m);
            tr->out_t = ggml_new_tensor_2d(tr->wt_ctx, transposed_type(w, p.wt_type, true), w->ne[1], w->ne[0]);
            ggml_set_name(tr->out_t, "output.T");
            jobs.push_back({w, tr->out_t});
        }
        ggml_backend_buffer_type_t wt_buft = ggml_backend_cpu_buffer_type();
        if (ggml_backend_buffer_t ob = out_weight(m)->buffer; scheduled && !ggml_backend_buffer_is_host(ob))
            wt_buft = ggml_backend_buffer_get_type(ob);
        tr->wt_buf = ggml_backend_alloc_ctx_tensors_from_buft(tr->wt_ctx, wt_buft);
        if (!tr->wt_buf) return fail(err, err_cap, AZR_ERR_NOMEM, "new trainer: cannot allocate the transposed weights");
        ggml_backend_buffer_set_usage(tr->wt_buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS); // the scheduler runs their products where they live
        std::atomic<size_t> next{0};
        std::atomic<bool> failed{false};
        std::string why;
        auto worker = [&]() {
            for (size_t j; (j = next.fetch_add(1)) < jobs.size();) {
                try {
                    fill_transposed(jobs[j].first, jobs[j].second);
                } catch (const std::exception &e) {
                    if (!failed.exchange(true)) why = e.what();
                }
            }
        };
        std::vector<std::thread> pool;
        const int nt = std::max(1, std::min(tr->n_threads, 8));
        for (int i = 1; i < nt; i++) pool.emplace_back(worker);
        worker();
        for (auto &t : pool) t.join();
        if (failed) return fail(err, err_cap, AZR_ERR_INTERNAL, "new trainer: %s", why.c_str());
        if (scheduled) {
            if (azr_status s = start_scheduler(tr.get(), devices, err, err_cap)) return s;
            *out = tr.release();
            return AZR_OK;
        }

        tr->backend = ggml_backend_cpu_init();
        if (!tr->backend) return fail(err, err_cap, AZR_ERR_INTERNAL, "new trainer: cannot start the CPU backend");
        tr->galloc = ggml_gallocr_new(ggml_backend_cpu_buffer_type());
        *out = tr.release();
        return AZR_OK;
    });
}

extern "C" void azr_trainer_free(azr_trainer *tr) {
    if (!tr) return;
    if (tr->sched) ggml_backend_sched_free(tr->sched);
    for (ggml_backend_t be : tr->backends)
        if (be != tr->backend) ggml_backend_free(be);
    if (tr->galloc) ggml_gallocr_free(tr->galloc);
    if (tr->backend) ggml_backend_free(tr->backend);
    if (tr->wt_buf) ggml_backend_buffer_free(tr->wt_buf);
    if (tr->wt_ctx) ggml_free(tr->wt_ctx);
    for (ggml_backend_buffer_t b : tr->acc_bufs) ggml_backend_buffer_free(b);
    if (tr->acc_ctx) ggml_free(tr->acc_ctx);
    delete tr;
}

extern "C" int32_t azr_trainer_cpu_ops(const azr_trainer *tr, azr_placed_op *out, int32_t cap) {
    if (!tr) return 0;
    const int32_t n = (int32_t)tr->cpu_ops.size();
    for (int32_t i = 0; out && i < std::min(n, cap); i++) out[i] = tr->cpu_ops[(size_t)i];
    return n;
}

extern "C" int32_t azr_trainer_uses_scheduler(const azr_trainer *tr) { return tr && tr->sched ? 1 : 0; }

extern "C" void azr_trainer_cancel(azr_trainer *tr, int32_t on) {
    if (tr) tr->cancel.store(on != 0);
}

extern "C" void azr_trainer_trim(azr_trainer *tr) {
    if (tr && tr->sched) { // a fresh scheduler holds no compute buffers until the next graph
        ggml_backend_sched_free(tr->sched);
        tr->sched = new_scheduler(tr);
        return;
    }
    if (!tr || !tr->galloc) return;
    ggml_gallocr_free(tr->galloc);
    tr->galloc = ggml_gallocr_new(ggml_backend_cpu_buffer_type());
}

extern "C" azr_status azr_trainer_set_params(azr_trainer *tr, const azr_trainer_params *params, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!tr) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: closed");
        if (!params) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "trainer: params is NULL");
        if (azr_status s = check_params(*params, err, err_cap)) return s;
        int nt = tr->n_threads;
        int32_t wt = tr->p.wt_type, sc = tr->p.scheduler;
        int64_t bb = tr->p.dequant_block_bytes;
        tr->p = *params;
        tr->n_threads = nt;
        tr->p.wt_type = wt;
        tr->p.scheduler = sc;
        tr->p.dequant_block_bytes = bb; // the identity-block inputs were sized with it
        return AZR_OK;
    });
}

extern "C" azr_status azr_train_step(azr_trainer *tr, const azr_train_seq *seqs, int32_t n_seqs, azr_train_result *res, char *err,
                                     size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (res) memset(res, 0, sizeof(*res));
        if (!tr) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "train step: trainer is closed");
        auto t0 = clock_type::now();
        auto seconds = [&] { return std::chrono::duration<double>(clock_type::now() - t0).count(); };
        // Gradients accumulate in br (host memory, direct path) or in the
        // trainer's accumulators (where the adapter lives, scheduler path):
        // until the update below, nothing of the adapter or its optimizer
        // state has changed, so an error or a cancellation leaves both
        // exactly as they were.
        batch_result br;
        azr_status s = compute_batch(tr, seqs, n_seqs, MODE_HAND, br, err, err_cap);
        double G = 0;
        if (s == AZR_OK) {
            if (br.on_device)
                s = device_global_norm(tr, G, err, err_cap);
            else
                G = global_norm(br);
        }
        const float lr = lr_at(tr->p, tr->lora->step);
        if (res) {
            fill_result(br, G, res);
            res->lr = lr;
        }
        if (s != AZR_OK) {
            if (res) res->seconds = seconds();
            return s;
        }
        if (!std::isfinite(br.loss) || !std::isfinite(G)) {
            if (res) {
                res->skipped = 1;
                res->seconds = seconds();
            }
            return fail(err, err_cap, AZR_ERR_INTERNAL, "train step: non-finite %s (loss %g, grad norm %g); step skipped, adapter unchanged",
                        std::isfinite(br.loss) ? "gradient" : "loss", br.loss, G);
        }
        if (br.on_device) {
            if (azr_status su = device_adamw_update(tr, lr, clip_factor(tr->p, G), err, err_cap)) {
                if (res) res->seconds = seconds();
                return su;
            }
        } else {
            adamw_update(tr->p, lr, clip_factor(tr->p, G), br, *tr->lora);
        }
        if (res) res->seconds = seconds();
        return AZR_OK;
    });
}

extern "C" azr_status azr_train_logprobs(azr_trainer *tr, const azr_train_seq *seqs, int32_t n_seqs, float *const *out, char *err,
                                         size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!tr) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "logprobs: trainer is closed");
        if (!out) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "logprobs: out is NULL");
        if (azr_status s = check_seqs(tr, seqs, n_seqs, false, "logprobs", err, err_cap)) return s;
        const int32_t mbs = tr->p.micro_batch > 0 ? tr->p.micro_batch : n_seqs;
        for (int32_t first = 0; first < n_seqs; first += mbs) {
            if (tr->cancel.load()) return fail(err, err_cap, AZR_ERR_CANCELLED, "logprobs: cancelled");
            const int32_t count = std::min(mbs, n_seqs - first);
            micro_batch mb = make_batch(tr, seqs, first, count, 0.0, false, false);
            graph_run gr;
            if (azr_status s = run_graph(tr, mb, MODE_LOGPROBS, 0, 0, 0, gr, err, err_cap)) return s;
            std::vector<float> lp = read_f32(gr.b.logp);
            for (int32_t i = 0; i < count; i++) {
                if (!out[first + i]) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "logprobs: out[%d] is NULL", first + i);
                out[first + i][0] = 0.0f;
            }
            for (size_t r = 0; r < lp.size(); r++)
                if (mb.row_seq[r] >= 0) out[mb.row_seq[r]][mb.row_tok[r]] = lp[r];
        }
        return AZR_OK;
    });
}

// ------------------------------------------------------------- for the test oracles (train_oracles.cpp)

azr_status azr::train_grads(azr_trainer *tr, const azr_train_seq *seqs, int32_t n_seqs, int32_t mode, float *grads, int64_t n,
                            azr_train_result *res, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (res) memset(res, 0, sizeof(*res));
        if (!tr) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "train grads: trainer is closed");
        if (mode != 0 && mode != 1) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "train grads: mode must be 0 or 1");
        if (grads && n != tr->lora->n_params())
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "train grads: need %lld floats, got %lld", (long long)tr->lora->n_params(), (long long)n);
        auto t0 = clock_type::now();
        batch_result br;
        const azr_status s = compute_batch(tr, seqs, n_seqs, mode == 1 ? MODE_AUTO : MODE_HAND, br, err, err_cap);
        if (s == AZR_OK && br.on_device) read_accumulators(tr, br);
        if (res) {
            fill_result(br, s == AZR_OK ? global_norm(br) : 0, res);
            res->seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
        }
        if (s != AZR_OK) return s;
        if (grads)
            for (size_t i = 0; i < br.ga.size(); i++)
                for (auto *v : {&br.ga[i], &br.gb[i]}) {
                    memcpy(grads, v->data(), v->size() * sizeof(float));
                    grads += v->size();
                }
        return AZR_OK;
    });
}

azr_status azr::train_logits(azr_trainer *tr, const int32_t *tokens, int32_t n_tokens, float *logits, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!tr) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "train logits: trainer is closed");
        if (!logits) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "train logits: out is NULL");
        azr_train_seq s{};
        s.tokens = tokens;
        s.n_tokens = n_tokens;
        if (azr_status st = check_seqs(tr, &s, 1, false, "train logits", err, err_cap)) return st;
        micro_batch mb = make_batch(tr, &s, 0, 1, 0.0, false, false);
        graph_run gr;
        if (azr_status st = run_graph(tr, mb, MODE_LOGITS, 0, 0, 0, gr, err, err_cap)) return st;
        ggml_backend_tensor_get(gr.b.logits, logits, 0, ggml_nbytes(gr.b.logits));
        return AZR_OK;
    });
}
