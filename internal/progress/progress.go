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
	"os"
	"sync"
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
	note     string
	start    time.Time
	lastLog  time.Time
	logEvery time.Duration
	now      func() time.Time
	barOut   io.Writer // where the bar is drawn; nil: no bar, log lines instead
	noBar    bool
	bar      *progressbar.ProgressBar
	finished bool
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
		_ = t.bar.RenderBlank()
	} else {
		fields := []zap.Field{zap.String("unit", t.unit)}
		if total > 0 {
			fields = append(fields, zap.Int64("total", total))
		}
		t.log.Info(what+": started", fields...)
	}
	return t
}

func newBar(w io.Writer, what, unit string, total int64) *progressbar.ProgressBar {
	max := total
	if max <= 0 {
		max = -1 // a spinner
	}
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionFullWidth(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(w, "\n") }),
	)
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
		t.bar.Describe(t.description())
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
	if t.bar != nil {
		_ = t.bar.Set64(n)
		return
	}
	now := t.now()
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
	s := t.snapshotAt(t.now())
	if t.bar != nil {
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
