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
