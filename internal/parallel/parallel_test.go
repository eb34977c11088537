package parallel

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

func TestForVisitsEveryIndexOnce(t *testing.T) {
	for _, workers := range []int{0, 1, 3, 100} {
		seen := make([]int32, 50)
		if err := For(context.Background(), len(seen), workers, func(i int) error {
			atomic.AddInt32(&seen[i], 1)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for i, n := range seen {
			if n != 1 {
				t.Fatalf("workers %d: index %d called %d times", workers, i, n)
			}
		}
	}
}

func TestForStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	var calls int32
	err := For(context.Background(), 1000, 1, func(i int) error {
		atomic.AddInt32(&calls, 1)
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls != 4 {
		t.Fatalf("err %v after %d calls, want boom after 4", err, calls)
	}
}

func TestForStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls int32
	err := For(ctx, 1000, 2, func(i int) error {
		if atomic.AddInt32(&calls, 1) == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls > 6 {
		t.Fatalf("err %v after %d calls, want context.Canceled soon after 5", err, calls)
	}
}
