package sandbox

import (
	"context"
	"sync"
	"testing"
)

// BenchmarkRunTrivial measures the hot path: one isolated execution of a
// trivial program, with all layers on, from as many goroutines as workers×2.
func BenchmarkRunTrivial(b *testing.B) {
	p := newTestPool(b, Config{})
	ctx := context.Background()
	b.ResetTimer()
	var wg sync.WaitGroup
	ch := make(chan struct{})
	for g := 0; g < 2*p.Workers(); g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ch {
				if r, err := p.Run(ctx, "def f(x):\n    return x + 1", "1"); err != nil || r.Status != StatusOK {
					b.Errorf("%+v %v", r, err)
				}
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		ch <- struct{}{}
	}
	close(ch)
	wg.Wait()
}

// BenchmarkValidateRealistic validates a small DP program (two isolated
// executions for determinism, three calls of f).
func BenchmarkValidateRealistic(b *testing.B) {
	p := newTestPool(b, Config{})
	ctx := context.Background()
	prog := "def f(s):\n    n = len(s)\n    dp = [[0]*(n+1) for _ in range(n+1)]\n    for i in range(n-1, -1, -1):\n        for j in range(i+1, n+1):\n            dp[i][j] = max(dp[i+1][j], dp[i][j-1], (dp[i+1][j-1] + 2) if j-i >= 2 and s[i] == s[j-1] else 1)\n    return dp[0][n]"
	b.ResetTimer()
	var wg sync.WaitGroup
	ch := make(chan struct{})
	for g := 0; g < 2*p.Workers(); g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ch {
				if v, err := p.Validate(ctx, prog, []string{"'abacabadabacaba'"}); err != nil || !v.Valid {
					b.Errorf("%+v %v", v, err)
				}
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		ch <- struct{}{}
	}
	close(ch)
	wg.Wait()
}
