/*
 * azr_nano.h — full-parameter pretraining of a small Qwen2 model on the CPU,
 * and its GGUF writer. Same rules as azr.h: opaque handles, every *_free
 * accepts NULL, failures return an azr_status with a message in err, and no
 * C++ exception or abort crosses the ABI on bad input.
 *
 * The model is exactly what llama.cpp's `qwen2` architecture loads: token
 * embeddings; per layer RMSNorm, Q/K/V projections with biases, O without
 * bias, NEOX-style RoPE, grouped-query attention, RMSNorm, SwiGLU
 * (gate/up/down); a final RMSNorm; the output head tied to the token
 * embeddings (the file has no output.weight). Master weights are F32.
 *
 * Training data layout: n_seq rows of seq_len + 1 token ids. Row i trains
 * positions 0..seq_len-1 of tokens[i][0..seq_len-1] to predict
 * tokens[i][1..seq_len] (causal next-token cross-entropy, documents packed
 * into rows as the caller likes). Optional weights (n_seq * seq_len, >= 0)
 * scale each predicted token's loss; the loss is sum(w * nll) / sum(w).
 */
#ifndef AZR_NATIVE_NANO_H
#define AZR_NATIVE_NANO_H

#include "azr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct azr_nano azr_nano;

typedef struct {
    int32_t n_layer, n_embd, n_head, n_head_kv, n_ff;
    int32_t n_ctx;      /* context length written to the GGUF; the longest trainable row */
    int32_t n_vocab;    /* set from the vocabulary (ignored on input) */
    float rope_theta;   /* RoPE frequency base; <= 0 = 10000 */
} azr_nano_shape;

typedef struct {
    const char *const *tokens; /* n_tokens strings in GPT-2 byte-to-unicode form */
    const int32_t *types;      /* n_tokens llama token types (1 normal, 3 control, ...); NULL = all normal */
    int32_t n_tokens;
    const char *const *merges; /* n_merges BPE merges "a b", highest priority first */
    int32_t n_merges;
    int32_t bos, eos, eot, pad; /* -1 = none */
    const char *chat_template;  /* NULL or "" = none */
} azr_nano_vocab;

typedef struct {
    int32_t n_threads;   /* <= 0: all cores */
    uint64_t seed;       /* weight initialisation */
    float beta1, beta2, eps, weight_decay; /* AdamW; decay applies to matrices only */
    float grad_clip;     /* global-norm clip; <= 0 = off */
    float init_std;      /* std-dev of the initial matrices; <= 0 = 0.02 */
    int32_t head_chunk;  /* rows per chunk of the vocabulary-sized loss head (memory vs. per-op
                            overhead); <= 0 = auto, about 64 MiB per [vocab, rows] tensor */
} azr_nano_params;

azr_nano_params azr_nano_default_params(void);

/* A new model with deterministic random weights (by params->seed). */
azr_status azr_nano_new(const azr_nano_shape *shape, const azr_nano_vocab *vocab, const azr_nano_params *params,
                        azr_nano **out, char *err, size_t err_cap);

/* Continues from an F32 GGUF written by azr_nano_save (shape, vocabulary
 * and weights from the file; params->seed is unused). Optimizer moments
 * start at zero unless azr_nano_load_state follows. */
azr_status azr_nano_open(const char *path, const azr_nano_params *params, azr_nano **out, char *err, size_t err_cap);

void azr_nano_free(azr_nano *nano);

void azr_nano_get_shape(const azr_nano *nano, azr_nano_shape *out);

/* Optimizer steps taken (kept across save_state/load_state). */
int64_t azr_nano_steps(const azr_nano *nano);

/* Number of trainable floats (the layout of get_params/grads). */
int64_t azr_nano_n_params(const azr_nano *nano);

/* Sets (1) or clears (0) the cancel flag: a running step or loss stops
 * between graph nodes with AZR_ERR_CANCELLED, leaving weights unchanged.
 * Safe from any thread; callers clear it before each call. */
void azr_nano_cancel(azr_nano *nano, int32_t on);

typedef struct {
    double loss;       /* weighted mean next-token cross-entropy (nats) */
    double grad_norm;  /* global L2 norm before clipping */
    double weight_sum; /* sum of the token weights */
    double seconds;
} azr_nano_result;

/* One AdamW step at learning rate lr. A non-finite loss or gradient returns
 * AZR_ERR_INTERNAL and leaves weights and optimizer state untouched. */
azr_status azr_nano_step(azr_nano *nano, const int32_t *tokens, int32_t n_seq, int32_t seq_len, const float *weights,
                         float lr, azr_nano_result *res, char *err, size_t err_cap);

/* The loss (and, with grads != NULL, the gradient in get_params layout, n
 * floats) without changing anything. mode 0 = the hand-built backward the
 * step uses; 1 = ggml's automatic backward of its cross-entropy op (the test
 * oracle and benchmark baseline: no token weights, grads required). */
azr_status azr_nano_grads(azr_nano *nano, const int32_t *tokens, int32_t n_seq, int32_t seq_len, const float *weights,
                          int32_t mode, float *grads, int64_t n, azr_nano_result *res, char *err, size_t err_cap);

/* Logits of every position of one sequence (n_tokens x n_vocab) from the
 * training graph's forward, for comparison with llama_decode. */
azr_status azr_nano_logits(azr_nano *nano, const int32_t *tokens, int32_t n_tokens, float *logits, char *err,
                           size_t err_cap);

/* All weights flattened in a fixed order (token_embd, output_norm, then per
 * layer attn_norm, q, q bias, k, k bias, v, v bias, o, ffn_norm, gate, up,
 * down). For tests and tools. */
azr_status azr_nano_get_params(const azr_nano *nano, float *out, int64_t n, char *err, size_t err_cap);
azr_status azr_nano_set_params(azr_nano *nano, const float *in, int64_t n, char *err, size_t err_cap);

/* Writes the model as a qwen2 GGUF: quant "f32", "f16", "q8_0" or "q4_0"
 * (matrices whose rows do not divide the block fall back to Q8_0, then F16;
 * q4_0 keeps the tied embeddings at Q8_0). name = general.name (NULL = the
 * name of the file the model was opened from, else a default). The file also records azr.nano.* metadata: a fingerprint of the
 * F32 weights, the optimizer step and the seed. Written to a temporary name
 * and renamed. */
azr_status azr_nano_save(const azr_nano *nano, const char *path, const char *quant, const char *name, char *err,
                         size_t err_cap);

/* Hex fingerprint of the current F32 weights (FNV-1a 64 over their bits), as
 * written by azr_nano_save; buf needs 17 bytes. */
void azr_nano_fingerprint(const azr_nano *nano, char *buf, size_t cap);

/* Optimizer state (AdamW moments and step, with the shape and the weights'
 * fingerprint) for an exact resume: open the F32 GGUF saved at the same
 * moment, then load_state. load_state refuses a state whose shape or
 * fingerprint differs. */
azr_status azr_nano_save_state(const azr_nano *nano, const char *path, char *err, size_t err_cap);
azr_status azr_nano_load_state(azr_nano *nano, const char *path, char *err, size_t err_cap);

#ifdef __cplusplus
}
#endif
#endif
