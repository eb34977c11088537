// Files of the nano trainer: the qwen2 GGUF it writes (F32 or quantized,
// with the caller's byte-level BPE vocabulary), reopening an F32 one to
// continue training, and the optimizer state for an exact resume.
#include "nano_internal.h"

#include "gguf.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <set>
#include <unordered_set>

using namespace azr;

namespace {

const char *kArch = "qwen2";

// llama.cpp file types (llama_ftype) of the quantizations we write.
struct quant_choice {
    const char *name;
    uint32_t ftype;
};
const quant_choice kQuants[] = {{"f32", 0}, {"f16", 1}, {"q4_0", 2}, {"q8_0", 7}};

// The stored type of a weight: vectors stay F32; matrices take the
// requested type when their rows divide its block, else Q8_0, else F16.
// q4_0 keeps the token embeddings at Q8_0: they are also the output head.
ggml_type stored_type(const std::string &quant, const ggml_tensor *t) {
    if (t->ne[1] == 1 || quant == "f32") return GGML_TYPE_F32;
    if (quant == "f16") return GGML_TYPE_F16;
    ggml_type want = quant == "q4_0" ? GGML_TYPE_Q4_0 : GGML_TYPE_Q8_0;
    if (want == GGML_TYPE_Q4_0 && std::string(ggml_get_name(t)) == "token_embd.weight") want = GGML_TYPE_Q8_0;
    if (t->ne[0] % ggml_blck_size(want) == 0) return want;
    if (t->ne[0] % ggml_blck_size(GGML_TYPE_Q8_0) == 0) return GGML_TYPE_Q8_0;
    return GGML_TYPE_F16;
}

uint64_t fnv1a(const void *data, size_t n, uint64_t h) {
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001B3ULL;
    }
    return h;
}

std::string kv_key(const char *suffix) { return std::string(kArch) + "." + suffix; }

// Writes to path + ".tmp" then renames, so a crash never leaves half a file at path.
bool write_then_rename(const std::string &path, const std::function<bool(const std::string &)> &write) {
    const std::string tmp = path + ".tmp";
    if (!write(tmp)) {
        std::remove(tmp.c_str());
        return false;
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return false;
    }
    return true;
}

struct gguf_reader {
    gguf_context *g = nullptr;
    ggml_context *data = nullptr;
    ~gguf_reader() {
        if (g) gguf_free(g);
        if (data) ggml_free(data);
    }
    int64_t key(const std::string &k) const { return gguf_find_key(g, k.c_str()); }
    bool u32(const std::string &k, uint32_t *out) const {
        int64_t i = key(k);
        if (i < 0) return false;
        switch (gguf_get_kv_type(g, i)) {
        case GGUF_TYPE_UINT32: *out = gguf_get_val_u32(g, i); return true;
        case GGUF_TYPE_INT32: *out = (uint32_t)gguf_get_val_i32(g, i); return true;
        default: return false;
        }
    }
    bool f32(const std::string &k, float *out) const {
        int64_t i = key(k);
        if (i < 0 || gguf_get_kv_type(g, i) != GGUF_TYPE_FLOAT32) return false;
        *out = gguf_get_val_f32(g, i);
        return true;
    }
    std::string str(const std::string &k) const {
        int64_t i = key(k);
        if (i < 0 || gguf_get_kv_type(g, i) != GGUF_TYPE_STRING) return "";
        return gguf_get_val_str(g, i);
    }
    int32_t id(const std::string &k) const {
        uint32_t v;
        return u32(k, &v) ? (int32_t)v : -1;
    }
};

} // namespace

namespace azr {

std::string check_nano_vocab(const nano_vocab &v) {
    char buf[512];
    const int32_t n = (int32_t)v.tokens.size();
    if (v.types.size() != v.tokens.size()) return "token types and tokens differ in length";
    std::unordered_set<std::string> seen;
    for (int32_t i = 0; i < n; i++) {
        if (v.tokens[(size_t)i].empty()) {
            snprintf(buf, sizeof buf, "token %d is empty", i);
            return buf;
        }
        if (!seen.insert(v.tokens[(size_t)i]).second) {
            snprintf(buf, sizeof buf, "token %d '%s' appears twice", i, v.tokens[(size_t)i].c_str());
            return buf;
        }
        if (v.types[(size_t)i] < 0 || v.types[(size_t)i] > 6) {
            snprintf(buf, sizeof buf, "token %d has type %d (llama token types are 0..6)", i, v.types[(size_t)i]);
            return buf;
        }
    }
    // llama.cpp's byte-level BPE falls back to single bytes: all 256 must exist.
    const auto b2u = byte_to_unicode();
    for (int b = 0; b < 256; b++)
        if (!seen.count(b2u[(size_t)b])) {
            snprintf(buf, sizeof buf, "the vocabulary lacks the token of byte 0x%02x ('%s' in GPT-2 byte-to-unicode form)", b, b2u[(size_t)b].c_str());
            return buf;
        }
    for (size_t i = 0; i < v.merges.size(); i++) {
        const std::string &m = v.merges[i];
        const size_t sp = m.find(' ', 1);
        if (sp == std::string::npos || sp + 1 >= m.size() || m.find(' ', sp + 1) != std::string::npos) {
            snprintf(buf, sizeof buf, "merge %zu '%s' is not of the form 'a b'", i, m.c_str());
            return buf;
        }
        const std::string joined = m.substr(0, sp) + m.substr(sp + 1);
        if (!seen.count(joined)) {
            snprintf(buf, sizeof buf, "merge %zu '%s' makes '%s', which is not a token", i, m.c_str(), joined.c_str());
            return buf;
        }
    }
    const std::pair<const char *, int32_t> ids[] = {{"bos", v.bos}, {"eos", v.eos}, {"eot", v.eot}, {"pad", v.pad}};
    for (auto &kv : ids)
        if (kv.second < -1 || kv.second >= n) {
            snprintf(buf, sizeof buf, "%s id %d is outside the vocabulary of %d tokens (-1 = none)", kv.first, kv.second, n);
            return buf;
        }
    return "";
}

std::string nano_fingerprint_hex(const azr_nano *nn) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (ggml_tensor *t : nn->params) h = fnv1a(t->data, ggml_nbytes(t), h);
    char buf[17];
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
    return buf;
}

} // namespace azr

extern "C" void azr_nano_fingerprint(const azr_nano *nn, char *buf, size_t cap) {
    if (!buf || cap == 0) return;
    buf[0] = 0;
    if (nn) snprintf(buf, cap, "%s", nano_fingerprint_hex(nn).c_str());
}

extern "C" azr_status azr_nano_save(const azr_nano *nn, const char *path, const char *quant, const char *name, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!nn) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano save: trainer is closed");
        if (!path || !*path) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano save: empty path");
        const std::string q = quant && *quant ? quant : "f32";
        const quant_choice *qc = nullptr;
        for (const auto &c : kQuants)
            if (q == c.name) qc = &c;
        if (!qc) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano save: quant must be f32, f16, q8_0 or q4_0, got '%s'", q.c_str());
        const azr_nano_shape &s = nn->shape;

        gguf_context *g = gguf_init_empty();
        ggml_init_params ip = {ggml_tensor_overhead() * (nn->params.size() + 4), nullptr, true};
        ggml_context *meta = ggml_init(ip);
        std::unique_ptr<gguf_context, void (*)(gguf_context *)> gg(g, gguf_free);
        std::unique_ptr<ggml_context, void (*)(ggml_context *)> mg(meta, ggml_free);
        if (!g || !meta) return fail(err, err_cap, AZR_ERR_NOMEM, "nano save: out of memory");

        gguf_set_val_str(g, "general.architecture", kArch);
        gguf_set_val_str(g, "general.name", name && *name ? name : !nn->name.empty() ? nn->name.c_str() : "azr-native nano");
        gguf_set_val_u32(g, "general.file_type", qc->ftype);
        gguf_set_val_u32(g, kv_key("block_count").c_str(), (uint32_t)s.n_layer);
        gguf_set_val_u32(g, kv_key("context_length").c_str(), (uint32_t)s.n_ctx);
        gguf_set_val_u32(g, kv_key("embedding_length").c_str(), (uint32_t)s.n_embd);
        gguf_set_val_u32(g, kv_key("feed_forward_length").c_str(), (uint32_t)s.n_ff);
        gguf_set_val_u32(g, kv_key("attention.head_count").c_str(), (uint32_t)s.n_head);
        gguf_set_val_u32(g, kv_key("attention.head_count_kv").c_str(), (uint32_t)s.n_head_kv);
        gguf_set_val_f32(g, kv_key("rope.freq_base").c_str(), s.rope_theta);
        gguf_set_val_f32(g, kv_key("attention.layer_norm_rms_epsilon").c_str(), nn->norm_eps);

        const nano_vocab &v = nn->vocab;
        std::vector<const char *> toks, merges;
        for (auto &t : v.tokens) toks.push_back(t.c_str());
        for (auto &m : v.merges) merges.push_back(m.c_str());
        gguf_set_val_str(g, "tokenizer.ggml.model", "gpt2");
        gguf_set_val_str(g, "tokenizer.ggml.pre", "qwen2");
        gguf_set_arr_str(g, "tokenizer.ggml.tokens", toks.data(), toks.size());
        gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v.types.data(), v.types.size());
        gguf_set_arr_str(g, "tokenizer.ggml.merges", merges.data(), merges.size());
        const std::pair<const char *, int32_t> ids[] = {{"tokenizer.ggml.bos_token_id", v.bos},
                                                        {"tokenizer.ggml.eos_token_id", v.eos},
                                                        {"tokenizer.ggml.eot_token_id", v.eot},
                                                        {"tokenizer.ggml.padding_token_id", v.pad}};
        for (auto &kv : ids)
            if (kv.second >= 0) gguf_set_val_u32(g, kv.first, (uint32_t)kv.second);
        gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", false);
        if (!v.chat_template.empty()) gguf_set_val_str(g, "tokenizer.chat_template", v.chat_template.c_str());

        const std::string fp = nano_fingerprint_hex(nn);
        gguf_set_val_str(g, "azr.nano.fingerprint", fp.c_str());
        gguf_set_val_u64(g, "azr.nano.step", (uint64_t)nn->step);
        gguf_set_val_u64(g, "azr.nano.seed", nn->p.seed);

        std::vector<std::vector<uint8_t>> bufs;
        bufs.reserve(nn->params.size());
        for (ggml_tensor *t : nn->params) {
            const ggml_type type = stored_type(q, t);
            ggml_tensor *o = ggml_new_tensor(meta, type, GGML_MAX_DIMS, t->ne);
            ggml_set_name(o, ggml_get_name(t));
            if (type == GGML_TYPE_F32) {
                o->data = t->data;
            } else {
                bufs.emplace_back(ggml_nbytes(o));
                if (type == GGML_TYPE_F16)
                    ggml_fp32_to_fp16_row((const float *)t->data, (ggml_fp16_t *)bufs.back().data(), ggml_nelements(t));
                else
                    ggml_quantize_chunk(type, (const float *)t->data, bufs.back().data(), 0, t->ne[1], t->ne[0], nullptr);
                o->data = bufs.back().data();
            }
            gguf_add_tensor(g, o);
        }
        if (!write_then_rename(path, [&](const std::string &p) { return gguf_write_to_file(g, p.c_str(), false); }))
            return fail(err, err_cap, AZR_ERR_IO, "nano save: cannot write %s: %s", path, strerror(errno));
        return AZR_OK;
    });
}

extern "C" azr_status azr_nano_open(const char *path, const azr_nano_params *params, azr_nano **out, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!out) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "open nano: out is NULL");
        *out = nullptr;
        if (!path || !*path) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "open nano: empty path");
        ensure_backend();
        if (FILE *f = fopen(path, "rb")) {
            char magic[4] = {0};
            const size_t got = fread(magic, 1, 4, f);
            fclose(f);
            if (got < 4 || memcmp(magic, "GGUF", 4) != 0) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "open nano %s: not a GGUF file", path);
        } else {
            return fail(err, err_cap, AZR_ERR_IO, "open nano %s: %s", path, strerror(errno));
        }
        gguf_reader r;
        gguf_init_params gp = {false, &r.data};
        clear_native_error();
        r.g = gguf_init_from_file(path, gp);
        if (!r.g) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "open nano %s: corrupt or truncated GGUF: %s", path, last_native_error().c_str());
        if (r.str("general.architecture") != kArch)
            return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "open nano %s: architecture '%s' (nano models are qwen2)", path,
                        r.str("general.architecture").c_str());
        std::unique_ptr<azr_nano> nn(new azr_nano());
        if (azr_status s = nano_configure(nn.get(), params, err, err_cap)) return s;
        azr_nano_shape &s = nn->shape;
        uint32_t u[6];
        const char *keys[6] = {"block_count", "embedding_length", "attention.head_count", "attention.head_count_kv", "feed_forward_length",
                               "context_length"};
        for (int i = 0; i < 6; i++)
            if (!r.u32(kv_key(keys[i]), &u[i]))
                return fail(err, err_cap, AZR_ERR_BAD_MODEL, "open nano %s: missing %s", path, kv_key(keys[i]).c_str());
        s.n_layer = (int32_t)u[0];
        s.n_embd = (int32_t)u[1];
        s.n_head = (int32_t)u[2];
        s.n_head_kv = (int32_t)u[3];
        s.n_ff = (int32_t)u[4];
        s.n_ctx = (int32_t)u[5];
        s.rope_theta = 10000.0f;
        r.f32(kv_key("rope.freq_base"), &s.rope_theta);
        r.f32(kv_key("attention.layer_norm_rms_epsilon"), &nn->norm_eps);

        // The vocabulary.
        nano_vocab &v = nn->vocab;
        if (r.str("tokenizer.ggml.model") != "gpt2")
            return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "open nano %s: tokenizer '%s' (nano models use gpt2 byte-level BPE)", path,
                        r.str("tokenizer.ggml.model").c_str());
        const int64_t kt = r.key("tokenizer.ggml.tokens"), ktt = r.key("tokenizer.ggml.token_type"), km = r.key("tokenizer.ggml.merges");
        if (kt < 0 || gguf_get_arr_type(r.g, kt) != GGUF_TYPE_STRING)
            return fail(err, err_cap, AZR_ERR_BAD_MODEL, "open nano %s: no token list", path);
        for (size_t i = 0; i < gguf_get_arr_n(r.g, kt); i++) v.tokens.push_back(gguf_get_arr_str(r.g, kt, i));
        if (ktt >= 0 && gguf_get_arr_type(r.g, ktt) == GGUF_TYPE_INT32 && gguf_get_arr_n(r.g, ktt) == v.tokens.size()) {
            const int32_t *tt = (const int32_t *)gguf_get_arr_data(r.g, ktt);
            v.types.assign(tt, tt + v.tokens.size());
        } else {
            v.types.assign(v.tokens.size(), 1);
        }
        if (km >= 0 && gguf_get_arr_type(r.g, km) == GGUF_TYPE_STRING)
            for (size_t i = 0; i < gguf_get_arr_n(r.g, km); i++) v.merges.push_back(gguf_get_arr_str(r.g, km, i));
        v.bos = r.id("tokenizer.ggml.bos_token_id");
        v.eos = r.id("tokenizer.ggml.eos_token_id");
        v.eot = r.id("tokenizer.ggml.eot_token_id");
        v.pad = r.id("tokenizer.ggml.padding_token_id");
        v.chat_template = r.str("tokenizer.chat_template");
        nn->name = r.str("general.name");
        std::string why = check_nano_vocab(v);
        if (!why.empty()) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "open nano %s: %s", path, why.c_str());
        s.n_vocab = (int32_t)v.tokens.size();
        if (azr_status st = check_nano_shape(s, err, err_cap)) return st;
        if (azr_status st = nano_alloc(nn.get(), err, err_cap)) return st;

        // The weights: every one present, F32, with the expected shape; nothing else.
        std::set<std::string> expected;
        for (ggml_tensor *t : nn->params) {
            expected.insert(ggml_get_name(t));
            const ggml_tensor *f = ggml_get_tensor(r.data, ggml_get_name(t));
            if (!f) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "open nano %s: tensor %s is missing", path, ggml_get_name(t));
            if (f->type != GGML_TYPE_F32)
                return fail(err, err_cap, AZR_ERR_UNSUPPORTED,
                            "open nano %s: tensor %s is %s; training continues only from an F32 file (save with quant f32)", path,
                            ggml_get_name(t), ggml_type_name(f->type));
            if (!ggml_are_same_shape(f, t))
                return fail(err, err_cap, AZR_ERR_BAD_MODEL, "open nano %s: tensor %s has shape [%lld, %lld], expected [%lld, %lld]", path,
                            ggml_get_name(t), (long long)f->ne[0], (long long)f->ne[1], (long long)t->ne[0], (long long)t->ne[1]);
            std::memcpy(t->data, f->data, ggml_nbytes(t));
        }
        for (int64_t i = 0; i < gguf_get_n_tensors(r.g); i++) {
            const char *tn = gguf_get_tensor_name(r.g, i);
            if (!expected.count(tn))
                return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "open nano %s: unexpected tensor %s (nano models have tied output and no extras)",
                            path, tn);
        }
        for (ggml_tensor *t : nn->params) {
            const float *d = (const float *)t->data;
            for (int64_t i = 0; i < ggml_nelements(t); i++)
                if (!std::isfinite(d[i])) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "open nano %s: tensor %s holds non-finite values", path, ggml_get_name(t));
        }
        const int64_t ks = r.key("azr.nano.seed");
        if (ks >= 0 && gguf_get_kv_type(r.g, ks) == GGUF_TYPE_UINT64) nn->p.seed = gguf_get_val_u64(r.g, ks);
        *out = nn.release();
        return AZR_OK;
    });
}

// ------------------------------------------------------------- optimizer state

namespace {

const char kStateMagic[8] = {'A', 'Z', 'R', 'N', 'A', 'N', 'O', 'S'};
const uint32_t kStateVersion = 1;

struct state_header {
    char magic[8];
    uint32_t version;
    int32_t shape[7]; // layers, embd, heads, kv heads, ff, ctx, vocab
    float rope_theta;
    int64_t step;
    int64_t n_params;
    char fingerprint[16];
};

void fill_header(const azr_nano *nn, state_header &h) {
    std::memset(&h, 0, sizeof h);
    std::memcpy(h.magic, kStateMagic, 8);
    h.version = kStateVersion;
    const azr_nano_shape &s = nn->shape;
    const int32_t sh[7] = {s.n_layer, s.n_embd, s.n_head, s.n_head_kv, s.n_ff, s.n_ctx, s.n_vocab};
    std::memcpy(h.shape, sh, sizeof sh);
    h.rope_theta = s.rope_theta;
    h.step = nn->step;
    h.n_params = nano_param_count(nn);
    std::memcpy(h.fingerprint, nano_fingerprint_hex(nn).data(), 16);
}

} // namespace

extern "C" azr_status azr_nano_save_state(const azr_nano *nn, const char *path, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!nn) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano save state: trainer is closed");
        if (!path || !*path) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano save state: empty path");
        state_header h;
        fill_header(nn, h);
        bool ok = write_then_rename(path, [&](const std::string &p) {
            FILE *f = fopen(p.c_str(), "wb");
            if (!f) return false;
            bool good = fwrite(&h, sizeof h, 1, f) == 1;
            for (const auto *moments : {&nn->m, &nn->v})
                for (const auto &vec : *moments) good = good && fwrite(vec.data(), sizeof(float), vec.size(), f) == vec.size();
            return fclose(f) == 0 && good;
        });
        if (!ok) return fail(err, err_cap, AZR_ERR_IO, "nano save state: cannot write %s: %s", path, strerror(errno));
        return AZR_OK;
    });
}

extern "C" azr_status azr_nano_load_state(azr_nano *nn, const char *path, char *err, size_t err_cap) {
    return guarded(err, err_cap, [&]() -> azr_status {
        if (!nn) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano load state: trainer is closed");
        if (!path || !*path) return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano load state: empty path");
        FILE *f = fopen(path, "rb");
        if (!f) return fail(err, err_cap, AZR_ERR_IO, "nano load state %s: %s", path, strerror(errno));
        std::unique_ptr<FILE, int (*)(FILE *)> fg(f, fclose);
        state_header h, want;
        if (fread(&h, sizeof h, 1, f) != 1 || std::memcmp(h.magic, kStateMagic, 8) != 0)
            return fail(err, err_cap, AZR_ERR_BAD_MODEL, "nano load state %s: not a nano optimizer state file", path);
        if (h.version != kStateVersion)
            return fail(err, err_cap, AZR_ERR_UNSUPPORTED, "nano load state %s: version %u, this build reads %u", path, h.version, kStateVersion);
        fill_header(nn, want);
        if (std::memcmp(h.shape, want.shape, sizeof h.shape) != 0 || h.n_params != want.n_params)
            return fail(err, err_cap, AZR_ERR_INVALID_ARG, "nano load state %s: saved for another shape (%d layers, %d wide, vocab %d)", path,
                        h.shape[0], h.shape[1], h.shape[6]);
        if (std::memcmp(h.fingerprint, want.fingerprint, 16) != 0)
            return fail(err, err_cap, AZR_ERR_INVALID_ARG,
                        "nano load state %s: saved with weights %.16s but these are %.16s; open the F32 model saved with it", path,
                        h.fingerprint, want.fingerprint);
        std::vector<std::vector<float>> m = nn->m, v = nn->v;
        for (auto *moments : {&m, &v})
            for (auto &vec : *moments)
                if (fread(vec.data(), sizeof(float), vec.size(), f) != vec.size())
                    return fail(err, err_cap, AZR_ERR_BAD_MODEL, "nano load state %s: truncated", path);
        char extra;
        if (fread(&extra, 1, 1, f) != 0) return fail(err, err_cap, AZR_ERR_BAD_MODEL, "nano load state %s: trailing bytes", path);
        nn->m = std::move(m);
        nn->v = std::move(v);
        nn->step = h.step;
        return AZR_OK;
    });
}
