package main

import (
	"testing"

	"github.com/azr-native/azr-native/internal/progress"
	"github.com/azr-native/azr-native/rl"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The trainer's progress reports become one tracker per seeding stage and
// one over the steps (log lines when stderr is not a terminal, as in tests).
func TestSelfPlayProgressTrackers(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	old := logger
	logger = zap.New(core)
	defer func() { logger = old }()

	p := &selfPlayProgress{target: 5, remaining: 3, options: []progress.Option{progress.NoBar()}}
	for _, ev := range []rl.Progress{
		{Stage: "seeding triplets", Done: 3, Total: 8},
		{Stage: "seeding triplets", Done: 9, Total: 8},
		{Stage: "seeding induction", Done: 8, Total: 8},
		{Stage: "step", Step: 3, Phase: "propose abduction", Total: 7},
		{Stage: "step", Step: 3, Phase: "train", Done: 6, Total: 7},
	} {
		p.report(ev)
	}
	p.steps.Add(1)
	p.seeding.Finish()
	p.steps.Finish()

	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Message)
	}
	want := []string{"seeding triplets: started", "seeding triplets: finished", "seeding induction: started",
		"seeding induction: finished", "self-play: started", "self-play: finished"}
	if len(got) != len(want) {
		t.Fatalf("log lines %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i, got[i], want[i])
		}
	}
	f := logs.All()[1].ContextMap()
	if f["done"] != int64(8) || f["total"] != int64(8) {
		t.Errorf("seeding finished at %v of %v, want 8 of 8 (done is capped at the target)", f["done"], f["total"])
	}
	f = logs.All()[5].ContextMap()
	if f["done"] != int64(1) || f["total"] != int64(3) || f["now"] != "step 3/5: train" {
		t.Errorf("steps finished with %v", f)
	}
}
