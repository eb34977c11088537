package bindings

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// testGPULayersEnv runs this package's tests with every model's layers on a
// GPU: AZR_TEST_GPU_LAYERS=-1 (with AZR_BACKEND_DIR naming the directory of
// libggml-cuda.so). The expectations stay the same; scripts/gpu-check.sh
// runs them so on a GPU machine.
const testGPULayersEnv = "AZR_TEST_GPU_LAYERS"

func TestMain(m *testing.M) {
	if v := os.Getenv(testGPULayersEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s=%q: not a layer count\n", testGPULayersEnv, v)
			os.Exit(2)
		}
		forcedGPULayers = &n
		rep := LoadBackends()
		fmt.Fprintf(os.Stderr, "engine tests with %s=%d on: %s\n", testGPULayersEnv, n, rep.Summary())
		if n != 0 && !rep.HasGPU() {
			fmt.Fprintf(os.Stderr, "%s=%d but no GPU device (warnings: %q)\n", testGPULayersEnv, n, rep.Warnings)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}
