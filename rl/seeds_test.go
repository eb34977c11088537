package rl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadTasksJSONL(t *testing.T) {
	in := `{"program": "def f(a):\n    return a", "input": "1", "output": "1", "imports": ["import math"]}

{"snippet": "def f(a):\n    return a", "input": "'x'", "output": "'x'", "imports": "import os\nimport re", "original_snippet": "...", "composite_functions": []}
{"snippet": "def f(a):\n    return a", "inputs": ["1", "2"], "outputs": ["1", "2"], "message": "m", "imports": []}
`
	got, err := ReadTasksJSONL(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Task{
		{Program: IdentityProgram, Input: "1", Output: "1", Imports: []string{"import math"}},
		{Program: IdentityProgram, Input: "'x'", Output: "'x'", Imports: []string{"import os", "import re"}},
		{Program: IdentityProgram, Inputs: []string{"1", "2"}, Outputs: []string{"1", "2"}, Message: "m", Imports: []string{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if _, err := ReadTasksJSONL(strings.NewReader(`{"input": "1"}`)); err == nil || !strings.Contains(err.Error(), "line 1: no program") {
		t.Errorf("missing program: err = %v", err)
	}
}

// Seed files in the reference's layout: triplet rows and induction rows, in
// one file or two; what no file provides starts from the zero task.
func TestReadSeedFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	io := write("x_seed_io.jsonl", `{"snippet": "def f(a):\n    return a", "input": "'Hello world'", "output": "'Hello world'", "imports": [], "original_snippet": "def f(a):\n    return a", "composite_functions": []}
{"snippet": "def f(x):\n    return x * 2", "input": "3", "output": "6", "imports": [], "_input_type": "int", "_output_type": "int"}
`)
	codeF := write("x_code_f_seed_io.jsonl", `{"snippet": "def f(x):\n    return x * 2", "inputs": ["1", "2"], "outputs": ["2", "4"], "message": "double it", "imports": []}
`)
	for _, tc := range []struct {
		name           string
		paths          []string
		limit          int
		triplets, ind  int
		zeroT, zeroInd bool
		errWant        string
	}{
		{"both reference files", []string{io, codeF}, 0, 2, 1, false, false, ""},
		{"the limit keeps the first rows (the file starts with the identity triplet)", []string{io, codeF}, 1, 1, 1, true, false, ""},
		{"triplets only: induction starts from its zero task", []string{io}, 0, 2, 1, false, true, ""},
		{"induction only: triplets start from the zero triplet", []string{codeF}, 0, 1, 1, true, false, ""},
		{"a missing file", []string{filepath.Join(dir, "nope.jsonl")}, 0, 0, 0, false, false, "no such file"},
		{"a row with an input but no output", []string{write("bad.jsonl", `{"snippet": "def f(a):\n    return a", "input": "1"}`)}, 0, 0, 0, false, false, "task 1: neither a triplet"},
		{"induction outputs missing", []string{write("bad2.jsonl", `{"snippet": "def f(a):\n    return a", "inputs": ["1", "2"], "message": "m"}`)}, 0, 0, 0, false, false, "2 inputs, 0 outputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, ind, err := ReadSeedFiles(tc.paths, tc.limit)
			if tc.errWant != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errWant) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.errWant)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tr) != tc.triplets || len(ind) != tc.ind {
				t.Fatalf("%d triplets, %d induction tasks; want %d, %d", len(tr), len(ind), tc.triplets, tc.ind)
			}
			if got := tr[0].Program == IdentityProgram && tr[0].Input == ZeroTriplet().Input && len(tr) == 1; got != tc.zeroT {
				t.Errorf("zero triplet only = %v, want %v", got, tc.zeroT)
			}
			if got := cmp.Equal(ind, []Task{ZeroInduction()}); got != tc.zeroInd {
				t.Errorf("zero induction task only = %v, want %v", got, tc.zeroInd)
			}
		})
	}
}
