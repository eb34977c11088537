package nano

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/azr-native/azr-native/bindings"
)

// writeTestCorpus writes a corpus.jsonl of small, regular programs: enough
// structure that a 2-layer model learns it within a few dozen steps.
func writeTestCorpus(t *testing.T, docs int) string {
	t.Helper()
	dir := t.TempDir()
	var sb strings.Builder
	ops := []string{"+", "-", "*", "%"}
	names := []string{"xs", "s", "n", "items", "values"}
	for i := 0; i < docs; i++ {
		name := names[i%len(names)]
		text := fmt.Sprintf("def f(%s):\n    total = 0\n    for x in %s:\n        total = total %s x\n    return total\n```input\n[%d, %d, %d]\n```",
			name, name, ops[i%len(ops)], i%10, (i*7)%10, (i*3)%10)
		line, _ := json.Marshal(map[string]string{"kind": "program", "text": text})
		sb.Write(line)
		sb.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, CorpusFile), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func testPretrainConfig() PretrainConfig {
	c := DefaultPretrainConfig()
	c.Size, c.Shape = "test", Sizes["test"]
	c.VocabSize, c.SeqLen, c.BatchRows = 320, 32, 4
	c.Tokens, c.Minutes = 40*4*32, 0 // 40 steps
	c.LR, c.MinLR, c.WarmupSteps = 3e-3, 3e-4, 5
	c.HeldOutPercent, c.HeldOutRows, c.EvalEvery = 10, 4, 10
	c.TokenizerBytes = 0
	return c
}

func TestPretrainLowersHeldOutLossAndWritesLoadableModels(t *testing.T) {
	data, out := writeTestCorpus(t, 300), t.TempDir()
	sum, err := Pretrain(context.Background(), PretrainOptions{Threads: 1, DataDir: data, OutDir: out, Config: testPretrainConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 40 {
		t.Errorf("%d steps, want 40", sum.Steps)
	}
	if !(sum.FinalHeldOut < 0.6*sum.FirstHeldOut) {
		t.Errorf("held-out loss %.3f -> %.3f: pretraining did not learn", sum.FirstHeldOut, sum.FinalHeldOut)
	}
	tok, err := LoadTokenizer(filepath.Join(out, tokenizerFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{sum.ModelF32, sum.ModelQuant} {
		m, err := bindings.LoadModel(path, bindings.ModelOptions{Threads: 1})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		info := m.Info()
		if info.Arch != "qwen2" || info.Vocab != tok.VocabSize() || info.TrainContext != 32 || info.Layers != 2 {
			t.Errorf("%s: %+v", filepath.Base(path), info)
		}
		text := "def f(xs):\n    return xs"
		want, _ := m.Tokenize(text, false, true)
		got, _ := tok.Encode(text, true)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s tokenizes %v, the saved tokenizer %v", filepath.Base(path), want, got)
		}
		m.Close()
	}
	// A rerun of a finished run does nothing and reports the same result.
	again, err := Pretrain(context.Background(), PretrainOptions{Threads: 1, DataDir: data, OutDir: out, Config: testPretrainConfig()})
	if err != nil || again.FinalHeldOut != sum.FinalHeldOut {
		t.Errorf("rerun of a complete run: %v, %+v", err, again)
	}
}

// metricsWithoutTiming reads metrics.jsonl minus the wall-clock fields.
func metricsWithoutTiming(t *testing.T, out string) []metricLine {
	t.Helper()
	f, err := os.Open(filepath.Join(out, metricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []metricLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m metricLine
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		m.TokPerSec, m.Seconds = 0, 0
		lines = append(lines, m)
	}
	return lines
}

func TestPretrainResumeEqualsStraightRun(t *testing.T) {
	data := writeTestCorpus(t, 200)
	cfg := testPretrainConfig()
	cfg.Tokens = 12 * 4 * 32
	cfg.EvalEvery = 4
	straight, stopped := t.TempDir(), t.TempDir()
	if _, err := Pretrain(context.Background(), PretrainOptions{Threads: 1, DataDir: data, OutDir: straight, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	_, err := Pretrain(context.Background(), PretrainOptions{Threads: 1, DataDir: data, OutDir: stopped, Config: cfg, StopAfterSteps: 5})
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("stop after 5 steps: %v", err)
	}
	if _, err := Pretrain(context.Background(), PretrainOptions{Threads: 1, DataDir: data, OutDir: stopped, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	a, err := os.ReadFile(filepath.Join(straight, finalModelF32))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(stopped, finalModelF32))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("the resumed run's model differs from the straight run's")
	}
	if ma, mb := metricsWithoutTiming(t, straight), metricsWithoutTiming(t, stopped); !reflect.DeepEqual(ma, mb) {
		t.Errorf("metrics differ:\nstraight %+v\nresumed  %+v", ma, mb)
	}
}

// Threads only change the speed: ggml's sums do not depend on how the work is split.
func TestPretrainResultDoesNotDependOnThreads(t *testing.T) {
	data := writeTestCorpus(t, 200)
	cfg := testPretrainConfig()
	cfg.Tokens = 6 * 4 * 32
	var models [][]byte
	for _, threads := range []int{1, 2} {
		out := t.TempDir()
		if _, err := Pretrain(context.Background(), PretrainOptions{Threads: threads, DataDir: data, OutDir: out, Config: cfg}); err != nil {
			t.Fatal(err)
		}
		m, err := os.ReadFile(filepath.Join(out, finalModelF32))
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, m)
	}
	if !reflect.DeepEqual(models[0], models[1]) {
		t.Error("1 and 2 threads trained different weights")
	}
}

func TestPretrainRefusesBadInput(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T) (data string, cfg PretrainConfig)
		want  string
	}{
		{"no corpus", func(t *testing.T) (string, PretrainConfig) { return t.TempDir(), testPretrainConfig() }, "nano data"},
		{"corpus smaller than a row", func(t *testing.T) (string, PretrainConfig) {
			c := testPretrainConfig()
			c.SeqLen = 4096
			return writeTestCorpus(t, 120), c
		}, "too small"},
		{"no budget", func(t *testing.T) (string, PretrainConfig) {
			c := testPretrainConfig()
			c.Tokens, c.Minutes = 0, 0
			return writeTestCorpus(t, 10), c
		}, "no budget"},
		{"width not a multiple of heads", func(t *testing.T) (string, PretrainConfig) {
			c := testPretrainConfig()
			c.Shape.Heads = 3
			return writeTestCorpus(t, 10), c
		}, "multiple"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, cfg := c.setup(t)
			_, err := Pretrain(context.Background(), PretrainOptions{Threads: 1, DataDir: data, OutDir: t.TempDir(), Config: cfg})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}

func TestPretrainRefusesAChangedConfigOnRerun(t *testing.T) {
	data, out := writeTestCorpus(t, 200), t.TempDir()
	cfg := testPretrainConfig()
	cfg.Tokens = 2 * 4 * 32
	if _, err := Pretrain(context.Background(), PretrainOptions{Threads: 1, DataDir: data, OutDir: out, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	cfg.LR *= 2
	_, err := Pretrain(context.Background(), PretrainOptions{Threads: 1, DataDir: data, OutDir: out, Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "lr: saved") {
		t.Errorf("a changed learning rate was accepted on rerun: %v", err)
	}
}

func TestLearningRateSchedule(t *testing.T) {
	c := PretrainConfig{LR: 1, MinLR: 0.1, WarmupSteps: 4}
	cases := []struct {
		step, total int
		want        float64
	}{
		{0, 100, 0.25}, {3, 100, 1}, {4, 100, 1}, {99, 100, 0.1}, {200, 100, 0.1},
	}
	for _, tc := range cases {
		if got := c.LearningRate(tc.step, tc.total); abs(got-tc.want) > 1e-9 {
			t.Errorf("lr(%d of %d) = %g, want %g", tc.step, tc.total, got, tc.want)
		}
	}
	mid := c.LearningRate(4+95/2, 100)
	if abs(mid-0.55) > 0.02 {
		t.Errorf("halfway through the decay lr = %g, want about 0.55", mid)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestBatchRowsVisitEveryRowOncePerEpoch(t *testing.T) {
	const nRows, batch = 10, 4
	seen := map[int]int{}
	for step := 0; step < 5; step++ { // 20 rows = 2 epochs
		for _, r := range batchRows(7, nRows, batch, step) {
			seen[r]++
		}
	}
	for r := 0; r < nRows; r++ {
		if seen[r] != 2 {
			t.Errorf("row %d seen %d times in two epochs", r, seen[r])
		}
	}
	if !reflect.DeepEqual(batchRows(7, nRows, batch, 3), batchRows(7, nRows, batch, 3)) {
		t.Error("batches are not a function of (seed, step)")
	}
}

// A continuation (--init) starts from the finished run's weights on its token
// streams: its first held-out loss is the run's last, and it trains further.
func TestPretrainContinuesFromAFinishedRun(t *testing.T) {
	data, base, cont := writeTestCorpus(t, 300), t.TempDir(), t.TempDir()
	cfg := testPretrainConfig()
	cfg.Tokens = 20 * 4 * 32
	first, err := Pretrain(context.Background(), PretrainOptions{Threads: 1, DataDir: data, OutDir: base, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	more := testPretrainConfig()
	more.Size, more.Shape, more.VocabSize, more.SeqLen = "micro", Sizes["micro"], 999, 64 // taken from the run
	more.Tokens, more.Seed = 10*4*32, 2
	more, err = more.InitFrom(base)
	if err != nil {
		t.Fatal(err)
	}
	if more.Size != "test" || more.VocabSize != cfg.VocabSize || more.SeqLen != cfg.SeqLen {
		t.Fatalf("continuation settings %s/%d/%d, want the run's test/%d/%d", more.Size, more.VocabSize, more.SeqLen, cfg.VocabSize, cfg.SeqLen)
	}
	second, err := Pretrain(context.Background(), PretrainOptions{Threads: 1, OutDir: cont, Config: more})
	if err != nil {
		t.Fatal(err)
	}
	if diff := second.FirstHeldOut - first.FinalHeldOut; diff > 1e-4 || diff < -1e-4 {
		t.Errorf("continuation starts at held-out loss %.5f, the run ended at %.5f", second.FirstHeldOut, first.FinalHeldOut)
	}
	if !(second.FinalHeldOut < first.FinalHeldOut) {
		t.Errorf("continuation did not train further: held-out %.4f -> %.4f", first.FinalHeldOut, second.FinalHeldOut)
	}
	if _, err := testPretrainConfig().InitFrom(t.TempDir()); err == nil {
		t.Error("--init of a directory that is no run was accepted")
	}
}
