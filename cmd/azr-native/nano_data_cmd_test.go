package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azr-native/azr-native/internal/nano"
	"github.com/azr-native/azr-native/rl"
)

// readRows reads a JSON-lines file into generic objects.
func readRows(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rows = append(rows, m)
	}
	return rows
}

func TestCLINanoDataWritesCorpusAndHeldOutSets(t *testing.T) {
	dir := t.TempDir()
	args := []string{"nano", "data", "--out", dir, "--seed", "3", "--programs", "12", "--eval-items", "4"}
	out, err := azr(t, args...)
	if err != nil {
		t.Fatalf("nano data: %v\n%s", err, out)
	}
	if !strings.Contains(out, "corpus: 12 programs generated") || !strings.Contains(out, "eval test: 4 items per file") {
		t.Errorf("summary:\n%s", out)
	}
	// The seed tasks are corpus programs, each as a triplet and as an induction task.
	triplets, induction, err := rl.ReadSeedFiles([]string{filepath.Join(dir, "seeds.jsonl")}, 0)
	if err != nil || len(triplets) < 2 || len(triplets) != len(induction) || triplets[0].Program != induction[0].Program {
		t.Errorf("seeds.jsonl: %d triplets, %d induction tasks, %v", len(triplets), len(induction), err)
	}
	docs, err := nano.ReadCorpusFile(filepath.Join(dir, "corpus.jsonl"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("corpus.jsonl: %d documents, %v", len(docs), err)
	}
	corpusPrograms := map[string]bool{}
	for _, d := range docs {
		if d.Kind == nano.KindProgram {
			code, _, _ := strings.Cut(d.Text, "\n\nassert ")
			corpusPrograms[nano.NormalizeProgram(code)] = true
		}
	}
	want := map[string][]string{
		"deduction": {"id", "code", "input", "output"},
		"abduction": {"id", "code", "input", "output"},
		"induction": {"id", "code", "inputs", "outputs", "message"},
	}
	evalPrograms := map[string]string{}
	for _, split := range []string{"dev", "test"} {
		for typ, fields := range want {
			rows := readRows(t, filepath.Join(dir, "eval", split, typ+".jsonl"))
			if len(rows) != 4 {
				t.Errorf("%s/%s: %d rows, want 4", split, typ, len(rows))
			}
			for _, r := range rows {
				if len(r) != len(fields) {
					t.Errorf("%s/%s: row has fields %v, want exactly %v", split, typ, r, fields)
				}
				for _, f := range fields {
					if r[f] == nil || r[f] == "" {
						t.Errorf("%s/%s: row lacks %q: %v", split, typ, f, r)
					}
				}
				code := nano.NormalizeProgram(r["code"].(string))
				if corpusPrograms[code] {
					t.Errorf("%s/%s: program %s is also in the corpus", split, typ, r["id"])
				}
				if other, ok := evalPrograms[code]; ok && other != split {
					t.Errorf("program %s is in both %s and %s", r["id"], other, split)
				}
				evalPrograms[code] = split
			}
		}
	}
	// azr-native eval reads every row (it re-checks each gold answer in the
	// sandbox) and gives the gold answers full marks.
	answer := map[string]func(map[string]any) string{
		"deduction": func(r map[string]any) string { return "```output\n" + r["output"].(string) + "\n```" },
		"abduction": func(r map[string]any) string { return "```input\n" + r["input"].(string) + "\n```" },
		"induction": func(r map[string]any) string { return "```python\n" + r["code"].(string) + "\n```" },
	}
	for typ, ans := range answer {
		data := filepath.Join(dir, "eval", "dev", typ+".jsonl")
		var resp strings.Builder
		for _, r := range readRows(t, data) {
			line, _ := json.Marshal(map[string]string{"id": r["id"].(string), "response": " ok </think>\n<answer>\n" + ans(r) + "\n</answer>"})
			resp.Write(append(line, '\n'))
		}
		respPath := filepath.Join(t.TempDir(), typ+".responses.jsonl")
		if err := os.WriteFile(respPath, []byte(resp.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := azr(t, "eval", "--data", data, "--task", typ, "--responses", respPath, "--prompt-style", "compact", "--strict", "--json")
		if err != nil {
			t.Fatalf("eval %s: %v", typ, err)
		}
		var sum struct {
			Items   int     `json:"items"`
			PassAt1 float64 `json:"pass_at_1"`
		}
		if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Items != 4 || sum.PassAt1 != 1 {
			t.Errorf("eval %s on the gold answers: %s (%v), want 4 items at pass@1 = 1", typ, out, err)
		}
	}

	var st map[string]any
	data, err := os.ReadFile(filepath.Join(dir, "stats.json"))
	if err != nil || json.Unmarshal(data, &st) != nil || st["corpus"] == nil || st["eval_test"] == nil {
		t.Errorf("stats.json: %s (%v)", data, err)
	}

}

func TestCLINanoDataErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--seed", "5", "--eval-seed", "5"}, "--eval-seed must differ"},
		{[]string{"--mixture", "poems=1"}, "unknown document kind \"poems\""},
		{[]string{"--mixture", "program"}, "--mixture: \"program\" is not kind=weight"},
		{[]string{"--max-depth", "9"}, "MaxDepth 9 out of range"},
		{[]string{"--programs", "0"}, "--programs must be at least 1"},
		{[]string{"--prompt-style", "poetic"}, "prompt_style must be full or compact"},
		{[]string{"--categories", "strings,poems"}, "--categories: unknown category \"poems\""},
		{[]string{"--variant-share", "1.5"}, "--variant-share must be between 0 and 1"},
		{[]string{"--variant-share", "-0.1"}, "--variant-share must be between 0 and 1"},
	} {
		_, err := azr(t, append([]string{"nano", "data", "--out", dir, "--programs", "2", "--eval-items", "1"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("nano data %v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
