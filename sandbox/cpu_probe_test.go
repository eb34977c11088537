package sandbox

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func procTimes(pid int) (self, children float64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var u, st, cu, cs float64
	fmt.Sscan(f[11], &u)
	fmt.Sscan(f[12], &st)
	fmt.Sscan(f[13], &cu)
	fmt.Sscan(f[14], &cs)
	return (u + st) / 100, (cu + cs) / 100
}

// workerTimes sums the CPU seconds of the pool's workers and of their children.
func workerTimes(p *Pool) (self, children float64) {
	for _, w := range p.all {
		a, b := procTimes(w.cmd.Process.Pid)
		self += a
		children += b
	}
	return self, children
}

// probeCPU runs work n times on 4 goroutines and logs the wall time, the
// mean latency of one call and its CPU cost split between Go, the workers
// and their children.
func probeCPU(t *testing.T, p *Pool, what string, n int, work func()) {
	t.Helper()
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	s0, c0 := workerTimes(p)
	t0 := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat time.Duration
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/4; i++ {
				s := time.Now()
				work()
				mu.Lock()
				lat += time.Since(s)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	s1, c1 := workerTimes(p)
	goCPU := float64(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) / 1e9
	t.Logf("%d %s in %v (%.0f/s), mean latency %v; per call: go %.3f ms, workers %.3f ms, children %.3f ms",
		n, what, el, float64(n)/el.Seconds(), lat/time.Duration(n), goCPU/float64(n)*1e3, (s1-s0)/float64(n)*1e3, (c1-c0)/float64(n)*1e3)
}

// TestCPUProbe is a diagnostic, skipped unless AZR_CPU_PROBE=1: it splits the
// CPU cost of one trivial execution between Go, the workers and their
// children (AZR_CPU_PROBE_DISABLE=landlock,seccomp,... to compare layers).
func TestCPUProbe(t *testing.T) {
	if os.Getenv("AZR_CPU_PROBE") == "" {
		t.Skip("diagnostic; set AZR_CPU_PROBE=1")
	}
	var dis []string
	if d := os.Getenv("AZR_CPU_PROBE_DISABLE"); d != "" {
		dis = strings.Split(d, ",")
	}
	p := newTestPool(t, Config{DisableLayers: dis})
	ctx := context.Background()
	probeCPU(t, p, "runs", 3000, func() { p.Run(ctx, "def f(x):\n    return x + 1", "1") })
}
