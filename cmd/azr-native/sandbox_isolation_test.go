package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWeakSandboxIsRefused: on a machine where a sandbox layer cannot be set
// up (simulated through the sandbox's test hook: user namespaces refused),
// `sandbox run` and `run` stop with an error naming the layer and the fix;
// with --sandbox-isolation best-effort (flag, environment or config key) they
// go on.
func TestWeakSandboxIsRefused(t *testing.T) {
	t.Setenv("AZR_SANDBOX_TEST_BREAK_LAYERS", "namespaces")
	dir := t.TempDir()
	prog := filepath.Join(dir, "f.py")
	if err := os.WriteFile(prog, []byte("def f():\n    return 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused := func(name string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: ran with a missing sandbox layer", name)
			return
		}
		for _, want := range []string{"namespaces", "unprivileged_userns_clone", "--sandbox-isolation best-effort"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error does not name %q: %v", name, want, err)
			}
		}
	}

	_, err := azr(t, "sandbox", "run", "--program", prog)
	refused("sandbox run", err)
	_, err = azr(t, "sandbox", "validate", "--program", prog, "--input", "")
	refused("sandbox validate", err)
	out, err := azr(t, "sandbox", "run", "--program", prog, "--sandbox-isolation", "best-effort")
	if err != nil || !strings.Contains(out, "output:   7") {
		t.Errorf("sandbox run --sandbox-isolation best-effort: %v\n%s", err, out)
	}

	// run builds its sandbox before it loads the model: with best-effort it
	// gets past the sandbox and fails on the (missing) model instead.
	model := filepath.Join(dir, "missing.gguf")
	run := []string{"run", "-m", model, "--out", filepath.Join(dir, "run")}
	_, err = azr(t, run...)
	refused("run", err)
	_, err = azr(t, append(run, "--sandbox-isolation", "best-effort")...)
	if err == nil || strings.Contains(err.Error(), "sandbox") || !strings.Contains(err.Error(), "missing.gguf") {
		t.Errorf("run --sandbox-isolation best-effort: want the model's error, got %v", err)
	}
	cfg := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(cfg, []byte("sandbox_isolation: best-effort\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = azr(t, append(run, "--config", cfg)...)
	if err == nil || strings.Contains(err.Error(), "sandbox") {
		t.Errorf("run with sandbox_isolation: best-effort in --config: want the model's error, got %v", err)
	}
	_, err = azr(t, append(run, "--sandbox-isolation", "loose")...)
	if err == nil || !strings.Contains(err.Error(), "loose") {
		t.Errorf("run --sandbox-isolation loose: %v", err)
	}
}
