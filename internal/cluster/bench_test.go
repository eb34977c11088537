package cluster

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/azr-native/azr-native/rl"
)

// The cost of going through NATS: each benchmark runs the same work
// in process (the baseline) and through the cluster (one worker on this
// machine), one request at a time, and reports
//
//	work_ms      the worker's own time per request (from its result header)
//	overhead_ms  enqueue -> result minus that: serialization, JetStream
//	             publish + ack, delivery, result publish, assembly
//	overhead_%   overhead / work
//
// A typical sandbox request is an abduction check (run f on an input and
// compare); a typical generation request is one batched engine call.

// cpuTime is the CPU time this process (trainer client, NATS server and
// worker, in a benchmark) has used; the Python executions run in other
// processes and are not in it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports this process's CPU time per operation since start:
// in the cluster case minus the in-process case, it is the CPU that
// messaging costs per request, whatever the machine's load.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "go_cpu_us/op")
}

func reportOverhead(b *testing.B, c *Client, elapsed time.Duration, before map[string]WorkerStats) {
	var busy time.Duration
	n := 0
	for id, s := range c.Workers() {
		busy += s.Busy - before[id].Busy
		n += s.Requests - before[id].Requests
	}
	if n == 0 {
		b.Fatal("no request was served")
	}
	work := busy / time.Duration(n)
	overhead := (elapsed - busy) / time.Duration(n)
	b.ReportMetric(float64(work.Microseconds())/1000, "work_ms")
	b.ReportMetric(float64(overhead.Microseconds())/1000, "overhead_ms")
	b.ReportMetric(100*float64(overhead)/float64(work), "overhead_%")
}

func BenchmarkSandboxRequest(b *testing.B) {
	p := testPolicy()
	pool := newPool(&testing.T{}, p)
	check := func(e rl.Executor) {
		ok, err := e.CheckInput(context.Background(), "def f(xs):\n    return sorted(xs)[::-1]", nil, "[3, 2, 1]", "[1, 2, 3]")
		if err != nil || !ok {
			b.Fatalf("CheckInput = %v, %v", ok, err)
		}
	}
	b.Run("in-process", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			check(pool)
		}
		reportCPU(b, cpu)
	})
	b.Run("cluster", func(b *testing.B) {
		tc := newTestCluster(&testing.T{}, 0)
		w, err := SandboxWorker(tc.connect(&testing.T{}), pool, p, 1, tc.log)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go w.Run(ctx)
		remote := NewExecutor(tc.client, p)
		check(remote) // warm: the worker's pull is in place
		before := tc.client.Workers()
		start, cpu := time.Now(), cpuTime()
		for b.Loop() {
			check(remote)
		}
		reportCPU(b, cpu)
		reportOverhead(b, tc.client, time.Since(start), before)
	})
}

func BenchmarkGenerateRequest(b *testing.B) {
	model, cfg := nanoRun(b)
	t := &testing.T{}
	eng := tinyEngine(t, model, cfg)
	// One engine call: 4 prompts x 2 samples x 48 tokens, as a solver batch.
	reqs := make([]rl.GenRequest, 4)
	for i := range reqs {
		reqs[i] = rl.GenRequest{Prompt: fmt.Sprintf("def f(x):\n    return x + %d\n", i), N: 2,
			Sampling: rl.Sampling{Temperature: 1, TopP: 1, MaxTokens: 48, Seed: uint64(i + 1)}}
	}
	gen := func(p rl.Policy) {
		if _, err := p.Generate(context.Background(), reqs); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("in-process", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			gen(eng)
		}
		reportCPU(b, cpu)
	})
	b.Run("cluster", func(b *testing.B) {
		tc := newTestCluster(t, 0)
		w, err := GenerateWorker(tc.connect(t), GenerateOptions{Model: model, Threads: 1}, tc.log)
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go w.Run(ctx)
		fp, err := FileFingerprint(model)
		if err != nil {
			b.Fatal(err)
		}
		remote := NewPolicy(tc.client, eng, PolicyOptions{Base: fp, Ctx: testCtx, Slots: testSlots}, tc.log)
		gen(remote) // warm: the adapter is published and loaded once per version
		before := tc.client.Workers()
		start, cpu := time.Now(), cpuTime()
		for b.Loop() {
			gen(remote)
		}
		reportCPU(b, cpu)
		reportOverhead(b, tc.client, time.Since(start), before)
	})
}

// BenchmarkSandboxThroughput: the trainer keeps exec_parallelism (8)
// executor calls in flight; here 8 callers share a pool of 2 processes, in
// process or through one worker serving 2 at a time. ns/op is per call, so
// the ratio of the two cases is the throughput cost of the cluster.
func BenchmarkSandboxThroughput(b *testing.B) {
	p := testPolicy()
	pool := newPool(&testing.T{}, p)
	run := func(b *testing.B, e rl.Executor) {
		b.SetParallelism(4) // x GOMAXPROCS (2 here) = 8 callers
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ok, err := e.CheckInput(context.Background(), "def f(xs):\n    return sorted(xs)[::-1]", nil, "[3, 2, 1]", "[1, 2, 3]")
				if err != nil || !ok {
					b.Errorf("CheckInput = %v, %v", ok, err)
					return
				}
			}
		})
	}
	b.Run("in-process", func(b *testing.B) {
		cpu := cpuTime()
		run(b, pool)
		reportCPU(b, cpu)
	})
	b.Run("cluster", func(b *testing.B) {
		tc := newTestCluster(&testing.T{}, 0)
		w, err := SandboxWorker(tc.connect(&testing.T{}), pool, p, 2, tc.log)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go w.Run(ctx)
		cpu := cpuTime()
		run(b, NewExecutor(tc.client, p))
		reportCPU(b, cpu)
	})
}
