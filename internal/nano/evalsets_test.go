package nano

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/azr-native/azr-native/rl"
)

func TestEvalSetsAreHeldOutAndReproducible(t *testing.T) {
	ctx := context.Background()
	c := small(t)
	opt := EvalOptions{Seed: 5, Items: 5, Exclude: c.ProgramSet()}
	a, err := BuildEvalSets(ctx, realSandbox(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildEvalSets(ctx, realSandbox(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Dev.Induction, b.Dev.Induction) || !reflect.DeepEqual(a.Test.Deduction, b.Test.Deduction) {
		t.Error("two builds with the same options differ")
	}
	corpus := c.ProgramSet()
	dev := map[string]bool{}
	for _, sp := range []EvalSplit{a.Dev, a.Test} {
		if len(sp.Deduction) != 5 || len(sp.Abduction) != 5 || len(sp.Induction) != 5 {
			t.Fatalf("%s: %d/%d/%d rows, want 5 each", sp.Name, len(sp.Deduction), len(sp.Abduction), len(sp.Induction))
		}
		ids := map[string]bool{}
		for i, r := range sp.Deduction {
			ind := sp.Induction[i]
			if r.ID != ind.ID || r.ID != sp.Abduction[i].ID || ids[r.ID] {
				t.Errorf("%s row %d: ids %s/%s/%s (or repeated)", sp.Name, i, r.ID, sp.Abduction[i].ID, ind.ID)
			}
			ids[r.ID] = true
			if r.Input != ind.Inputs[0] || r.Output != ind.Outputs[0] || len(ind.Inputs) != 10 || ind.Message == "" {
				t.Errorf("%s row %d: deduction row %+v does not match induction row %+v", sp.Name, i, r, ind)
			}
			norm := NormalizeProgram(r.Code)
			if corpus[norm] {
				t.Errorf("%s %s: program is in the corpus", sp.Name, r.ID)
			}
			if sp.Name == "dev" {
				dev[norm] = true
			} else if dev[norm] {
				t.Errorf("test %s: program is in dev", r.ID)
			}
		}
	}
	// The outputs are Python's: running a row again in the sandbox agrees.
	for _, r := range a.Test.Deduction[:2] {
		v, err := realSandbox(t).Validate(ctx, r.Code, []string{r.Input})
		if err != nil || !v.Valid || v.Outputs[0] != r.Output {
			t.Errorf("%s: sandbox says %+v (%v), row says %s", r.ID, v, err, r.Output)
		}
	}
	dir := t.TempDir()
	if err := WriteEvalSets(dir, a); err != nil {
		t.Fatal(err)
	}
	for _, split := range []string{"dev", "test"} {
		for _, typ := range []rl.TaskType{rl.Deduction, rl.Abduction, rl.Induction} {
			p := filepath.Join(dir, "eval", split, fmt.Sprint(typ)+".jsonl")
			if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
}
