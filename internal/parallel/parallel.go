// Package parallel runs independent pieces of work on a bounded number of
// goroutines: sandbox executions in a self-play step, evaluation items.
package parallel

import (
	"context"
	"sync"
)

// For calls f(0..n-1) on up to workers goroutines (at least one) and returns
// the first error; after an error, or once ctx ends, no new call starts and
// ctx's error is returned if nothing failed before. Calls may run in any
// order, so f must write its result to its own slot.
func For(ctx context.Context, n, workers int, f func(i int) error) error {
	workers = max(1, min(workers, n))
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				if err := f(i); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
