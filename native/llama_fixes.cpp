// Work-arounds for defects of the pinned llama.cpp, kept in one place so a
// version bump can drop them.
#include "internal.h"

#include "ggml-cpp.h"
#include "llama-context.h"

namespace {

// llama_context declares its scheduler before its backends, so its
// destructor frees the backends first and then ggml_backend_sched_free, which
// (in this ggml) calls each backend's reset hook: a use-after-free that
// crashes with the CUDA backend. Freeing the scheduler first avoids it. The
// member is private; a pointer-to-member obtained through an explicit
// template instantiation (which the language exempts from access checks)
// reaches it without modifying llama.cpp.
struct SchedMember {
    using type = ggml_backend_sched_ptr llama_context::*;
    friend type sched_member(SchedMember);
};
template <typename Tag, typename Tag::type M> struct Expose {
    friend typename Tag::type sched_member(Tag) { return M; }
};
template struct Expose<SchedMember, &llama_context::sched>;

} // namespace

namespace azr {

void free_llama_context(llama_context *ctx) {
    if (!ctx) return;
    (ctx->*sched_member(SchedMember{})).reset();
    llama_free(ctx);
}

} // namespace azr
