package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/rl"
)

// asCLI makes the test binary act as azr-native when re-executed by
// cliProcess, so tests can send real signals to a real process.
const asCLI = "AZRTEST_ACT_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cliProcess prepares azr-native (this test binary) with args.
func cliProcess(t *testing.T, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asCLI+"=1")
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	return cmd, stderr
}

func interruptTinyModel(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	tm := bindings.TinyModel{Arch: "qwen2", Layers: 2, Embedding: 64, Heads: 4, KVHeads: 2, FeedForward: 128,
		Vocab: 512, Context: 4096, Quant: "f32", Seed: 1, InitScale: 0.3}
	if err := bindings.WriteTinyModel(path, tm); err != nil {
		t.Fatal(err)
	}
	return path
}

// llama.cpp's own lines (here: its complaint about a truncated file) come
// out as our structured log lines, never raw on stderr.
func TestCLILlamaLinesGoThroughTheLogger(t *testing.T) {
	data, err := os.ReadFile(interruptTinyModel(t))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(t.TempDir(), "corrupt.gguf")
	if err := os.WriteFile(corrupt, data[:300], 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, stderr := cliProcess(t, "--log-format", "json", "generate", "-m", corrupt, "-p", "x")
	if err := cmd.Run(); err == nil {
		t.Fatal("generate with a truncated model succeeded")
	}
	sawLlama := false
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "azr-native: ") {
			continue // the command's own error
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("raw line on stderr: %q", line)
			continue
		}
		if entry["from"] == "llama.cpp" && strings.Contains(entry["msg"].(string), "gguf_init_from_file_impl") {
			sawLlama = true
			if entry["level"] != "warn" {
				t.Errorf("llama.cpp's error logged at %v, want warn", entry["level"])
			}
		}
	}
	if !sawLlama {
		t.Errorf("llama.cpp's error line did not come through the logger:\n%s", stderr)
	}
}

// The first interrupt stops after the step in progress and checkpoints it;
// a second exits at once and leaves the last checkpoint whole.
func TestCLIRunInterrupts(t *testing.T) {
	model := interruptTinyModel(t)
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"--threads", "2", "--log-level", "info", "run", "-m", model, "--out", out, "--steps", "1000",
		"--save-every", "1000", "--batch-size", "1", "--n-samples", "2", "--max-response-length", "16",
		"--seed-factor", "0", "--ctx", "4096", "--task-types", "deduction"}
	metrics := filepath.Join(out, "metrics.jsonl")
	stepsDone := func() int {
		b, _ := os.ReadFile(metrics)
		return bytes.Count(b, []byte(`"step"`))
	}
	var stderrNow func() string
	waitFor := func(cond func() bool, what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Minute) // generous: CI machines are shared
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; the process said:\n%s", what, stderrNow())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// First interrupt: a graceful stop with a checkpoint of the finished steps.
	cmd, stderr := cliProcess(t, args...)
	stderrNow = stderr.String
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	selfPlay := func() bool { return strings.Contains(stderrNow(), "self-play") }
	// Interrupt inside step 1: after its first phase, before its update.
	waitFor(func() bool { return strings.Contains(stderrNow(), "phase done") }, "step 1 to be under way")
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run after one interrupt: %v\n%s", err, stderr)
	}
	ckpt, err := rl.LatestCheckpoint(out)
	if err != nil {
		t.Fatalf("no checkpoint after a graceful stop: %v\n%s", err, stderr)
	}
	st, err := rl.LoadCheckpointState(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if done := stepsDone(); st.Step != 1 || done != 1 {
		t.Fatalf("interrupted during step 1: checkpoint at step %d, %d steps in metrics.jsonl; want 1 and 1", st.Step, done)
	}
	if !strings.Contains(stderr.String(), "stopped; run the same command to resume") {
		t.Errorf("no word on how to resume:\n%s", stderr)
	}

	// Resume, then two interrupts: exit at once, status 130, checkpoint intact.
	before := st.Step
	cmd, stderr = cliProcess(t, args...)
	stderrNow = stderr.String
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(selfPlay, "self-play to start")
	cmd.Process.Signal(os.Interrupt)
	time.Sleep(200 * time.Millisecond)
	sent := time.Now()
	cmd.Process.Signal(os.Interrupt)
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).ExitStatus() != 130 {
		t.Fatalf("run after two interrupts: %v, want exit status 130\n%s", err, stderr)
	}
	if took := time.Since(sent); took > 5*time.Second {
		t.Errorf("the second interrupt took %v to exit", took)
	}
	ckpt, err = rl.LatestCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	st, err = rl.LoadCheckpointState(ckpt)
	if err != nil {
		t.Fatalf("the last checkpoint is damaged: %v", err)
	}
	if st.Step < before {
		t.Fatalf("checkpoint went back from step %d to %d", before, st.Step)
	}
	if _, err := os.Stat(filepath.Join(ckpt, "policy", "adapter.gguf")); err != nil {
		t.Fatalf("the last checkpoint lost its adapter: %v", err)
	}
}
