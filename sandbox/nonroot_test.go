package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nonRootHelperEnv marks the copy of this test binary that TestNonRootPool
// starts as an unprivileged user.
const nonRootHelperEnv = "AZR_SANDBOX_NONROOT_HELPER"

// nonRootUID is the unprivileged identity a root test run switches to
// ("nobody" on Debian and most distributions; no passwd entry is needed).
const nonRootUID = 65534

// TestNonRootPool: a pool started by an unprivileged user (the way most
// people run the CLI) has every layer such a user can have, in strict mode,
// and its limits bind. CI runs as root, so there the test binary re-runs this
// test as uid/gid 65534.
func TestNonRootPool(t *testing.T) {
	if os.Getenv(nonRootHelperEnv) == "1" || os.Geteuid() != 0 {
		checkNonRootPool(t)
		return
	}
	dir, err := os.MkdirTemp("", "azr-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The unprivileged user cannot read the go-build directory: copy the
	// test binary where it can.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sandbox.test")
	if err := copyFile(self, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cred := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nonRootUID, Gid: nonRootUID, Groups: []uint32{}}}
	const path = "/usr/local/bin:/usr/bin:/bin"
	env := []string{"PATH=" + path, "HOME=" + dir, "TMPDIR=/tmp", nonRootHelperEnv + "=1"}
	// The interpreter must be one the user can run (a pyenv under /root is
	// not); the pool looks it up on this PATH.
	var probeErr error = fmt.Errorf("no python3 in %s", path)
	for _, d := range filepath.SplitList(path) {
		py := exec.Command(filepath.Join(d, "python3"), "-c", "import sys; assert sys.version_info >= (3, 8)")
		py.Env, py.Dir, py.SysProcAttr = env, dir, cred
		out, err := py.CombinedOutput()
		if err == nil {
			probeErr = nil
			break
		}
		if !os.IsNotExist(err) {
			probeErr = fmt.Errorf("%s: %v %s", py.Path, err, out)
		}
	}
	if probeErr != nil {
		t.Skipf("no Python >= 3.8 on PATH=%s that uid %d can run (%v); install one (apt-get install python3) to test the unprivileged pool", path, nonRootUID, probeErr)
	}
	cmd := exec.Command(bin, "-test.run=^TestNonRootPool$", "-test.v", "-test.count=1")
	cmd.Env, cmd.Dir, cmd.SysProcAttr = env, dir, cred
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a copy of the test binary as uid %d (%v): a noexec %s?", nonRootUID, err, os.TempDir())
	}
	err = cmd.Wait()
	out := buf.Bytes()
	t.Logf("as uid %d:\n%s", nonRootUID, out)
	if err != nil {
		t.Fatalf("the unprivileged run failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestNonRootPool") {
		t.Fatal("the unprivileged run did not pass TestNonRootPool")
	}
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// checkNonRootPool runs as the unprivileged user.
func checkNonRootPool(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Fatal("the helper still runs as root")
	}
	t.Logf("running as uid %d", os.Geteuid())
	p := newTestPool(t, Config{Workers: 1, Timeout: limitsTimeout, MemoryLimitBytes: 256 << 20}) // strict
	requireSupportedLayers(t, p.Layers(), probeLayerSupport(t))
	ctx := context.Background()
	base := workerVM(t, p)
	files32 := tmpfsBytes >> 20 / 4
	for _, c := range []struct {
		name, program, input string
		status               Status
		output               string
	}{
		{"a program runs", "def f(x):\n    return sorted(set(x))", "'hello'", StatusOK, "['e', 'h', 'l', 'o']"},
		{"memory just under the cap", "def f(n):\n    return len(bytearray(n))", fmt.Sprint(256<<20 - base - 24<<20), StatusOK, fmt.Sprint(256<<20 - base - 24<<20)},
		{"memory just over the cap", "def f(n):\n    return len(bytearray(n))", fmt.Sprint(256<<20 - base + 24<<20), StatusMemory, ""},
		{"no fork", forkProgram, "100", StatusOK, "(0, 'EAGAIN')"},
		{"tmpfs fills up", fillProgram, fmt.Sprintf("%d, 4", files32+1), StatusOK, ""},
		{"no sockets", "import socket\ndef f():\n    try:\n        socket.socket()\n    except OSError as e:\n        return 'blocked'\n    return 'ESCAPED'", "", StatusOK, "'blocked'"},
		{"no reading outside", "def f():\n    try:\n        return open('/etc/passwd').read()[:20]\n    except OSError:\n        return 'blocked'", "", StatusOK, "'blocked'"},
	} {
		r, err := p.Run(ctx, c.program, c.input)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != c.status || c.output != "" && r.Output != c.output {
			t.Errorf("%s: %s %q %q, want %s %q", c.name, r.Status, r.Output, r.Error, c.status, c.output)
		}
		if c.program == fillProgram && !strings.HasSuffix(r.Output, "'ENOSPC')") {
			t.Errorf("%s: %q, want it stopped by ENOSPC", c.name, r.Output)
		}
	}
	v, err := p.Validate(ctx, "def f(x, acc=[]):\n    acc.append(x)\n    return len(acc)", []string{"1"})
	if err != nil || v.Valid {
		t.Errorf("determinism check as an unprivileged user: %+v %v", v, err)
	}
}
