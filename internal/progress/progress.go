// Package progress shows how far a long piece of work has got and when it
// will end: a progress bar when standard error is a terminal, and otherwise
// (a log file, CI, a pipe) structured zap lines with done, total, rate and
// ETA, throttled so a long run does not flood its log.
//
//	p := progress.New(logger, "seeding", 256, progress.Unit("tasks"))
//	for ... { p.Set(have) }
//	p.Finish()
//
// A Tracker is safe for concurrent use. A nil *Tracker ignores every call, so
// code can take an optional tracker without checking.
package progress

import (
	"io"
	"math"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
	"golang.org/x/term"
)

// DefaultLogEvery is how often a Tracker without a terminal logs a progress line.
const DefaultLogEvery = 10 * time.Second

// Tracker follows one piece of work of a known (or unknown, total <= 0) size.
type Tracker struct {
	mu       sync.Mutex
	log      *zap.Logger
	what     string
	unit     string
	total    int64
	done     int64
	drawn    atomic.Int64 // what the bar should show: done, published for redraws after a log line
	lastDraw time.Time
	note     string
	start    time.Time
	lastLog  time.Time
	logEvery time.Duration
	now      func() time.Time
	barOut   io.Writer // where the bar is drawn; nil: no bar, log lines instead
	noBar    bool
	bar      *progressbar.ProgressBar
	finished bool
	ticking  bool
	stopTick chan struct{}
}

// Option changes how New sets up a Tracker.
type Option func(*Tracker)

// Unit names what is counted ("steps", "tasks", "prompts"); the default is "items".
func Unit(unit string) Option { return func(t *Tracker) { t.unit = unit } }

// LogEvery sets the least time between two progress log lines (0 logs every
// update). Without a terminal the default is DefaultLogEvery.
func LogEvery(d time.Duration) Option { return func(t *Tracker) { t.logEvery = d } }

// BarTo draws the bar on w whether or not it is a terminal.
func BarTo(w io.Writer) Option { return func(t *Tracker) { t.barOut = w } }

// NoBar logs progress lines even when standard error is a terminal (for
// example when the command's own output goes to the terminal too).
func NoBar() Option { return func(t *Tracker) { t.noBar = true } }

// Ticking keeps the display alive while nothing is counted, for work that
// reports no progress of its own (one long native call): the bar's elapsed
// time is redrawn every second, and a log line (done so far, elapsed) is
// written every LogEvery, until Finish.
func Ticking() Option { return func(t *Tracker) { t.ticking = true } }

// StderrIsTerminal reports whether standard error is attached to a terminal.
func StderrIsTerminal() bool { return term.IsTerminal(int(os.Stderr.Fd())) }

// New starts tracking `what` (a short phrase: "seeding", "self-play steps")
// of `total` units; total <= 0 means the size is not known (no ETA).
func New(logger *zap.Logger, what string, total int64, opts ...Option) *Tracker {
	if logger == nil {
		logger = zap.NewNop()
	}
	t := &Tracker{log: logger, what: what, unit: "items", total: total, logEvery: DefaultLogEvery, now: time.Now}
	if StderrIsTerminal() {
		t.barOut = os.Stderr
	}
	for _, o := range opts {
		o(t)
	}
	if t.noBar {
		t.barOut = nil
	}
	t.start = t.now()
	t.lastLog = t.start
	if t.barOut != nil {
		t.bar = newBar(t.barOut, what, t.unit, total)
		termMu.Lock()
		_ = t.bar.RenderBlank()
		if t.barOut == os.Stderr {
			liveBars[t] = struct{}{}
		}
		termMu.Unlock()
	} else {
		fields := []zap.Field{zap.String("unit", t.unit)}
		if total > 0 {
			fields = append(fields, zap.Int64("total", total))
		}
		t.log.Info(what+": started", fields...)
	}
	if t.ticking {
		t.startTicking()
	}
	return t
}

func (t *Tracker) startTicking() {
	period := time.Second
	if t.bar == nil {
		period = max(t.logEvery, 10*time.Millisecond)
	}
	t.stopTick = make(chan struct{})
	go func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-t.stopTick:
				return
			case <-tick.C:
				t.mu.Lock()
				if !t.finished {
					t.setLocked(t.done)
				}
				t.mu.Unlock()
			}
		}
	}()
}

func newBar(w io.Writer, what, unit string, total int64) *progressbar.ProgressBar {
	max := total
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowCount(),
	}
	if max <= 0 {
		max = -1 // a spinner; a rate of nothing counted yet would read "0/hr"
	} else {
		opts = append(opts, progressbar.OptionShowIts())
	}
	return progressbar.NewOptions64(max, append(opts,
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(w, "\n") }),
	)...)
}

// Add records n more units done.
func (t *Tracker) Add(n int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.setLocked(t.done + n)
}

// Set records that n units are done in all.
func (t *Tracker) Set(n int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.setLocked(n)
}

// Note sets a short description of what is happening now ("step 3: train"):
// the bar shows it, and the next progress log line carries it.
func (t *Tracker) Note(note string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.note = note
	if t.bar != nil {
		termMu.Lock()
		t.bar.Describe(t.description())
		termMu.Unlock()
	}
}

func (t *Tracker) description() string {
	if t.note == "" {
		return t.what
	}
	return t.what + " (" + t.note + ")"
}

func (t *Tracker) setLocked(n int64) {
	if t.finished {
		return
	}
	if t.total > 0 {
		n = min(n, t.total)
	}
	n = max(n, 0)
	t.done = n
	now := t.now()
	if t.bar != nil {
		t.drawn.Store(n)
		// Redraw at most every 100 ms: a tight loop may count thousands of items a second.
		if now.Sub(t.lastDraw) >= barRedraw || n == t.total {
			t.lastDraw = now
			termMu.Lock()
			_ = t.bar.Set64(n)
			termMu.Unlock()
		}
		return
	}
	if now.Sub(t.lastLog) >= t.logEvery {
		t.lastLog = now
		t.logLine(t.what, t.snapshotAt(now))
	}
}

// Finish ends the work: the bar completes, or a final line is logged with the
// total time. Later calls do nothing.
func (t *Tracker) Finish() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished {
		return
	}
	t.finished = true
	if t.stopTick != nil {
		close(t.stopTick)
	}
	s := t.snapshotAt(t.now())
	if t.bar != nil {
		termMu.Lock()
		defer termMu.Unlock()
		delete(liveBars, t)
		_ = t.bar.Set64(t.done)
		if t.total > 0 && t.done < t.total {
			// Stopped early: leave the bar where it is rather than jump to 100%.
			_ = t.bar.Exit()
			_, _ = io.WriteString(t.barOut, "\n")
		} else {
			_ = t.bar.Finish()
		}
		return
	}
	t.logLine(t.what+": finished", s)
}

func (t *Tracker) logLine(msg string, s Snapshot) {
	fields := []zap.Field{zap.Int64("done", s.Done)}
	if s.Total > 0 {
		fields = append(fields, zap.Int64("total", s.Total), zap.Float64("percent", math.Round(1000*s.Fraction())/10))
	}
	fields = append(fields, zap.String("unit", t.unit), zap.Float64("rate_per_s", s.Rate), zap.Duration("elapsed", s.Elapsed.Round(time.Second)))
	if eta, ok := s.ETA(); ok {
		fields = append(fields, zap.Duration("eta", eta.Round(time.Second)))
	}
	if t.note != "" {
		fields = append(fields, zap.String("now", t.note))
	}
	t.log.Info(msg, fields...)
}

const barRedraw = 100 * time.Millisecond

// termMu orders everything drawn on the terminal: bar updates and log lines.
var (
	termMu   sync.Mutex
	liveBars = map[*Tracker]struct{}{}
)

// StderrSink is a zap output path ("OutputPaths") for standard error that
// keeps log lines and progress bars apart: each line first erases the live
// bar, and the bar is drawn again below it.
const StderrSink = "azr-progress-stderr:"

func init() {
	// This is the only registration of the scheme, so it cannot collide.
	_ = zap.RegisterSink("azr-progress-stderr", func(*url.URL) (zap.Sink, error) { return stderrSink{}, nil })
}

type stderrSink struct{}

func (stderrSink) Write(p []byte) (int, error) {
	termMu.Lock()
	defer termMu.Unlock()
	for t := range liveBars {
		if !t.bar.IsFinished() {
			_ = t.bar.Clear()
		}
	}
	n, err := os.Stderr.Write(p)
	for t := range liveBars {
		if t.bar.IsFinished() {
			continue
		}
		_ = t.bar.Set64(t.drawn.Load()) // redraws: the bar shows its count and rate
	}
	return n, err
}

func (stderrSink) Sync() error  { return nil }
func (stderrSink) Close() error { return nil }

// Snapshot is where the work stands.
type Snapshot struct {
	Done, Total int64
	Elapsed     time.Duration
	Rate        float64 // units per second since the start
}

// Snapshot returns where the work stands now.
func (t *Tracker) Snapshot() Snapshot {
	if t == nil {
		return Snapshot{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.snapshotAt(t.now())
}

func (t *Tracker) snapshotAt(now time.Time) Snapshot {
	s := Snapshot{Done: t.done, Total: t.total, Elapsed: now.Sub(t.start)}
	if sec := s.Elapsed.Seconds(); sec > 0 {
		s.Rate = float64(s.Done) / sec
	}
	return s
}

// Fraction is done / total (0 when the total is unknown).
func (s Snapshot) Fraction() float64 {
	if s.Total <= 0 {
		return 0
	}
	return float64(s.Done) / float64(s.Total)
}

// ETA is the time left at the average rate so far; ok is false while it
// cannot be estimated (unknown total, nothing done yet).
func (s Snapshot) ETA() (eta time.Duration, ok bool) {
	if s.Total <= 0 || s.Done <= 0 || s.Rate <= 0 {
		return 0, false
	}
	left := float64(s.Total-s.Done) / s.Rate
	return time.Duration(left * float64(time.Second)), true
}
