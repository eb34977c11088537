package rl

// Tests against the real sandbox (package sandbox): Python runs in its
// isolated worker pool, exactly as in training.

import (
	"context"
	"testing"
	"time"

	"github.com/azr-native/azr-native/internal/sandboxtest"
	"github.com/azr-native/azr-native/sandbox"
	"github.com/google/go-cmp/cmp"
)

// realSandbox returns one pool shared by the tests of this package.
func realSandbox(t *testing.T) *sandbox.Pool {
	t.Helper()
	pool := sandboxtest.Pool(t, 3*time.Second)
	return pool
}

func TestSandboxSeedsAreValid(t *testing.T) {
	ctx := context.Background()
	p := realSandbox(t)
	z := ZeroTriplet()
	v, err := p.Validate(ctx, z.Program, []string{z.Input})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Valid || len(v.Outputs) != 1 || v.Outputs[0] != z.Output {
		t.Errorf("zero triplet: %+v, want valid with output %s", v, z.Output)
	}
	zi := ZeroInduction()
	v, err = p.Validate(ctx, zi.Program, zi.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Valid {
		t.Fatalf("identity induction task invalid: %s", v.Reason)
	}
	if diff := cmp.Diff(zi.Outputs, v.Outputs); diff != "" {
		t.Errorf("identity induction outputs (-ours +python)\n%s", diff)
	}
}

func TestSandboxScoring(t *testing.T) {
	ctx := context.Background()
	s := testScorer(realSandbox(t))
	ded := Task{Program: "def f(xs):\n    return [x * 2 for x in xs]", Input: "[1, 2]", Output: "[2, 4]"}
	pairs := Task{Program: "def f(a, b):\n    return (a + b, a * b)", Input: "2, 3", Output: "(5, 6)"}
	ind := Task{Program: "def f(s):\n    return s[::-1]", Inputs: []string{"'ab'", "'xyz'", "''", "'racecar'"}, Outputs: []string{"'ba'", "'zyx'", "''", "'racecar'"}}
	for _, tc := range []struct {
		name string
		typ  TaskType
		task Task
		resp string
		want float64
	}{
		{"deduction correct", Deduction, ded, wrap(fence("output", "[2, 4]")), 1},
		{"deduction: Python equality, 4.0 == 4", Deduction, ded, wrap(fence("output", "[2.0, 4]")), 1},
		{"deduction: a tuple is not a list", Deduction, ded, wrap(fence("output", "(2, 4)")), -0.5},
		{"deduction: not a literal", Deduction, ded, wrap(fence("output", "__import__('os').getcwd()")), -0.5},
		{"deduction bad format", Deduction, ded, " <answer>" + fence("output", "[2, 4]") + "</answer>", -1},
		{"abduction: any pre-image", Abduction, pairs, wrap(fence("input", "3, 2")), 1},
		{"abduction: keyword arguments", Abduction, pairs, wrap(fence("input", "b=3, a=2")), 1},
		{"abduction wrong", Abduction, pairs, wrap(fence("input", "1, 1")), -0.5},
		{"abduction: the answer raises", Abduction, pairs, wrap(fence("input", "'a', 'b'")), -0.5},
		{"induction: hidden pairs reproduced", Induction, ind, wrap(fence("python", "def f(s):\n    return ''.join(reversed(s))")), 1},
		{"induction: only the shown pairs", Induction, ind, wrap(fence("python", "def f(s):\n    return {'ab': 'ba', 'xyz': 'zyx'}[s]")), -0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := s.ScoreSolve(ctx, tc.typ, tc.task, tc.resp)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Reward != tc.want || sc.ExecErr != "" {
				t.Errorf("reward %v (exec error %q), want %v; %+v", sc.Reward, sc.ExecErr, tc.want, sc)
			}
		})
	}

	for _, tc := range []struct {
		name      string
		typ       TaskType
		resp      string
		wantValid bool
		wantOut   []string
	}{
		{"renamed to f and run", Deduction, wrap(fence("python", "def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)") + fence("input", "5")), true, []string{"120"}},
		{"imports are kept", Abduction, wrap(fence("python", "import math\ndef f(x):\n    return math.isqrt(x)") + fence("input", "17")), true, []string{"4"}},
		{"banned module", Deduction, wrap(fence("python", "import random\ndef f(x):\n    return random.random()") + fence("input", "1")), false, nil},
		{"raises", Deduction, wrap(fence("python", "def f(x):\n    return x[10]") + fence("input", "[1]")), false, nil},
		{"not deterministic (mutable default)", Deduction, wrap(fence("python", "def f(x, acc=[]):\n    acc.append(x)\n    return len(acc)") + fence("input", "1")), false, nil},
		{"induction on a buffer program", Induction, wrap(inputs(10, 0) + fence("message", "square it")), true, []string{"0", "1", "4", "9", "16", "25", "36", "49", "64", "81"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := Task{Program: "def f(x):\n    return x * x"}
			ps, err := s.ScoreProposal(ctx, tc.typ, base, tc.resp, 1)
			if err != nil {
				t.Fatal(err)
			}
			if ps.Valid != tc.wantValid {
				t.Fatalf("valid = %v (%s), want %v", ps.Valid, ps.Reason, tc.wantValid)
			}
			got := ps.Task.Outputs
			if tc.typ != Induction && ps.Valid {
				got = []string{ps.Task.Output}
			}
			if diff := cmp.Diff(tc.wantOut, got); diff != "" {
				t.Errorf("outputs (-want +got)\n%s", diff)
			}
			if !tc.wantValid && ps.Reason == "" {
				t.Errorf("no reason given")
			}
		})
	}

	// Learnability over real checks: 3 of 8 rollouts right.
	var rollouts []string
	for i := 0; i < 8; i++ {
		out := "[2, 4]"
		if i >= 3 {
			out = "[2, 5]"
		}
		rollouts = append(rollouts, wrap(fence("output", out)))
	}
	l, err := s.Learnability(ctx, Deduction, ded, rollouts)
	if err != nil {
		t.Fatal(err)
	}
	if l.PBar != 0.375 || l.R != 0.625 {
		t.Errorf("p̄ %v r %v, want 0.375 0.625", l.PBar, l.R)
	}
}

// A full self-play step driven by the scripted policy and the real sandbox:
// six batches, rewards and advantages as the spec says (checkStep).
func TestSelfPlayStepRealSandbox(t *testing.T) {
	ctx := context.Background()
	cfg := smallConfig(8)
	pol := &scriptedPolicy{}
	tr, err := NewTrainer(cfg, pol, realSandbox(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	for step := 1; step <= 2; step++ {
		before := len(pol.calls)
		m, err := tr.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkStep(t, cfg, pol.calls[before:], pol.batches[step-1])
		for k, b := range m.Batches {
			if b.ExecErrors != 0 {
				t.Errorf("%s: %d executor errors", k, b.ExecErrors)
			}
		}
	}
}

// An induction proposal supplies only inputs; the program comes from our own
// buffers (here: a seed-file program that imports a banned module). The
// reference validates those runs with an empty banned list, so the module
// policy must not reject the proposal, while a new deduction proposal with
// the same program is still rejected.
func TestSandboxInductionValidationSkipsTheModulePolicy(t *testing.T) {
	ctx := context.Background()
	s := testScorer(realSandbox(t))
	s.NumInputs = 2
	program := "import calendar\ndef f(y):\n    return calendar.isleap(y)"
	base := Task{Program: program, Imports: []string{"import calendar"}}
	resp := "plan</think>\n<answer>\n```input\n2000\n```\n```input\n2001\n```\n```message\nleap years\n```\n</answer>"
	ps, err := s.ScoreProposal(ctx, Induction, base, resp, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !ps.Valid {
		t.Fatalf("induction proposal on a buffer program importing a banned module: invalid (%s), want valid", ps.Reason)
	}
	if diff := cmp.Diff([]string{"True", "False"}, ps.Task.Outputs); diff != "" {
		t.Errorf("outputs (-want +got)\n%s", diff)
	}
	ded := "plan</think>\n<answer>\n```python\n" + program + "\n```\n```input\n2000\n```\n</answer>"
	ps, err = s.ScoreProposal(ctx, Deduction, Task{}, ded, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ps.Valid {
		t.Errorf("a new deduction program importing a banned module was accepted")
	}
}
