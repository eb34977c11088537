package rl

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Each test case below is one rule of docs/AZR.md §2.4, §2.5 and §4.1, written
// as a crafted model output and what it must parse into.

func TestFormatScore(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       float64
	}{
		{"think then answer", "<think>a</think><answer>b</answer>", 1},
		{"whitespace between the blocks", "<think>a</think>\n\n <answer>b</answer>", 1},
		{"multi-line blocks", "<think>\nx\ny\n</think>\n<answer>\n```output\n1\n```\n</answer>", 1},
		{"trailing text is allowed", "<think>a</think><answer>b</answer> and more User: hi", 1},
		{"text before <think> fails (anchored)", "x <think>a</think><answer>b</answer>", 0},
		{"no </think>", "<think>a <answer>b</answer>", 0},
		{"no </answer>", "<think>a</think><answer>b", 0},
		{"text between </think> and <answer>", "<think>a</think> so: <answer>b</answer>", 0},
		{"empty", "", 0},
		{"a later </think> is followed by the answer", "<think>a</think> b </think> <answer>c</answer>", 1},
		{"</answer> before <answer> does not count", "<think>a</think><answer>b", 0},
		{"nested-looking tags", "<think><think>a</think></think><answer></answer>", 1},
		{"empty blocks", "<think></think><answer></answer>", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatScore(tc.text); got != tc.want {
				t.Errorf("FormatScore(%q) = %v, want %v", tc.text, got, tc.want)
			}
			if got := formatScoreRegexp(tc.text); got != tc.want {
				t.Errorf("reference regexp on %q = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
}

// FormatScore agrees with the reference regexp on generated strings.
func TestFormatScoreMatchesRegexp(t *testing.T) {
	parts := []string{"<think>", "</think>", "<answer>", "</answer>", " ", "\n", "x", "</think> "}
	rng := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		if rng.IntN(4) > 0 {
			b.WriteString("<think>")
		}
		for n := rng.IntN(8); n > 0; n-- {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		s := b.String()
		if FormatScore(s) != formatScoreRegexp(s) {
			t.Fatalf("FormatScore(%q) = %v, regexp says %v", s, FormatScore(s), formatScoreRegexp(s))
		}
	}
}

func TestExtractAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
		ok               bool
	}{
		{"simple", "<think>x</think><answer> 42 </answer>", "42", true},
		{"the LAST <answer> wins", "<answer>1</answer> <answer>2</answer>", "2", true},
		{"no closing tag: to the end", "<answer>\n  7\n", "7", true},
		{"no <answer>", "<think>x</think> 42", "", false},
		{"empty answer", "<answer></answer>", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ExtractAnswer(tc.text)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ExtractAnswer(%q) = %q, %v; want %q, %v", tc.text, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestGenerationText(t *testing.T) {
	if got := GenerationText(TemplateR1, " a </think>\n", DefaultParseOptions()); got != "<think> a </think>" {
		t.Errorf("default: got %q", got)
	}
	// A base model that goes on to write the next turn is cut at "Assistant:".
	if got := GenerationText(TemplateR1, " a </think><answer>1</answer>\nUser: more\nAssistant: <think> b </think><answer>2</answer>", DefaultParseOptions()); got != "<think> a </think><answer>1</answer>\nUser: more" {
		t.Errorf("cut: got %q", got)
	}
	if got := GenerationText(TemplateChatML, " a Assistant: b", DefaultParseOptions()); got != "<think> a Assistant: b" {
		t.Errorf("chatml does not cut: got %q", got)
	}
	// The reference strips quote characters from both ends of the generation text.
	if got := GenerationText(Template{}, ` "x"' `, ReferenceParseOptions()); got != `x` {
		t.Errorf("reference: got %q", got)
	}
}

func ans(s string) string { return "<think>plan</think>\n<answer>\n" + s + "\n</answer>" }

func TestParseTripletProposal(t *testing.T) {
	def, ref := DefaultParseOptions(), ReferenceParseOptions()
	anyLast := def
	anyLast.FReplaceLocation, anyLast.RejectMultipleFunctions = "any_last", false
	nested := "def f(x):\n    def helper(y):\n        return y + 1\n    return helper(x)"
	class := "class Box:\n    def get(self):\n        return 1\n\ndef f(x):\n    return Box().get() + x"
	for _, tc := range []struct {
		name    string
		opt     ParseOptions
		text    string
		want    Proposal
		wantErr string
	}{
		{
			name: "python block and input block",
			opt:  def,
			text: ans("```python\ndef f(a, b):\n    return a + b\n```\n```input\n1, 2\n```"),
			want: Proposal{Program: "def f(a, b):\n    return a + b", Original: "def f(a, b):\n    return a + b", Functions: []string{"f"}, Input: "1, 2"},
		},
		{
			name: "unlabelled code block",
			opt:  def,
			text: ans("```\ndef f(a):\n    return a\n```\n```input\n'x'\n```"),
			want: Proposal{Program: "def f(a):\n    return a", Original: "def f(a):\n    return a", Functions: []string{"f"}, Input: "'x'"},
		},
		{
			name: "input block first: the python block is still the code",
			opt:  def,
			text: ans("```input\n5\n```\n```python\ndef f(a):\n    return a\n```"),
			want: Proposal{Program: "def f(a):\n    return a", Original: "def f(a):\n    return a", Functions: []string{"f"}, Input: "5"},
		},
		{
			name:    "reference (Q7): the first block of any language is the code",
			opt:     ref,
			text:    ans("```input\n5\n```\n```python\ndef f(a):\n    return a\n```"),
			wantErr: "no function definition",
		},
		{
			name: "'# Input:' line when there is no input block",
			opt:  def,
			text: ans("```python\ndef f(a):\n    return a\n```\n# Input: [1, 2]"),
			want: Proposal{Program: "def f(a):\n    return a", Original: "def f(a):\n    return a", Functions: []string{"f"}, Input: "[1, 2]"},
		},
		{
			name:    "no input at all",
			opt:     def,
			text:    ans("```python\ndef f(a):\n    return a\n```"),
			wantErr: "no input block",
		},
		{
			name:    "no code block",
			opt:     def,
			text:    ans("```input\n1\n```"),
			wantErr: "no python code block",
		},
		{
			name:    "no <answer>",
			opt:     def,
			text:    "<think>x</think>```python\ndef f(a):\n    return a\n```\n```input\n1\n```",
			wantErr: "no <answer> content",
		},
		{
			name:    "no def",
			opt:     def,
			text:    ans("```python\nx = 1\n```\n```input\n1\n```"),
			wantErr: "no function definition",
		},
		{
			name:    "two top-level functions are rejected",
			opt:     def,
			text:    ans("```python\ndef g(a):\n    return a\n\ndef f(a):\n    return g(a)\n```\n```input\n1\n```"),
			wantErr: "2 functions defined (g, f), want one",
		},
		{
			name: "nested helpers are allowed (Q6 fixed)",
			opt:  def,
			text: ans("```python\n" + nested + "\n```\n```input\n1\n```"),
			want: Proposal{Program: nested, Original: nested, Functions: []string{"f"}, Input: "1"},
		},
		{
			name:    "reference (Q6): nested helpers count as functions",
			opt:     ref,
			text:    ans("```python\n" + nested + "\n```\n```input\n1\n```"),
			wantErr: "2 functions defined (f, helper), want one",
		},
		{
			name: "methods do not count (Q6 fixed)",
			opt:  def,
			text: ans("```python\n" + class + "\n```\n```input\n1\n```"),
			want: Proposal{Program: class, Original: class, Functions: []string{"f"}, Input: "1"},
		},
		{
			name: "the function is renamed to f, recursive calls too",
			opt:  def,
			text: ans("```python\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib (n - 2)\n```\n```input\n5\n```"),
			want: Proposal{Program: "def f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)", Original: "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib (n - 2)", Functions: []string{"fib"}, Input: "5"},
		},
		{
			name: "renaming leaves method calls alone",
			opt:  def,
			text: ans("```python\ndef count(s):\n    return s.count('a')\n```\n```input\n'banana'\n```"),
			want: Proposal{Program: "def f(s):\n    return s.count('a')", Original: "def count(s):\n    return s.count('a')", Functions: []string{"count"}, Input: "'banana'"},
		},
		{
			name: "reference renaming also rewrites method calls",
			opt:  ref,
			text: ans("```python\ndef count(s):\n    return s.count('a')\n```\n```input\n'banana'\n```"),
			want: Proposal{Program: "def f(s):\n    return s.f('a')", Original: "def count(s):\n    return s.count('a')", Functions: []string{"count"}, Input: "'banana'"},
		},
		{
			name: "any_last keeps f when it exists",
			opt:  anyLast,
			text: ans("```python\ndef g(a):\n    return a\n\ndef f(a):\n    return g(a)\n```\n```input\n1\n```"),
			want: Proposal{Program: "def g(a):\n    return a\n\ndef f(a):\n    return g(a)", Original: "def g(a):\n    return a\n\ndef f(a):\n    return g(a)", Functions: []string{"g", "f"}, Input: "1"},
		},
		{
			name: "any_last renames the last def when there is no f",
			opt:  anyLast,
			text: ans("```python\ndef g(a):\n    return a\n\ndef main(a):\n    return g(a)\n```\n```input\n1\n```"),
			want: Proposal{Program: "def g(a):\n    return a\n\ndef f(a):\n    return g(a)", Original: "def g(a):\n    return a\n\ndef main(a):\n    return g(a)", Functions: []string{"g", "main"}, Input: "1"},
		},
		{
			name: "the first input block wins",
			opt:  def,
			text: ans("```python\ndef f(a):\n    return a\n```\n```input\n1\n```\n```input\n2\n```"),
			want: Proposal{Program: "def f(a):\n    return a", Original: "def f(a):\n    return a", Functions: []string{"f"}, Input: "1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProposal(Deduction, tc.text, 10, tc.opt)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Proposal{}, "Answer", "Thought")); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if got.Thought != "plan" {
				t.Errorf("thought = %q, want %q", got.Thought, "plan")
			}
		})
	}
}

func inputs(n, from int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("```input\n" + strconv.Itoa(from+i) + "\n```\n")
	}
	return b.String()
}

func TestParseInductionProposal(t *testing.T) {
	def := DefaultParseOptions()
	ten := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	for _, tc := range []struct {
		name    string
		text    string
		want    Proposal
		wantErr string
	}{
		{"ten inputs and a message block", ans(inputs(10, 0) + "```message\nAdd things.\n```"),
			Proposal{Inputs: ten, Message: "Add things."}, ""},
		{"more than ten: the LAST ten", ans(inputs(12, -2) + "```message\nm\n```"),
			Proposal{Inputs: ten, Message: "m"}, ""},
		{"a <message> tag", ans(inputs(10, 0) + "<message> tagged </message>"),
			Proposal{Inputs: ten, Message: "tagged"}, ""},
		{"a '# Message:' line", ans(inputs(10, 0) + "# Message: a line"),
			Proposal{Inputs: ten, Message: "a line"}, ""},
		{"nine inputs", ans(inputs(9, 0) + "```message\nm\n```"), Proposal{}, "9 input blocks, want at least 10"},
		{"no message", ans(inputs(10, 0)), Proposal{}, "no message block"},
		{"empty message", ans(inputs(10, 0) + "```message\n\n```"), Proposal{}, "no message block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProposal(Induction, tc.text, 10, def)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Proposal{}, "Answer", "Thought")); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestExtractSolverAnswer(t *testing.T) {
	def, ref := DefaultParseOptions(), ReferenceParseOptions()
	for _, tc := range []struct {
		name string
		typ  TaskType
		opt  ParseOptions
		text string
		want SolverAnswer
	}{
		{"deduction: output block", Deduction, def, ans("```output\n[1, 2]\n```"),
			SolverAnswer{Value: "[1, 2]", Source: "fence", OK: true}},
		{"deduction: the LAST output block", Deduction, def, ans("```output\n1\n```\n```output\n2\n```"),
			SolverAnswer{Value: "2", Source: "fence", OK: true}},
		{"deduction: '# Output:' line", Deduction, def, ans("# Output: 'abc'"),
			SolverAnswer{Value: "'abc'", Source: "comment", OK: true}},
		{"deduction: <output> tag", Deduction, def, ans("<output> (1, 2) </output>"),
			SolverAnswer{Value: "(1, 2)", Source: "tag", OK: true}},
		{"deduction: otherwise the whole answer", Deduction, def, ans("'abc'"),
			SolverAnswer{Value: "'abc'", Source: "answer", OK: true}},
		{"deduction: an input block is not an output", Deduction, def, ans("```input\n1\n```"),
			SolverAnswer{Value: "```input\n1\n```", Source: "answer", OK: true}},
		{"deduction: no <answer>", Deduction, def, "<think>x</think> ```output\n1\n```", SolverAnswer{}},
		{"abduction: the last input block", Abduction, def, ans("```input\n'a', 1\n```\n```input\n'b', 2\n```"),
			SolverAnswer{Value: "'b', 2", Source: "fence", OK: true}},
		{"abduction: '# Input:' line", Abduction, def, ans("# Input: 3"),
			SolverAnswer{Value: "3", Source: "comment", OK: true}},
		{"abduction: <input> tag", Abduction, def, ans("<input>3</input>"),
			SolverAnswer{Value: "3", Source: "tag", OK: true}},
		{"induction: the last python block", Induction, def, ans("```python\ndef f(x):\n    return 1\n```\n```python\ndef f(x):\n    return 2\n```\n```output\n2\n```"),
			SolverAnswer{Value: "def f(x):\n    return 2", Source: "fence", OK: true}},
		{"induction (reference): the last block of any kind", Induction, ref, ans("```python\ndef f(x):\n    return 2\n```\n```output\n2\n```"),
			SolverAnswer{Value: "2", Source: "fence", OK: true}},
		{"induction: no code block", Induction, def, ans("def f(x): return 1"), SolverAnswer{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ExtractSolverAnswer(tc.typ, tc.text, tc.opt)
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(SolverAnswer{}, "Answer")); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// The reference's fallbacks for a deduction/abduction answer without its
// ```output / ```input block (docs/AZR.md §4.1), in order, each taking its last
// match; "strict" keeps only a one-line "# Output:", a closed tag and the
// whole answer.
func TestSolverAnswerFallbacks(t *testing.T) {
	def := DefaultParseOptions()
	strict := DefaultParseOptions()
	strict.SolverFallbacks = "strict"
	type want struct{ value, source string }
	for _, tc := range []struct {
		name   string
		typ    TaskType
		answer string
		ref    want // the default: the reference's full set
		strict want
	}{
		{"multi-line '# Input:' block up to the next fence", Abduction, "# Input: 'a',\n[1, 2]\n```python\nx\n```",
			want{"'a',\n[1, 2]", "comment"}, want{"'a',", "comment"}},
		{"'# Output:' block to the end of the answer", Deduction, "# Output:\n  [1,\n 2]",
			want{"[1,\n 2]", "comment"}, want{"# Output:\n  [1,\n 2]", "answer"}},
		{"the last '# Output:' block wins", Deduction, "# Output: 1\n```\nx\n```\n# output: 2",
			want{"2", "comment"}, want{"2", "comment"}},
		{"input(...) call form", Abduction, "I call input('abc', 3) here",
			want{"'abc', 3", "call"}, want{"I call input('abc', 3) here", "answer"}},
		{"output(...) call form, any case", Deduction, "Output( [1, 2] )",
			want{"[1, 2]", "call"}, want{"Output( [1, 2] )", "answer"}},
		{"the call form stops at the first ')'", Abduction, "input(f(1), 2)",
			want{"f(1", "call"}, want{"input(f(1), 2)", "answer"}},
		{"the last call wins", Deduction, "output(1) or output(2)",
			want{"2", "call"}, want{"output(1) or output(2)", "answer"}},
		{"closed <input> tag", Abduction, "<input> 5 </input>",
			want{"5", "tag"}, want{"5", "tag"}},
		{"unclosed <output> tag runs to the end", Deduction, "<output> {'a': 1}  ",
			want{"{'a': 1}", "tag"}, want{"<output> {'a': 1}", "answer"}},
		{"'the input is' sentence, final period dropped", Abduction, "So the input is 'xyz'.",
			want{"'xyz'", "sentence"}, want{"So the input is 'xyz'.", "answer"}},
		{"'The output is' sentence, any case", Deduction, "The output is [3, 4]",
			want{"[3, 4]", "sentence"}, want{"The output is [3, 4]", "answer"}},
		{"a comment block comes before a call", Deduction, "output(9)\n# Output: 7",
			want{"7", "comment"}, want{"7", "comment"}},
		{"a call comes before a tag", Abduction, "<input>1</input> input(2)",
			want{"2", "call"}, want{"1", "tag"}},
		{"a fence beats every fallback", Deduction, "# Output: 1\n```output\n2\n```",
			want{"2", "fence"}, want{"2", "fence"}},
		{"nothing matches: the whole answer", Deduction, "[5, 6]",
			want{"[5, 6]", "answer"}, want{"[5, 6]", "answer"}},
		{"input words do not answer a deduction", Deduction, "the input is 3",
			want{"the input is 3", "answer"}, want{"the input is 3", "answer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := ans(tc.answer)
			for _, c := range []struct {
				mode string
				opt  ParseOptions
				want want
			}{{"reference", def, tc.ref}, {"strict", strict, tc.strict}} {
				got := ExtractSolverAnswer(tc.typ, text, c.opt)
				if got.Value != c.want.value || got.Source != c.want.source || !got.OK {
					t.Errorf("%s: got %q from %s (ok %v), want %q from %s", c.mode, got.Value, got.Source, got.OK, c.want.value, c.want.source)
				}
			}
		})
	}
}

// The reference set is the default: an answer in one of its extra forms is
// checked as that value, not as the whole answer.
func TestSolverFallbacksDefaultIsReference(t *testing.T) {
	if got := DefaultParseOptions().SolverFallbacks; got != "reference" {
		t.Fatalf("default solver_fallbacks = %q, want reference", got)
	}
	var old ParseOptions // a config written before the option existed
	old = DefaultParseOptions()
	old.SolverFallbacks = ""
	if err := old.validate(); err != nil {
		t.Fatalf("an empty solver_fallbacks must read as the default: %v", err)
	}
	if got := ExtractSolverAnswer(Deduction, ans("output(1)"), old); got.Value != "1" {
		t.Errorf("empty solver_fallbacks: got %q, want the reference's call form", got.Value)
	}
}

// Seeding parses the raw response (docs/AZR.md §6.3): the blocks may stand
// anywhere in the text, with or without <answer>, where self-play requires
// them inside <answer>.
func TestParseSeedProposal(t *testing.T) {
	opt := DefaultParseOptions()
	code := "```python\ndef g(x):\n    return x + 1\n```\n```input\n3\n```"
	ind := strings.Repeat("```input\n1\n```\n", 2) + "```message\nadd one\n```"
	for _, tc := range []struct {
		name        string
		typ         TaskType
		text        string
		seed, play  bool // parses during seeding / during self-play
		wantProgram string
	}{
		{"blocks without <answer>", Deduction, "<think>I write " + code + " and stop", true, false, "def f(x):\n    return x + 1"},
		{"no </think>, no tags at all", Abduction, code, true, false, "def f(x):\n    return x + 1"},
		{"blocks inside <answer>", Deduction, "<think>p</think><answer>" + code + "</answer>", true, true, "def f(x):\n    return x + 1"},
		{"an empty <answer> falls back to the whole text", Deduction, "<think>" + code + "</think><answer></answer>", true, false, "def f(x):\n    return x + 1"},
		{"no input block anywhere", Deduction, "```python\ndef f(x):\n    return x\n```", false, false, ""},
		{"induction inputs and message without <answer>", Induction, "<think>" + ind, true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseSeedProposal(tc.typ, tc.text, 2, opt)
			if (err == nil) != tc.seed {
				t.Fatalf("seeding parse: err %v, want ok=%v", err, tc.seed)
			}
			if err == nil && p.Program != tc.wantProgram {
				t.Errorf("program %q, want %q", p.Program, tc.wantProgram)
			}
			if _, err := ParseProposal(tc.typ, tc.text, 2, opt); (err == nil) != tc.play {
				t.Errorf("self-play parse: err %v, want ok=%v", err, tc.play)
			}
		})
	}
}
