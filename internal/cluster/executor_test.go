package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// executor is what both the local pool and the remote executor answer.
type executor = LocalExecutor

// executorCall is one executor call and its answer.
type executorCall struct {
	name string
	run  func(ctx context.Context, e executor) (any, error)
}

var executorCalls = []executorCall{
	{"valid program", func(ctx context.Context, e executor) (any, error) {
		return e.Validate(ctx, "def f(x):\n    return x * 2", []string{"3", "'ab'"})
	}},
	{"program that raises", func(ctx context.Context, e executor) (any, error) {
		return e.Validate(ctx, "def f(x):\n    return 1 / x", []string{"0"})
	}},
	{"banned module", func(ctx context.Context, e executor) (any, error) {
		return e.Validate(ctx, "import os\ndef f(x):\n    return os.getcwd()", []string{"1"})
	}},
	{"banned module allowed for induction inputs", func(ctx context.Context, e executor) (any, error) {
		return e.ValidateInputs(ctx, "def f(x):\n    return sorted(x)", []string{"[3, 1, 2]"})
	}},
	{"deduction answer right", func(ctx context.Context, e executor) (any, error) {
		return e.CheckOutput(ctx, "[1, 2]", "[1,2]")
	}},
	{"deduction answer wrong", func(ctx context.Context, e executor) (any, error) {
		return e.CheckOutput(ctx, "[1, 2]", "(1, 2)")
	}},
	{"abduction answer", func(ctx context.Context, e executor) (any, error) {
		return e.CheckInput(ctx, "def f(x):\n    return x + 1", nil, "5", "4")
	}},
	{"induction answer", func(ctx context.Context, e executor) (any, error) {
		return e.CheckProgram(ctx, "def f(x):\n    return x * x", nil, []string{"2", "3"}, []string{"4", "9"})
	}},
	{"single run (evaluation)", func(ctx context.Context, e executor) (any, error) {
		r, err := e.Run(ctx, "def f(x):\n    return [x] * 2", "'a'")
		r.Duration = 0 // wall clock
		return r, err
	}},
	{"invalid UTF-8 in model text", func(ctx context.Context, e executor) (any, error) {
		return e.CheckOutput(ctx, "'\xff'", "'\xff'")
	}},
}

// Every executor call answered by sandbox workers over NATS is the answer of
// the same call on a local pool: values and errors.
func TestRemoteExecutorAnswersAsTheLocalPool(t *testing.T) {
	tc := newTestCluster(t, 0)
	p := testPolicy()
	local := newPool(t, p)
	for range 2 {
		start(t, sandboxWorker(t, tc, local, p))
	}
	remote := NewExecutor(tc.client, p)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, c := range executorCalls {
		want, wantErr := c.run(ctx, local)
		got, gotErr := c.run(ctx, remote)
		if diff := cmp.Diff(want, got); diff != "" || (wantErr == nil) != (gotErr == nil) {
			t.Errorf("%s: remote differs from local (-local +remote):\n%s\nerrors: %v / %v", c.name, diff, wantErr, gotErr)
		}
	}
	served := 0
	for _, s := range tc.client.Workers() {
		served += s.Requests
	}
	if served != len(executorCalls) {
		t.Errorf("workers served %d requests, want %d", served, len(executorCalls))
	}
}

// A worker that answers with garbage (its result fails the checksum or does
// not decode) is logged, and its request is enqueued again and answered by
// a good worker.
func TestCorruptResultIsRedone(t *testing.T) {
	for _, tt := range []struct {
		name    string
		corrupt func(body []byte) (data []byte, sum string)
	}{
		{"bytes changed after the checksum", func(b []byte) ([]byte, string) {
			return []byte("garbage"), checksum(b)
		}},
		{"well-summed garbage", func(b []byte) ([]byte, string) {
			g := []byte("\x00\x01 not gob")
			return g, checksum(g)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestCluster(t, 0)
			p := testPolicy()
			remote := NewExecutor(tc.client, p)
			// A rogue worker takes the first request and answers garbage.
			js, err := jetstream.New(tc.connect(t))
			if err != nil {
				t.Fatal(err)
			}
			cons, err := js.Consumer(context.Background(), sandboxStream, sandboxDurable)
			if err != nil {
				t.Fatal(err)
			}
			type answer struct {
				ok  bool
				err error
			}
			ch := make(chan answer, 1)
			go func() {
				ok, err := remote.CheckOutput(context.Background(), "3", "3")
				ch <- answer{ok, err}
			}()
			msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
			if err != nil {
				t.Fatal(err)
			}
			res, _ := encode(sandboxResult{OK: false})
			data, sum := tt.corrupt(res)
			out := &nats.Msg{Subject: resultPrefix + msg.Headers().Get(hdrSession) + "." + msg.Headers().Get(hdrID), Data: data, Header: nats.Header{}}
			out.Header.Set(hdrSum, sum)
			out.Header.Set(hdrWorker, "rogue")
			if _, err := js.PublishMsg(context.Background(), out); err != nil {
				t.Fatal(err)
			}
			if err := msg.Ack(); err != nil {
				t.Fatal(err)
			}
			// Now a good worker joins; the request must come to it again.
			start(t, sandboxWorker(t, tc, newPool(t, p), p))
			select {
			case a := <-ch:
				if a.err != nil || !a.ok {
					t.Fatalf("CheckOutput(3, 3) = %v, %v; want true from the redone request", a.ok, a.err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the request was not redone")
			}
			stats := tc.client.Workers()
			if stats["rogue"].Corrupt != 1 || stats["rogue"].Requests != 0 {
				t.Errorf("rogue worker stats %+v, want 1 corrupt result and nothing served", stats["rogue"])
			}
		})
	}
}

// A sandbox worker serves only the trainer's own execution policy: with
// another banned list it hands the request back and stops, naming the
// difference, and a matching worker answers it.
func TestSandboxWorkerRefusesAnotherPolicy(t *testing.T) {
	tc := newTestCluster(t, 0)
	p := testPolicy()
	other := ExecPolicy{Timeout: p.Timeout, BannedModules: []string{"os"}}
	pool := newPool(t, other)
	_, done := start(t, sandboxWorker(t, tc, pool, other))
	remote := NewExecutor(tc.client, p)
	ch := make(chan error, 1)
	go func() {
		_, err := remote.CheckOutput(context.Background(), "1", "1")
		ch <- err
	}()
	err := within(t, 15*time.Second, done)
	if err == nil || !strings.Contains(err.Error(), "execution policy") {
		t.Fatalf("worker with another policy: Run = %v, want a refusal naming the execution policy", err)
	}
	start(t, sandboxWorker(t, tc, newPool(t, p), p))
	if err := within(t, 20*time.Second, ch); err != nil {
		t.Fatalf("request after the refusal: %v", err)
	}
}
