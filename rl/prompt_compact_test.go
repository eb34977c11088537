package rl

import (
	"context"
	"strings"
	"testing"
)

// promptFixtures are realistic tasks: six reference triplets of the size
// self-play proposes, and one task of each type.
func promptFixtures() (refs []Task, ded, abd, ind Task) {
	refs = []Task{
		{Program: "def f(nums, k):\n    total = 0\n    for i, x in enumerate(nums):\n        if x % k == 0:\n            total += x * i\n        else:\n            total -= 1\n    return total", Input: "[3, 6, 7, 9], 3", Output: "32"},
		{Program: "from collections import Counter\n\ndef f(text):\n    counts = Counter(text.split())\n    best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))\n    return [w for w, _ in best[:2]]", Input: "'a b a c b a'", Output: "['a', 'b']"},
		{Program: "def f(s):\n    out = []\n    for ch in s:\n        if ch.isdigit():\n            out.append(int(ch) * 2)\n    return sum(out)", Input: "'a1b22c3'", Output: "16"},
		{Program: "def f(n):\n    def go(m):\n        return 0 if m == 0 else m % 10 + go(m // 10)\n    return go(abs(n))", Input: "4096", Output: "19"},
		{Program: "def f(grid):\n    rows = len(grid)\n    return [sum(r) for r in grid] + [rows]", Input: "[[1, 2], [3, 4]]", Output: "[3, 7, 2]"},
		{Program: "def f(words, sep):\n    return sep.join(w[::-1].upper() for w in words if len(w) > 2)", Input: "['ab', 'cat', 'door'], '-'", Output: "'TAC-ROOD'"},
	}
	ded = refs[0]
	abd = refs[2]
	ind = Task{Program: refs[3].Program,
		Inputs:  []string{"4096", "7", "-12", "0", "99", "100", "5555", "81", "1", "-9"},
		Outputs: []string{"19", "7", "3", "0", "18", "1", "20", "9", "1", "9"},
		Message: "Adds something up about the number you give it."}
	return
}

// promptsOf renders the six (type x role) prompts of a style.
func promptsOf(t *testing.T, style string, k int) map[BatchKey]string {
	t.Helper()
	cfg := DefaultConfig()
	cfg.PromptStyle = style
	tpl, err := cfg.PromptTemplate()
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.PromptOptions()
	refs, ded, abd, ind := promptFixtures()
	return map[BatchKey]string{
		{Deduction, Propose}: tpl.Render(ProposeTriplet(Deduction, refs[:k], o)),
		{Abduction, Propose}: tpl.Render(ProposeTriplet(Abduction, refs[:k], o)),
		{Induction, Propose}: tpl.Render(ProposeInduction(ind.Program, o)),
		{Deduction, Solve}:   tpl.Render(SolveTextWith(Deduction, ded, o)),
		{Abduction, Solve}:   tpl.Render(SolveTextWith(Abduction, abd, o)),
		{Induction, Solve}:   tpl.Render(SolveTextWith(Induction, ind, o)),
	}
}

func TestCompactPromptsAreShorterAndCarryTheTask(t *testing.T) {
	full := promptsOf(t, PromptStyleFull, 6)
	compact := promptsOf(t, PromptStyleCompact, 2)
	compactK6 := promptsOf(t, PromptStyleCompact, 6)
	refs, ded, abd, ind := promptFixtures()
	for _, k := range BatchOrder {
		f, c := full[k], compact[k]
		t.Logf("%-18s full %5d bytes   compact %5d bytes (%.0f%%)   compact with K=6 %5d", k, len(f), len(c), 100*float64(len(c))/float64(len(f)), len(compactK6[k]))
		if len(c) >= len(f)*2/3 {
			t.Errorf("%v: compact prompt %d bytes is not much shorter than the full one (%d)", k, len(c), len(f))
		}
		if !strings.HasSuffix(c, "\nAssistant: <think>") {
			t.Errorf("%v: compact prompt does not end by opening the assistant's think: %q", k, c[len(c)-30:])
		}
	}
	// Every piece of the task is in the compact text.
	mustContain := map[BatchKey][]string{
		{Deduction, Propose}: {refs[0].Program, refs[1].Program, "f(" + refs[1].Input + ") == " + refs[1].Output, "```python", "```input"},
		{Abduction, Propose}: {refs[0].Program, "f(" + refs[0].Input + ") == " + refs[0].Output, "```input"},
		{Induction, Propose}: {ind.Program, "10 different inputs", "```message"},
		{Deduction, Solve}:   {ded.Program, fence("input", ded.Input), "```output"},
		{Abduction, Solve}:   {abd.Program, fence("output", abd.Output), "```input"},
		{Induction, Solve}:   {ind.Message, "f(4096) == 19", "f(99) == 18", "```python"},
	}
	for k, wants := range mustContain {
		for _, w := range wants {
			if !strings.Contains(compact[k], w) {
				t.Errorf("%v: compact prompt lacks %q", k, w)
			}
		}
	}
	// The hidden induction pairs stay hidden.
	if strings.Contains(compact[BatchKey{Induction, Solve}], "f(100)") {
		t.Error("compact induction solver prompt shows a hidden pair")
	}
	if strings.Contains(compact[BatchKey{Deduction, Propose}], refs[2].Program) {
		t.Error("compact proposer prompt shows more references than it was given")
	}
}

func TestPromptStyleIsValidated(t *testing.T) {
	for _, tc := range []struct {
		style string
		ok    bool
	}{{"full", true}, {"compact", true}, {"", true}, {"terse", false}, {"Compact", false}} {
		cfg := DefaultConfig()
		cfg.PromptStyle = tc.style
		err := cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("prompt_style %q: Validate() = %v, want ok=%v", tc.style, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "prompt_style") {
			t.Errorf("prompt_style %q: error %q does not name the setting", tc.style, err)
		}
	}
}

// The compact style changes what the model reads, never what it must write:
// answers in the usual fences score the same under both styles, on the real
// sandbox.
func TestCompactStyleKeepsAnswerFormats(t *testing.T) {
	ctx := context.Background()
	exec := realSandbox(t)
	_, ded, abd, ind := promptFixtures()
	for _, style := range PromptStyles {
		cfg := DefaultConfig()
		cfg.PromptStyle = style
		s, err := NewScorer(&cfg, exec)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			typ  TaskType
			task Task
			resp string
		}{
			{Deduction, ded, wrap(fence("output", ded.Output))},
			{Abduction, abd, wrap(fence("input", "'a8'"))},
			{Induction, ind, wrap(fence("python", "def f(n):\n    return sum(int(d) for d in str(abs(n)))"))},
		} {
			sc, err := s.ScoreSolve(ctx, tc.typ, tc.task, tc.resp)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Reward != 1 {
				t.Errorf("%s style, %v: reward %v (%+v), want 1", style, tc.typ, sc.Reward, sc)
			}
		}
		ps, err := s.ScoreProposal(ctx, Deduction, Task{}, wrap(fence("python", ded.Program)+"\n"+fence("input", ded.Input)), 1)
		if err != nil {
			t.Fatal(err)
		}
		if !ps.Valid || ps.Task.Output != ded.Output {
			t.Errorf("%s style: proposal %+v, want valid with output %s", style, ps, ded.Output)
		}
	}
}

func TestCompactTemplatesKeepTheirTurns(t *testing.T) {
	for _, name := range []string{"r1", "chatml"} {
		full, err := TemplateFor(name, PromptStyleFull)
		if err != nil {
			t.Fatal(err)
		}
		compact, err := TemplateFor(name, PromptStyleCompact)
		if err != nil {
			t.Fatal(err)
		}
		if compact.After != full.After || compact.Prefill != full.Prefill || compact.Cut != full.Cut {
			t.Errorf("%s: compact template changed the turn, prefill or cut: %+v vs %+v", name, compact, full)
		}
		if !strings.Contains(compact.Before, compactInstruction) || strings.Contains(compact.Before, wrapperInstruction) || len(compact.Before) >= len(full.Before)/2 {
			t.Errorf("%s: compact Before %q", name, compact.Before)
		}
	}
	if _, err := TemplateFor("r1", "short"); err == nil {
		t.Error("TemplateFor accepted an unknown style")
	}
}
