package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/azr-native/azr-native/bindings"
)

// Small benchmark files in the CRUXEval and HumanEval layouts.
const (
	cruxRows = `{"id": "c0", "code": "def f(xs):\n    return sorted(xs)[-2:]", "input": "[3, 1, 2]", "output": "[2, 3]"}
{"id": "c1", "code": "def f(s, n):\n    return s * n", "input": "'ab', 2", "output": "'abab'"}
{"id": "c2", "code": "import math\n\ndef f(n):\n    return math.isqrt(n)", "input": "17", "output": "4"}
`
	humanEvalRows = `{"task_id": "T/0", "prompt": "def double(x):\n    \"\"\"Return twice x.\"\"\"\n", "entry_point": "double", "canonical_solution": "    return 2 * x\n", "test": "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(-1) == -2\n"}
{"task_id": "T/1", "prompt": "def first_word(s):\n    \"\"\"Return the first word of s.\"\"\"\n", "entry_point": "first_word", "canonical_solution": "    return s.split()[0]\n", "test": "def check(candidate):\n    assert candidate('hi there') == 'hi'\n"}
`
)

func answer(block string) string {
	return " Let me think.</think> <answer>" + block + "</answer>"
}

// responsesFile writes {"id", "response"} rows.
func responsesFile(t *testing.T, answers map[string]string) string {
	t.Helper()
	var b strings.Builder
	for id, a := range answers {
		line, _ := json.Marshal(map[string]string{"id": id, "response": answer(a)})
		b.Write(line)
		b.WriteByte('\n')
	}
	return writeFile(t, "responses.jsonl", b.String())
}

type evalSummary struct {
	Task    string             `json:"task"`
	Items   int                `json:"items"`
	Samples int                `json:"samples"`
	PassAt1 float64            `json:"pass_at_1"`
	PassAtK map[string]float64 `json:"pass_at_k"`
	BadRows []struct {
		Line  int    `json:"line"`
		Error string `json:"error"`
	} `json:"bad_rows"`
	Source string `json:"source"`
}

func evalJSON(t *testing.T, args ...string) evalSummary {
	t.Helper()
	out, err := azr(t, append([]string{"eval", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("eval %v: %v", args, err)
	}
	var s evalSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("eval --json printed %q: %v", out, err)
	}
	return s
}

func readJSONLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rows = append(rows, m)
	}
	return rows
}

func TestEvalGivenResponses(t *testing.T) {
	crux := writeFile(t, "crux.jsonl", cruxRows)
	human := writeFile(t, "humaneval.jsonl", humanEvalRows)
	for _, tc := range []struct {
		name, data, task string
		answers          map[string]string
		want             float64
	}{
		{"output right", crux, "output", map[string]string{"c0": "```output\n[2, 3]\n```", "c1": "```output\n'abab'\n```", "c2": "```output\n4\n```"}, 1},
		{"output wrong", crux, "output", map[string]string{"c0": "```output\n[1, 2]\n```", "c1": "```output\n'ab'\n```", "c2": "```output\n4.1\n```"}, 0},
		{"input right (any input that gives the output)", crux, "input", map[string]string{"c0": "```input\n[2, 0, 3]\n```", "c1": "```input\n'abab', 1\n```", "c2": "```input\n16\n```"}, 1},
		{"input wrong", crux, "input", map[string]string{"c0": "```input\n[2]\n```", "c1": "```input\n'ab', 3\n```", "c2": "```input\n26\n```"}, 0},
		{"function right", human, "function", map[string]string{"T/0": "```python\ndef double(x):\n    return x + x\n```", "T/1": "```python\ndef first_word(s):\n    return s.split(' ')[0]\n```"}, 1},
		{"function wrong", human, "function", map[string]string{"T/0": "```python\ndef double(x):\n    return x * x\n```", "T/1": "```python\ndef first_word(s):\n    return s.split()[-1]\n```"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "results.jsonl")
			s := evalJSON(t, "--data", tc.data, "--task", tc.task, "--responses", responsesFile(t, tc.answers), "--out", out)
			if s.PassAt1 != tc.want || s.Items != len(tc.answers) || s.Source != "responses" || s.PassAtK["1"] != tc.want {
				t.Errorf("summary %+v, want pass@1 %v over %d items", s, tc.want, len(tc.answers))
			}
			rows := readJSONLines(t, out)
			if len(rows) != len(tc.answers) {
				t.Fatalf("--out has %d rows, want %d", len(rows), len(tc.answers))
			}
			for _, r := range rows {
				samples := r["samples"].([]any)
				if len(samples) != 1 || samples[0].(map[string]any)["answer"] == "" {
					t.Errorf("per-item result %v", r)
				}
			}
		})
	}
}

// A file named after its task needs no --task.
func TestEvalTaskFromFileName(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "abduction.jsonl")
	if err := os.WriteFile(data, []byte(cruxRows), 0o644); err != nil {
		t.Fatal(err)
	}
	s := evalJSON(t, "--data", data, "--responses", responsesFile(t, map[string]string{
		"c0": "```input\n[3, 2]\n```", "c1": "```input\n'ab', 2\n```", "c2": "```input\n4\n```"}))
	if s.Task != "input" || s.Items != 3 || !near(s.PassAt1, 2.0/3) {
		t.Errorf("summary %+v, want the input task with 2 of 3 right (isqrt(4) = 2, not 4)", s)
	}
}

func near(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 }

func TestEvalHumanSummary(t *testing.T) {
	crux := writeFile(t, "crux.jsonl", cruxRows+"{\"id\": \"c3\", \"code\": \"def f(x):\\n    return x\"}\n")
	resp := writeFile(t, "r.jsonl", `{"id": "c0", "responses": [" </think><answer>`+"```output\\n[2, 3]\\n```"+`</answer>", "<think> </think><answer>[2, 3]</answer>", "nothing"]}
{"id": "c1", "responses": ["a", "b", "c"]}
{"id": "c2", "responses": ["<answer>4</answer>", "<answer>4</answer>", "<answer>5</answer>"]}
`)
	out, err := azr(t, "eval", "--data", crux, "--task", "output", "--responses", resp, "--k", "1,2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"output on " + crux + ": 3 items, 3 response(s) each, from responses",
		"pass@1    0.4444", // (2/3 + 0 + 2/3) / 3
		"pass@2    0.6667", // (1 - C(1,2)/C(3,2) + 0 + 1) / 3
		"skipped 1 bad rows:\n  line 4 (id c3): missing field \"input\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestEvalBadRowsAndErrors(t *testing.T) {
	broken := writeFile(t, "broken.jsonl", cruxRows+
		`{"id": "b1", "code": "def f(x):\n    return x", "input": "1", "output": "2"}`+"\n"+
		`{"id": "b2", "code": "def f(x):\n    return x",`+"\n"+
		`{"id": "b3", "code": "def f(x):\n    return x", "input": "(1", "output": "1"}`+"\n")
	resp := responsesFile(t, map[string]string{"c0": "```output\n[2, 3]\n```", "c1": "```output\n'abab'\n```", "c2": "```output\n4\n```"})

	s := evalJSON(t, "--data", broken, "--task", "output", "--responses", resp)
	if s.Items != 3 || s.PassAt1 != 1 || len(s.BadRows) != 3 {
		t.Fatalf("summary %+v, want the 3 good rows scored and 3 bad rows reported", s)
	}
	for i, want := range []struct {
		line int
		has  string
	}{{4, "f(1) returns 1, not the row's output 2"}, {5, "bad JSON"}, {6, "syntax"}} {
		if b := s.BadRows[i]; b.Line != want.line || !strings.Contains(b.Error, want.has) {
			t.Errorf("bad row %d: %+v, want line %d mentioning %q", i, b, want.line, want.has)
		}
	}

	// --limit scores the first usable items only: the others need no response.
	s = evalJSON(t, "--data", broken, "--task", "output", "--limit", "2", "--responses",
		responsesFile(t, map[string]string{"c0": "```output\n[2, 3]\n```", "c1": "```output\n'abab'\n```"}))
	if s.Items != 2 || s.PassAt1 != 1 {
		t.Errorf("--limit 2: %+v", s)
	}

	allBad := writeFile(t, "allbad.jsonl", "{\"id\": \"x\"}\nnot json\n")
	noModel := writeFile(t, "d.jsonl", cruxRows)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", broken, "--task", "output", "--responses", resp, "--strict"}, "3 bad output rows (strict):\nline 4 (id b1): f(1) returns 1"},
		{[]string{"--data", allBad, "--task", "output", "--responses", resp}, "no usable output rows, 2 bad:\nline 1 (id x): missing field \"code\"\nline 2: bad JSON"},
		{[]string{"--data", noModel, "--task", "output"}, "give --model FILE"},
		{[]string{"--data", noModel, "--responses", resp}, "--task is needed: the name of " + noModel + " does not say"},
		{[]string{"--data", noModel, "--task", "output", "--responses", resp, "-m", "x.gguf"}, "not both"},
		{[]string{"--data", noModel, "--task", "guess", "--responses", resp}, "unknown eval task \"guess\""},
		{[]string{"--data", noModel, "--task", "output", "--responses", resp, "--k", "0"}, "--k"},
		{[]string{"--data", noModel, "--task", "output", "--responses", resp, "--samples", "4"}, "--samples applies to sampling from --model"},
		{[]string{"--data", noModel, "--task", "output", "--adapter", "a.gguf", "--responses", resp}, "--adapter needs --model"},
		{[]string{"--data", noModel, "--task", "output", "--responses", writeFile(t, "r.jsonl", `{"id": "c0", "response": "x"}`)}, "no response for 2 of 3 items: c1, c2"},
		{[]string{"--data", noModel, "--task", "output", "--responses", writeFile(t, "r2.jsonl", `{"id": "c0"}`)}, "line 1 (id c0): missing field \"response\""},
		{[]string{"--data", noModel, "--task", "output", "-m", filepath.Join(t.TempDir(), "none.gguf")}, "none.gguf"},
	} {
		_, err := azr(t, append([]string{"eval"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("eval %v: err = %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}

func tinyModelFile(t *testing.T) string {
	t.Helper()
	model := filepath.Join(t.TempDir(), "tiny.gguf")
	spec := bindings.TinyTest
	spec.InitScale = 0.3
	if err := bindings.WriteTinyModel(model, spec); err != nil {
		t.Fatal(err)
	}
	return model
}

// A real engine end to end: whatever a random model scores, the same seed
// gives the same per-item results.
func TestEvalModelIsDeterministic(t *testing.T) {
	model := tinyModelFile(t)
	crux := writeFile(t, "crux.jsonl", cruxRows)
	dir := t.TempDir()
	run := func(name string) []map[string]any {
		out := filepath.Join(dir, name)
		text, err := azr(t, "--seed", "5", "eval", "--json", "--data", crux, "--task", "input", "-m", model, "--samples", "3",
			"--temperature", "0.9", "--max-tokens", "16", "--ctx", "4096", "--out", out)
		if err != nil {
			t.Fatal(err)
		}
		var s evalSummary
		if err := json.Unmarshal([]byte(text), &s); err != nil {
			t.Fatal(err)
		}
		if s.Items != 3 || s.Samples != 3 || s.Source != "model" || len(s.PassAtK) != 2 {
			t.Fatalf("summary %+v", s)
		}
		return readJSONLines(t, out)
	}
	a, b := run("a.jsonl"), run("b.jsonl")
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two runs with seed 5 differ:\n%v\n%v", a, b)
	}
}

// run --eval-data evaluates the live adapter before training and after each
// eval_every steps, and logs eval/<task>/pass_at_1 to metrics.jsonl.
func TestRunEvalData(t *testing.T) {
	model := tinyModelFile(t)
	crux := writeFile(t, "crux.jsonl", cruxRows)
	human := writeFile(t, "human.jsonl", humanEvalRows)
	// A directory of held-out sets named after their tasks, as nano data writes.
	sets := t.TempDir()
	if err := os.WriteFile(filepath.Join(sets, "deduction.jsonl"), []byte(cruxRows), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	if _, err := azr(t, "run", "-m", model, "--out", dir, "--steps", "1", "--batch-size", "1", "--n-samples", "2",
		"--max-response-length", "16", "--seed-factor", "0", "--ctx", "8192",
		"--eval-data", sets, "--eval-data", "function="+human, "--eval-every", "1"); err != nil {
		t.Fatalf("run: %v", err)
	}
	var evals []map[string]any
	for _, row := range readJSONLines(t, filepath.Join(dir, "metrics.jsonl")) {
		if e, ok := row["eval"]; ok {
			evals = append(evals, map[string]any{"step": row["step"], "eval": e})
		}
	}
	if len(evals) != 2 || evals[0]["step"] != 0.0 || evals[1]["step"] != 1.0 {
		t.Fatalf("evaluation lines %v, want steps 0 and 1", evals)
	}
	for _, e := range evals {
		scores := e["eval"].(map[string]any)
		for _, key := range []string{"eval/output/pass_at_1", "eval/function/pass_at_1", "eval/output/format_rate"} {
			if v, ok := scores[key].(float64); !ok || v < 0 || v > 1 {
				t.Errorf("step %v: %s = %v", e["step"], key, scores[key])
			}
		}
		if scores["eval/output/items"] != 3.0 || scores["eval/function/items"] != 2.0 {
			t.Errorf("step %v: item counts %v", e["step"], scores)
		}
	}
	for _, f := range []string{"eval/output-step-000000.jsonl", "eval/function-step-000001.jsonl"} {
		if rows := readJSONLines(t, filepath.Join(dir, f)); len(rows) == 0 {
			t.Errorf("%s is empty", f)
		}
	}

	// eval --run takes the run's model, latest adapter and prompts: the
	// same greedy responses as the run's own evaluation after its last step.
	out := filepath.Join(t.TempDir(), "results.jsonl")
	if _, err := azr(t, "eval", "--run", dir, "--data", crux, "--task", "output", "--max-tokens", "16", "--ctx", "8192", "--out", out); err != nil {
		t.Fatalf("eval --run: %v", err)
	}
	own := readJSONLines(t, filepath.Join(dir, "eval/output-step-000001.jsonl"))
	again := readJSONLines(t, out)
	if len(own) != 3 || len(again) != 3 {
		t.Fatalf("results: %d and %d items", len(own), len(again))
	}
	for i := range own {
		a, b := own[i]["samples"].([]any)[0].(map[string]any), again[i]["samples"].([]any)[0].(map[string]any)
		if a["response"] != b["response"] {
			t.Errorf("item %d: run's evaluation %q, eval --run %q", i, a["response"], b["response"])
		}
	}
}

func TestRunEvalDataErrors(t *testing.T) {
	model := tinyModelFile(t)
	crux := writeFile(t, "crux.jsonl", cruxRows)
	base := []string{"run", "-m", model, "--steps", "1", "--batch-size", "1", "--n-samples", "1", "--max-response-length", "8", "--seed-factor", "0", "--ctx", "4096"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--eval-data", crux}, "the file name does not say its task; want TASK=FILE"},
		{[]string{"--eval-data", t.TempDir()}, "no deduction, abduction, induction or humaneval .jsonl file"},
		{[]string{"--eval-data", "output="}, "no file after output="},
		{[]string{"--eval-data", "outputs=" + crux}, "unknown eval task \"outputs\""},
		{[]string{"--eval-data", "output=" + crux + ",output=" + crux}, "task output given twice"},
		{[]string{"--eval-data", "input=" + filepath.Join(t.TempDir(), "none.jsonl")}, "none.jsonl"},
	} {
		args := append(append(append([]string{}, base...), "--out", filepath.Join(t.TempDir(), "run")), tc.args...)
		_, err := azr(t, args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}

// List settings take a repeated flag, commas, a YAML list or the environment.
func TestRunListFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		key  string
		want []any
	}{
		{"repeated", nil, []string{"--eval-data", "output=a.jsonl", "--eval-data", "input=b.jsonl"}, "eval_data", []any{"output=a.jsonl", "input=b.jsonl"}},
		{"commas", nil, []string{"--eval-data", "output=a.jsonl,input=b.jsonl"}, "eval_data", []any{"output=a.jsonl", "input=b.jsonl"}},
		{"YAML list", nil, []string{"--uhoh-patterns", `['a{0,3}', b]`}, "uhoh_patterns", []any{"a{0,3}", "b"}},
		{"environment", map[string]string{"AZR_TASK_TYPES": "deduction,induction"}, nil, "task_types", []any{"deduction", "induction"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			m := printConfig(t, tc.args...)
			if !reflect.DeepEqual(m[tc.key], tc.want) {
				t.Errorf("%s = %v, want %v", tc.key, m[tc.key], tc.want)
			}
		})
	}
}
