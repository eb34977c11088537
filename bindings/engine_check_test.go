package bindings

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEngineCheckSkipsComparisonsWithoutAGPU runs the native conformance
// driver (build/azr-engine-check, built by make) on this build: with no GPU,
// its comparisons with the CPU are reported as skipped, with the reason, and
// never as passed (the CPU compared with itself proves nothing); the checks
// of the backend's own properties run and pass.
func TestEngineCheckSkipsComparisonsWithoutAGPU(t *testing.T) {
	if LoadBackends().HasGPU() {
		t.Skip("a GPU is present: azr-engine-check compares it with the CPU there (make test runs it)")
	}
	bin, err := filepath.Abs("../build/azr-engine-check")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run make (it builds the native libraries and the check driver): %v", bin, err)
	}
	cmd := exec.Command(bin, "--threads", "1", "--dir", t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("azr-engine-check: %v\n%s\n%s", err, out, stderr.String())
	}
	comparisons := map[string]bool{
		"greedy tokens equal the CPU's":              false,
		"logits close to the CPU's":                  false,
		"sampled continuations agree with the CPU's": false,
	}
	properties := map[string]bool{
		"greedy alone equals greedy in batch":         false,
		"same seed, same samples":                     false,
		"prefix-shared greedy equals unshared greedy": false,
		"prefix-shared samples equal unshared ones":   false,
	}
	var device string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var line struct {
			Device  *string `json:"device"`
			Check   string  `json:"check"`
			OK      *bool   `json:"ok"`
			Skipped bool    `json:"skipped"`
			Why     string  `json:"why"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		if line.Device != nil {
			device = *line.Device
		}
		if line.Check == "" {
			continue
		}
		if _, ok := comparisons[line.Check]; ok {
			comparisons[line.Check] = true
			if !line.Skipped || line.OK != nil || !strings.Contains(line.Why, "no GPU") {
				t.Errorf("comparison %q on a CPU-only build: %s; want skipped (no \"ok\") with the reason", line.Check, sc.Text())
			}
			continue
		}
		if _, ok := properties[line.Check]; ok {
			properties[line.Check] = true
		}
		if line.Skipped || line.OK == nil || !*line.OK {
			t.Errorf("check %q: %s", line.Check, sc.Text())
		}
	}
	if device != "cpu" {
		t.Errorf("device under test %q, want cpu", device)
	}
	for name, seen := range comparisons {
		if !seen {
			t.Errorf("comparison %q not reported", name)
		}
	}
	for name, seen := range properties {
		if !seen {
			t.Errorf("check %q not reported", name)
		}
	}
}
