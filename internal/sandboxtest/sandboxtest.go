// Package sandboxtest gives tests a real sandbox pool, one per execution
// timeout and test binary, so packages that check answers against Python do
// not each start their own workers for every test. It is imported by tests only.
package sandboxtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/azr-native/azr-native/sandbox"
)

type shared struct {
	pool *sandbox.Pool
	err  error
}

var (
	mu    sync.Mutex
	pools = map[time.Duration]shared{}
)

// Pool returns the test binary's real pool with two workers and the given
// per-run timeout, starting it on first use; a pool that cannot start fails
// the test. The pool lives until the test binary exits.
func Pool(t testing.TB, timeout time.Duration) *sandbox.Pool {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	s, ok := pools[timeout]
	if !ok {
		s.pool, s.err = sandbox.New(context.Background(), sandbox.Config{Workers: 2, Timeout: timeout})
		pools[timeout] = s
	}
	if s.err != nil {
		t.Fatalf("sandbox.New: %v", s.err)
	}
	return s.pool
}
