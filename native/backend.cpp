// Loadable GPU backend modules and the device list (native/azr_backend.h).
//
// azr-native links ggml-base, the backend registry and the CPU backend into
// the executable and exports their symbols (docs/ENGINE.md, "Backends"). A
// module built by native/backends leaves its ggml symbols undefined, so when
// it is loaded they bind to the executable's ggml: one copy of ggml's state
// (log hook, registry) in the process. That is only safe when the module was
// compiled from the same ggml source, which is why each module carries its pin
// and a module with another pin is refused before ggml's loader runs its code.
#include "internal.h"

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#ifndef AZR_GGML_PIN
#error "AZR_GGML_PIN must name the ggml source pin (set by CMakeLists.txt)"
#endif

namespace {

std::mutex g_load_mu;
std::set<std::string> g_loaded; // canonical paths of the modules loaded so far

// The GPU backends azr-native can load, as ggml names their module files.
const char *const k_gpu_modules[] = {"cuda"};

std::string executable_dir() {
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return ".";
    buf[n] = 0;
    std::string p(buf);
    size_t slash = p.rfind('/');
    return slash == std::string::npos ? std::string(".") : p.substr(0, slash);
}

// The devices in the order we present them: GPUs first, then the rest, each
// group in ggml's registration order.
std::vector<ggml_backend_dev_t> ordered_devices() {
    std::vector<ggml_backend_dev_t> gpus, rest;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t d = ggml_backend_dev_get(i);
        auto t = ggml_backend_dev_type(d);
        (t == GGML_BACKEND_DEVICE_TYPE_GPU || t == GGML_BACKEND_DEVICE_TYPE_IGPU ? gpus : rest).push_back(d);
    }
    gpus.insert(gpus.end(), rest.begin(), rest.end());
    return gpus;
}

// Loads one module; *n_devices is the number of devices it registered (0
// when it was loaded before).
azr_status load_module(const std::string &path, char *err, size_t cap, size_t *n_devices = nullptr) {
    if (n_devices) *n_devices = 0;
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return azr::fail(err, cap, AZR_ERR_IO, "backend module %s: %s", path.c_str(), strerror(errno));
    if (!S_ISREG(st.st_mode)) return azr::fail(err, cap, AZR_ERR_IO, "backend module %s: not a regular file", path.c_str());
    char real[PATH_MAX];
    std::string key = realpath(path.c_str(), real) ? std::string(real) : path;

    std::lock_guard<std::mutex> lock(g_load_mu);
    if (g_loaded.count(key)) return AZR_OK;

    // Open it ourselves first, without running ggml's initializer: a clear
    // message when it is no shared object or its libraries are missing, and
    // the pin check before any of its code runs against our ggml.
    dlerror();
    void *h = dlopen(key.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        return azr::fail(err, cap, AZR_ERR_UNSUPPORTED, "backend module %s cannot be loaded: %s", path.c_str(), why ? why : "unknown error");
    }
    struct closer {
        void *h;
        ~closer() { dlclose(h); }
    } keep{h};
    const char *pin = (const char *)dlsym(h, "azr_backend_module_pin");
    if (!pin)
        return azr::fail(err, cap, AZR_ERR_UNSUPPORTED,
                         "backend module %s was not built for azr-native (it has no azr_backend_module_pin); "
                         "build it from this source with `CUDA=1 make`",
                         path.c_str());
    if (std::strcmp(pin, AZR_GGML_PIN) != 0)
        return azr::fail(err, cap, AZR_ERR_UNSUPPORTED,
                         "backend module %s was built from ggml %s, but this binary uses ggml %s; rebuild the module",
                         path.c_str(), pin, AZR_GGML_PIN);
    if (!dlsym(h, "ggml_backend_init"))
        return azr::fail(err, cap, AZR_ERR_UNSUPPORTED, "backend module %s has no ggml_backend_init entry point", path.c_str());

    azr::clear_native_error();
    ggml_backend_reg_t reg = ggml_backend_load(key.c_str());
    if (!reg) {
        std::string why = azr::last_native_error();
        return azr::fail(err, cap, AZR_ERR_UNSUPPORTED, "backend module %s: ggml could not initialize it%s%s", path.c_str(),
                         why.empty() ? "" : ": ", why.c_str());
    }
    g_loaded.insert(key);
    if (n_devices) *n_devices = ggml_backend_reg_dev_count(reg);
    return AZR_OK;
}

void copy_str(char *dst, size_t cap, const char *s) { snprintf(dst, cap, "%s", s ? s : ""); }

// Deterministic pseudo-normal test values (sum of uniforms), no zeros.
void fill(std::vector<float> &v, uint64_t seed) {
    azr::splitmix64 r{seed};
    for (auto &x : v) x = (float)(r.uniform() + r.uniform() + r.uniform() - 1.5);
}

double rel_error(const std::vector<float> &got, const std::vector<double> &want) {
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); i++) {
        double d = (double)got[i] - want[i];
        if (!std::isfinite(got[i])) return INFINITY;
        num += d * d;
        den += want[i] * want[i];
    }
    return std::sqrt(num / std::max(den, 1e-300));
}

// want[n][m] = sum_k a[m][k] * x[n][k], in double.
std::vector<double> host_matmul(const std::vector<float> &a, const std::vector<float> &x, int K, int M, int N) {
    std::vector<double> y((size_t)M * N);
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)a[(size_t)m * K + k] * x[(size_t)n * K + k];
            y[(size_t)n * M + m] = s;
        }
    return y;
}

} // namespace

extern "C" const char *azr_backend_pin(void) { return AZR_GGML_PIN; }

extern "C" azr_status azr_backend_load(const char *path, char *err, size_t err_cap) {
    return azr::guarded(err, err_cap, [&]() -> azr_status {
        if (!path || !*path) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "backend module: empty path");
        azr::ensure_backend();
        return load_module(path, err, err_cap);
    });
}

extern "C" int32_t azr_backends_load_dir(const char *dir, char *warn, size_t warn_cap) {
    if (warn && warn_cap) warn[0] = 0;
    int32_t loaded = 0;
    try {
        azr::ensure_backend();
        std::string d = dir && *dir ? std::string(dir) : executable_dir();
        std::string warnings;
        for (const char *name : k_gpu_modules) {
            std::string path = d + "/libggml-" + name + ".so";
            struct stat st;
            if (stat(path.c_str(), &st) != 0) continue; // absent: this machine runs on the CPU
            size_t before = ggml_backend_reg_count(), n_devices = 0;
            char err[1024];
            if (load_module(path, err, sizeof err, &n_devices) != AZR_OK) {
                if (!warnings.empty()) warnings += "\n";
                warnings += err;
            } else if (ggml_backend_reg_count() > before) {
                loaded++;
                if (n_devices == 0) {
                    // Loaded, but the driver reported no usable device (ggml logs why).
                    if (!warnings.empty()) warnings += "\n";
                    warnings += "backend module " + path + " loaded, but it found no device (no GPU, or the driver refused it; see the log)";
                }
            }
        }
        if (warn && warn_cap) copy_str(warn, warn_cap, warnings.c_str());
    } catch (const std::exception &e) {
        if (warn && warn_cap) snprintf(warn, warn_cap, "loading backend modules: internal error: %s", e.what());
    } catch (...) {
        if (warn && warn_cap) copy_str(warn, warn_cap, "loading backend modules: internal error");
    }
    return loaded;
}

extern "C" int32_t azr_device_count(void) {
    azr::ensure_backend();
    return (int32_t)ggml_backend_dev_count();
}

extern "C" azr_status azr_device_get(int32_t index, azr_device_info *out, char *err, size_t err_cap) {
    return azr::guarded(err, err_cap, [&]() -> azr_status {
        if (!out) return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "device info: out is NULL");
        azr::ensure_backend();
        auto devs = ordered_devices();
        if (index < 0 || (size_t)index >= devs.size())
            return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "device %d: there are %zu devices", index, devs.size());
        ggml_backend_dev_t d = devs[(size_t)index];
        std::memset(out, 0, sizeof *out);
        copy_str(out->name, sizeof out->name, ggml_backend_dev_name(d));
        copy_str(out->description, sizeof out->description, ggml_backend_dev_description(d));
        copy_str(out->backend, sizeof out->backend, ggml_backend_reg_name(ggml_backend_dev_backend_reg(d)));
        switch (ggml_backend_dev_type(d)) {
        case GGML_BACKEND_DEVICE_TYPE_GPU: out->type = AZR_DEVICE_GPU; break;
        case GGML_BACKEND_DEVICE_TYPE_IGPU: out->type = AZR_DEVICE_IGPU; break;
        case GGML_BACKEND_DEVICE_TYPE_ACCEL: out->type = AZR_DEVICE_ACCEL; break;
        default: out->type = AZR_DEVICE_CPU; break;
        }
        size_t free_b = 0, total_b = 0;
        ggml_backend_dev_memory(d, &free_b, &total_b);
        out->memory_free = free_b;
        out->memory_total = total_b;
        return AZR_OK;
    });
}

extern "C" azr_status azr_device_selfcheck(int32_t index, char *err, size_t err_cap) {
    return azr::guarded(err, err_cap, [&]() -> azr_status {
        azr::ensure_backend();
        auto devs = ordered_devices();
        if (index < 0 || (size_t)index >= devs.size())
            return azr::fail(err, err_cap, AZR_ERR_INVALID_ARG, "device %d: there are %zu devices", index, devs.size());
        ggml_backend_dev_t dev = devs[(size_t)index];
        const char *name = ggml_backend_dev_name(dev);

        const int K = 512, M = 96, N = 8; // K: two Q4_K blocks per row
        std::vector<float> a((size_t)K * M), x((size_t)K * N);
        fill(a, 0x5e1fc0de);
        fill(x, 0xc0ffee);
        std::vector<uint8_t> aq(ggml_row_size(GGML_TYPE_Q4_K, K) * M);
        ggml_quantize_chunk(GGML_TYPE_Q4_K, a.data(), aq.data(), 0, M, K, nullptr);
        std::vector<float> a_deq(a.size());
        ggml_get_type_traits(GGML_TYPE_Q4_K)->to_float(aq.data(), a_deq.data(), (int64_t)a.size());

        ggml_init_params ip = {ggml_tensor_overhead() * 16 + ggml_graph_overhead(), nullptr, true};
        ggml_context *ctx = ggml_init(ip);
        if (!ctx) return azr::fail(err, err_cap, AZR_ERR_NOMEM, "device %s self-check: no ggml context", name);
        std::unique_ptr<ggml_context, void (*)(ggml_context *)> ctx_guard(ctx, ggml_free);
        ggml_tensor *ta = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, K, M);
        ggml_tensor *tq = ggml_new_tensor_2d(ctx, GGML_TYPE_Q4_K, K, M);
        ggml_tensor *tx = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, K, N);
        ggml_tensor *y32 = ggml_mul_mat(ctx, ta, tx);
        ggml_tensor *yq = ggml_mul_mat(ctx, tq, tx);
        ggml_cgraph *gf = ggml_new_graph(ctx);
        ggml_build_forward_expand(gf, y32);
        ggml_build_forward_expand(gf, yq);

        ggml_backend_t be = ggml_backend_dev_init(dev, nullptr);
        if (!be) return azr::fail(err, err_cap, AZR_ERR_INTERNAL, "device %s self-check: the backend does not start", name);
        std::unique_ptr<ggml_backend, void (*)(ggml_backend_t)> be_guard(be, ggml_backend_free);
        for (ggml_tensor *op : {y32, yq})
            if (!ggml_backend_supports_op(be, op))
                return azr::fail(err, err_cap, AZR_ERR_UNSUPPORTED, "device %s self-check: the device cannot run %s matrix products",
                                 name, ggml_type_name(op->src[0]->type));
        ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors(ctx, be);
        if (!buf) return azr::fail(err, err_cap, AZR_ERR_NOMEM, "device %s self-check: cannot allocate device memory", name);
        std::unique_ptr<ggml_backend_buffer, void (*)(ggml_backend_buffer_t)> buf_guard(buf, ggml_backend_buffer_free);
        ggml_backend_tensor_set(ta, a.data(), 0, ggml_nbytes(ta));
        ggml_backend_tensor_set(tq, aq.data(), 0, ggml_nbytes(tq));
        ggml_backend_tensor_set(tx, x.data(), 0, ggml_nbytes(tx));
        // Poison the outputs, so an unwritten result cannot pass.
        std::vector<float> got((size_t)M * N, NAN);
        ggml_backend_tensor_set(y32, got.data(), 0, ggml_nbytes(y32));
        ggml_backend_tensor_set(yq, got.data(), 0, ggml_nbytes(yq));
        if (ggml_backend_graph_compute(be, gf) != GGML_STATUS_SUCCESS)
            return azr::fail(err, err_cap, AZR_ERR_INTERNAL, "device %s self-check: the graph did not compute", name);

        struct Case {
            ggml_tensor *t;
            const std::vector<float> *a;
            double bound;
            const char *what;
        } cases[] = {{y32, &a, 1e-3, "F32"}, {yq, &a_deq, 2e-2, "Q4_K"}};
        for (const Case &c : cases) {
            ggml_backend_tensor_get(c.t, got.data(), 0, ggml_nbytes(c.t));
            double e = rel_error(got, host_matmul(*c.a, x, K, M, N));
            if (!(e <= c.bound))
                return azr::fail(err, err_cap, AZR_ERR_INTERNAL,
                                 "device %s self-check: %s matrix product differs from the host's (relative error %.3g > %.0e)", name,
                                 c.what, e, c.bound);
        }
        return AZR_OK;
    });
}
