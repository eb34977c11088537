package rl

import (
	"context"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSolverReward(t *testing.T) {
	for _, tc := range []struct {
		name    string
		format  float64
		correct bool
		want    float64
	}{
		{"well formatted and correct", 1, true, 1},
		{"well formatted but wrong", 1, false, -0.5},
		{"bad format, even if correct", 0, true, -1},
		{"bad format and wrong", 0, false, -1},
	} {
		if got := SolverReward(tc.format, tc.correct); got != tc.want {
			t.Errorf("%s: SolverReward = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestLearnabilityReward(t *testing.T) {
	for _, tc := range []struct {
		pbar, want float64
	}{
		{0, 0}, // never solved: impossible or too hard
		{1, 0}, // always solved: trivial
		{0.125, 0.875},
		{0.5, 0.5},
		{0.875, 0.125},
	} {
		if got := LearnabilityReward(tc.pbar); got != tc.want {
			t.Errorf("LearnabilityReward(%v) = %v, want %v", tc.pbar, got, tc.want)
		}
	}
}

func TestProposerReward(t *testing.T) {
	for _, tc := range []struct {
		name       string
		format     float64
		valid      bool
		r, trivial float64
		want       float64
	}{
		{"invalid", 1, false, 0, -0.5, -1},
		{"valid but bad format", 0, true, 0.5, -0.5, -1},
		{"learnable", 1, true, 0.625, -0.5, 0.625},
		{"trivial or impossible, reference", 1, true, 0, -0.5, -0.5},
		{"trivial or impossible, paper formula", 1, true, 0, 0, 0},
	} {
		if got := ProposerReward(tc.format, tc.valid, tc.r, tc.trivial); got != tc.want {
			t.Errorf("%s: ProposerReward = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func testScorer(exec Executor) *Scorer {
	cfg := DefaultConfig()
	s, _ := NewScorer(&cfg, exec)
	return s
}

// Responses here are what the model wrote after the prompt's "<think>".
func TestScoreSolve(t *testing.T) {
	ctx := context.Background()
	double := Task{Program: progDouble, Input: "7", Output: "14"}
	ind := Task{Program: progDouble, Inputs: []string{"1", "2", "3", "4"}, Outputs: []string{"2", "4", "6", "8"}}
	for _, tc := range []struct {
		name        string
		typ         TaskType
		task        Task
		resp        string
		failCheck   bool
		wantFormat  float64
		wantCorrect bool
		wantReward  float64
	}{
		{"deduction correct", Deduction, double, "x</think><answer>```output\n14\n```</answer>", false, 1, true, 1},
		{"deduction wrong", Deduction, double, "x</think><answer>```output\n15\n```</answer>", false, 1, false, -0.5},
		{"deduction correct but no </think>", Deduction, double, "x <answer>```output\n14\n```</answer>", false, 0, true, -1},
		{"deduction, whole answer as the value", Deduction, double, "x</think><answer>14</answer>", false, 1, true, 1},
		{"abduction: any pre-image counts", Abduction, double, "x</think><answer>```input\n7\n```</answer>", false, 1, true, 1},
		{"abduction wrong", Abduction, double, "x</think><answer>```input\n8\n```</answer>", false, 1, false, -0.5},
		{"induction correct on the hidden pairs", Induction, ind, "x</think><answer>```python\n" + progDouble + "\n```</answer>", false, 1, true, 1},
		{"induction wrong", Induction, ind, "x</think><answer>```python\n" + progZero + "\n```</answer>", false, 1, false, -0.5},
		{"induction without a code block is a format error", Induction, ind, "x</think><answer>no code</answer>", false, 0, false, -1},
		{"executor failure counts as wrong", Deduction, double, "x</think><answer>```output\n14\n```</answer>", true, 1, false, -0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := testScorer(&fakeExec{failCheck: tc.failCheck}).ScoreSolve(ctx, tc.typ, tc.task, tc.resp)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Format != tc.wantFormat || sc.Correct != tc.wantCorrect || sc.Reward != tc.wantReward {
				t.Errorf("format %v correct %v reward %v; want %v %v %v", sc.Format, sc.Correct, sc.Reward, tc.wantFormat, tc.wantCorrect, tc.wantReward)
			}
			if tc.failCheck && sc.ExecErr == "" {
				t.Errorf("no exec_error recorded")
			}
		})
	}
}

func TestScoreProposal(t *testing.T) {
	ctx := context.Background()
	base := Task{Program: progDouble, Imports: []string{"import math"}}
	for _, tc := range []struct {
		name       string
		typ        TaskType
		resp       string
		wantFormat float64
		wantValid  bool
		wantReason string
		wantTask   Task
	}{
		{"valid triplet, renamed to f", Deduction, wrap(fence("python", progSumG) + "\n" + fence("input", "5")), 1, true, "",
			Task{Program: progSumF, Input: "5", Output: "10", Step: 3, Thought: "let me plan this."}},
		{"program raises", Abduction, wrap(fence("python", progDivide) + "\n" + fence("input", "5")), 1, false, "ZeroDivisionError: division by zero", Task{}},
		{"unparsable", Deduction, wrap("nothing"), 1, false, "parse: no python code block", Task{}},
		{"valid but badly formatted (still a valid task)", Deduction, " x <answer>" + fence("python", progDouble) + fence("input", "2") + "</answer>", 0, true, "",
			Task{Program: progDouble, Input: "2", Output: "4", Step: 3}},
		{"induction: outputs come from the base program", Induction, wrap(inputs(10, 1) + fence("message", "double it")), 1, true, "",
			Task{Program: progDouble, Inputs: []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"},
				Outputs: []string{"2", "4", "6", "8", "10", "12", "14", "16", "18", "20"}, Message: "double it",
				Imports: []string{"import math"}, Step: 3, Thought: "let me plan this."}},
		{"induction: an input that fails makes it invalid", Induction, wrap(inputs(9, 1) + fence("input", "'a'") + "\n" + fence("message", "m")), 1, false, `TypeError: not an int: "'a'"`, Task{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := testScorer(&fakeExec{}).ScoreProposal(ctx, tc.typ, base, tc.resp, 3)
			if err != nil {
				t.Fatal(err)
			}
			if ps.Format != tc.wantFormat || ps.Valid != tc.wantValid || ps.Reason != tc.wantReason {
				t.Errorf("format %v valid %v reason %q; want %v %v %q", ps.Format, ps.Valid, ps.Reason, tc.wantFormat, tc.wantValid, tc.wantReason)
			}
			if diff := cmp.Diff(tc.wantTask, ps.Task); diff != "" {
				t.Errorf("task (-want +got)\n%s", diff)
			}
		})
	}
}

// Learnability: p̄ over the counted rollouts and r = 1 - p̄ strictly between 0 and 1.
func TestLearnability(t *testing.T) {
	ctx := context.Background()
	task := Task{Program: progDouble, Input: "7", Output: "14"}
	right := "x</think><answer>```output\n14\n```</answer>"
	wrong := "x</think><answer>```output\n13\n```</answer>"
	unformatted := "x <answer>```output\n14\n```</answer>" // format is not required for rollouts
	noAnswer := "x</think> 14"
	rep := func(s string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		rollouts  []string
		failCheck bool
		wantPBar  float64
		wantR     float64
		wantCount int
	}{
		{"never solved: p̄ = 0, r = 0", rep(wrong, 8), false, 0, 0, 8},
		{"always solved: p̄ = 1, r = 0", rep(right, 8), false, 1, 0, 8},
		{"3 of 8: r = 5/8", append(rep(right, 3), rep(wrong, 5)...), false, 0.375, 0.625, 8},
		{"1 of 8: r = 7/8", append(rep(right, 1), rep(wrong, 7)...), false, 0.125, 0.875, 8},
		{"format not required, missing answer is 0", append(rep(unformatted, 2), rep(noAnswer, 6)...), false, 0.25, 0.75, 8},
		{"executor failures are dropped: p̄ = 0 with nothing counted", rep(right, 8), true, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := testScorer(&fakeExec{failCheck: tc.failCheck}).Learnability(ctx, Deduction, task, tc.rollouts)
			if err != nil {
				t.Fatal(err)
			}
			if l.PBar != tc.wantPBar || l.R != tc.wantR || l.Counted != tc.wantCount {
				t.Errorf("p̄ %v r %v counted %d; want %v %v %d", l.PBar, l.R, l.Counted, tc.wantPBar, tc.wantR, tc.wantCount)
			}
		})
	}
	// Identical answers are judged once.
	ex := &fakeExec{}
	if _, err := testScorer(ex).Learnability(ctx, Deduction, task, append(rep(right, 5), rep(wrong, 3)...)); err != nil {
		t.Fatal(err)
	}
	if ex.calls != 2 {
		t.Errorf("executor calls = %d, want 2 (one per distinct answer)", ex.calls)
	}
}

func TestWhitenedAdvantagesHandComputed(t *testing.T) {
	// rewards 1, -0.5, -1 with response lengths 2, 1, 1 (n = 4 tokens):
	// μ = (2·1 + 1·(-0.5) + 1·(-1)) / 4 = 0.125
	// σ² = (2·0.875² + 1·0.625² + 1·1.125²) / (4 - 1) = 3.1875 / 3 = 1.0625
	adv, mean, std := WhitenedAdvantages([]float64{1, -0.5, -1}, []int{2, 1, 1}, 1e-8)
	s := math.Sqrt(1.0625 + 1e-8)
	want := []float64{0.875 / s, -0.625 / s, -1.125 / s}
	if mean != 0.125 || math.Abs(std-math.Sqrt(1.0625)) > 1e-15 {
		t.Errorf("mean %v std %v, want 0.125 %v", mean, std, math.Sqrt(1.0625))
	}
	for i := range want {
		if math.Abs(adv[i]-want[i]) > 1e-15 {
			t.Errorf("adv[%d] = %v, want %v", i, adv[i], want[i])
		}
	}

	for _, tc := range []struct {
		name    string
		rewards []float64
		lengths []int
		want    []float64
	}{
		{"equal rewards give zero advantages", []float64{-0.5, -0.5, -0.5}, []int{3, 1, 7}, []float64{0, 0, 0}},
		{"a single response token: undefined variance, zeros", []float64{1, -1}, []int{1, 0}, []float64{0, 0}},
		{"empty responses carry no weight", []float64{1, -1, 5}, []int{1, 1, 0},
			// μ = 0, σ² = (1 + 1)/1 = 2
			[]float64{1 / math.Sqrt(2+1e-8), -1 / math.Sqrt(2+1e-8), 5 / math.Sqrt(2+1e-8)}},
	} {
		got, _, _ := WhitenedAdvantages(tc.rewards, tc.lengths, 1e-8)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got)\n%s", tc.name, diff)
		}
	}
}

func TestBuildSequenceMasksThePrompt(t *testing.T) {
	s := Sample{Tokens: []int32{7, 8}, LogProbs: []float32{-0.5, -1.5}}
	got := BuildSequence([]int32{1, 2, 3}, &s, 0.75)
	want := TrainSequence{Tokens: []int32{1, 2, 3, 7, 8}, ResponseStart: 3,
		Advantages: []float32{0, 0, 0, 0.75, 0.75}, OldLogProbs: []float32{0, 0, 0, -0.5, -1.5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestPerPromptAdvantagesHandComputed(t *testing.T) {
	// Two prompts with two samples each: rewards 1, -1 (prompt 0) and 0.5, 0.5 (prompt 1).
	rewards, lengths, groups := []float64{1, -1, 0.5, 0.5}, []int{1, 1, 1, 1}, []int{0, 0, 1, 1}
	// per_prompt: centred by the prompt means (0 and 0.5) to 1, -1, 0, 0,
	// then whitened over the batch: mean 0, variance (1 + 1) / (4 - 1) = 2/3.
	s := math.Sqrt(2.0/3 + 1e-8)
	if diff := cmp.Diff([]float64{1 / s, -1 / s, 0, 0}, Advantages("per_prompt", rewards, lengths, groups, 1e-8)); diff != "" {
		t.Errorf("per_prompt (-want +got)\n%s", diff)
	}
	// grpo: prompt 0 has std sqrt((1 + 1) / 1) = sqrt(2); prompt 1 has std 0, so 0 / eps = 0.
	g := math.Sqrt(2) + 1e-8
	if diff := cmp.Diff([]float64{1 / g, -1 / g, 0, 0}, Advantages("grpo", rewards, lengths, groups, 1e-8)); diff != "" {
		t.Errorf("grpo (-want +got)\n%s", diff)
	}
	// task_relative ignores the groups.
	want, _, _ := WhitenedAdvantages(rewards, lengths, 1e-8)
	if diff := cmp.Diff(want, Advantages("task_relative", rewards, lengths, groups, 1e-8)); diff != "" {
		t.Errorf("task_relative (-want +got)\n%s", diff)
	}
}
