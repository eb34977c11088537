// Package runtest holds what tests of whole self-play runs share: reading a
// run directory in a form two runs can be compared in. It is imported by
// tests only.
package runtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// MetricsWithoutTimings reads dir/metrics.jsonl, one map per line, with the
// wall-clock fields removed ("seconds", "time" and the training step's
// "duration_s"): what two runs with the same seed must agree on exactly.
func MetricsWithoutTimings(tb testing.TB, dir string) []map[string]any {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			tb.Fatal(err)
		}
		delete(m, "seconds") // wall-clock timings differ run to run
		delete(m, "time")
		if tr, ok := m["train"].(map[string]any); ok {
			delete(tr, "duration_s")
		}
		lines = append(lines, m)
	}
	return lines
}
