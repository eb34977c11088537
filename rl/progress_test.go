package rl

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A front end learns from OnProgress what runs now: seeding counts valid
// tasks toward the target, and a step announces each phase before it starts
// and reports completion after the update.
func TestProgressReportsSeedingAndPhases(t *testing.T) {
	cfg := smallConfig(5)
	cfg.SeedBatchFactor = 1 // target 5
	tr, err := NewTrainer(cfg, &scriptedPolicy{}, &fakeExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []Progress
	tr.OnProgress = func(p Progress) { got = append(got, p) }
	if err := tr.Run(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	var seeding, step []string
	for _, p := range got {
		if p.Stage == "step" {
			step = append(step, fmt.Sprintf("%d %q %d/%d", p.Step, p.Phase, p.Done, p.Total))
			continue
		}
		if p.Total != 5 || p.Done < 1 { // a round may overshoot the target; the pool is trimmed after
			t.Errorf("seeding report %+v: want at least 1 of 5", p)
		}
		seeding = append(seeding, p.Stage)
	}
	if len(seeding) == 0 || seeding[0] != "seeding triplets" || seeding[len(seeding)-1] != "seeding induction" {
		t.Errorf("seeding stages %v: want triplet rounds, then induction rounds", seeding)
	}
	want := []string{
		`1 "propose abduction" 0/7`, `1 "solve abduction" 1/7`,
		`1 "propose deduction" 2/7`, `1 "solve deduction" 3/7`,
		`1 "propose induction" 4/7`, `1 "solve induction" 5/7`,
		`1 "train" 6/7`, `1 "" 7/7`,
	}
	if diff := cmp.Diff(want, step); diff != "" {
		t.Errorf("step progress (-want +got):\n%s", diff)
	}
}
