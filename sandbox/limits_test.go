package sandbox

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// The tests in this file give every program a deadline far longer than it
// needs (10 s), so that when a program is stopped, the cap under test stopped
// it; and they run the same program just under the cap, where it must pass.

const limitsTimeout = 10 * time.Second

// fillProgram writes `files` files of `mib` MiB each into the task directory
// and returns how many it completed and the errno that stopped it (None when
// none did).
const fillProgram = `import errno
def f(files, mib):
    data = b'\0' * (mib << 20)
    n = 0
    try:
        while n < files:
            with open('fill%d' % n, 'wb') as fh:
                fh.write(data)
            n += 1
    except OSError as e:
        return (n, errno.errorcode.get(e.errno))
    return (n, None)`

// forkProgram forks up to n short-lived children (each exits at once; none is
// reaped until the loop ends, so they all count) and reports how many it made
// and the errno that stopped it.
const forkProgram = `import os, errno
def f(n):
    pids, why = [], None
    try:
        while len(pids) < n:
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            pids.append(pid)
    except OSError as e:
        why = errno.errorcode.get(e.errno)
    for pid in pids:
        os.waitpid(pid, 0)
    return (len(pids), why)`

// workerVM is the virtual memory size of a pool's worker: what a freshly
// forked child already has mapped before the program allocates anything.
func workerVM(t *testing.T, p *Pool) int64 {
	t.Helper()
	p.mu.Lock()
	pid := p.all[0].cmd.Process.Pid
	p.mu.Unlock()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmSize:"); ok {
			var kb int64
			fmt.Sscan(v, &kb)
			return kb << 10
		}
	}
	t.Fatalf("no VmSize in /proc/%d/status", pid)
	return 0
}

// TestMemoryLimitBinds: the address-space cap is what stops an allocation
// 24 MiB over it, and an allocation 24 MiB under it succeeds; with the
// rlimit layer off the same over-the-cap allocation succeeds (so the machine
// itself was never the limit).
func TestMemoryLimitBinds(t *testing.T) {
	const limit = 256 << 20
	const margin = 24 << 20
	alloc := "def f(n):\n    b = bytearray(n)\n    return len(b)"
	capped := newTestPool(t, Config{Workers: 1, Timeout: limitsTimeout, MemoryLimitBytes: limit})
	uncapped := newTestPool(t, Config{Workers: 1, Timeout: limitsTimeout, MemoryLimitBytes: limit, DisableLayers: []string{"rlimits"}})
	base := workerVM(t, capped)
	if base > limit/2 {
		t.Fatalf("a child starts with %d MiB mapped: no room to test a %d MiB cap", base>>20, limit>>20)
	}
	under, over := limit-base-margin, limit-base+margin
	t.Logf("worker maps %d MiB; cap %d MiB; allocating %d and %d MiB", base>>20, limit>>20, under>>20, over>>20)
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		p      *Pool
		n      int64
		status Status
	}{
		{"just under the cap", capped, under, StatusOK},
		{"just over the cap", capped, over, StatusMemory},
		{"over the cap without the rlimit layer", uncapped, over, StatusOK},
	} {
		r, err := c.p.Run(ctx, alloc, fmt.Sprint(c.n))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != c.status || (c.status == StatusOK && r.Output != fmt.Sprint(c.n)) {
			t.Errorf("%s (%d MiB): %s %q %q, want %s", c.name, c.n>>20, r.Status, r.Output, r.Error, c.status)
		}
	}
}

// TestTaskDirectoryLimitsBind: the private tmpfs (32 MiB) stops a disk fill
// with ENOSPC and the file-size rlimit (8 MiB) stops one large file with
// EFBIG, long before the deadline; just under both, writing succeeds.
func TestTaskDirectoryLimitsBind(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Timeout: limitsTimeout})

	files32 := tmpfsBytes >> 20 / 4 // 4 MiB files that fill the tmpfs exactly
	ctx := context.Background()
	for _, c := range []struct {
		name, input string
		want        []string // acceptable outputs
	}{
		{"tmpfs: 4 MiB under its size", fmt.Sprintf("%d, 4", files32-1), []string{fmt.Sprintf("(%d, None)", files32-1)}},
		{"tmpfs: 4 MiB over its size", fmt.Sprintf("%d, 4", files32+1),
			// the last file that fits may lose a few pages to the directory
			[]string{fmt.Sprintf("(%d, 'ENOSPC')", files32), fmt.Sprintf("(%d, 'ENOSPC')", files32-1)}},
		{"file size: 1 MiB under the rlimit", fmt.Sprintf("1, %d", fileSizeLimit>>20-1), []string{"(1, None)"}},
		{"file size: 1 MiB over the rlimit", fmt.Sprintf("1, %d", fileSizeLimit>>20+1), []string{"(0, 'EFBIG')"}},
	} {
		r, err := p.Run(ctx, fillProgram, c.input)
		if err != nil {
			t.Fatal(err)
		}
		ok := false
		for _, w := range c.want {
			ok = ok || r.Status == StatusOK && r.Output == w
		}
		if !ok {
			t.Errorf("%s: %s %q %q, want one of %v", c.name, r.Status, r.Output, r.Error, c.want)
		}
		if r.Duration > limitsTimeout/2 {
			t.Errorf("%s took %v: the deadline, not the cap, ended it", c.name, r.Duration)
		}
	}
	// Each execution starts with an empty task directory again.
	r, err := p.Run(ctx, "import os\ndef f():\n    return os.listdir('.')", "")
	if err != nil || r.Output != "[]" {
		t.Errorf("task directory after the fills: %+v %v", r, err)
	}
}

// TestProcessLimitsBind: a child may not fork at all (RLIMIT_NPROC = 1 for
// its own uid); without the rlimit layer the cgroup's pids.max (16 tasks per
// worker: the worker and the child leave 14) stops the same fork loop.
func TestProcessLimitsBind(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the per-child uid and the cgroup need a root pool; TestNonRootPool covers the unprivileged one")
	}

	ctx := context.Background()
	full := newTestPool(t, Config{Workers: 1, Timeout: limitsTimeout})
	noRlimits := newTestPool(t, Config{Workers: 1, Timeout: limitsTimeout, DisableLayers: []string{"rlimits"}})
	for _, c := range []struct {
		name string
		p    *Pool
		n    int
		want string
	}{
		{"RLIMIT_NPROC: no fork at all", full, 100, "(0, 'EAGAIN')"},
		{"cgroup pids.max: just under", noRlimits, cgroupPidsMax - 2, fmt.Sprintf("(%d, None)", cgroupPidsMax-2)},
		{"cgroup pids.max: just over", noRlimits, 100, fmt.Sprintf("(%d, 'EAGAIN')", cgroupPidsMax-2)},
	} {
		r, err := c.p.Run(ctx, forkProgram, fmt.Sprint(c.n))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != StatusOK || r.Output != c.want {
			t.Errorf("%s: %s %q %q, want %s", c.name, r.Status, r.Output, r.Error, c.want)
		}
	}
	// The fork loops left nothing behind: the next program forks as little.
	r, err := noRlimits.Run(ctx, forkProgram, "100")
	if err != nil || r.Output != fmt.Sprintf("(%d, 'EAGAIN')", cgroupPidsMax-2) {
		t.Errorf("second fork loop: %+v %v", r, err)
	}
}
