// Model loading, metadata and tokenization.
#include "internal.h"

#include "ggml-backend.h"
#include "llama-model.h"
#include "gguf.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <sys/stat.h>
#include <thread>
#include <vector>

namespace {

std::atomic<int> g_log_level{2};
std::atomic<azr_log_fn> g_log_sink{nullptr};
std::atomic<void *> g_log_sink_user{nullptr};
thread_local std::string t_last_error;
// llama.cpp logs in pieces (a message, then CONT pieces such as progress
// dots); each thread gathers its pieces into whole lines.
thread_local std::string t_log_line;
thread_local int t_log_line_level = 1;

void emit_log_line(int level, const std::string &line) {
    if (line.empty() || level < g_log_level.load(std::memory_order_relaxed)) return;
    if (azr_log_fn sink = g_log_sink.load()) {
        sink(level, line.c_str(), g_log_sink_user.load());
        return;
    }
    fputs(line.c_str(), stderr);
    fputc('\n', stderr);
}

void log_callback(ggml_log_level level, const char *text, void *) {
    if (!text) return;
    int ours = t_log_line_level;
    switch (level) {
    case GGML_LOG_LEVEL_DEBUG: ours = 0; break;
    case GGML_LOG_LEVEL_INFO: ours = 1; break;
    case GGML_LOG_LEVEL_WARN: ours = 2; break;
    case GGML_LOG_LEVEL_ERROR: ours = 3; break;
    case GGML_LOG_LEVEL_CONT: break; // continues the line in progress
    default: ours = 1; break;
    }
    if (level != GGML_LOG_LEVEL_CONT) {
        // A new message ends a line left open without its newline.
        if (!t_log_line.empty()) emit_log_line(t_log_line_level, t_log_line);
        t_log_line.clear();
        t_log_line_level = ours;
    }
    if (level == GGML_LOG_LEVEL_ERROR) {
        std::string s = text;
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
        if (!s.empty()) t_last_error = s;
    }
    t_log_line += text;
    size_t nl;
    while ((nl = t_log_line.find('\n')) != std::string::npos) {
        emit_log_line(t_log_line_level, t_log_line.substr(0, nl));
        t_log_line.erase(0, nl + 1);
    }
}

bool supported_arch(const std::string &a) { return a == "qwen2" || a == "qwen3"; }

} // namespace

namespace azr {

azr_status fail(char *err, size_t cap, azr_status code, const char *fmt, ...) {
    if (err && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

std::string last_native_error() { return t_last_error; }
void clear_native_error() { t_last_error.clear(); }

void ensure_backend() {
    static std::once_flag once;
    std::call_once(once, [] {
        llama_log_set(log_callback, nullptr);
        llama_backend_init();
    });
}

} // namespace azr

extern "C" void azr_set_log_level(int level) {
    g_log_level.store(level);
    azr::ensure_backend();
}

extern "C" void azr_set_log_sink(azr_log_fn sink, void *user) {
    g_log_sink_user.store(user);
    g_log_sink.store(sink);
    azr::ensure_backend();
}

extern "C" azr_model_params azr_model_default_params(void) {
    azr_model_params p;
    p.n_threads = 0;
    p.n_gpu_layers = 0;
    p.use_mmap = 1;
    p.allow_repack = 0;
    return p;
}

extern "C" azr_status azr_model_load(const char *path, const azr_model_params *params, azr_model **out, char *err,
                                     size_t err_cap) {
    return azr::guarded(err, err_cap, [&]() -> azr_status {
        if (!out) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "load model: out is NULL");
        *out = nullptr;
        if (!path || !*path) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "load model: empty path");
        azr_model_params p = params ? *params : azr_model_default_params();
        if (p.n_threads < 0) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "load model: n_threads must be >= 0, got %d", p.n_threads);
        azr::ensure_backend();

        struct stat st;
        if (stat(path, &st) != 0) return azr::fail(err, err_cap, AZR_ERR_IO, "load model %s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode)) return azr::fail(err, err_cap, AZR_ERR_IO, "load model %s: not a regular file", path);
        if (FILE *f = fopen(path, "rb")) {
            char magic[4] = {0};
            size_t n = fread(magic, 1, 4, f);
            fclose(f);
            if (n < 4 || memcmp(magic, "GGUF", 4) != 0)
                return azr::fail(err, err_cap, AZR_ERR_BAD_MODEL, "load model %s: not a GGUF file (bad magic)", path);
        } else {
            return azr::fail(err, err_cap, AZR_ERR_IO, "load model %s: %s", path, strerror(errno));
        }

        // Read the header ourselves first: a clear message for corrupt files and
        // for architectures we do not train, before llama.cpp sees the file.
        azr::clear_native_error();
        gguf_init_params gp = {true, nullptr};
        gguf_context *g = gguf_init_from_file(path, gp);
        if (!g) {
            std::string why = azr::last_native_error();
            return azr::fail(err, err_cap, AZR_ERR_BAD_MODEL, "load model %s: corrupt or truncated GGUF header%s%s", path,
                             why.empty() ? "" : ": ", why.c_str());
        }
        std::string arch;
        int64_t k = gguf_find_key(g, "general.architecture");
        if (k >= 0 && gguf_get_kv_type(g, k) == GGUF_TYPE_STRING) arch = gguf_get_val_str(g, k);
        gguf_free(g);
        if (arch.empty()) return azr::fail(err, err_cap, AZR_ERR_BAD_MODEL, "load model %s: no general.architecture key", path);
        if (!supported_arch(arch))
            return azr::fail(err, err_cap, AZR_ERR_UNSUPPORTED,
                             "load model %s: architecture '%s' is not supported (azr-native trains qwen2 and qwen3 dense models)",
                             path, arch.c_str());

        llama_model_params mp = llama_model_default_params();
        mp.n_gpu_layers = p.n_gpu_layers < 0 ? 9999 : p.n_gpu_layers;
        mp.use_mmap = p.use_mmap != 0;
        mp.use_extra_bufts = p.allow_repack != 0;
        mp.check_tensors = false;
        azr::clear_native_error();
        llama_model *m = llama_model_load_from_file(path, mp);
        if (!m) {
            std::string why = azr::last_native_error();
            return azr::fail(err, err_cap, AZR_ERR_BAD_MODEL, "load model %s: llama.cpp rejected it%s%s", path,
                             why.empty() ? "" : ": ", why.c_str());
        }
        auto *am = new azr_model;
        am->model = m;
        am->vocab = llama_model_get_vocab(m);
        am->arch = arch;
        am->n_threads = p.n_threads > 0 ? p.n_threads : (int32_t)std::max(1u, std::thread::hardware_concurrency());
        *out = am;
        return AZR_OK;
    });
}

extern "C" void azr_model_free(azr_model *m) {
    if (!m) return;
    if (m->model) llama_model_free(m->model);
    delete m;
}

static void copy_str(char *dst, size_t cap, const std::string &s) {
    snprintf(dst, cap, "%s", s.c_str());
}

extern "C" void azr_model_get_info(const azr_model *m, azr_model_info *info) {
    if (!info) return;
    std::memset(info, 0, sizeof *info);
    if (!m || !m->model) return;
    copy_str(info->arch, sizeof info->arch, m->arch);
    char buf[256];
    llama_model_desc(m->model, buf, sizeof buf);
    copy_str(info->desc, sizeof info->desc, buf);
    // The description is "<arch> <size> <file type>", e.g. "qwen2 1B Q4_K - Medium".
    std::string d = buf;
    size_t sp1 = d.find(' ');
    size_t sp2 = sp1 == std::string::npos ? sp1 : d.find(' ', sp1 + 1);
    copy_str(info->file_type, sizeof info->file_type, sp2 == std::string::npos ? d : d.substr(sp2 + 1));
    info->n_layer = llama_model_n_layer(m->model);
    info->n_embd = llama_model_n_embd(m->model);
    info->n_head = llama_model_n_head(m->model);
    info->n_head_kv = llama_model_n_head_kv(m->model);
    info->n_vocab = llama_vocab_n_tokens(m->vocab);
    info->n_ctx_train = llama_model_n_ctx_train(m->model);
    char ff[32] = {0};
    if (llama_model_meta_val_str(m->model, (m->arch + ".feed_forward_length").c_str(), ff, sizeof ff) > 0) info->n_ff = atoi(ff);
    info->n_params = llama_model_n_params(m->model);
    info->size_bytes = llama_model_size(m->model);
    info->tok_bos = llama_vocab_bos(m->vocab);
    info->tok_eos = llama_vocab_eos(m->vocab);
    info->tok_eot = llama_vocab_eot(m->vocab);
    info->add_bos = llama_vocab_get_add_bos(m->vocab) ? 1 : 0;
    info->has_chat_template = llama_model_chat_template(m->model, nullptr) != nullptr;
    // Where the weights live: each repeating layer's device and the output's.
    auto on_gpu = [](ggml_backend_dev_t d) { return d && ggml_backend_dev_type(d) != GGML_BACKEND_DEVICE_TYPE_CPU; };
    std::vector<std::string> names;
    auto note = [&](ggml_backend_dev_t d) {
        std::string n = d ? ggml_backend_dev_name(d) : "CPU";
        if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    };
    for (int il = 0; il < info->n_layer; il++) {
        ggml_backend_dev_t d = m->model->dev_layer(il);
        info->n_layer_gpu += on_gpu(d);
        note(d);
    }
    info->output_gpu = on_gpu(m->model->dev_output());
    note(m->model->dev_output());
    std::string devs;
    for (const auto &n : names) devs += (devs.empty() ? "" : ", ") + n;
    copy_str(info->devices, sizeof info->devices, devs);
}

extern "C" int32_t azr_model_chat_template(const azr_model *m, char *buf, size_t cap) {
    if (!m || !m->model) return 0;
    const char *t = llama_model_chat_template(m->model, nullptr);
    if (!t) return 0;
    size_t n = strlen(t);
    if (!buf || cap < n + 1) return (int32_t)(n + 1);
    memcpy(buf, t, n + 1);
    return (int32_t)n;
}

extern "C" int32_t azr_tokenize(const azr_model *m, const char *text, int32_t text_len, int32_t add_special,
                                int32_t parse_special, int32_t *tokens, int32_t cap) {
    if (!m || !m->vocab || text_len < 0 || cap < 0) return INT32_MIN;
    if (text_len == 0) return 0;
    if (!text) return INT32_MIN;
    try {
        return llama_tokenize(m->vocab, text, text_len, tokens, cap, add_special != 0, parse_special != 0);
    } catch (...) {
        return INT32_MIN;
    }
}

extern "C" int32_t azr_detokenize(const azr_model *m, const int32_t *tokens, int32_t n, int32_t render_special, char *buf,
                                  int32_t cap) {
    if (!m || !m->vocab || n < 0 || cap < 0) return INT32_MIN;
    const int32_t nv = llama_vocab_n_tokens(m->vocab);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= nv) return INT32_MIN;
    try {
        return llama_detokenize(m->vocab, tokens, n, buf, cap, false, render_special != 0);
    } catch (...) {
        return INT32_MIN;
    }
}

extern "C" int32_t azr_token_is_eog(const azr_model *m, int32_t token) {
    if (!m || !m->vocab || token < 0 || token >= llama_vocab_n_tokens(m->vocab)) return 0;
    return llama_vocab_is_eog(m->vocab, token) ? 1 : 0;
}

extern "C" int32_t azr_token_by_text(const azr_model *m, const char *text) {
    if (!m || !m->vocab || !text) return -1;
    const int32_t nv = llama_vocab_n_tokens(m->vocab);
    for (int32_t i = nv - 1; i >= 0; i--) {
        const char *t = llama_vocab_get_text(m->vocab, i);
        if (t && strcmp(t, text) == 0) return i;
    }
    return -1;
}
