package sandbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hostileProgram is one file of testdata/hostile: a program whose f attempts
// an attack and returns a text starting with "ESCAPED" if the attack worked.
// Its header says what it attempts and which statuses are acceptable:
//
//	# attack: what it tries
//	# expect: timeout|killed
type hostileProgram struct {
	name, attack, source string
	expect               []Status
}

func loadHostile(t *testing.T) []hostileProgram {
	t.Helper()
	files, err := filepath.Glob("testdata/hostile/*.py")
	if err != nil || len(files) < 30 {
		t.Fatalf("want at least 30 hostile programs, have %d (%v)", len(files), err)
	}
	sort.Strings(files)
	var out []hostileProgram
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h := hostileProgram{name: strings.TrimSuffix(filepath.Base(f), ".py"), source: string(b)}
		for _, line := range strings.Split(h.source, "\n") {
			if v, ok := strings.CutPrefix(line, "# attack: "); ok {
				h.attack = v
			}
			if v, ok := strings.CutPrefix(line, "# expect: "); ok {
				for _, s := range strings.Split(v, "|") {
					h.expect = append(h.expect, Status(strings.TrimSpace(s)))
				}
			}
		}
		if h.attack == "" || len(h.expect) == 0 {
			t.Fatalf("%s: header needs '# attack:' and '# expect:' lines", f)
		}
		out = append(out, h)
	}
	return out
}

// processesWithUIDs lists host processes whose real uid is in [lo, hi).
func processesWithUIDs(lo, hi int) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				var uid int
				fmt.Sscan(v, &uid)
				if uid >= lo && uid < hi {
					out = append(out, e.Name()+" uid "+fmt.Sprint(uid))
				}
			}
		}
	}
	return out
}

// TestHostilePrograms runs every hostile program through the real sandbox and
// checks that each one is contained: no ESCAPED verdict, an acceptable status,
// no file outside the task directory, no process left behind, no effect on
// the host's loopback services, and a healthy pool afterwards.
func TestHostilePrograms(t *testing.T) {
	progs := loadHostile(t)
	p := newTestPool(t, Config{Timeout: 300 * time.Millisecond})
	ctx := context.Background()

	outside := t.TempDir() // writes must never appear here
	canaryDir := t.TempDir()
	canary := filepath.Join(canaryDir, "secret.txt")
	if err := os.WriteFile(canary, []byte("host-secret-42"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AZR_HOSTILE_SECRET", "host-secret-env")
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	udp, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err == nil {
		defer udp.Close()
		go func() {
			buf := make([]byte, 64)
			for {
				if _, _, err := udp.ReadFrom(buf); err != nil {
					return
				}
				hits.Add(1)
			}
		}()
	}
	unixLn, err := net.Listen("unix", "@azr-hostile-test")
	if err == nil {
		defer unixLn.Close()
		go func() {
			for {
				c, err := unixLn.Accept()
				if err != nil {
					return
				}
				hits.Add(1)
				c.Close()
			}
		}()
	}
	hostTmpBefore := listNames("/tmp")
	workerLo, workerHi := int(p.l.hostUID), int(p.l.hostUID)+2*p.Workers()
	repl := strings.NewReplacer("{{OUTSIDE}}", outside, "{{CANARY}}", canary, "{{CANARYDIR}}", canaryDir,
		"{{PORT}}", fmt.Sprint(port), "{{GOPID}}", fmt.Sprint(os.Getpid()))

	for _, h := range progs {
		t.Run(h.name, func(t *testing.T) {
			r, err := p.Run(ctx, repl.Replace(h.source), "0")
			if err != nil {
				t.Fatalf("sandbox failed (not the program's fault): %v", err)
			}
			t.Logf("%s -> %s %q %q (%v)", h.attack, r.Status, clip(r.Output), r.Error, r.Duration)
			if strings.Contains(r.Output, "ESCAPED") || strings.Contains(r.Error, "ESCAPED") {
				t.Errorf("attack succeeded: %s: %s", h.attack, r.Output)
			}
			ok := false
			for _, s := range h.expect {
				ok = ok || r.Status == s
			}
			if !ok {
				t.Errorf("status %s (%s), want one of %v", r.Status, r.Error, h.expect)
			}
			if names := listNames(outside); len(names) > 0 {
				t.Errorf("files appeared outside the sandbox: %v", names)
			}
			if n := hits.Load(); n > 0 {
				t.Errorf("%d connections or datagrams reached the host's loopback", n)
			}
			// Between tasks only the workers themselves may exist: no child,
			// no grandchild, nothing under the children's uids.
			var children []string
			for _, pr := range processesWithUIDs(workerLo, workerHi) {
				var uid int
				fmt.Sscan(strings.Fields(pr)[2], &uid)
				if (uid-workerLo)%2 == 1 {
					children = append(children, pr)
				}
			}
			if len(children) > 0 {
				t.Errorf("processes left behind: %v", children)
			}
			// The pool is still healthy.
			if r, err := p.Run(ctx, "def f(x):\n    return sorted([3, 1, len('ab')])", "0"); err != nil || r.Status != StatusOK || r.Output != "[1, 2, 3]" {
				t.Errorf("pool unhealthy after %s: %+v %v", h.name, r, err)
			}
		})
	}

	// Cross-task contamination: every worker computes the truth again.
	jobs := make([]Job, 4*p.Workers())
	for i := range jobs {
		jobs[i] = Job{Program: "import math, json, collections, heapq\ndef f(x):\n    return (len([1, 2]), sorted([2, 1]), math.pi, json.dumps([1]), collections.Counter('aab')['a'], repr(1), heapq.nsmallest(1, [3, 2]))", Input: "0"}
	}
	res, err := p.RunBatch(ctx, jobs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != StatusOK || r.Output != "(2, [1, 2], 3.141592653589793, '[1]', 2, '1', [2])" {
			t.Errorf("contamination between tasks: %+v", r)
		}
	}
	for name := range listNames("/tmp") {
		if !hostTmpBefore[name] && strings.Contains(name, "pwned") {
			t.Errorf("hostile program created /tmp/%s", name)
		}
	}
	for _, p := range []string{"/dev/shm/azr-pwned", "/var/tmp/azr-pwned"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("hostile program created %s", p)
		}
	}
	if b, err := os.ReadFile("/proc/sysvipc/shm"); err == nil && strings.Contains(string(b), " 4282962 ") {
		t.Errorf("a System V shared memory segment leaked to the host")
	}
	if h, _ := os.Hostname(); h == "pwned" {
		t.Errorf("hostile program renamed the host")
	}
	// After Close nothing of the pool remains.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if left := processesWithUIDs(workerLo, workerHi); len(left) > 0 {
		t.Errorf("processes survive Close: %v", left)
	}
	if _, err := os.Stat(p.l.base); !os.IsNotExist(err) {
		t.Errorf("pool directory %s survives Close", p.l.base)
	}
}

func listNames(dir string) map[string]bool {
	ents, _ := os.ReadDir(dir)
	m := map[string]bool{}
	for _, e := range ents {
		m[e.Name()] = true
	}
	return m
}
