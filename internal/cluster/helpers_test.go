package cluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// testCluster is an embedded server with a trainer's client on it.
type testCluster struct {
	srv    *Server
	client *Client
	log    *zap.Logger
}

func newTestCluster(t *testing.T, ackWait time.Duration) *testCluster {
	t.Helper()
	srv, err := StartServer("127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	tc := &testCluster{srv: srv, log: log}
	nc := tc.connect(t)
	if tc.client, err = NewClient(context.Background(), nc, log, ClientOptions{AckWait: ackWait}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.client.Close)
	return tc
}

func (tc *testCluster) connect(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := Connect(context.Background(), ConnectOptions{URL: tc.srv.URL()}, tc.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// start runs w until the test ends; the returned channel yields Run's error.
func start(t *testing.T, w *Worker) (stop func(), done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		ch <- w.Run(ctx)
		close(finished)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-finished
			w.Close()
		})
	}
	t.Cleanup(stop)
	return stop, ch
}

func testPolicy() ExecPolicy {
	cfg := rl.DefaultConfig()
	return ExecPolicy{Timeout: time.Second, BannedModules: cfg.BannedModules}
}

func newPool(t *testing.T, p ExecPolicy) *sandbox.Pool {
	t.Helper()
	pool, err := sandbox.New(context.Background(), sandbox.Config{Workers: 2, Timeout: p.Timeout, BannedModules: p.BannedModules})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

func sandboxWorker(t *testing.T, tc *testCluster, pool LocalExecutor, p ExecPolicy) *Worker {
	t.Helper()
	w, err := SandboxWorker(tc.connect(t), pool, p, 2, tc.log)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

var errTimeout = errors.New("timed out")

func within(t *testing.T, d time.Duration, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		return errTimeout
	}
}
