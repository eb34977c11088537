package sandbox

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestStrictIsolationRefusesAMissingLayer: when a layer's set-up fails (made
// to fail here through the test hook, as it does on a machine that forbids
// unprivileged user namespaces), the default pool refuses to start with an
// error naming the layer and the fix; best-effort starts, says so in a
// warning, lists the layer as off, and still runs programs.
func TestStrictIsolationRefusesAMissingLayer(t *testing.T) {
	cases := []struct {
		broken   string
		rootOnly bool
		missing  []string // layers the error must name
		fix      string   // part of the fix it must give
	}{
		{"namespaces", false, []string{"namespaces", "tmpfs"}, "unprivileged_userns_clone"},
		{"seccomp", false, []string{"seccomp"}, "CONFIG_SECCOMP_FILTER"},
		{"cgroup", true, []string{"cgroup"}, "pids and memory controllers"},
	}
	for _, c := range cases {
		t.Run(c.broken, func(t *testing.T) {
			if c.rootOnly && os.Geteuid() != 0 {
				t.Skip("only root pools use cgroups")
			}
			t.Setenv(testBreakLayersEnv, c.broken)

			for _, iso := range []Isolation{"", IsolationStrict} {
				p, err := New(context.Background(), Config{Workers: 1, Isolation: iso})
				if err == nil {
					p.Close()
					t.Fatalf("isolation %q: a pool without %s started", iso, c.broken)
				}
				var weak *WeakSandboxError
				if !errors.As(err, &weak) || !errors.Is(err, ErrWeakSandbox) {
					t.Fatalf("isolation %q: error %v is not a *WeakSandboxError", iso, err)
				}
				var names []string
				for _, l := range weak.Missing {
					names = append(names, l.Name)
				}
				if strings.Join(names, ",") != strings.Join(c.missing, ",") {
					t.Errorf("missing layers %v, want %v", names, c.missing)
				}
				for _, want := range []string{c.broken, c.fix, "--sandbox-isolation best-effort"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error does not name %q: %v", want, err)
					}
				}
			}

			core, logs := observer.New(zapcore.WarnLevel)
			p, err := New(context.Background(), Config{Workers: 1, Isolation: IsolationBestEffort, Logger: zap.New(core)})
			if err != nil {
				t.Fatalf("best-effort: %v", err)
			}
			defer p.Close()
			for _, l := range p.Layers() {
				if l.Name == c.broken && l.Enabled {
					t.Errorf("best-effort: layer %s reported on although its set-up failed", c.broken)
				}
			}
			loud := logs.FilterMessageSnippet("WEAKER SANDBOX").All()
			if len(loud) != 1 || !strings.Contains(loud[0].ContextMap()["error"].(string), c.broken) {
				t.Errorf("best-effort: want one warning naming %s, got %v", c.broken, logs.All())
			}
			r, err := p.Run(context.Background(), "def f(x):\n    return x * 3", "'ab'")
			if err != nil || r.Status != StatusOK || r.Output != "'ababab'" {
				t.Errorf("best-effort pool: %+v %v", r, err)
			}
		})
	}
}

func TestParseIsolation(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Isolation
		ok   bool
	}{
		{"", IsolationStrict, true},
		{"strict", IsolationStrict, true},
		{"best-effort", IsolationBestEffort, true},
		{"loose", "", false},
	} {
		got, err := ParseIsolation(c.in)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("ParseIsolation(%q) = %q, %v", c.in, got, err)
		}
	}
	if _, err := New(context.Background(), Config{Workers: 1, Isolation: "loose"}); err == nil || !strings.Contains(err.Error(), "loose") {
		t.Errorf("New with an unknown isolation: %v", err)
	}
}
