package rl

// Progress is one report to Trainer.OnProgress: how far the seeding phase or
// the current step has got. A CPU step can take minutes, so a front end uses
// these to show what is running and an ETA.
type Progress struct {
	// Stage is "seeding triplets", "seeding induction" or "step".
	Stage string
	// Step is the step being run (stage "step"), 1-based.
	Step int
	// Phase is the phase of the step starting now ("propose deduction",
	// "solve induction", ..., "train"), or "" once the update is done.
	Phase string
	// Done of Total: seeding, valid tasks found of the target; a step,
	// phases finished of the step's phases (two per task type, then train).
	Done, Total int
}

// progress reports p to OnProgress when it is set.
func (t *Trainer) progress(p Progress) {
	if t.OnProgress != nil {
		t.OnProgress(p)
	}
}
