package eval

import (
	"strings"
	"testing"

	"github.com/azr-native/azr-native/rl"
)

// Each broken row is reported with its line number and why; good rows around
// it are kept.
func TestBrokenRowsAreReportedWithTheirLine(t *testing.T) {
	good := map[Task]string{
		TaskOutput:    `{"id": "g", "code": "def f(x):\n    return x", "input": "1", "output": "1"}`,
		TaskInduction: `{"id": "g", "code": "def f(x):\n    return x", "inputs": ["1", "2"], "outputs": ["1", "2"], "message": "same"}`,
		TaskFunction:  `{"task_id": "g", "prompt": "def g():\n    \"\"\"1\"\"\"\n", "entry_point": "g", "test": "def check(c):\n    assert c() == 1\n"}`,
	}
	for _, tc := range []struct {
		task Task
		row  string
		want string
	}{
		{TaskOutput, `{"id": "a", "code": "def f(x):\n    return x", "input": "1"`, "bad JSON"},
		{TaskOutput, `["a", "b"]`, "want a JSON object, not an array"},
		{TaskOutput, `null`, "want a JSON object, not null"},
		{TaskOutput, `{"id": "a", "input": "1", "output": "1"}`, `missing field "code"`},
		{TaskOutput, `{"id": "a", "code": "def f(x):\n    return x", "output": "1"}`, `missing field "input"`},
		{TaskOutput, `{"id": "a", "code": "def f(x):\n    return x", "input": "1"}`, `missing field "output"`},
		{TaskOutput, `{"code": "def f(x):\n    return x", "input": "1", "output": "1"}`, `missing field "id"`},
		{TaskOutput, `{"id": "a", "code": "def f(x):\n    return x", "input": 1, "output": "1"}`, `field "input" must be a string, not a number`},
		{TaskOutput, `{"id": "a", "code": "  ", "input": "1", "output": "1"}`, `field "code" is empty`},
		{TaskOutput, `{"id": 1.5, "code": "def f(x):\n    return x", "input": "1", "output": "1"}`, `field "id" must be a string or an integer`},
		{TaskOutput, `{"id": "a", "code": "def f(x):\n    return x", "input": "1", "output": "1\n2"}`, `spans several lines`},
		{TaskOutput, `{"id": "g", "code": "def f(x):\n    return x", "input": "2", "output": "2"}`, "duplicate id (first on line 1)"},
		{TaskInput, `{"id": "a", "code": "def f(x):\n    return x", "input": "1", "output": ""}`, `field "output" is empty`},
		{TaskInduction, `{"id": "a", "code": "def f(x):\n    return x", "inputs": ["1", "2"], "outputs": ["1"], "message": "m"}`, "2 inputs but 1 outputs"},
		{TaskInduction, `{"id": "a", "code": "def f(x):\n    return x", "inputs": ["1"], "outputs": ["1"], "message": "m"}`, "want at least 2"},
		{TaskInduction, `{"id": "a", "code": "def f(x):\n    return x", "inputs": "1", "outputs": ["1"], "message": "m"}`, `field "inputs" must be an array of strings`},
		{TaskInduction, `{"id": "a", "code": "def f(x):\n    return x", "inputs": ["1", "2"], "outputs": ["1", "2"]}`, `missing field "message"`},
		{TaskFunction, `{"task_id": "a", "prompt": "def a():\n    pass\n", "entry_point": "a b", "test": "def check(c):\n    pass\n"}`, "not a Python identifier"},
		{TaskFunction, `{"task_id": "a", "prompt": "def a():\n    pass\n", "entry_point": "a", "test": "assert True\n"}`, "test defines no check(candidate)"},
		{TaskFunction, `{"id": "a", "prompt": "def a():\n    pass\n", "entry_point": "a", "test": "def check(c):\n    pass\n"}`, `missing field "task_id"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			task := tc.task
			g := good[task]
			if g == "" {
				g = good[TaskOutput]
			}
			// A good row on line 1, a blank line 2, the broken row on line 3.
			data := g + "\n\n" + tc.row + "\n"
			ds, err := Read(strings.NewReader(data), "x.jsonl", task, false)
			if err != nil {
				t.Fatalf("non-strict read: %v", err)
			}
			if len(ds.Items) != 1 || len(ds.Bad) != 1 {
				t.Fatalf("items %d, bad %+v; want 1 and 1", len(ds.Items), ds.Bad)
			}
			if b := ds.Bad[0]; b.Line != 3 || !strings.Contains(b.Error(), tc.want) {
				t.Errorf("bad row: %v, want line 3 mentioning %q", b, tc.want)
			}
			_, err = Read(strings.NewReader(data), "x.jsonl", task, true)
			if err == nil || !strings.Contains(err.Error(), "x.jsonl: 1 bad") || !strings.Contains(err.Error(), "line 3") {
				t.Errorf("strict read: %v, want the file and line 3 named", err)
			}
		})
	}
}

func TestAFileWithoutUsableRowsIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", "", "no rows"},
		{"blank lines", "\n  \n\n", "no rows"},
		{"all bad", "{}\n{\"id\": 1}\n", "no usable output rows, 2 bad:\nline 1: missing field \"id\"\nline 2 (id 1): missing field \"code\""},
		{"a JSON array", "[\n  {\"id\": \"a\"}\n]\n", "x.jsonl is a JSON array; eval reads JSON lines"},
		{"wrong layout", `{"task_id": "HumanEval/0", "prompt": "def f():\n", "entry_point": "f", "test": "def check(c): pass"}`, `missing field "id"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.data), "x.jsonl", TaskOutput, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestRowsBecomeSelfPlayTasks(t *testing.T) {
	ds, err := ReadFile("testdata/induction.jsonl", TaskInduction, true)
	if err != nil {
		t.Fatal(err)
	}
	it := ds.Items[1]
	if it.ID != "ind_1" || it.Line != 2 || len(it.Task.Inputs) != 4 || it.Task.Message == "" {
		t.Fatalf("item %+v", it)
	}
	if strings.Join(it.Task.Imports, ";") != "import math" {
		t.Errorf("imports %q, want [import math] (put in front of the model's program, as in self-play)", it.Task.Imports)
	}
	// The solver prompt is self-play's: the first half of the pairs is shown.
	for _, style := range []string{rl.PromptStyleFull, rl.PromptStyleCompact} {
		p := PromptText(TaskInduction, &it, style)
		if p != rl.SolveTextWith(rl.Induction, it.Task, rl.PromptOptions{Style: style}) {
			t.Errorf("%s prompt is not self-play's:\n%s", style, p)
		}
		if !strings.Contains(p, "12, 18") || !strings.Contains(p, "7, 5") || strings.Contains(p, "100, 75") || !strings.Contains(p, it.Task.Message) {
			t.Errorf("%s induction prompt shows the wrong pairs:\n%s", style, p)
		}
	}
}

func TestResponsesFile(t *testing.T) {
	r, err := ReadResponses(strings.NewReader(`{"id": "a", "response": "x"}
{"task_id": "b", "responses": ["y", "z"]}
{"id": 7, "response": "w"}
{"id": "a", "response": "x2"}
`), "r.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 3 || len(r["a"]) != 2 || r["a"][1] != "x2" || len(r["b"]) != 2 || r["7"][0] != "w" {
		t.Errorf("responses %q", r)
	}
	for _, tc := range []struct{ data, want string }{
		{`{"id": "a"}`, `line 1 (id a): missing field "response" (or "responses")`},
		{`{"id": "a", "response": "x", "responses": ["y"]}`, "give one"},
		{"{\"id\": \"a\", \"response\": \"x\"}\n{\"id\": \"b\", \"responses\": []}", `line 2 (id b): field "responses" is empty`},
		{`{"id": "a", "response": 3}`, `field "response" must be a string`},
		{`not json`, "line 1: bad JSON"},
		{``, "no responses"},
	} {
		_, err := ReadResponses(strings.NewReader(tc.data), "r.jsonl")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to contain %q", tc.data, err, tc.want)
		}
	}
}

func TestTaskFromName(t *testing.T) {
	for name, want := range map[string]Task{
		"data/nano/eval/dev/deduction.jsonl": TaskOutput,
		"abduction.jsonl":                    TaskInput,
		"/x/induction.jsonl":                 TaskInduction,
		"HumanEval.jsonl":                    TaskFunction,
		"cruxeval-o.jsonl":                   TaskOutput,
		"cruxeval.jsonl":                     "", // output or input: say which
		"deduction_vs_abduction.jsonl":       "",
		"induction/data.jsonl":               "", // only the base name counts
	} {
		got, ok := TaskFromName(name)
		if got != want || ok != (want != "") {
			t.Errorf("TaskFromName(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}
