/* Linked into every loadable backend module built by native/backends: the
 * ggml source pin the module was compiled from. azr-native reads it before it
 * lets ggml load the module, because the module binds to the executable's own
 * ggml symbols and only an identical ggml makes that safe. */
__attribute__((visibility("default"))) const char azr_backend_module_pin[] = AZR_GGML_PIN;
