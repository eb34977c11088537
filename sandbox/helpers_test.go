package sandbox

import (
	"context"
	"testing"

	"go.uber.org/zap/zaptest"
)

func newTestPool(tb testing.TB, cfg Config) *Pool {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(tb)
	}
	p, err := New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}
