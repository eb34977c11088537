package sandbox

import (
	"context"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCPUProbeValidate: like TestCPUProbe, per validation of a small DP program.
func TestCPUProbeValidate(t *testing.T) {
	if os.Getenv("AZR_CPU_PROBE") == "" {
		t.Skip("diagnostic; set AZR_CPU_PROBE=1")
	}
	p := newTestPool(t, Config{})
	ctx := context.Background()
	prog := "def f(s):\n    n = len(s)\n    dp = [[0]*(n+1) for _ in range(n+1)]\n    for i in range(n-1, -1, -1):\n        for j in range(i+1, n+1):\n            dp[i][j] = max(dp[i+1][j], dp[i][j-1], (dp[i+1][j-1] + 2) if j-i >= 2 and s[i] == s[j-1] else 1)\n    return dp[0][n]"
	p.Validate(ctx, prog, []string{"'abacabadabacaba'"})
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	var s0, c0 float64
	for _, w := range p.all {
		a, b := procTimes(w.cmd.Process.Pid)
		s0 += a
		c0 += b
	}
	n := 1000
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
				p.Validate(ctx, prog, []string{"'abacabadabacaba'"})
				mu.Lock()
				lat += time.Since(s)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	var s1, c1 float64
	for _, w := range p.all {
		a, b := procTimes(w.cmd.Process.Pid)
		s1 += a
		c1 += b
	}
	goCPU := float64(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) / 1e9
	t.Logf("%d validations in %v (%.0f/s), mean latency %v; per validation: go %.3f ms, workers %.3f ms, children %.3f ms", n, el, float64(n)/el.Seconds(), lat/time.Duration(n), goCPU/float64(n)*1e3, (s1-s0)/float64(n)*1e3, (c1-c0)/float64(n)*1e3)
}
