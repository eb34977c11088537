package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestSnapshotArithmetic(t *testing.T) {
	for _, tc := range []struct {
		name     string
		s        Snapshot
		fraction float64
		eta      time.Duration
		etaOK    bool
	}{
		{"half done in 10s: 10s left", Snapshot{Done: 5, Total: 10, Elapsed: 10 * time.Second, Rate: 0.5}, 0.5, 10 * time.Second, true},
		{"nothing done yet: no ETA", Snapshot{Done: 0, Total: 10, Elapsed: 3 * time.Second}, 0, 0, false},
		{"unknown total: no fraction, no ETA", Snapshot{Done: 7, Total: 0, Elapsed: time.Second, Rate: 7}, 0, 0, false},
		{"all done: zero left", Snapshot{Done: 4, Total: 4, Elapsed: 8 * time.Second, Rate: 0.5}, 1, 0, true},
		{"fast work: sub-second ETA", Snapshot{Done: 900, Total: 1000, Elapsed: time.Second, Rate: 900}, 0.9, time.Second / 9, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Fraction(); got != tc.fraction {
				t.Errorf("Fraction = %v, want %v", got, tc.fraction)
			}
			eta, ok := tc.s.ETA()
			if ok != tc.etaOK || (eta-tc.eta).Abs() > time.Millisecond {
				t.Errorf("ETA = %v, %v; want %v, %v", eta, ok, tc.eta, tc.etaOK)
			}
		})
	}
}

// fakeClock advances only when told to.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// logged makes a tracker that logs (no bar) to an observer, on a fake clock.
func logged(t *testing.T, total int64, opts ...Option) (*Tracker, *observer.ObservedLogs, *fakeClock) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts = append([]Option{NoBar(), func(tr *Tracker) { tr.now = clock.now }}, opts...)
	return New(zap.New(core), "work", total, opts...), logs, clock
}

func TestLogLinesAreThrottledAndCarryRateAndETA(t *testing.T) {
	tr, logs, clock := logged(t, 10, Unit("steps"), LogEvery(10*time.Second))
	if got := logs.TakeAll(); len(got) != 1 || got[0].Message != "work: started" || got[0].ContextMap()["total"] != int64(10) {
		t.Fatalf("start line: %+v", got)
	}
	clock.advance(4 * time.Second)
	tr.Add(2) // 4 s since start: under the 10 s throttle
	if n := logs.Len(); n != 0 {
		t.Fatalf("logged %d lines before the throttle interval", n)
	}
	clock.advance(6 * time.Second)
	tr.Add(3) // 10 s: 5 of 10 done at 0.5/s, 10 s left
	lines := logs.TakeAll()
	if len(lines) != 1 {
		t.Fatalf("want one progress line at 10 s, got %d", len(lines))
	}
	f := lines[0].ContextMap()
	want := map[string]any{"done": int64(5), "total": int64(10), "percent": 50.0, "unit": "steps",
		"rate_per_s": 0.5, "elapsed": 10 * time.Second, "eta": 10 * time.Second}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("field %s = %v (%T), want %v", k, f[k], f[k], v)
		}
	}
	tr.Note("phase b")
	clock.advance(10 * time.Second)
	tr.Set(8)
	if lines := logs.TakeAll(); len(lines) != 1 || lines[0].ContextMap()["now"] != "phase b" {
		t.Fatalf("want a line carrying the note, got %+v", lines)
	}
	tr.Finish()
	tr.Finish()
	tr.Add(1) // after Finish: ignored
	lines = logs.TakeAll()
	if len(lines) != 1 || lines[0].Message != "work: finished" || lines[0].ContextMap()["done"] != int64(8) {
		t.Fatalf("want exactly one finish line with done=8, got %+v", lines)
	}
}

func TestDoneIsClampedToTheTotal(t *testing.T) {
	tr, _, _ := logged(t, 3)
	tr.Add(5)
	if s := tr.Snapshot(); s.Done != 3 {
		t.Errorf("Done = %d after adding 5 of 3, want 3", s.Done)
	}
	tr.Set(-2)
	if s := tr.Snapshot(); s.Done != 0 {
		t.Errorf("Done = %d after Set(-2), want 0", s.Done)
	}
}

func TestUnknownTotalLogsNoETA(t *testing.T) {
	tr, logs, clock := logged(t, 0, LogEvery(0))
	logs.TakeAll()
	clock.advance(2 * time.Second)
	tr.Add(4)
	f := logs.TakeAll()[0].ContextMap()
	if _, ok := f["eta"]; ok {
		t.Errorf("an unknown total must not give an ETA: %v", f)
	}
	if f["rate_per_s"] != 2.0 {
		t.Errorf("rate = %v, want 2", f["rate_per_s"])
	}
}

func TestBarDrawsCountAndDescription(t *testing.T) {
	var buf bytes.Buffer
	core, logs := observer.New(zap.InfoLevel)
	tr := New(zap.New(core), "seeding", 4, BarTo(&buf), Unit("tasks"))
	tr.Note("round 1")
	tr.Add(1)
	time.Sleep(120 * time.Millisecond) // past the bar's redraw throttle
	tr.Add(3)
	tr.Finish()
	out := buf.String()
	for _, want := range []string{"seeding (round 1)", "4/4", "tasks/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output lacks %q:\n%q", want, out)
		}
	}
	if logs.Len() != 0 {
		t.Errorf("a bar replaces the log lines, got %d lines", logs.Len())
	}
}

func TestBarStoppedEarlyDoesNotClaimCompletion(t *testing.T) {
	var buf bytes.Buffer
	tr := New(zap.NewNop(), "steps", 10, BarTo(&buf))
	tr.Add(2)
	tr.Finish()
	if strings.Contains(buf.String(), "10/10") {
		t.Errorf("a bar finished at 2/10 shows 10/10:\n%q", buf.String())
	}
}

func TestNilTrackerIgnoresCalls(t *testing.T) {
	var tr *Tracker
	tr.Add(1)
	tr.Set(2)
	tr.Note("x")
	tr.Finish()
	if s := tr.Snapshot(); s != (Snapshot{}) {
		t.Errorf("nil tracker snapshot = %+v", s)
	}
}

func TestTickingLogsWhileNothingIsCounted(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	tr := New(zap.New(core), "one long call", 8, NoBar(), Ticking(), LogEvery(10*time.Millisecond))
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterMessage("one long call").Len() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	tr.Finish()
	ticks := logs.FilterMessage("one long call").All()
	if len(ticks) < 2 {
		t.Fatalf("want repeated lines while the call runs, got %d", len(ticks))
	}
	if f := ticks[0].ContextMap(); f["done"] != int64(0) || f["total"] != int64(8) {
		t.Errorf("tick line fields %v: want done 0 of 8", f)
	}
	n := logs.Len()
	time.Sleep(30 * time.Millisecond)
	if logs.Len() != n {
		t.Errorf("lines kept coming after Finish")
	}
}
