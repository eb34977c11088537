package sandbox

import (
	"fmt"
	"runtime"
	"time"

	"go.uber.org/zap"
)

// Config sets up a Pool. The zero value is usable: every field has a default.
type Config struct {
	// Workers is the number of fork-server processes; 0 means one per CPU core.
	Workers int
	// Timeout is the wall-clock deadline of one execution, after which the
	// child is killed with SIGKILL from outside; 0 means 500ms.
	Timeout time.Duration
	// MemoryLimitBytes caps the address space of one execution (RLIMIT_AS);
	// 0 means 512 MiB. A negative value disables the cap.
	MemoryLimitBytes int64
	// MaxOutputBytes is the largest accepted repr(f(input)), in UTF-8 bytes;
	// longer outputs are rejected with StatusTooLarge (never truncated).
	// 0 means 400.
	MaxOutputBytes int
	// BannedModules is the module policy applied to proposals (Validate);
	// nil means DefaultBannedModules(). Dotted entries ("os.path") ban that
	// attribute path, plain entries ban the module and any dotted name with
	// that component.
	BannedModules []string
	// Python is the interpreter to run; "" means resolve python3 from PATH to
	// the real executable (not a shell shim) once at start-up.
	Python string
	// Logger receives the start-up layer report and warnings; nil means none.
	Logger *zap.Logger

	// DisableLayers turns isolation layers off by name ("namespaces",
	// "landlock", "seccomp", "rlimits", "cgroup", "tmpfs", "uid"). Only for
	// measuring their cost; every layer is on by default. A layer disabled
	// here is a choice, not a failure: Isolation does not count it as missing.
	DisableLayers []string

	// Isolation decides what New does when a layer this machine should give
	// cannot be set up (for example unprivileged user namespaces disabled by
	// the distribution): IsolationStrict ("" or "strict", the default) refuses
	// to start and names the missing layer and the fix; IsolationBestEffort
	// starts anyway with what it has and says so in a warning.
	Isolation Isolation
}

// Isolation is the policy for isolation layers that cannot be set up.
type Isolation string

const (
	// IsolationStrict refuses to start a pool that lacks a layer.
	IsolationStrict Isolation = "strict"
	// IsolationBestEffort starts with the layers available, loudly.
	IsolationBestEffort Isolation = "best-effort"
)

// ParseIsolation reads "strict" or "best-effort" ("" means strict).
func ParseIsolation(s string) (Isolation, error) {
	switch Isolation(s) {
	case "", IsolationStrict:
		return IsolationStrict, nil
	case IsolationBestEffort:
		return IsolationBestEffort, nil
	}
	return "", fmt.Errorf("sandbox isolation %q: want %q or %q", s, IsolationStrict, IsolationBestEffort)
}

// DefaultBannedModules is the reference's banned list (docs/AZR.md §2.4) made
// effective: the dotted entries are applied as real dotted names.
func DefaultBannedModules() []string {
	return []string{
		"logging", "random", "multiprocessing", "pebble", "subprocess", "threading",
		"datetime", "time", "hashlib", "hmac", "bcrypt", "calendar",
		"os.sys", "os.path", "sys.exit", "os.environ",
	}
}

const (
	defaultTimeout   = 500 * time.Millisecond
	defaultMemory    = 512 << 20
	defaultMaxOutput = 400
	tmpfsBytes       = 32 << 20
	fileSizeLimit    = 8 << 20
	openFilesLimit   = 64
)

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.MemoryLimitBytes == 0 {
		c.MemoryLimitBytes = defaultMemory
	}
	if c.MaxOutputBytes <= 0 {
		c.MaxOutputBytes = defaultMaxOutput
	}
	if c.BannedModules == nil {
		c.BannedModules = DefaultBannedModules()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Isolation == "" {
		c.Isolation = IsolationStrict
	}
	return c
}

func (c Config) disabled(layer string) bool {
	for _, l := range c.DisableLayers {
		if l == layer {
			return true
		}
	}
	return false
}

// preload lists modules imported once in every worker so that children do not
// read them from disk. Never anything that seeds hidden state shared by
// children (random, uuid, tempfile).
var preload = []string{
	"collections", "itertools", "functools", "heapq", "math", "re", "string",
	"typing", "copy", "bisect", "operator", "dataclasses", "enum", "fractions",
	"decimal", "numbers", "array", "textwrap", "unicodedata", "contextlib", "cmath",
	"json", "abc", "keyword", "io",
}
