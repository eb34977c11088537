/*
 * azr.h — the C ABI of azr-native's engine. The only header the Go bindings see.
 *
 * Rules every function follows:
 *  - Handles are opaque. Every *_free accepts NULL.
 *  - Functions that can fail return an azr_status and, on failure, write a
 *    NUL-terminated message into err (capacity err_cap; err may be NULL).
 *  - No function aborts the process on bad input: paths, sizes, token ids and
 *    file contents are checked before they reach llama.cpp/ggml.
 *  - Work is done per call (a whole batch, a whole generation): callers never
 *    need per-token round trips.
 */
#ifndef AZR_NATIVE_H
#define AZR_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    AZR_OK = 0,
    AZR_ERR_INVALID_ARG = 1,  /* a size, id or option out of range */
    AZR_ERR_IO = 2,           /* file missing, unreadable or unwritable */
    AZR_ERR_BAD_MODEL = 3,    /* not a GGUF file, truncated, corrupt or inconsistent */
    AZR_ERR_UNSUPPORTED = 4,  /* valid GGUF, but an architecture/type we do not support */
    AZR_ERR_CONTEXT_FULL = 5, /* input does not fit the context window */
    AZR_ERR_DECODE = 6,       /* llama_decode failed */
    AZR_ERR_NOMEM = 7,        /* allocation failed */
    AZR_ERR_INTERNAL = 8,     /* a C++ exception or invariant failure inside the engine */
    AZR_ERR_CANCELLED = 9     /* a cancel flag (azr_generator_cancel, azr_trainer_cancel, azr_nano_cancel) was raised during the work */
} azr_status;

/* ---------------------------------------------------------------- logging */

/* Minimum level of llama.cpp/ggml log lines that are passed on (to the sink,
 * or to stderr without one): 0 = debug, 1 = info, 2 = warn (default),
 * 3 = error, 4 = none. */
void azr_set_log_level(int level);

/* Receives llama.cpp/ggml log output as whole lines without the newline, at
 * the levels above, from whichever thread logged. NULL restores stderr. */
typedef void (*azr_log_fn)(int level, const char *line, void *user);
void azr_set_log_sink(azr_log_fn sink, void *user);

/* ---------------------------------------------------------------- models */

typedef struct azr_model azr_model;

typedef struct {
    int32_t n_threads;       /* CPU threads; <= 0 means all cores */
    int32_t n_gpu_layers;    /* layers to offload when a GPU backend is loaded; 0 = CPU only, -1 = all */
    int32_t use_mmap;        /* 1 = mmap the file (default) */
    int32_t allow_repack;    /* 1 = allow CPU weight repacking (faster inference, breaks training) */
} azr_model_params;

azr_model_params azr_model_default_params(void);

/* Loads a GGUF model. Checks the file and its architecture (qwen2, qwen3)
 * before handing it to llama.cpp. */
azr_status azr_model_load(const char *path, const azr_model_params *params, azr_model **out,
                          char *err, size_t err_cap);
void azr_model_free(azr_model *model);

typedef struct {
    char arch[32];        /* general.architecture, e.g. "qwen2" */
    char desc[128];       /* llama.cpp's one-line description, e.g. "qwen2 1B Q4_0" */
    char file_type[32];   /* dominant weight type, e.g. "Q4_0" */
    int32_t n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab, n_ctx_train;
    uint64_t n_params;    /* number of weights */
    uint64_t size_bytes;  /* bytes of weight data */
    int32_t tok_bos, tok_eos, tok_eot; /* -1 when the vocabulary has none */
    int32_t add_bos;      /* 1 when tokenizing text should prepend BOS */
    int32_t has_chat_template;
    int32_t n_layer_gpu;  /* repeating layers whose weights live on a GPU (0 on the CPU) */
    int32_t output_gpu;   /* 1 when the output layer lives on a GPU */
    char devices[128];    /* the devices holding the weights, e.g. "CUDA0" or "CPU" */
} azr_model_info;

void azr_model_get_info(const azr_model *model, azr_model_info *info);

/* Writes the model's chat template (NUL-terminated) into buf; returns its
 * length, 0 when there is none, or the needed size + 1 when buf is too small. */
int32_t azr_model_chat_template(const azr_model *model, char *buf, size_t cap);

/* Tokenizes text. Returns the number of tokens, or -(needed) when cap is too
 * small. parse_special = 1 recognises <|im_start|> etc. in the text. */
int32_t azr_tokenize(const azr_model *model, const char *text, int32_t text_len, int32_t add_special,
                     int32_t parse_special, int32_t *tokens, int32_t cap);

/* Detokenizes. Returns the byte length, or -(needed) when cap is too small,
 * or INT32_MIN when a token id is out of range. */
int32_t azr_detokenize(const azr_model *model, const int32_t *tokens, int32_t n_tokens, int32_t render_special,
                       char *buf, int32_t cap);

/* Returns 1 when token ends a generation (EOS, EOT, <|im_end|>, ...). */
int32_t azr_token_is_eog(const azr_model *model, int32_t token);

/* Looks up a token by its exact text (e.g. "<|im_start|>"); -1 when absent. */
int32_t azr_token_by_text(const azr_model *model, const char *text);

/* ---------------------------------------------------------------- generation */

typedef struct azr_generator azr_generator;

typedef struct {
    int32_t n_ctx;     /* KV cache cells shared by all sequences (prompts are shared between samples) */
    int32_t n_slots;   /* sequences decoded together (the batch width); >= 1 */
    int32_t n_batch;   /* max tokens per llama_decode call; 0 = n_ctx */
    int32_t n_threads; /* <= 0: the model's */
    int32_t split_kv;  /* 1 = a separate KV stream per slot (n_ctx / n_slots cells each) instead of one
                          unified cache; faster when prompts share nothing, but prefixes cannot be shared */
} azr_generator_params;

azr_generator_params azr_generator_default_params(void);

azr_status azr_generator_new(azr_model *model, const azr_generator_params *params, azr_generator **out,
                             char *err, size_t err_cap);
void azr_generator_free(azr_generator *gen);

typedef struct azr_lora azr_lora; /* a LoRA adapter: see azr_train.h */

/* Attaches lora (NULL detaches) to every later generation, at the given
 * scale. The adapter's parameters are read live: after a training step the
 * next azr_generate sees the new weights, with no reload. lora must outlive
 * the attachment (detach or free the generator first). */
azr_status azr_generator_set_lora(azr_generator *gen, azr_lora *lora, float scale, char *err, size_t err_cap);

/* The KV cells the context really has (llama.cpp pads the requested size). */
int32_t azr_generator_n_ctx(const azr_generator *gen);

/* Sets (on = 1) or clears (on = 0) gen's cancel flag. While set, azr_generate
 * stops at its next step and returns AZR_ERR_CANCELLED. Safe from any thread;
 * the flag stays set until cleared, so a caller clears it before each call. */
void azr_generator_cancel(azr_generator *gen, int32_t on);

typedef struct {
    float temperature;      /* 0 = greedy */
    float top_p;            /* 1 = off */
    int32_t top_k;          /* <= 0 = off */
    int32_t max_tokens;     /* new tokens per sample; >= 1 */
    uint64_t seed;
    int32_t ignore_eos;     /* 1 = do not stop at end-of-generation tokens */
    int32_t share_prefix;   /* 1 = the samples of one prompt share its KV cache (evaluate once) */
    const char *const *stop; /* stop strings; the text ends before the first match */
    int32_t n_stop;
} azr_sampling;

typedef struct {
    const int32_t *tokens;  /* the prompt, already tokenized */
    int32_t n_tokens;       /* >= 1 */
    int32_t n_samples;      /* >= 1 */
    uint64_t seed;          /* != 0: this prompt's samples draw from streams (seed, j), whatever the
                               batch; 0: from (sampling.seed, prompt index, j) */
} azr_prompt;

typedef enum {
    AZR_FINISH_EOG = 0,     /* the model produced an end-of-generation token */
    AZR_FINISH_STOP = 1,    /* a stop string matched */
    AZR_FINISH_LENGTH = 2,  /* max_tokens reached */
} azr_finish;

typedef struct azr_generation azr_generation;

/* Generates n_samples continuations for each prompt. Sample j of prompt i
 * draws from its own random stream derived from (seed, i, j) or from the
 * prompt's own seed, so results do not depend on scheduling. On success *out holds
 * sum(n_samples) samples, prompt-major. */
azr_status azr_generate(azr_generator *gen, const azr_prompt *prompts, int32_t n_prompts,
                        const azr_sampling *sampling, azr_generation **out, char *err, size_t err_cap);

typedef struct {
    int32_t prompt_index;
    int32_t sample_index;
    const int32_t *tokens;   /* generated tokens (the end-of-generation token included when produced) */
    const float *logprobs;   /* log-probability of each token under the distribution it was drawn
                                from: softmax(logits / temperature), renormalized over the tokens
                                top-k and top-p keep; greedy: the model's at temperature 1 */
    int32_t n_tokens;
    const char *text;        /* detokenized text, special tokens not rendered, cut before a stop string */
    int32_t text_len;
    int32_t finish;          /* azr_finish */
} azr_sample;

int32_t azr_generation_count(const azr_generation *g);
void azr_generation_sample(const azr_generation *g, int32_t i, azr_sample *out);

typedef struct {
    int64_t prompt_tokens;   /* prompt tokens evaluated (shared prompts counted once) */
    int64_t generated_tokens;
    int64_t decode_calls;
    double decode_seconds;   /* inside llama_decode */
    double sample_seconds;   /* inside sampling */
    double total_seconds;
} azr_generation_stats;

void azr_generation_get_stats(const azr_generation *g, azr_generation_stats *out);
void azr_generation_free(azr_generation *g);

/* Logits of every position of one sequence (n_tokens x n_vocab, row-major),
 * computed with llama_decode from an empty cache. For tests and tools. */
azr_status azr_eval_logits(azr_generator *gen, const int32_t *tokens, int32_t n_tokens, float *logits,
                           char *err, size_t err_cap);

/* The baseline of `bench gen`: the plainest C++ loop over llama_decode
 * (each prompt copied into its own sequence, greedy argmax, no stop checks),
 * same prompts and max_tokens. Returns generated tokens and seconds. */
azr_status azr_bench_plain_decode(azr_generator *gen, const azr_prompt *prompts, int32_t n_prompts,
                                  int32_t max_tokens, int64_t *generated, double *seconds, char *err,
                                  size_t err_cap);

/* ---------------------------------------------------------------- tiny models */

typedef struct {
    const char *arch;  /* "qwen2" or "qwen3" */
    int32_t n_layer, n_embd, n_head, n_head_kv, n_ff;
    int32_t n_vocab;   /* >= 256 + 3: bytes, merges, then the specials */
    int32_t n_ctx_train;
    int32_t tied_output; /* 1 = no output.weight (embeddings tied, like Qwen2-0.5B) */
    const char *quant; /* "f32", "f16", "q8_0", "q4_0", "q4_k" */
    uint64_t seed;
    float init_scale;  /* std-dev of the random weights; 0 = 0.02 */
} azr_tiny_params;

azr_tiny_params azr_tiny_default_params(void);

/* Writes a Qwen-architecture GGUF with deterministic random weights and a
 * byte-level BPE vocabulary carrying the Qwen special tokens. Tensors whose
 * rows do not divide the quantization block fall back to Q8_0, then F16. */
azr_status azr_tiny_model_write(const azr_tiny_params *params, const char *path, char *err, size_t err_cap);

#ifdef __cplusplus
}
#endif

/* Compute backends (loadable GPU modules) and devices. */
#include "azr_backend.h"

/* LoRA adapters and the policy-gradient training step. */
#include "azr_train.h"

#endif
