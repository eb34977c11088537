# The ggml source pin, shared by the engine build (CMakeLists.txt) and the
# loadable backend modules (native/backends): the module directory's name,
# e.g. "ollama@v0.17.4". A backend module is loaded only when its pin equals
# the executable's.
get_filename_component(AZR_GGML_PIN "${LLAMA_SRC_ROOT}" NAME)
set(AZR_GGML_VERSION "0.0.0-ollama-v0.17.4")
set(AZR_GGML_COMMIT "ec98e2002")
