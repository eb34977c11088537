package eval

// Scoring tests against the real sandbox: every verdict comes from Python in
// the isolated worker pool, exactly as in self-play.

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/azr-native/azr-native/internal/sandboxtest"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
)

// realSandbox returns one pool shared by the tests of this package.
func realSandbox(t *testing.T) *sandbox.Pool {
	t.Helper()
	pool := sandboxtest.Pool(t, 3*time.Second)
	return pool
}

// respond wraps an answer as a model would write it after the "<think>" the
// prompt opens.
func respond(answer string) string {
	return " Let me work through it step by step.</think>\n<answer>\n" + answer + "\n</answer>"
}

func block(label, body string) string { return "```" + label + "\n" + body + "\n```" }

// answerSheets: for every task, an answer per item that is right and one
// that is wrong. Right inputs differ from the rows' own where possible: any
// input giving the output counts.
var answerSheets = []struct {
	task         Task
	file         string
	right, wrong map[string]string
}{
	{TaskOutput, "testdata/crux.jsonl",
		map[string]string{
			"sample_0": block("output", "[(4, 1), (4, 1), (4, 1), (4, 1), (2, 3), (2, 3)]"),
			"sample_1": block("output", `"c-b-a"`), // the same value, other quotes
			"sample_2": "# Output: 1",              // a fallback the parser accepts
		},
		map[string]string{
			"sample_0": block("output", "[(4, 1), (2, 3)]"),
			"sample_1": block("output", "'a-b-c'"),
			"sample_2": block("output", "6"),
		}},
	{TaskInput, "testdata/crux.jsonl",
		map[string]string{
			"sample_0": block("input", "[3, 1, 3, 1, 1, 1]"),
			"sample_1": block("input", "text='a-b-c', sep='-'"),
			"sample_2": block("input", "0"),
		},
		map[string]string{
			"sample_0": block("input", "[1]"),
			"sample_1": block("input", "'x', '-'"),
			"sample_2": block("input", "2"),
		}},
	{TaskInduction, "testdata/induction.jsonl",
		map[string]string{
			"ind_0": block("python", "def f(s):\n    return ''.join(reversed(s)).upper()"),
			"ind_1": block("python", "def f(a, b):\n    while b:\n        a, b = b, a % b\n    return a"),
		},
		map[string]string{
			// Right on the shown pairs only: every pair is checked.
			"ind_0": block("python", "def f(s):\n    return {'ab': 'BA', 'xyz': 'ZYX'}.get(s, '')"),
			// Right on the held-back pairs only, which is all self-play checks.
			"ind_1": block("python", "def f(a, b):\n    return {(0, 9): 9, (100, 75): 25}.get((a, b), 0)"),
		}},
	{TaskFunction, "testdata/humaneval.jsonl",
		map[string]string{
			"Toy/0": block("python", "def below_zero(operations):\n    total = 0\n    for op in operations:\n        total += op\n        if total < 0:\n            return True\n    return False"),
			"Toy/1": block("python", "    return x + y"), // a body only, completing the prompt
		},
		map[string]string{
			"Toy/0": block("python", "def below_zero(operations):\n    return False"),
			// A wrong function that also brings its own check and f: the
			// row's test and the harness must win.
			"Toy/1": block("python", "def add(x, y):\n    return 0\n\ndef check(candidate):\n    pass\n\ndef f():\n    return True"),
		}},
}

func TestGivenResponses(t *testing.T) {
	ctx := context.Background()
	exec := realSandbox(t)
	for _, sheet := range answerSheets {
		ds, err := ReadFile(sheet.file, sheet.task, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name    string
			answers map[string]string
			want    float64
		}{{"right", sheet.right, 1}, {"wrong", sheet.wrong, 0}} {
			t.Run(fmt.Sprintf("%s/%s", sheet.task, tc.name), func(t *testing.T) {
				resp := Responses{}
				for id, a := range tc.answers {
					resp[id] = []string{respond(a)}
				}
				sum, items, err := Run(ctx, Options{Data: ds, Exec: exec, Responses: resp})
				if err != nil {
					t.Fatal(err)
				}
				if sum.PassAt1 != tc.want || sum.Items != len(tc.answers) || sum.Source != "responses" {
					t.Errorf("pass@1 %v over %d items from %s, want %v over %d from responses", sum.PassAt1, sum.Items, sum.Source, tc.want, len(tc.answers))
				}
				for _, it := range items {
					s := it.Samples[0]
					if s.Correct != (tc.want == 1) || !s.Parsed || s.ExecError != "" {
						t.Errorf("item %s: %+v", it.ID, s)
					}
				}
			})
		}
	}
}

func TestResponsesMayRepeatThePrefillAndGiveSeveralSamples(t *testing.T) {
	ds, err := ReadFile("testdata/crux.jsonl", TaskOutput, true)
	if err != nil {
		t.Fatal(err)
	}
	right, wrong := answerSheets[0].right, answerSheets[0].wrong
	resp := Responses{
		// 2 of 4 right: pass@1 = 0.5, pass@2 = 1 - C(2,2)/C(4,2) = 5/6.
		"sample_0": {respond(right["sample_0"]), "<think>" + respond(wrong["sample_0"]), respond(wrong["sample_0"]), "<think>" + respond(right["sample_0"])},
		// 0 of 4 right.
		"sample_1": {respond(wrong["sample_1"]), respond(wrong["sample_1"]), "no answer at all", ""},
		// 4 of 4 right.
		"sample_2": {respond(right["sample_2"]), respond(right["sample_2"]), respond(right["sample_2"]), respond(right["sample_2"])},
	}
	sum, items, err := Run(context.Background(), Options{Data: ds, Exec: realSandbox(t), Responses: resp, Ks: []int{1, 2, 4}})
	if err != nil {
		t.Fatal(err)
	}
	if got := []int{items[0].Correct, items[1].Correct, items[2].Correct}; fmt.Sprint(got) != "[2 0 4]" {
		t.Errorf("correct per item %v, want [2 0 4]", got)
	}
	want1 := (0.5 + 0 + 1) / 3
	want2 := (5.0/6 + 0 + 1) / 3
	want4 := (1.0 + 0 + 1) / 3
	if !near(sum.PassAt1, want1) || !near(sum.PassAtK["2"], want2) || !near(sum.PassAtK["4"], want4) || sum.Samples != 4 {
		t.Errorf("summary %+v, want pass@1 %v, pass@2 %v, pass@4 %v", sum, want1, want2, want4)
	}
	if !near(sum.AnswerRate, 10.0/12) {
		t.Errorf("answer rate %v, want 10/12 (two responses have no answer)", sum.AnswerRate)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestMissingResponsesAreAnErrorNotAZero(t *testing.T) {
	ds, err := ReadFile("testdata/crux.jsonl", TaskOutput, true)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Run(context.Background(), Options{Data: ds, Exec: realSandbox(t), Responses: Responses{"sample_0": {"x"}}})
	if err == nil || !strings.Contains(err.Error(), "no response for 2 of 3 items: sample_1, sample_2") {
		t.Fatalf("err = %v, want the missing ids named", err)
	}
}

func TestVerifyRejectsRowsTheSandboxDoesNotReproduce(t *testing.T) {
	data := strings.Join([]string{
		`{"id": "ok", "code": "def f(x):\n    return x * 2", "input": "3", "output": "6"}`,
		`{"id": "wrong-gold", "code": "def f(x):\n    return x * 2", "input": "3", "output": "7"}`,
		`{"id": "raises", "code": "def f(x):\n    return x / 0", "input": "3", "output": "1"}`,
		`{"id": "bad-input", "code": "def f(x):\n    return x", "input": "3,,", "output": "3"}`,
		`{"id": "bad-code", "code": "def f(x) return x", "input": "3", "output": "3"}`,
		`{"id": "not-literal", "code": "def f(x):\n    return float(x)", "input": "'inf'", "output": "inf"}`,
	}, "\n")
	ds, err := Read(strings.NewReader(data), "rows.jsonl", TaskOutput, false)
	if err != nil {
		t.Fatal(err)
	}
	s := &Scorer{Exec: realSandbox(t), Template: rl.TemplateR1, Parse: rl.DefaultParseOptions()}
	if err := Verify(context.Background(), s, ds, false, 2); err != nil {
		t.Fatal(err)
	}
	if len(ds.Items) != 1 || ds.Items[0].ID != "ok" {
		t.Fatalf("kept %+v, want only the row 'ok'", ds.Items)
	}
	want := []struct {
		line int
		has  string
	}{
		{2, "f(3) returns 6, not the row's output 7"},
		{3, "ZeroDivisionError"},
		{4, "syntax"},
		{5, "syntax"},
		{6, "not a value the answer checker can compare"},
	}
	if len(ds.Bad) != len(want) {
		t.Fatalf("bad rows %+v, want %d", ds.Bad, len(want))
	}
	for i, w := range want {
		if ds.Bad[i].Line != w.line || !strings.Contains(ds.Bad[i].Error(), w.has) {
			t.Errorf("bad row %d: %v, want line %d mentioning %q", i, ds.Bad[i], w.line, w.has)
		}
	}

	ds, _ = Read(strings.NewReader(data), "rows.jsonl", TaskOutput, false)
	err = Verify(context.Background(), s, ds, true, 2)
	if err == nil || !strings.Contains(err.Error(), "rows.jsonl: 5 bad output rows (strict)") || !strings.Contains(err.Error(), "line 2 (id wrong-gold)") {
		t.Errorf("strict verify: %v", err)
	}
}

func TestVerifyAcceptsTheTestdataAndChecksCanonicalSolutions(t *testing.T) {
	s := &Scorer{Exec: realSandbox(t), Template: rl.TemplateR1, Parse: rl.DefaultParseOptions()}
	for _, sheet := range answerSheets {
		ds, err := ReadFile(sheet.file, sheet.task, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(context.Background(), s, ds, true, 2); err != nil {
			t.Errorf("%s: %v", sheet.file, err)
		}
	}
	broken := `{"task_id": "B/0", "prompt": "def one():\n    \"\"\"Return 1.\"\"\"\n", "entry_point": "one", "canonical_solution": "    return 2\n", "test": "def check(c):\n    assert c() == 1\n"}`
	ds, err := Read(strings.NewReader(broken+"\n"), "he.jsonl", TaskFunction, false)
	if err != nil {
		t.Fatal(err)
	}
	err = Verify(context.Background(), s, ds, false, 1)
	if err == nil || !strings.Contains(err.Error(), "line 1 (id B/0): the row's canonical_solution fails its own test: error: AssertionError") {
		t.Errorf("verify of a row whose solution fails: %v", err)
	}
}
