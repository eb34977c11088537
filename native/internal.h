// Shared helpers of the native engine; not part of the ABI.
#pragma once

#include "azr.h"
#include "llama.h"

#include <cstdarg>
#include <cstdio>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

struct azr_model {
    llama_model *model = nullptr;
    const llama_vocab *vocab = nullptr;
    int32_t n_threads = 1;
    std::string arch;
};

namespace azr {

// The splitmix64 finalizer: a strong 64-bit mix.
inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// splitmix64: tiny, fast, and the same numbers on every platform, so seeded
// weights and samples are reproducible anywhere.
struct splitmix64 {
    uint64_t s;
    uint64_t next() { return mix64(s += 0x9E3779B97F4A7C15ULL); }
    // Uniform in (0, 1), never 0 or 1.
    double uniform() { return ((next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
};

// Writes a formatted message into err and returns code.
azr_status fail(char *err, size_t cap, azr_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

// The most recent error line llama.cpp/ggml logged on this thread ("" if none);
// appended to our messages because llama.cpp often logs the reason and returns NULL.
std::string last_native_error();
void clear_native_error();

// Runs body, turning C++ exceptions into error codes so none crosses the C ABI.
template <typename F> azr_status guarded(char *err, size_t cap, F &&body) {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return fail(err, cap, AZR_ERR_NOMEM, "out of memory");
    } catch (const std::exception &e) {
        return fail(err, cap, AZR_ERR_INTERNAL, "internal error: %s", e.what());
    } catch (...) {
        return fail(err, cap, AZR_ERR_INTERNAL, "internal error: unknown exception");
    }
}

void ensure_backend();

// GPT-2's byte -> printable-unicode map of byte-level BPE vocabularies:
// entry b is the token text of byte b (tiny_model.cpp).
std::vector<std::string> byte_to_unicode();

// llama_free without the pinned version's use-after-free on destruction
// (llama_fixes.cpp). Use it for every llama_context the engine creates.
void free_llama_context(llama_context *ctx);

} // namespace azr
