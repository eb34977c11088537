// Writes small Qwen-architecture GGUF models with deterministic random weights,
// so tests, demos and benchmarks never need downloaded weights.
#include "azr.h"
#include "internal.h"

#include "ggml.h"
#include "gguf.h"
#include "llama.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace azr {

// GPT-2's reversible byte -> printable-unicode map used by byte-level BPE vocabularies.
std::vector<std::string> byte_to_unicode() {
    std::vector<int> cps(256, -1);
    std::vector<bool> printable(256, false);
    for (int b = '!'; b <= '~'; b++) printable[b] = true;
    for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
    for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
    int next = 256;
    for (int b = 0; b < 256; b++) cps[b] = printable[b] ? b : next++;
    std::vector<std::string> out(256);
    for (int b = 0; b < 256; b++) {
        int cp = cps[b];
        std::string s;
        if (cp < 0x80) {
            s.push_back((char)cp);
        } else if (cp < 0x800) {
            s.push_back((char)(0xC0 | (cp >> 6)));
            s.push_back((char)(0x80 | (cp & 0x3F)));
        } else {
            s.push_back((char)(0xE0 | (cp >> 12)));
            s.push_back((char)(0x80 | ((cp >> 6) & 0x3F)));
            s.push_back((char)(0x80 | (cp & 0x3F)));
        }
        out[b] = s;
    }
    return out;
}

} // namespace azr

namespace {

using azr::byte_to_unicode;

struct Vocab {
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    std::vector<std::string> merges;
};

// 256 byte tokens, then merged tokens (pairs of common ASCII bytes, then
// pair+byte triples), then the Qwen special tokens as the last three ids.
Vocab make_vocab(int n_vocab) {
    const auto b2u = byte_to_unicode();
    Vocab v;
    for (int b = 0; b < 256; b++) {
        v.tokens.push_back(b2u[b]);
        v.types.push_back(LLAMA_TOKEN_TYPE_NORMAL);
    }
    // Frequent characters first so that ordinary text actually merges.
    std::string common = " etaoinsrhldcumfpgwybvkxjqz_=(),:.[]'\"0123456789\nETAOINSRHLDCUMFPGWYBVKXJQZ+-*/<>{}#!?;|&%$@^~`\\\t";
    const int n_regular = n_vocab - 3;
    std::vector<std::string> pairs;
    for (char a : common) {
        for (char b : common) {
            if ((int)v.tokens.size() >= n_regular) break;
            std::string ta = b2u[(unsigned char)a], tb = b2u[(unsigned char)b];
            v.merges.push_back(ta + " " + tb);
            v.tokens.push_back(ta + tb);
            v.types.push_back(LLAMA_TOKEN_TYPE_NORMAL);
            pairs.push_back(ta + tb);
        }
    }
    for (size_t p = 0; p < pairs.size() && (int)v.tokens.size() < n_regular; p++) {
        for (int b = 0; b < 256 && (int)v.tokens.size() < n_regular; b++) {
            v.merges.push_back(pairs[p] + " " + b2u[b]);
            v.tokens.push_back(pairs[p] + b2u[b]);
            v.types.push_back(LLAMA_TOKEN_TYPE_NORMAL);
        }
    }
    for (const char *s : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
        v.tokens.push_back(s);
        v.types.push_back(LLAMA_TOKEN_TYPE_CONTROL);
    }
    return v;
}

struct Rng : azr::splitmix64 {
    // Irwin-Hall(4): cheap, bounded, close enough to a normal for random weights.
    float normal() {
        double s4 = uniform() + uniform() + uniform() + uniform();
        return (float)((s4 - 2.0) * 1.7320508075688772);
    }
};

ggml_type parse_quant(const std::string &q, bool *ok) {
    *ok = true;
    if (q == "f32") return GGML_TYPE_F32;
    if (q == "f16") return GGML_TYPE_F16;
    if (q == "q8_0") return GGML_TYPE_Q8_0;
    if (q == "q4_0") return GGML_TYPE_Q4_0;
    if (q == "q4_k") return GGML_TYPE_Q4_K;
    *ok = false;
    return GGML_TYPE_F32;
}

llama_ftype ftype_of(ggml_type t) {
    switch (t) {
    case GGML_TYPE_F16: return LLAMA_FTYPE_MOSTLY_F16;
    case GGML_TYPE_Q8_0: return LLAMA_FTYPE_MOSTLY_Q8_0;
    case GGML_TYPE_Q4_0: return LLAMA_FTYPE_MOSTLY_Q4_0;
    case GGML_TYPE_Q4_K: return LLAMA_FTYPE_MOSTLY_Q4_K_M;
    default: return LLAMA_FTYPE_ALL_F32;
    }
}

// The type a 2-D weight gets: the requested one when its rows divide the
// block size, else Q8_0, else F16.
ggml_type weight_type(ggml_type want, int64_t ne0) {
    if (want == GGML_TYPE_F32 || want == GGML_TYPE_F16) return want;
    if (ne0 % ggml_blck_size(want) == 0) return want;
    if (ne0 % ggml_blck_size(GGML_TYPE_Q8_0) == 0) return GGML_TYPE_Q8_0;
    return GGML_TYPE_F16;
}

struct Writer {
    gguf_context *gguf = nullptr;
    ggml_context *meta = nullptr;
    std::vector<std::unique_ptr<std::vector<uint8_t>>> buffers;
    Rng rng;
    ggml_type want;
    float scale;

    ~Writer() {
        if (gguf) gguf_free(gguf);
        if (meta) ggml_free(meta);
    }

    // Adds a tensor filled with `base + scale * N(0,1)` (rows of ne0), stored as `type`.
    void add(const std::string &name, int64_t ne0, int64_t ne1, ggml_type type, float base, float sd) {
        std::vector<float> f((size_t)(ne0 * ne1));
        for (auto &x : f) x = base + sd * rng.normal();
        size_t row = ggml_row_size(type, ne0);
        auto buf = std::make_unique<std::vector<uint8_t>>(row * (size_t)ne1);
        if (type == GGML_TYPE_F32) {
            std::memcpy(buf->data(), f.data(), f.size() * sizeof(float));
        } else if (type == GGML_TYPE_F16) {
            ggml_fp32_to_fp16_row(f.data(), (ggml_fp16_t *)buf->data(), (int64_t)f.size());
        } else {
            ggml_quantize_chunk(type, f.data(), buf->data(), 0, ne1, ne0, nullptr);
        }
        ggml_tensor *t = ne1 == 1 ? ggml_new_tensor_1d(meta, type, ne0) : ggml_new_tensor_2d(meta, type, ne0, ne1);
        ggml_set_name(t, name.c_str());
        t->data = buf->data();
        gguf_add_tensor(gguf, t);
        buffers.push_back(std::move(buf));
    }
    void weight(const std::string &name, int64_t ne0, int64_t ne1) { add(name, ne0, ne1, weight_type(want, ne0), 0.0f, scale); }
    void vec(const std::string &name, int64_t n, float base, float sd) { add(name, n, 1, GGML_TYPE_F32, base, sd); }
};

} // namespace

extern "C" azr_tiny_params azr_tiny_default_params(void) {
    azr_tiny_params p;
    std::memset(&p, 0, sizeof p);
    p.arch = "qwen2";
    p.n_layer = 2;
    p.n_embd = 64;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.n_ff = 128;
    p.n_vocab = 512;
    p.n_ctx_train = 4096;
    p.tied_output = 0;
    p.quant = "f32";
    p.seed = 1;
    p.init_scale = 0.02f;
    return p;
}

extern "C" azr_status azr_tiny_model_write(const azr_tiny_params *p, const char *path, char *err, size_t err_cap) {
    return azr::guarded(err, err_cap, [&]() -> azr_status {
        if (!p || !path || !*path) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "tiny model: params and path are required");
        std::string arch = p->arch ? p->arch : "qwen2";
        if (arch != "qwen2" && arch != "qwen3")
            return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "tiny model: arch must be qwen2 or qwen3, got '%s'", arch.c_str());
        if (p->n_layer < 1 || p->n_embd < 1 || p->n_head < 1 || p->n_head_kv < 1 || p->n_ff < 1 || p->n_ctx_train < 1)
            return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "tiny model: all sizes must be positive");
        if (p->n_embd % p->n_head != 0 || p->n_head % p->n_head_kv != 0)
            return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG,
                             "tiny model: n_embd (%d) must divide by n_head (%d), and n_head by n_head_kv (%d)", p->n_embd,
                             p->n_head, p->n_head_kv);
        const int head_dim = p->n_embd / p->n_head;
        if (head_dim % 2 != 0) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "tiny model: head size %d must be even (RoPE)", head_dim);
        if (p->n_vocab < 256 + 3) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "tiny model: n_vocab must be at least 259");
        bool ok;
        ggml_type want = parse_quant(p->quant ? p->quant : "f32", &ok);
        if (!ok) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "tiny model: quant must be f32, f16, q8_0, q4_0 or q4_k, got '%s'", p->quant);

        Writer w;
        w.rng.s = p->seed * 0x2545F4914F6CDD1DULL + 1;
        w.want = want;
        w.scale = p->init_scale > 0 ? p->init_scale : 0.02f;
        w.gguf = gguf_init_empty();
        const int n_tensors = 4 + 13 * p->n_layer;
        ggml_init_params ip = {(size_t)n_tensors * ggml_tensor_overhead() + 1024, nullptr, true};
        w.meta = ggml_init(ip);
        if (!w.gguf || !w.meta) return azr::fail(err, err_cap, AZR_ERR_NOMEM, "tiny model: out of memory");

        const std::string a = arch;
        gguf_context *g = w.gguf;
        gguf_set_val_str(g, "general.architecture", a.c_str());
        gguf_set_val_str(g, "general.name", ("azr-native tiny " + a).c_str());
        gguf_set_val_u32(g, "general.file_type", (uint32_t)ftype_of(want));
        gguf_set_val_u32(g, (a + ".block_count").c_str(), (uint32_t)p->n_layer);
        gguf_set_val_u32(g, (a + ".context_length").c_str(), (uint32_t)p->n_ctx_train);
        gguf_set_val_u32(g, (a + ".embedding_length").c_str(), (uint32_t)p->n_embd);
        gguf_set_val_u32(g, (a + ".feed_forward_length").c_str(), (uint32_t)p->n_ff);
        gguf_set_val_u32(g, (a + ".attention.head_count").c_str(), (uint32_t)p->n_head);
        gguf_set_val_u32(g, (a + ".attention.head_count_kv").c_str(), (uint32_t)p->n_head_kv);
        gguf_set_val_f32(g, (a + ".rope.freq_base").c_str(), 1000000.0f);
        gguf_set_val_f32(g, (a + ".attention.layer_norm_rms_epsilon").c_str(), 1e-6f);
        if (a == "qwen3") {
            gguf_set_val_u32(g, (a + ".attention.key_length").c_str(), (uint32_t)head_dim);
            gguf_set_val_u32(g, (a + ".attention.value_length").c_str(), (uint32_t)head_dim);
        }

        Vocab v = make_vocab(p->n_vocab);
        std::vector<const char *> toks, merges;
        for (auto &s : v.tokens) toks.push_back(s.c_str());
        for (auto &s : v.merges) merges.push_back(s.c_str());
        const uint32_t eot = (uint32_t)p->n_vocab - 3;
        gguf_set_val_str(g, "tokenizer.ggml.model", "gpt2");
        gguf_set_val_str(g, "tokenizer.ggml.pre", "qwen2");
        gguf_set_arr_str(g, "tokenizer.ggml.tokens", toks.data(), toks.size());
        gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v.types.data(), v.types.size());
        gguf_set_arr_str(g, "tokenizer.ggml.merges", merges.data(), merges.size());
        gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", eot);
        gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", eot);
        gguf_set_val_u32(g, "tokenizer.ggml.padding_token_id", eot);
        gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", false);
        // ChatML, the format of Qwen's instruct models.
        gguf_set_val_str(g, "tokenizer.chat_template",
                         "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
                         "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}");

        const int64_t E = p->n_embd, F = p->n_ff, KV = (int64_t)p->n_head_kv * head_dim;
        w.weight("token_embd.weight", E, p->n_vocab);
        w.vec("output_norm.weight", E, 1.0f, 0.05f);
        if (!p->tied_output) w.weight("output.weight", E, p->n_vocab);
        for (int l = 0; l < p->n_layer; l++) {
            const std::string b = "blk." + std::to_string(l) + ".";
            w.vec(b + "attn_norm.weight", E, 1.0f, 0.05f);
            w.weight(b + "attn_q.weight", E, E);
            w.weight(b + "attn_k.weight", E, KV);
            w.weight(b + "attn_v.weight", E, KV);
            if (a == "qwen2") {
                w.vec(b + "attn_q.bias", E, 0.0f, w.scale);
                w.vec(b + "attn_k.bias", KV, 0.0f, w.scale);
                w.vec(b + "attn_v.bias", KV, 0.0f, w.scale);
            } else {
                w.vec(b + "attn_q_norm.weight", head_dim, 1.0f, 0.05f);
                w.vec(b + "attn_k_norm.weight", head_dim, 1.0f, 0.05f);
            }
            w.weight(b + "attn_output.weight", E, E);
            w.vec(b + "ffn_norm.weight", E, 1.0f, 0.05f);
            w.weight(b + "ffn_gate.weight", E, F);
            w.weight(b + "ffn_up.weight", E, F);
            w.weight(b + "ffn_down.weight", F, E);
        }
        if (!gguf_write_to_file(g, path, false))
            return azr::fail(err, err_cap, AZR_ERR_IO, "tiny model: cannot write %s", path);
        return AZR_OK;
    });
}
