package main

import (
	"fmt"

	"github.com/azr-native/azr-native/internal/progress"
	"github.com/azr-native/azr-native/rl"
)

// selfPlayProgress shows a run's progress: one tracker per seeding stage
// (valid tasks found of the target) and one over the steps, whose note says
// which phase of which step is running (a CPU step can take minutes).
type selfPlayProgress struct {
	target    int // the run's total steps
	remaining int // steps this invocation will run
	seedStage string
	seeding   *progress.Tracker
	steps     *progress.Tracker
	options   []progress.Option // for every tracker (tests: progress.NoBar)
}

// watchSelfPlay attaches progress display to tr; call finish when Run returns.
func watchSelfPlay(tr *rl.Trainer, target int) (finish func()) {
	p := &selfPlayProgress{target: target, remaining: target - tr.StepCount()}
	tr.OnProgress = p.report
	previous := tr.OnStep
	tr.OnStep = func(m rl.StepMetrics) {
		if previous != nil {
			previous(m)
		}
		p.steps.Add(1)
	}
	return func() {
		p.seeding.Finish()
		p.steps.Finish()
	}
}

func (p *selfPlayProgress) report(ev rl.Progress) {
	if ev.Stage != "step" {
		if ev.Stage != p.seedStage {
			p.seeding.Finish()
			p.seedStage = ev.Stage
			p.seeding = progress.New(logger, ev.Stage, int64(ev.Total), append(append([]progress.Option{}, p.options...), progress.Unit("tasks"))...)
		}
		p.seeding.Set(int64(ev.Done))
		return
	}
	p.seeding.Finish()
	if p.steps == nil {
		// Started at the first step, so seeding time does not skew the ETA.
		p.steps = progress.New(logger, "self-play", int64(p.remaining), append(append([]progress.Option{}, p.options...), progress.Unit("steps"))...)
	}
	note := fmt.Sprintf("step %d/%d", ev.Step, p.target)
	if ev.Phase != "" {
		note += ": " + ev.Phase
	}
	p.steps.Note(note)
}
