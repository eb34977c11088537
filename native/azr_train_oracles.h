/*
 * azr_train_oracles.h — test oracles of the training engine. NOT part of the
 * public ABI (azr.h does not include it): the Go bindings' tests and
 * azr-engine-check use these to check the training step against independent
 * computations (ggml autodiff, llama_decode, a dequantized base). Same rules
 * as azr.h. Defined in train_oracles.cpp.
 */
#ifndef AZR_NATIVE_TRAIN_ORACLES_H
#define AZR_NATIVE_TRAIN_ORACLES_H

#include "azr.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loss and gradient without an optimizer step. grads (n = n_params, the
 * azr_lora_get_params layout) may be NULL. mode 0 = the hand-built backward,
 * 1 = ggml autodiff (the test oracle: F32/F16 bases only, no PPO/entropy). */
azr_status azr_train_grads(azr_trainer *tr, const azr_train_seq *seqs, int32_t n_seqs, int32_t mode, float *grads,
                           int64_t n, azr_train_result *res, char *err, size_t err_cap);

/* Logits of every position of one sequence from the training graph
 * (n_tokens x n_vocab), for comparing with azr_eval_logits. */
azr_status azr_train_logits(azr_trainer *tr, const int32_t *tokens, int32_t n_tokens, float *logits, char *err,
                            size_t err_cap);

/* Test helper: rewrites a GGUF model with every quantized tensor dequantized
 * to F32 (same metadata), so gradients can be compared with the quantized base. */
azr_status azr_gguf_dequantize(const char *src, const char *dst, char *err, size_t err_cap);

/* Test helper: a llama_context of model with lora attached (scale 1),
 * returning the logits of one sequence (n_tokens x n_vocab) by llama_decode.
 * lora may be NULL. Exercises the stock inference path with the live adapter. */
azr_status azr_lora_decode_logits(azr_model *model, azr_lora *lora, const char *lora_path, const int32_t *tokens,
                                  int32_t n_tokens, float *logits, char *err, size_t err_cap);

/* Test helper for the live-adapter contract: in ONE llama_context with lora
 * attached, decodes tokens, changes the adapter in place (B += 0.01), decodes
 * again, and compares with a fresh context; the adapter is restored after.
 * *stale = max |second - first| (must be > 0: the update is seen),
 * *fresh = max |second - fresh context| (must be 0: no stale graph reuse).
 * attach_after_decode = 1 decodes once before attaching: with llama.cpp's
 * graph reuse on (the default) that context keeps an adapter-less graph, so
 * attach the adapter before a context's first decode, or create the context
 * with LLAMA_GRAPH_REUSE_DISABLE=1 in the environment. In-place updates of
 * an attached adapter are always seen. */
azr_status azr_lora_live_update_check(azr_model *model, azr_lora *lora, const int32_t *tokens, int32_t n_tokens,
                                      int32_t attach_after_decode, double *stale, double *fresh, char *err,
                                      size_t err_cap);

#ifdef __cplusplus
}
#endif
#endif
