// Shared between lora.cpp and train.cpp; not part of the ABI.
#pragma once

#include "internal.h"

#include "ggml-backend.h"
#include "ggml.h"

// llama.cpp internals of the pinned version (see docs/ENGINE.md).
#include "llama-adapter.h"
#include "llama-model.h"

#include <string>
#include <vector>

namespace azr {

enum { PROJ_Q, PROJ_K, PROJ_V, PROJ_O, PROJ_GATE, PROJ_UP, PROJ_DOWN, PROJ_COUNT };

// The frozen matrix of projection p in layer l (nullptr when absent).
ggml_tensor *layer_weight(const llama_model &m, int l, int p);
const char *proj_name(int p);

struct lora_pair {
    int layer = 0;
    int proj = 0;
    ggml_tensor *w = nullptr; // frozen base matrix [in, out]
    ggml_tensor *a = nullptr; // [in, r]
    ggml_tensor *b = nullptr; // [r, out]
    // AdamW moments, shaped like a and b and kept in the same buffer (the
    // device's memory for offloaded layers): the scheduler path updates them
    // with ggml ops where they live, the direct CPU path in host memory.
    ggml_tensor *m_a = nullptr, *v_a = nullptr, *m_b = nullptr, *v_b = nullptr;
};

// Fingerprint of a base model: sizes plus a probe of dequantized embeddings.
struct base_fingerprint {
    std::string arch;
    int32_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_vocab = 0;
    std::vector<float> probe;
};
base_fingerprint fingerprint_of(const azr_model &model);

// Reads a whole tensor as F32 (dequantizing) from any backend buffer.
std::vector<float> tensor_to_f32(const ggml_tensor *t);

// The training step's oracle entry points (train.cpp), exposed to
// train_oracles.cpp only: see azr_train_grads / azr_train_logits in
// azr_train_oracles.h.
azr_status train_grads(azr_trainer *tr, const azr_train_seq *seqs, int32_t n_seqs, int32_t mode, float *grads, int64_t n,
                       azr_train_result *res, char *err, size_t err_cap);
azr_status train_logits(azr_trainer *tr, const int32_t *tokens, int32_t n_tokens, float *logits, char *err, size_t err_cap);

} // namespace azr

struct azr_lora {
    azr_model *model = nullptr;
    int32_t rank = 0;
    float alpha = 0;
    uint32_t projections = 0;
    // One context and buffer per buffer type: each pair lives where its base
    // weight does (a GPU's memory for offloaded layers, host memory otherwise).
    std::vector<ggml_context *> ctxs;
    std::vector<ggml_backend_buffer_t> bufs;
    llama_adapter_lora *adapter = nullptr;
    std::vector<azr::lora_pair> pairs; // layer-major, projection order
    int64_t step = 0;
    uint64_t version = 1;
    int64_t n_params() const {
        int64_t n = 0;
        for (auto &p : pairs) n += ggml_nelements(p.a) + ggml_nelements(p.b);
        return n;
    }
    float scale() const { return alpha / (float)rank; }
};
