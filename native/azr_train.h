/*
 * azr_train.h — the training half of the C ABI (LoRA adapters, the
 * policy-gradient step). Included by azr.h; same rules as azr.h.
 *
 * Objects:
 *  - azr_lora: a LoRA adapter over a loaded azr_model (F32 A/B pairs on chosen
 *    projections, plus its AdamW state). It doubles as a llama.cpp adapter
 *    (azr_lora_llama_adapter), whose tensors are the live parameters: a
 *    llama_context with it attached sees every update at its next decode.
 *  - azr_trainer: what a training step needs besides the adapter (on the
 *    direct CPU path a transposed copy of every frozen matrix for input
 *    gradients; with offloaded layers a backend scheduler over the model's
 *    devices instead; the graph allocator). One trainer serves one adapter.
 *
 * Token/position convention of the step: per sequence, the value at index t
 * (t >= 1) of advantages/old_logprobs/logprobs belongs to token t, predicted
 * from tokens[0..t-1]. Index 0 is never trained.
 */
#ifndef AZR_NATIVE_TRAIN_H
#define AZR_NATIVE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- adapters */

typedef struct azr_lora azr_lora;

/* Projection bits of azr_lora_params.projections. */
enum {
    AZR_LORA_Q = 1 << 0,
    AZR_LORA_K = 1 << 1,
    AZR_LORA_V = 1 << 2,
    AZR_LORA_O = 1 << 3,
    AZR_LORA_GATE = 1 << 4,
    AZR_LORA_UP = 1 << 5,
    AZR_LORA_DOWN = 1 << 6,
    AZR_LORA_ALL = 0x7f
};

typedef struct {
    int32_t rank;         /* r >= 1 */
    float alpha;          /* scale = alpha / rank; 0 = rank (scale 1, as llama.cpp reads a missing alpha) */
    uint32_t projections; /* AZR_LORA_* bits; 0 = AZR_LORA_ALL */
    uint64_t seed;        /* A ~ N(0, init_a_std) from this seed; B = 0 */
    float init_a_std;     /* 0 = 1/sqrt(in) (Kaiming-like) */
    float init_b_std;     /* 0 = B starts at zero (standard); tests use > 0 */
} azr_lora_params;

/* The engine's own defaults for C callers (rank 16, alpha 32, all projections).
 * azr-native's Go side sets every field from its config instead: a run's
 * defaults live in one place, rl.DefaultConfig. */
azr_lora_params azr_lora_default_params(void);

azr_status azr_lora_new(azr_model *model, const azr_lora_params *params, azr_lora **out, char *err, size_t err_cap);

/* Loads an adapter written by azr_lora_save (or any llama.cpp LoRA GGUF with
 * F32 tensors on q/k/v/o/gate/up/down). Refuses an adapter whose recorded base
 * (arch, sizes, a probe of the token embeddings) differs from model's.
 * opt_path (may be NULL) restores the optimizer state written by save. */
azr_status azr_lora_load(azr_model *model, const char *path, const char *opt_path, azr_lora **out, char *err,
                         size_t err_cap);

/* Writes the adapter as a GGUF LoRA file that stock llama.cpp loads
 * (llama_adapter_lora_init / --lora). opt_path (may be NULL) receives the
 * optimizer state (AdamW moments, step) for resuming. Files are written to a
 * temporary name and renamed. */
azr_status azr_lora_save(const azr_lora *lora, const char *path, const char *opt_path, char *err, size_t err_cap);

void azr_lora_free(azr_lora *lora);

typedef struct {
    int32_t rank;
    float alpha;
    uint32_t projections;
    int32_t n_pairs;    /* adapted matrices */
    int64_t n_params;   /* trainable floats */
    int64_t step;       /* optimizer steps taken */
    uint64_t version;   /* bumped on every parameter change */
} azr_lora_info;

void azr_lora_get_info(const azr_lora *lora, azr_lora_info *info);

/* All parameters flattened (for every pair, in a fixed order: A then B).
 * n must equal info.n_params. For tests and tools. */
azr_status azr_lora_get_params(const azr_lora *lora, float *out, int64_t n, char *err, size_t err_cap);
azr_status azr_lora_set_params(azr_lora *lora, const float *in, int64_t n, char *err, size_t err_cap);

/* The adapter as a llama.cpp adapter (struct llama_adapter_lora *), owned by
 * lora: attach it with llama_set_adapter_lora(ctx, ptr, 1.0f). Its tensors
 * are the live parameters. Detach it from every context before freeing lora. */
void *azr_lora_llama_adapter(azr_lora *lora);

/* ---------------------------------------------------------------- merge */

/* Type of the merged matrices: KEEP requantizes each to its type in the base. */
enum { AZR_MERGE_KEEP = 0, AZR_MERGE_F32 = 1, AZR_MERGE_F16 = 2, AZR_MERGE_Q8_0 = 3, AZR_MERGE_Q4_0 = 4, AZR_MERGE_Q4_K = 5 };

typedef struct {
    int32_t n_merged;   /* matrices with the adapter folded in */
    int32_t n_tensors;  /* tensors in the file */
    double delta_rel;   /* ||scale B A|| / ||W|| over the merged matrices (before requantizing) */
} azr_merge_info;

/* Writes a standalone model: the GGUF file at base_path (which must be the
 * adapter's base) with every adapted matrix W replaced by W + alpha/rank * B A
 * (exactly what llama.cpp computes with the adapter attached), quantized as
 * `quant` asks; every other tensor and all metadata are copied. The whole base
 * is read into memory. Written to a temporary name and renamed. n_threads <= 0:
 * all cores. info may be NULL. */
azr_status azr_lora_merge(const azr_lora *lora, const char *base_path, const char *out_path, int32_t quant, int32_t n_threads,
                          azr_merge_info *info, char *err, size_t err_cap);

/* ---------------------------------------------------------------- trainer */

typedef struct azr_trainer azr_trainer;

typedef struct {
    int32_t n_threads;      /* <= 0: the model's */
    /* AdamW */
    float lr;               /* peak learning rate (default 1e-5) */
    float beta1, beta2, eps, weight_decay;
    float grad_clip;        /* global-norm clip; <= 0 = off */
    /* schedule: 0 = constant, 1 = linear warm-up then cosine decay to min_lr */
    int32_t schedule;
    int32_t warmup_steps;
    int32_t total_steps;    /* cosine horizon (schedule 1) */
    float min_lr;
    /* loss */
    float entropy_coef;     /* beta of the entropy bonus (-beta * H); 0 = off */
    /* PPO: with old log-probs the ratio is clipped to [1 - clip_eps, 1 + clip_eps_high]
     * (both used as given; 0 is no room on that side) */
    float clip_eps;
    float clip_eps_high;
    int32_t micro_batch;    /* sequences per graph evaluation (gradient accumulation); <= 0 = all */
    /* type of the transposed frozen matrices of a quantized base (input
     * gradients): AZR_WT_AUTO = Q8_0 for the layers, F16 for the output head */
    int32_t wt_type;
    /* rows per chunk of the vocabulary-sized loss head (logits, softmax,
     * dlogits live one chunk at a time); 0 = auto (~64 MiB per [V, rows] tensor) */
    int32_t head_chunk;
    /* AZR_SCHED_AUTO: the graph runs through ggml's backend scheduler over the
     * model's devices when a frozen weight lives off the host (offloaded
     * layers), else directly on the CPU with transposed copies of the frozen
     * matrices. AZR_SCHED_ALWAYS takes the scheduler path even on the CPU
     * alone (tests compare the two paths). */
    int32_t scheduler;
    /* scheduler path: bytes of F32 scratch per dequantized block of a frozen
     * matrix (input gradients); 0 = 64 MiB */
    int64_t dequant_block_bytes;
} azr_trainer_params;

enum { AZR_WT_AUTO = 0, AZR_WT_Q8_0 = 1, AZR_WT_F16 = 2, AZR_WT_F32 = 3 };
enum { AZR_SCHED_AUTO = 0, AZR_SCHED_ALWAYS = 1 };

/* The engine's own defaults for C callers (lr 1e-5, AdamW 0.9/0.999/1e-8,
 * grad_clip 1, clip_eps 0.2/0.2). azr-native's Go side passes a run's
 * settings from its config (rl.DefaultConfig owns those defaults). */
azr_trainer_params azr_trainer_default_params(void);

/* Builds a trainer for lora (which must belong to model). With every weight in
 * host memory it makes transposed copies of the frozen matrices (Q8_0 for
 * quantized bases, F32/F16 otherwise): seconds and about the model's size in
 * memory for a 0.5B model. With weights on a device (offloaded layers) or
 * params->scheduler = AZR_SCHED_ALWAYS it makes none and runs through the
 * backend scheduler (see scheduler). */
azr_status azr_trainer_new(azr_model *model, azr_lora *lora, const azr_trainer_params *params, azr_trainer **out,
                           char *err, size_t err_cap);
void azr_trainer_free(azr_trainer *tr);

/* Sets (on = 1) or clears (on = 0) tr's cancel flag. While set, a running
 * azr_train_step / azr_train_grads / azr_train_logprobs stops before its next
 * micro-batch or between graph nodes and returns AZR_ERR_CANCELLED. Safe from
 * any thread; the caller clears the flag before the next call. */
void azr_trainer_cancel(azr_trainer *tr, int32_t on);

/* Frees the trainer's compute buffer (it is kept between calls and sized by
 * the largest micro-batch seen); the next call allocates it again. */
void azr_trainer_trim(azr_trainer *tr);

/* A graph node the backend scheduler placed on the CPU. */
typedef struct {
    char op[32];          /* ggml operation, e.g. "GET_ROWS" */
    char name[64];        /* the node's tensor name (may be empty) */
    int64_t n_elements;   /* of the node's result */
    int64_t src_elements; /* of its largest source */
} azr_placed_op;

/* The nodes of the trainer's last graph that the scheduler placed on the CPU
 * while a device backend (GPU) exists: a silent CPU fallback in GPU training.
 * Nodes reading a weight kept in host memory (the token embeddings, layers
 * not offloaded, their adapter pairs) run there by design and are left out.
 * Always 0 on the direct CPU path and with the CPU as the only backend.
 * Copies up to cap entries into out (may be NULL) and returns the count. */
int32_t azr_trainer_cpu_ops(const azr_trainer *tr, azr_placed_op *out, int32_t cap);

/* 1 when tr runs its graphs through the backend scheduler (see scheduler). */
int32_t azr_trainer_uses_scheduler(const azr_trainer *tr);

/* Replaces the optimizer/loss settings (not the threads, wt_type, scheduler
 * nor dequant_block_bytes). */
azr_status azr_trainer_set_params(azr_trainer *tr, const azr_trainer_params *params, char *err, size_t err_cap);

typedef struct {
    const int32_t *tokens;
    int32_t n_tokens;            /* >= 2 */
    int32_t response_start;      /* first trained token index (>= 1) */
    const uint8_t *mask;         /* optional, n_tokens: 0 excludes a token inside the response */
    const float *advantages;     /* n_tokens: per-token advantage (index t for token t) */
    const float *old_logprobs;   /* optional, n_tokens: enables the PPO clipped ratio */
} azr_train_seq;

typedef struct {
    double loss;           /* token-mean loss of the batch */
    double grad_norm;      /* global L2 norm before clipping */
    double lr;             /* learning rate used */
    double entropy;        /* mean entropy of the trained tokens */
    double clip_frac;      /* fraction of tokens whose PPO ratio was clipped */
    int64_t n_tokens;      /* trained tokens */
    int64_t n_rows;        /* token rows evaluated (incl. padding) */
    int32_t skipped;       /* 1 when the step was skipped (non-finite) */
    double seconds;        /* wall time */
    int32_t n_micro_batches; /* micro-batches evaluated (fewer than the batch has when cancelled) */
} azr_train_result;

/* One optimizer step on a batch (split into micro-batches, gradients
 * accumulated). A non-finite loss or gradient returns AZR_ERR_INTERNAL with
 * res->skipped = 1 and leaves the adapter and optimizer state untouched.
 * Cancellation (azr_trainer_cancel) returns AZR_ERR_CANCELLED, also with the
 * adapter and optimizer state untouched: the update is applied only after
 * every micro-batch's gradient is in. */
azr_status azr_train_step(azr_trainer *tr, const azr_train_seq *seqs, int32_t n_seqs, azr_train_result *res, char *err,
                          size_t err_cap);

/* Forward only: log pi(tokens[t] | tokens[<t]) for t >= 1 of each sequence
 * (out[i] receives n_tokens floats of sequence i; index 0 is 0). */
azr_status azr_train_logprobs(azr_trainer *tr, const azr_train_seq *seqs, int32_t n_seqs, float *const *out,
                              char *err, size_t err_cap);

#ifdef __cplusplus
}
#endif
#endif
