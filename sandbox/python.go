package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// interpreter is the real Python executable, found once at start-up.
type interpreter struct {
	Executable string // real path of the binary
	Prefix     string // real path of sys.base_prefix (the install root)
	Rel        string // Executable relative to Prefix, e.g. bin/python3.11
	Version    [2]int
}

const probeScript = `import sys, os, json
print(json.dumps({"exe": os.path.realpath(sys.executable), "prefix": os.path.realpath(sys.base_prefix), "version": list(sys.version_info[:2])}))`

// resolvePython runs the named interpreter (or python3 from PATH) once and
// asks it for its real executable, so that later starts skip shell shims such
// as pyenv's (~74 ms each).
func resolvePython(ctx context.Context, name string) (interpreter, error) {
	var in interpreter
	if name == "" {
		name = "python3"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return in, fmt.Errorf("sandbox: no Python interpreter %q: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-c", probeScript).Output()
	if err != nil {
		return in, fmt.Errorf("sandbox: probing %s: %w", path, err)
	}
	var probe struct {
		Exe     string `json:"exe"`
		Prefix  string `json:"prefix"`
		Version []int  `json:"version"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &probe); err != nil || len(probe.Version) != 2 {
		return in, fmt.Errorf("sandbox: probing %s: unexpected answer %q", path, out)
	}
	rel, err := filepath.Rel(probe.Prefix, probe.Exe)
	if err != nil || strings.HasPrefix(rel, "..") {
		return in, fmt.Errorf("sandbox: interpreter %s lies outside its prefix %s", probe.Exe, probe.Prefix)
	}
	if _, err := os.Stat(probe.Exe); err != nil {
		return in, fmt.Errorf("sandbox: interpreter: %w", err)
	}
	in = interpreter{Executable: probe.Exe, Prefix: probe.Prefix, Rel: rel, Version: [2]int{probe.Version[0], probe.Version[1]}}
	if in.Version[0] != 3 || in.Version[1] < 8 {
		return in, fmt.Errorf("sandbox: need Python >= 3.8, %s is %d.%d", in.Executable, in.Version[0], in.Version[1])
	}
	return in, nil
}

// flags are the interpreter flags of a worker: no user site, no site module,
// no unsafe sys.path[0] (-P, 3.11+), no .pyc writes, UTF-8 mode. Not -I/-E,
// which would ignore PYTHONHASHSEED.
func (in interpreter) flags() []string {
	f := []string{"-s", "-S"}
	if in.Version[1] >= 11 {
		f = append(f, "-P")
	}
	return append(f, "-B", "-X", "utf8")
}
