package nano

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azr-native/azr-native/internal/sandboxtest"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
)

// realSandbox is one real sandbox pool shared by this package's tests.
func realSandbox(t testing.TB) *sandbox.Pool {
	t.Helper()
	pool := sandboxtest.Pool(t, time.Second)
	return pool
}

// everyKind asks for one document of each kind per program.
func everyKind() Mixture {
	m := Mixture{}
	for _, k := range Kinds {
		m[k] = 1
	}
	return m
}

var (
	smallOnce   sync.Once
	smallCorpus *Corpus
	smallErr    error
)

// small is a 30-program corpus with every document kind for every program.
func small(t *testing.T) *Corpus {
	t.Helper()
	smallOnce.Do(func() {
		smallCorpus, smallErr = BuildCorpus(context.Background(), realSandbox(t), CorpusOptions{Seed: 4, Programs: 30, Mixture: everyKind()})
	})
	if smallErr != nil {
		t.Fatal(smallErr)
	}
	return smallCorpus
}

func TestCorpusHasEveryKindRenderedAsSelfPlayRendersIt(t *testing.T) {
	c := small(t)
	st := c.Stats
	t.Logf("generated %d, valid %d, used %d (constant %d), documents %v, bytes %d", st.Generated, st.Valid, st.Used, st.Constant, st.Documents, st.TotalBytes)
	if st.Used < 20 {
		t.Fatalf("only %d of %d programs usable", st.Used, st.Generated)
	}
	for _, k := range Kinds {
		if st.Documents[k] != st.Used {
			t.Errorf("%s: %d documents, want one per program (%d)", k, st.Documents[k], st.Used)
		}
	}
	tpl, _ := rl.TemplateFor("r1", rl.PromptStyleCompact)
	for _, d := range c.Documents {
		if d.Kind == KindProgram {
			if d.PromptBytes != 0 || !strings.HasPrefix(d.Text, "def f(") && !strings.HasPrefix(d.Text, "import ") && !strings.HasPrefix(d.Text, "from ") {
				t.Errorf("program document does not start with code: %q", d.Text[:40])
			}
			if !strings.Contains(d.Text, "\nassert f(") {
				t.Errorf("program document without asserts:\n%s", d.Text)
			}
			continue
		}
		prompt := d.Text[:d.PromptBytes]
		if !strings.HasPrefix(prompt, tpl.Before) || !strings.HasSuffix(prompt, tpl.After) {
			t.Errorf("%s: prompt is not the compact r1 template:\n%s", d.Kind, prompt)
		}
		if !strings.HasSuffix(d.Text, "</answer>") {
			t.Errorf("%s: transcript does not end with the answer", d.Kind)
		}
	}
}

// The transcripts teach correct answers: the real scorer, on the real
// sandbox, gives every solver transcript reward 1 and accepts every
// proposer transcript as a valid task.
func TestCorpusAnswersAreCorrectOnTheRealSandbox(t *testing.T) {
	ctx := context.Background()
	c := small(t)
	cfg := rl.DefaultConfig()
	cfg.PromptStyle = rl.PromptStyleCompact
	s, err := rl.NewScorer(&cfg, realSandbox(t))
	if err != nil {
		t.Fatal(err)
	}
	tpl, _ := cfg.PromptTemplate()
	checked := map[string]int{}
	for _, d := range c.Documents {
		if d.Kind == KindProgram || checked[d.Kind] >= 8 {
			continue
		}
		checked[d.Kind]++
		resp := d.Text[d.PromptBytes:]
		task := taskOfPrompt(t, d, tpl, c)
		switch d.Kind {
		case KindSolveDeduction, KindSolveAbduction, KindSolveInduction:
			typ := map[string]rl.TaskType{KindSolveDeduction: rl.Deduction, KindSolveAbduction: rl.Abduction, KindSolveInduction: rl.Induction}[d.Kind]
			sc, err := s.ScoreSolve(ctx, typ, task, resp)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Reward != 1 {
				t.Errorf("%s: reward %v (%+v)\n%s", d.Kind, sc.Reward, sc, d.Text)
			}
		default:
			typ := map[string]rl.TaskType{KindProposeDeduction: rl.Deduction, KindProposeAbduction: rl.Abduction, KindProposeInduction: rl.Induction}[d.Kind]
			ps, err := s.ScoreProposal(ctx, typ, task, resp, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !ps.Valid || ps.Format != 1 {
				t.Errorf("%s: proposal invalid: %s\n%s", d.Kind, ps.Reason, d.Text)
			}
		}
	}
	if len(checked) != 6 {
		t.Errorf("checked kinds %v, want all six transcript kinds", checked)
	}
}

// taskOfPrompt finds the corpus task a transcript was made from (the one
// whose program its text shows).
func taskOfPrompt(t *testing.T, d Document, tpl rl.Template, c *Corpus) rl.Task {
	t.Helper()
	var found rl.Task
	n := 0
	resp := d.Text[d.PromptBytes:]
	for _, task := range append(slices.Clip(c.Tasks), c.Variants...) {
		shown := d.Text[:d.PromptBytes]
		if d.Kind == KindProposeDeduction || d.Kind == KindProposeAbduction || d.Kind == KindSolveInduction {
			shown = resp // the program is in the answer
		}
		if !strings.Contains(shown, task.Program) {
			continue
		}
		n++
		found = task.Induction()
	}
	if n == 0 {
		t.Fatalf("%s: no corpus task matches\n%s", d.Kind, d.Text)
	}
	// Deduction/abduction solver prompts show one input or output pair.
	for i := range found.Inputs {
		if strings.Contains(d.Text, "```input\n"+found.Inputs[i]+"\n```") && strings.Contains(d.Text, "```output\n"+found.Outputs[i]+"\n```") ||
			d.Kind == KindSolveAbduction && strings.Contains(d.Text[:d.PromptBytes], "```output\n"+found.Outputs[i]+"\n```") {
			found.Input, found.Output = found.Inputs[i], found.Outputs[i]
			break
		}
	}
	return found
}

func TestCorpusIsDeterministic(t *testing.T) {
	ctx := context.Background()
	opt := CorpusOptions{Seed: 8, Programs: 12}
	a, err := BuildCorpus(ctx, realSandbox(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildCorpus(ctx, realSandbox(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	var ja, jb bytes.Buffer
	if err := WriteDocuments(&ja, a.Documents); err != nil {
		t.Fatal(err)
	}
	if err := WriteDocuments(&jb, b.Documents); err != nil {
		t.Fatal(err)
	}
	if ja.String() != jb.String() {
		t.Error("two builds with the same options differ")
	}
	if len(a.Documents) == 0 {
		t.Error("empty corpus")
	}
}

func TestExcludedProgramsStayOut(t *testing.T) {
	ctx := context.Background()
	opt := CorpusOptions{Seed: 13, Programs: 10}
	a, err := BuildCorpus(ctx, realSandbox(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.Exclude = a.ProgramSet()
	b, err := BuildCorpus(ctx, realSandbox(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	if b.Stats.Used != 0 || b.Stats.Excluded != a.Stats.Used {
		t.Errorf("same seed with the first corpus excluded: used %d, excluded %d, want 0 and %d", b.Stats.Used, b.Stats.Excluded, a.Stats.Used)
	}
}

func TestDocumentsJSONLines(t *testing.T) {
	docs := []Document{{Kind: KindProgram, Text: "def f(a):\n    return a\n"}, {Kind: KindSolveDeduction, Text: "prompt<think> x </think>", PromptBytes: 6}}
	var buf bytes.Buffer
	if err := WriteDocuments(&buf, docs); err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(buf.String(), "\n", 2)[0]
	var m map[string]any
	if err := json.Unmarshal([]byte(first), &m); err != nil || m["kind"] != "program" || m["text"] == nil {
		t.Errorf("first line %s is not {\"kind\", \"text\"}", first)
	}
	back, err := ReadDocuments(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[1] != docs[1] || back[0] != docs[0] {
		t.Errorf("round trip: %+v", back)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"kind": "program", "text": "x"}` + "\n" + `{"kind": "poem", "text": "x"}`, `line 2: unknown kind "poem"`},
		{`{"kind": "program", "text": ""}`, "line 1: empty text"},
		{`{"kind": "program", "text": "x"` + "\n", "line 1:"},
		{`{"kind": "solve_deduction", "text": "abc", "prompt_bytes": 9}`, "line 1: prompt_bytes 9 outside"},
		{`{"kind": "program", "text": "x", "extra": 1}`, "line 1:"},
	} {
		_, err := ReadDocuments(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadDocuments(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestNormalizeProgram(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"def f(a):\n    return a", "def f(a):   \n\n    return   a\n"},
		{"def f(a):\r\n    return a + 1", "def f(a):\n    return a  +  1"},
	} {
		if NormalizeProgram(tc.a) != NormalizeProgram(tc.b) {
			t.Errorf("%q and %q normalize differently", tc.a, tc.b)
		}
	}
	if NormalizeProgram("def f(a):\n    return a") == NormalizeProgram("def f(a):\n  return a") {
		t.Error("indentation must count")
	}
}

func TestCorpusOptionsAreChecked(t *testing.T) {
	for _, o := range []CorpusOptions{
		{Programs: -1}, {References: -2}, {NumInputs: 1},
		{Mixture: Mixture{"poems": 1}}, {Mixture: Mixture{KindProgram: -1}},
		{PromptStyle: "verbose"}, {Template: "llama"}, {VariantShare: 1.5},
	} {
		if _, err := BuildCorpus(context.Background(), nil, o); err == nil {
			t.Errorf("BuildCorpus(%+v) accepted bad options", o)
		}
	}
}

func TestArgumentBindingInThinks(t *testing.T) {
	for _, tc := range []struct{ program, input, want string }{
		{"def f(n):\n    return n", "3", "n = 3"},
		{"def f(s, k):\n    return s", "'a, b', 2", "s = 'a, b', k = 2"},
		{"def f(xs, d):\n    return xs", "[1, (2, 3)], {'x': [4, 5]}", "xs = [1, (2, 3)], d = {'x': [4, 5]}"},
		{"import math\n\ndef f(a, b, c):\n    return a", "'it''s', \"q,\", -1", "a = 'it''s', b = \"q,\", c = -1"},
		{"def f(a, b):\n    return a", "1", "f(1)"}, // argument count differs: no binding claimed
	} {
		if got := binding(tc.program, tc.input); got != tc.want {
			t.Errorf("binding(%q, %q) = %q, want %q", tc.program, tc.input, got, tc.want)
		}
	}
}

// A run set up with SetRunPromptDefaults shows the model exactly the prompts
// it was pretrained on.
func TestRunPromptDefaultsRenderTheCorpusPrompts(t *testing.T) {
	c := small(t)
	cfg := rl.DefaultConfig()
	SetRunPromptDefaults(&cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tpl, err := cfg.PromptTemplate()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, d := range c.Documents {
		if d.Kind != KindSolveDeduction && d.Kind != KindSolveInduction && d.Kind != KindProposeInduction {
			continue
		}
		task := taskOfPrompt(t, d, tpl, c)
		var text string
		switch d.Kind {
		case KindSolveDeduction:
			text = rl.SolveTextWith(rl.Deduction, task, cfg.PromptOptions())
		case KindSolveInduction:
			text = rl.SolveTextWith(rl.Induction, task, cfg.PromptOptions())
		default:
			text = rl.ProposeInduction(task.Program, cfg.PromptOptions())
		}
		if got := tpl.Render(text); got != d.Text[:d.PromptBytes] {
			t.Errorf("%s: run renders\n%s\nthe corpus has\n%s", d.Kind, got, d.Text[:d.PromptBytes])
		}
		seen++
	}
	if seen == 0 {
		t.Fatal("no document checked")
	}
}

// Variant transcripts teach copying with a change: the answer is the
// reference the think names, with exactly one integer constant changed, on
// an input that reference is not shown with.
func TestVariantTranscriptsChangeOneConstantOfTheNamedReference(t *testing.T) {
	c := small(t)
	if c.Stats.Variants == 0 || len(c.Variants) != c.Stats.Variants {
		t.Fatalf("%d variants realized (%d kept), want some", c.Stats.Variants, len(c.Variants))
	}
	fence := regexp.MustCompile("(?s)```python\n(.*?)\n```\nf\\((.*?)\\) == ")
	answer := regexp.MustCompile("(?s)<answer>\n```python\n(.*?)\n```\n```input\n(.*?)\n```")
	seen := map[string]int{}
	for _, d := range c.Documents {
		if d.Kind != KindProposeDeduction && d.Kind != KindProposeAbduction {
			continue
		}
		resp := d.Text[d.PromptBytes:]
		at := slices.IndexFunc(ordinals, func(o string) bool { return strings.HasPrefix(resp, " The "+o+" reference with one number changed") })
		if at < 0 {
			seen["new"]++
			continue
		}
		seen["variant"]++
		refs := fence.FindAllStringSubmatch(d.Text[:d.PromptBytes], -1)
		ans := answer.FindStringSubmatch(resp)
		if at >= len(refs) || ans == nil {
			t.Fatalf("%s: no %s reference or no answer:\n%s", d.Kind, ordinal(at), d.Text)
		}
		ref, refInput := refs[at][1], refs[at][2]
		a, b := integerLiteral.Split(ref, -1), integerLiteral.Split(ans[1], -1)
		na, nb := integerLiteral.FindAllString(ref, -1), integerLiteral.FindAllString(ans[1], -1)
		changed := 0
		for i := range min(len(na), len(nb)) {
			if na[i] != nb[i] {
				changed++
			}
		}
		if !slices.Equal(a, b) || len(na) != len(nb) || changed != 1 {
			t.Errorf("%s: the answer is not the %s reference with one constant changed:\nreference\n%s\nanswer\n%s", d.Kind, ordinal(at), ref, ans[1])
		}
		if ans[2] == refInput {
			t.Errorf("%s: the answer reuses the reference's input %s", d.Kind, refInput)
		}
	}
	// everyKind renders both proposer kinds for every program; about half
	// of those with a variant answer with it.
	if seen["variant"] == 0 || seen["new"] == 0 {
		t.Errorf("proposer transcripts %v: want both new programs and variants", seen)
	}
	t.Logf("deduction/abduction proposer transcripts: %v; %d of %d programs have a variant", seen, c.Stats.Variants, c.Stats.Used)
}

func TestNegativeVariantShareMeansNone(t *testing.T) {
	c, err := BuildCorpus(context.Background(), realSandbox(t), CorpusOptions{Seed: 4, Programs: 12, Mixture: everyKind(), VariantShare: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range c.Documents {
		if strings.Contains(d.Text[d.PromptBytes:], "reference with one number changed") {
			t.Fatalf("a variant transcript with VariantShare -1:\n%s", d.Text)
		}
	}
	if c.Stats.Variants != 0 || len(c.Variants) != 0 {
		t.Errorf("%d variants realized with VariantShare -1", c.Stats.Variants)
	}
}

func TestVariantCode(t *testing.T) {
	for _, tc := range []struct {
		code string
		ok   bool
	}{
		{"def f(a):\n    return a + 3", true},
		{"def f(s):\n    return s.upper()", false},
		{"import math\n\ndef f(x1, x2):\n    return x1 * x2", false}, // digits only in names
		{"def f(a):\n    return a + 007", false},                     // leading zeros are kept as they are
	} {
		for seed := range uint64(20) {
			got, ok := variantCode(tc.code, rand.New(rand.NewPCG(seed, 1)))
			if ok != tc.ok {
				t.Fatalf("variantCode(%q) ok = %v, want %v", tc.code, ok, tc.ok)
			}
			if !ok {
				continue
			}
			nums := integerLiteral.FindAllString(got, -1)
			if got == tc.code || len(nums) != 1 || nums[0] == "3" || strings.HasPrefix(nums[0], "-") || integerLiteral.ReplaceAllString(got, "N") != "def f(a):\n    return a + N" {
				t.Errorf("seed %d: variantCode(%q) = %q", seed, tc.code, got)
			}
		}
	}
}
