package rl

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPickSamplesPrefersValidThenBatchOrder(t *testing.T) {
	v, x := scored{valid: true}, scored{valid: false}
	for _, tc := range []struct {
		name  string
		batch []scored
		n     int
		want  []int
	}{
		{"valid first, then the rest in order", []scored{x, v, x, v}, 3, []int{1, 3, 0}},
		{"fewer responses than asked", []scored{x, v}, 5, []int{1, 0}},
		{"none asked", []scored{v}, 0, nil},
		{"empty batch", nil, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, pickSamples(tc.batch, tc.n)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestTruncateCharsKeepsWholeCharacters(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
		cut  bool
	}{
		{"short", 10, "short", false},
		{"abcdef", 3, "abc", true},
		{"aé", 2, "a", true}, // é is two bytes: not split
	} {
		got, cut := truncateChars(tc.in, tc.max)
		if got != tc.want || cut != tc.cut {
			t.Errorf("truncateChars(%q, %d) = %q, %v; want %q, %v", tc.in, tc.max, got, cut, tc.want, tc.cut)
		}
	}
}

// A step writes SamplesPerBatch records per batch to samples.jsonl, each
// with the task it proposed or solved.
func TestStepWritesSamples(t *testing.T) {
	cfg := smallConfig(5)
	cfg.SamplesPerBatch = 2
	tr, dir := trainerInDir(t, cfg, &scriptedPolicy{})
	defer tr.Close()
	for i := 0; i < 2; i++ {
		if _, err := tr.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(filepath.Join(dir, "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	perBatch := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r SampleRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		perBatch[r.Batch]++
		if r.Response == "" || r.Tokens == 0 {
			t.Errorf("%s #%d: no response text", r.Batch, r.Index)
		}
		solver := strings.HasPrefix(r.Batch, "solve_")
		if (solver || r.Valid) && (r.Task == nil || r.Task.Program == "") {
			t.Errorf("%s #%d (valid %v): no task", r.Batch, r.Index, r.Valid)
		}
	}
	want := map[string]int{}
	for _, k := range BatchOrder {
		want[k.String()] = 2 * 2 // two steps
	}
	if diff := cmp.Diff(want, perBatch); diff != "" {
		t.Errorf("records per batch (-want +got):\n%s", diff)
	}
}
