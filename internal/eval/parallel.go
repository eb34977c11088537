package eval

import (
	"context"
	"sort"
	"sync"
)

// forEach calls f(0..n-1) on up to workers goroutines and returns the first
// error (after which no new call starts).
func forEach(ctx context.Context, n, workers int, f func(i int) error) error {
	workers = max(1, min(workers, n))
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first == nil && ctx.Err() != nil {
					first = ctx.Err()
				}
				if first != nil || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func sortRowErrors(bad []RowError) {
	sort.SliceStable(bad, func(i, j int) bool { return bad[i].Line < bad[j].Line })
}
