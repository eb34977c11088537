/*
 * azr_backend.h — compute backends and devices (part of the C ABI; included by azr.h).
 *
 * The CPU backend is part of every azr-native binary. GPU backends are
 * loadable modules (libggml-cuda.so, built by `CUDA=1 make`) that azr-native
 * finds next to its executable or in a directory it is given, and loads once
 * at start, before any model. A module that is missing is not an error; one
 * that exists but cannot be loaded is reported, never fatal.
 */
#ifndef AZR_BACKEND_H
#define AZR_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Loads the GPU backend modules present in dir (libggml-cuda.so, ...); NULL or
 * "" means the directory of the running executable. Each module that is
 * present but cannot be loaded, or loads but finds no device, adds one line
 * to warn (NUL-terminated, lines separated by '\n'; warn may be NULL).
 * Modules already loaded are skipped. Returns the number of modules loaded
 * by this call. */
int32_t azr_backends_load_dir(const char *dir, char *warn, size_t warn_cap);

/* Loads one backend module file. Refuses a file that is not a shared object,
 * was not built by native/backends (no azr_backend_module_pin symbol) or was
 * built from another ggml pin than this binary (AZR_ERR_UNSUPPORTED), and one
 * that ggml cannot initialize. Loading the same file twice is a no-op. */
azr_status azr_backend_load(const char *path, char *err, size_t err_cap);

/* The ggml source pin this binary was built from, e.g. "ollama@v0.17.4". */
const char *azr_backend_pin(void);

typedef enum {
    AZR_DEVICE_CPU = 0,
    AZR_DEVICE_GPU = 1,
    AZR_DEVICE_IGPU = 2,   /* integrated GPU sharing host memory */
    AZR_DEVICE_ACCEL = 3   /* an accelerator used alongside the CPU (e.g. BLAS) */
} azr_device_type;

typedef struct {
    char name[64];          /* ggml's device name, e.g. "CPU", "CUDA0" */
    char description[128];  /* e.g. "NVIDIA H200" or the CPU's model name */
    char backend[32];       /* the backend it belongs to, e.g. "CPU", "CUDA" */
    int32_t type;           /* azr_device_type */
    uint64_t memory_free;   /* bytes, as the device reports them (0 when unknown) */
    uint64_t memory_total;
} azr_device_info;

/* The devices of every backend registered so far, GPUs first. */
int32_t azr_device_count(void);
azr_status azr_device_get(int32_t index, azr_device_info *out, char *err, size_t err_cap);

/* Runs a small F32 and a Q4_K matrix product on the device and compares them
 * with the same products computed on the host in double precision (relative
 * error bounds 1e-3 and 2e-2: the GPU may round activations to 8 bits for
 * quantized products). Fails with AZR_ERR_INTERNAL and the measured error when
 * the device computes something else. */
azr_status azr_device_selfcheck(int32_t index, char *err, size_t err_cap);

#ifdef __cplusplus
}
#endif

#endif
