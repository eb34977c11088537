package synth

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/azr-native/azr-native/internal/sandboxtest"
	"github.com/azr-native/azr-native/rl"
)

// realScorer is the trainer's scorer over one real sandbox pool shared by the tests.
func realScorer(t testing.TB) *rl.Scorer {
	t.Helper()
	pool := sandboxtest.Pool(t, time.Second)
	cfg := rl.DefaultConfig()
	s, err := rl.NewScorer(&cfg, pool)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestValidRateOnRealSandbox(t *testing.T) {
	g, err := New(Options{Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	n := 60
	progs := make([]Program, n)
	for i := range progs {
		progs[i] = g.Next()
	}
	res, err := RealizeAll(context.Background(), realScorer(t), progs, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	valid, varied := 0, 0
	reasons := map[string]int{}
	for _, r := range res {
		if r.Reason != "" {
			key := r.Reason
			if i := strings.Index(key, ": "); i >= 0 {
				key = key[i+2:]
			}
			if len(key) > 70 {
				key = key[:70]
			}
			reasons[key]++
			continue
		}
		valid++
		if r.Task.DistinctOutputs() >= 2 {
			varied++
		}
	}
	var keys []string
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("rejected %3d  %s", reasons[k], k)
	}
	t.Logf("valid %d/%d (%.0f%%), with >= 2 distinct outputs %d/%d", valid, n, 100*float64(valid)/float64(n), varied, n)
	if valid < n*85/100 {
		t.Errorf("valid rate %d/%d below 85%%", valid, n)
	}
	// The generator steers the returned value towards one that depends on
	// the arguments; without that, about a third of the programs returned
	// a constant.
	if varied < n*70/100 {
		t.Errorf("only %d/%d programs have outputs that vary with the input", varied, n)
	}
}

func TestRealizeUsesTheSelfPlayChecks(t *testing.T) {
	ctx := context.Background()
	s := realScorer(t)
	ten := func(in ...string) []string {
		for len(in) < 10 {
			in = append(in, in[len(in)-1]+" + 1")
		}
		return in
	}
	for _, tc := range []struct {
		name, code string
		inputs     []string
		reason     string // "" when valid
		outputs    []string
	}{
		{"valid", "def f(n):\n    return n * 2", ten("1", "2"), "", []string{"2", "4", "6", "8", "10", "12", "14", "16", "18", "20"}},
		{"banned module", "import random\n\ndef f(n):\n    return random.random() + n", ten("1"), "random", nil},
		{"raises on an input", "def f(n):\n    return 10 // (n - 3)", ten("1"), "ZeroDivisionError", nil},
		{"two top-level functions", "def g(n):\n    return n\n\ndef f(n):\n    return g(n)", ten("1"), "2 functions", nil},
		{"non-deterministic", "def f(n):\n    return id(object()) % 1000 + n", ten("1"), "non-deterministic", nil},
		{"output over the cap", "def f(n):\n    return 'x' * 500", ten("1"), "cap", nil},
		{"too few inputs", "def f(n):\n    return n", []string{"1", "2"}, "2 distinct inputs", nil},
	} {
		task, reason, err := Realize(ctx, s, Program{Code: tc.code, Inputs: tc.inputs, Message: "m"})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.reason == "" {
			if reason != "" {
				t.Errorf("%s: rejected: %s", tc.name, reason)
			} else if strings.Join(task.Outputs, ",") != strings.Join(tc.outputs, ",") {
				t.Errorf("%s: outputs %v, want %v", tc.name, task.Outputs, tc.outputs)
			}
			continue
		}
		if !strings.Contains(reason, tc.reason) {
			t.Errorf("%s: reason %q, want it to mention %q", tc.name, reason, tc.reason)
		}
	}
}

// The realized tasks are what self-play would store: the scorer accepts
// their own answers (deduction: the output; abduction: the input;
// induction: the program itself).
func TestRealizedTasksAreSolvableByTheirAnswers(t *testing.T) {
	ctx := context.Background()
	s := realScorer(t)
	g, _ := New(Options{Seed: 21})
	checked := 0
	for checked < 12 {
		task, reason, err := Realize(ctx, s, g.Next())
		if err != nil {
			t.Fatal(err)
		}
		if reason != "" {
			continue
		}
		checked++
		wrap := func(a string) string { return " ok </think>\n<answer>\n" + a + "\n</answer>" }
		tr := task.Triplet()
		for _, c := range []struct {
			typ  rl.TaskType
			task rl.Task
			ans  string
		}{
			{rl.Deduction, tr, "```output\n" + tr.Output + "\n```"},
			{rl.Abduction, tr, "```input\n" + tr.Input + "\n```"},
			{rl.Induction, task.Induction(), "```python\n" + task.Program + "\n```"},
		} {
			sc, err := s.ScoreSolve(ctx, c.typ, c.task, wrap(c.ans))
			if err != nil {
				t.Fatal(err)
			}
			if !sc.Correct {
				t.Errorf("%v answer to its own task judged wrong: %+v\n%s", c.typ, sc, task.Program)
			}
		}
	}
}

func BenchmarkRealize(b *testing.B) {
	s := realScorer(b)
	g, _ := New(Options{Seed: 1})
	for b.Loop() {
		if _, _, err := Realize(context.Background(), s, g.Next()); err != nil {
			b.Fatal(err)
		}
	}
}
