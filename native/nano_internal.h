// Shared by nano.cpp (training graph, optimizer) and nano_gguf.cpp (files);
// not part of the ABI.
#pragma once

#include "azr_nano.h"
#include "internal.h"

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace azr {

// The weights of one decoder layer, in the flattened parameter order.
struct nano_layer {
    ggml_tensor *attn_norm, *wq, *bq, *wk, *bk, *wv, *bv, *wo, *ffn_norm, *gate, *up, *down;
};

// The vocabulary as the GGUF stores it.
struct nano_vocab {
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    std::vector<std::string> merges;
    int32_t bos = -1, eos = -1, eot = -1, pad = -1;
    std::string chat_template;
};

// NANO_AUTO: the test oracle, ggml's automatic backward of the unweighted loss.
enum nano_mode { NANO_LOGITS, NANO_LOSS, NANO_TRAIN, NANO_AUTO };

// One built and allocated graph. Kept on the trainer and reused while the
// batch shape (mode, rows, length) stays the same: building and planning the
// allocation costs more than a small step.
struct nano_graph {
    nano_mode mode = NANO_LOSS;
    int S = 0, T = 0;
    int chunk = 1; // rows per chunk of the vocabulary-sized loss head
    ggml_context *ctx = nullptr;
    ggml_cgraph *gf = nullptr;
    ggml_gallocr_t galloc = nullptr;
    ggml_tensor *tokens = nullptr, *pos = nullptr, *causal = nullptr, *tgt = nullptr, *w = nullptr;
    ggml_tensor *logits = nullptr, *logp = nullptr;
    ggml_tensor *labels = nullptr, *loss = nullptr; // NANO_AUTO: one-hot targets [V, n], mean loss
    std::vector<ggml_tensor *> grads; // parallel to azr_nano::params
    ~nano_graph() {
        if (galloc) ggml_gallocr_free(galloc);
        if (ctx) ggml_free(ctx);
    }
};


// Checks a vocabulary for what llama.cpp's gpt2 tokenizer needs; "" when fine.
std::string check_nano_vocab(const nano_vocab &v);

} // namespace azr

struct azr_nano {
    azr_nano_shape shape{};
    azr_nano_params p{};
    azr::nano_vocab vocab;
    std::string name; // general.name of the file it was opened from ("" for a new model)
    int n_threads = 1;
    float norm_eps = 1e-6f;
    // Parameters: F32 tensors in one CPU buffer, in the flattened order.
    ggml_context *wctx = nullptr;
    ggml_backend_buffer_t wbuf = nullptr;
    ggml_tensor *tok_embd = nullptr, *output_norm = nullptr;
    std::vector<azr::nano_layer> layers;
    std::vector<ggml_tensor *> params; // every parameter, flattened order
    // AdamW moments, one vector per parameter tensor.
    std::vector<std::vector<float>> m, v;
    int64_t step = 0;
    ggml_backend_t backend = nullptr;
    std::atomic<bool> cancel{false};
    std::unique_ptr<azr::nano_graph> train_graph, eval_graph; // reused while the batch shape stays
    ~azr_nano();
};

namespace azr {

// Allocates the parameter tensors of shape (zeroed) and the optimizer state.
azr_status nano_alloc(azr_nano *nn, char *err, size_t err_cap);
int64_t nano_param_count(const azr_nano *nn);
std::string nano_fingerprint_hex(const azr_nano *nn);
// Validates a shape whose n_vocab is already set.
azr_status check_nano_shape(const azr_nano_shape &s, char *err, size_t err_cap);
// Takes the optimizer/thread settings (NULL = defaults) after checking them.
azr_status nano_configure(azr_nano *nn, const azr_nano_params *params, char *err, size_t err_cap);

} // namespace azr
