package rl

import (
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
