package rl

import (
	"math"
	"testing"
)

func TestNormalizeForDiversity(t *testing.T) {
	for _, tc := range []struct {
		name      string
		a, b      string
		sameAfter bool
	}{
		{"comments and blank lines do not count",
			"def f(x):\n    # double it\n\n    return x * 2  # done\n", "def f(x):\n    return x * 2", true},
		{"spacing inside a line does not count",
			"def f(x):\n    return  x*2 +  1", "def f(x):\n    return x*2 + 1", true},
		{"a tab indents like four spaces",
			"def f(x):\n\treturn x", "def f(x):\n    return x", true},
		{"a '#' inside a string is code",
			"def f(x):\n    return x + '#1'", "def f(x):\n    return x + ''", false},
		{"an escaped quote does not end the string",
			"def f(x):\n    return 'a\\'#b'", "def f(x):\n    return 'a\\'", false},
		{"indentation depth is syntax",
			"def f(x):\n    if x:\n        return 1\n    return 2", "def f(x):\n    if x:\n        return 1\n        return 2", false},
		{"different code stays different",
			"def f(x):\n    return x + 1", "def f(x):\n    return x - 1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			na, nb := NormalizeForDiversity(tc.a), NormalizeForDiversity(tc.b)
			if (na == nb) != tc.sameAfter {
				t.Errorf("same = %v, want %v\n a -> %q\n b -> %q", na == nb, tc.sameAfter, na, nb)
			}
		})
	}
}

// proposal and answer build scored responses for the arithmetic tests.
func proposal(valid bool, pbar float64, program string, tokens int) scored {
	return scored{valid: valid, pbar: pbar, program: program, sample: &Sample{Tokens: make([]int32, tokens)}}
}

func answer(correct bool, tokens int) scored {
	c := 0.0
	if correct {
		c = 1
	}
	return scored{valid: true, correct: c, sample: &Sample{Tokens: make([]int32, tokens)}}
}

func TestSignalHealthArithmetic(t *testing.T) {
	const p1, p2 = "def f(x):\n    return x", "def f(x):\n    return x + 1"
	batches := map[BatchKey][]scored{
		// 4 proposals: 3 valid; p̄ 0.5 and 0.25 are learnable, p̄ 1 (always solved) is not;
		// programs p1, p1 (with a comment), p2: 2 distinct of 3.
		{Deduction, Propose}: {
			proposal(true, 0.5, p1, 10), proposal(true, 1, p1+"  # same", 20),
			proposal(true, 0.25, p2, 30), proposal(false, 0, "", 40),
		},
		// 2 proposals: 1 valid with p̄ 0 (never solved): not learnable; induction programs do not count.
		{Induction, Propose}: {proposal(true, 0, p1, 50), proposal(false, 0, "", 50)},
		{Deduction, Solve}:   {answer(true, 4), answer(false, 6), answer(true, 8), answer(true, 2)},
		{Induction, Solve}:   {answer(false, 10), answer(false, 10)},
	}
	bufs := &Buffers{Deduction: NewBuffer(0, "oldest", false), Abduction: NewBuffer(0, "oldest", false), Induction: NewBuffer(0, "oldest", false)}
	for _, p := range []string{p1, p1 + "\n", p2, p2 + " # c"} {
		bufs.Deduction.Entries = append(bufs.Deduction.Entries, Task{Program: p})
	}
	bufs.Induction.Entries = []Task{{Program: p1}}

	h := signalHealth(batches, bufs)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"valid proposal rate: 4 valid of 6", h.ValidProposalRate, 4.0 / 6},
		{"learnable share: 2 of 6 proposals", h.LearnableShare, 2.0 / 6},
		{"program diversity: 2 distinct of 3 valid deduction programs", h.ProgramDiversity, 2.0 / 3},
		{"deduction solve rate: 3 of 4", h.SolveRate["deduction"], 0.75},
		{"induction solve rate: 0 of 2", h.SolveRate["induction"], 0},
		{"deduction buffer: 2 distinct of 4", h.BufferProgramDiversity["deduction"], 0.5},
		{"induction buffer: 1 of 1", h.BufferProgramDiversity["induction"], 1},
		{"proposer length: 200 tokens / 6", h.ProposerResponseLen, 200.0 / 6},
		{"solver length: 40 tokens / 6", h.SolverResponseLen, 40.0 / 6},
	} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("%s: got %v", c.name, c.got)
		}
	}
	if h.ValidPrograms != 3 {
		t.Errorf("valid programs %d, want the 3 valid deduction proposals", h.ValidPrograms)
	}
	if _, ok := h.SolveRate["abduction"]; ok {
		t.Errorf("a task type without a batch has no solve rate: %v", h.SolveRate)
	}
	if _, ok := h.BufferProgramDiversity["abduction"]; ok {
		t.Errorf("an empty buffer has no diversity: %v", h.BufferProgramDiversity)
	}

	bm := batchMetrics(BatchKey{Deduction, Propose}, batches[BatchKey{Deduction, Propose}], make([]float64, 4))
	if bm.ValidRate != 0.75 || bm.Learnable != 0.5 || math.Abs(bm.ProgramDiversity-2.0/3) > 1e-12 {
		t.Errorf("batch: valid rate %v (want 0.75), learnable %v (want 0.5), diversity %v (want 2/3)", bm.ValidRate, bm.Learnable, bm.ProgramDiversity)
	}
}

func TestSignalHealthOfAnEmptyStepIsZero(t *testing.T) {
	h := signalHealth(map[BatchKey][]scored{}, nil)
	if h.ValidProposalRate != 0 || h.LearnableShare != 0 || h.ProgramDiversity != 0 || len(h.SolveRate) != 0 {
		t.Errorf("empty step: %+v", h)
	}
}
