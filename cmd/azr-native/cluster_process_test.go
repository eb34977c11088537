package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/azr-native/azr-native/internal/cluster"
	"github.com/azr-native/azr-native/internal/nano"
	"github.com/azr-native/azr-native/internal/runtest"
	"github.com/azr-native/azr-native/rl"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// clusterRunArgs is a two-step run of the built-in nano base small enough
// for a test (the nano base writes answers in the right format, so the
// sandbox is asked to check them; a random tiny model never gets that far).
// Every process, trainer and workers, uses one thread.
func clusterRunArgs(out string, extra ...string) []string {
	args := []string{"--threads", "1", "--log-level", "info", "run", "--out", out, "--steps", "2",
		"--save-every", "1", "--batch-size", "2", "--n-samples", "2", "--max-response-length", "48",
		"--seed-factor", "0", "--ctx", "4096", "--slots", "4", "--task-types", "deduction,abduction"}
	return append(args, extra...)
}

var clusterBaseline struct {
	once  sync.Once
	model string
	dir   string
	err   error
}

// singleProcessBaseline runs the test configuration once, in one process,
// for every cluster test of the binary to compare with. It returns the
// built-in model's file (what a generate worker loads) and the run.
func singleProcessBaseline(t *testing.T) (model, dir string) {
	t.Helper()
	clusterBaseline.once.Do(func() {
		root, err := os.MkdirTemp("", "azr-cluster-baseline-")
		if err != nil {
			clusterBaseline.err = err
			return
		}
		if clusterBaseline.model, err = nano.DefaultModelPath(""); err != nil {
			clusterBaseline.err = err
			return
		}
		clusterBaseline.dir = filepath.Join(root, "single")
		cmd, stderr := cliProcess(t, clusterRunArgs(clusterBaseline.dir)...)
		if err := cmd.Run(); err != nil {
			clusterBaseline.err = fmt.Errorf("single-process run: %v\n%s", err, stderr)
		}
	})
	if clusterBaseline.err != nil {
		t.Fatal(clusterBaseline.err)
	}
	return clusterBaseline.model, clusterBaseline.dir
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a started azr-native process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan error
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	cmd, stderr := cliProcess(t, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, stderr: stderr, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s said:\n%s", name, stderr)
		}
	})
	return p
}

func worker(t *testing.T, name, url, role, model string) *proc {
	args := []string{"--threads", "1", "--log-level", "debug", "worker", "--connect", url, "--role", role}
	if role == "generate" {
		args = append(args, "-m", model)
	}
	return startProc(t, name, args...)
}

// waitUntil polls cond for up to two minutes (CI machines are shared).
func waitUntil(t *testing.T, what string, cond func() bool, procs ...*proc) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			for _, p := range procs {
				t.Logf("%s said:\n%s", p.name, p.stderr)
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) wait(t *testing.T, procs ...*proc) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			for _, q := range procs {
				t.Logf("%s said:\n%s", q.name, q.stderr)
			}
			t.Fatalf("%s: %v\n%s", p.name, err, p.stderr)
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("%s did not finish\n%s", p.name, p.stderr)
	}
}

func (p *proc) said(s string) bool { return strings.Contains(p.stderr.String(), s) }

// sameRun compares a run with the single-process baseline: metrics.jsonl
// without wall-clock fields, and each step's adapter file byte for byte.
func sameRun(t *testing.T, baseline, dir string) {
	t.Helper()
	if diff := cmp.Diff(runtest.MetricsWithoutTimings(t, baseline), runtest.MetricsWithoutTimings(t, dir)); diff != "" {
		t.Errorf("metrics differ (-single process +clustered):\n%.3000s", diff)
	}
	for step := 1; step <= 2; step++ {
		rel := filepath.Join("checkpoints", fmt.Sprintf("step-%06d", step), "policy", "adapter.gguf")
		a, errA := os.ReadFile(filepath.Join(baseline, rel))
		b, errB := os.ReadFile(filepath.Join(dir, rel))
		if errA != nil || errB != nil {
			t.Fatalf("adapter files: %v, %v", errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the single-process run's", rel)
		}
	}
}

// A clustered run, two sandbox workers and one generate worker, each a
// separate process over loopback, gives the single-process run's metrics
// and adapters; the workers are started before the trainer and wait for it.
// The trainer either starts the server (--cluster) or joins one (--nats).
func TestCLIClusteredRunEqualsSingleProcess(t *testing.T) {
	model, baseline := singleProcessBaseline(t)
	for _, mode := range []string{"--cluster", "--nats"} {
		t.Run(mode, func(t *testing.T) {
			addr := freeAddr(t)
			url := "nats://" + addr
			out := filepath.Join(t.TempDir(), "clustered")
			trainerArgs := clusterRunArgs(out, "--cluster", "--nats-listen", addr)
			if mode == "--nats" {
				srv, err := cluster.StartServer(addr, t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()
				trainerArgs = clusterRunArgs(out, "--nats", url)
			}
			s1 := worker(t, "sandbox worker 1", url, "sandbox", "")
			s2 := worker(t, "sandbox worker 2", url, "sandbox", "")
			g := worker(t, "generate worker", url, "generate", model)
			tr := startProc(t, "trainer", trainerArgs...)
			tr.wait(t, s1, s2, g)
			sameRun(t, baseline, out)
			for _, p := range []*proc{s1, s2, g} {
				if !p.said("served") {
					t.Errorf("%s served nothing:\n%s", p.name, p.stderr)
				}
			}
			if !tr.said("cluster worker served") || !tr.said("cluster worker registered") {
				t.Errorf("the trainer did not log its workers joining and what they served:\n%s", tr.stderr)
			}
			// Workers stop cleanly on an interrupt.
			for _, p := range []*proc{s1, s2, g} {
				_ = p.cmd.Process.Signal(os.Interrupt)
				p.wait(t)
			}
		})
	}
}

// Bad worker invocations are refused with a message naming the problem.
func TestCLIWorkerBadInput(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown role", []string{"--role", "trainer"}, "--role must be generate or sandbox"},
		{"generate without a model", []string{"--role", "generate"}, "--role generate needs --model"},
		{"no server", []string{"--role", "sandbox", "--connect-wait", "0s", "--connect", "nats://127.0.0.1:1"}, "nats connect"},
		{"half a TLS client certificate", []string{"--role", "sandbox", "--nats-tls-cert", "c.pem"}, "both the certificate and the key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"worker"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--connect ") {
				args = append(args, "--connect", "nats://127.0.0.1:1", "--connect-wait", "0s")
			}
			cmd, stderr := cliProcess(t, args...)
			if err := cmd.Run(); err == nil {
				t.Fatalf("worker %v succeeded", tt.args)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("worker %v said:\n%s\nwant it to mention %q", tt.args, stderr, tt.want)
			}
		})
	}
}

// Killing (-9) a generate worker and a sandbox worker while each holds a
// request, and then the trainer itself during step 2, loses nothing: the
// requests go to the replacement workers after the ack wait, the restarted
// trainer resumes from its checkpoint, the surviving workers reconnect by
// themselves, and the run equals the single-process run.
func TestCLIClusterSurvivesKilledWorkersAndTrainer(t *testing.T) {
	model, baseline := singleProcessBaseline(t)
	addr := freeAddr(t)
	url := "nats://" + addr
	out := filepath.Join(t.TempDir(), "clustered")
	args := clusterRunArgs(out, "--cluster", "--nats-listen", addr, "--cluster-ack-wait", "2s")
	tr := startProc(t, "trainer", args...)
	g1 := worker(t, "generate worker 1", url, "generate", model)
	s1 := worker(t, "sandbox worker 1", url, "sandbox", "")

	// The first workers are frozen while idle, each with a pull for a
	// request outstanding at the server; once the server has handed each a
	// request (held, unacknowledged) they are killed.
	for _, p := range []*proc{g1, s1} {
		waitUntil(t, p.name+" to start serving", func() bool { return p.said("worker serving") }, tr, p)
		_ = p.cmd.Process.Signal(syscall.SIGSTOP)
	}
	nc, err := cluster.Connect(context.Background(), cluster.ConnectOptions{URL: url}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	killHolding := func(p *proc, role string) {
		waitUntil(t, p.name+" to hold a request", func() bool {
			q, err := cluster.Queue(context.Background(), js, role)
			return err == nil && q.Held > 0
		}, tr)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	killHolding(g1, "generate")
	g2 := worker(t, "generate worker 2", url, "generate", model)
	killHolding(s1, "sandbox")
	s2 := worker(t, "sandbox worker 2", url, "sandbox", "")

	// Step 1 checkpointed, step 2 under way: kill the trainer and start it again.
	waitUntil(t, "step 1's checkpoint", func() bool {
		_, err := rl.LatestCheckpoint(out)
		return err == nil
	}, tr, g2, s2)
	time.Sleep(300 * time.Millisecond)
	_ = tr.cmd.Process.Signal(syscall.SIGKILL)
	<-tr.done
	tr.done <- nil
	tr2 := startProc(t, "restarted trainer", args...)
	tr2.wait(t, g2, s2)
	if !tr2.said("resuming") {
		t.Errorf("the restarted trainer did not resume from its checkpoint:\n%s", tr2.stderr)
	}
	sameRun(t, baseline, out)
	for _, p := range []*proc{g2, s2} {
		if !p.said("redelivered") {
			t.Errorf("%s never served its killed predecessor's request:\n%s", p.name, p.stderr)
		}
	}
	if !g2.said("nats reconnected") || !s2.said("nats reconnected") {
		t.Errorf("the workers did not reconnect to the restarted trainer")
	}
}
