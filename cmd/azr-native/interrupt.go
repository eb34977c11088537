package main

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/azr-native/azr-native/rl"
)

// runInterrupts handles Ctrl-C and SIGTERM during `run`. The first asks the
// trainer to stop at the next safe point (after the step in progress) and
// checkpoint what finished; before the trainer exists it cancels the
// start-up instead. The second exits at once with status 130: checkpoints
// are written to a temporary directory and renamed into place, so the last
// one stays whole.
type runInterrupts struct {
	cancel  context.CancelFunc
	trainer atomic.Pointer[rl.Trainer]
	done    chan struct{}
}

// watchInterrupts starts handling signals; the context ends with the first
// one if no trainer has been attached by then. Call stop when run returns.
func watchInterrupts(parent context.Context) (context.Context, *runInterrupts) {
	ctx, cancel := context.WithCancel(parent)
	ri := &runInterrupts{cancel: cancel, done: make(chan struct{})}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		defer signal.Stop(sigs)
		select {
		case <-sigs:
		case <-ri.done:
			return
		}
		if tr := ri.trainer.Load(); tr != nil {
			logger.Warn("interrupted: stopping after the step in progress and writing a checkpoint; interrupt again to exit at once (the last checkpoint stays intact)")
			tr.RequestStop()
		} else {
			logger.Warn("interrupted: stopping")
			cancel()
		}
		select {
		case <-sigs:
		case <-ri.done:
			return
		}
		logger.Warn("interrupted again: exiting now; the same command resumes from the last checkpoint")
		_ = logger.Sync()
		os.Exit(130)
	}()
	return ctx, ri
}

// attach makes the first interrupt a graceful stop of tr.
func (ri *runInterrupts) attach(tr *rl.Trainer) { ri.trainer.Store(tr) }

// stop ends the handling (signals then take their default action again).
func (ri *runInterrupts) stop() {
	close(ri.done)
	ri.cancel()
}
