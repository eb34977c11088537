package sandbox

import (
	"context"
	"testing"
)

// TestDegradedModesStillWork: with a layer switched off the pool reports it
// (Layers, a warning) and still runs programs correctly.
func TestDegradedModesStillWork(t *testing.T) {
	for _, off := range [][]string{{"namespaces"}, {"landlock", "seccomp"}, {"cgroup", "rlimits", "tmpfs", "uid"}} {
		p := newTestPool(t, Config{Workers: 1, DisableLayers: off})
		for _, l := range p.Layers() {
			for _, o := range off {
				if l.Name == o && l.Enabled {
					t.Errorf("layer %s disabled but reported on", o)
				}
			}
		}
		for _, o := range off {
			found := false
			for _, l := range p.Layers() {
				found = found || l.Name == o
			}
			if !found {
				t.Errorf("disabled layer %s is not reported", o)
			}
		}
		for _, l := range p.Layers() {
			t.Logf("without %v: %-11s %-5v %s", off, l.Name, l.Enabled, l.Detail)
		}
		r, err := p.Run(context.Background(), "def f(x):\n    return sorted(set(x))", "'hello'")
		if err != nil || r.Status != StatusOK || r.Output != "['e', 'h', 'l', 'o']" {
			t.Errorf("without %v: %+v %v", off, r, err)
		}
		v, err := p.Validate(context.Background(), "def f(x, acc=[]):\n    acc.append(x)\n    return len(acc)", []string{"1"})
		if err != nil || v.Valid {
			t.Errorf("without %v: determinism check: %+v %v", off, v, err)
		}
		p.Close()
	}
}
