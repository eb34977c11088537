// Package report turns a self-play run directory into one self-contained
// HTML page (report.html): curves of rewards, accuracies, format and
// valid-proposal rates, signal health, response lengths, buffer sizes,
// throughput and evaluations over the steps, per task type and role, plus a
// few sample proposals and solutions per step and the flagged "uh-oh"
// responses. The plots are PNG images embedded as data: URIs and the page
// loads nothing from anywhere, so it opens offline and can be mailed around.
//
// It reads what `azr-native run` writes: metrics.jsonl (required),
// config.json, samples.jsonl and uhoh.jsonl (each optional).
package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/azr-native/azr-native/rl"
)

// Run is what a run directory holds, as the report reads it.
type Run struct {
	Dir string
	// Config is config.json as written by run (nil when absent).
	Config map[string]any
	// Steps are the step lines of metrics.jsonl in step order. A resumed run
	// redoes the steps after its last checkpoint; the last line of a step wins.
	Steps []rl.StepMetrics
	// Evals are the evaluation lines ({"step", "eval"}) in step order.
	Evals []EvalPoint
	// Samples are samples.jsonl's records (the last ones written for a step win).
	Samples []rl.SampleRecord
	// UhOh are uhoh.jsonl's flags, in file order.
	UhOh []rl.Flag
}

// EvalPoint is one evaluation: scores such as "eval/output/pass_at_1" at a step.
type EvalPoint struct {
	Step   int
	Scores map[string]float64
}

// MetricsFile, SamplesFile, UhOhFile and ConfigFile are the files Load reads.
const (
	MetricsFile = "metrics.jsonl"
	SamplesFile = "samples.jsonl"
	UhOhFile    = "uhoh.jsonl"
	ConfigFile  = "config.json"
)

// Load reads a run directory. metrics.jsonl must exist and hold at least one
// step; a line that is not a metrics record is an error naming the file and
// line, never skipped silently.
func Load(dir string) (*Run, error) {
	r := &Run{Dir: dir}
	mpath := filepath.Join(dir, MetricsFile)
	f, err := os.Open(mpath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: no %s: is this a run directory (azr-native run --out DIR)?", dir, MetricsFile)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := r.readMetrics(mpath, f); err != nil {
		return nil, err
	}
	if len(r.Steps) == 0 {
		return nil, fmt.Errorf("%s holds no step yet: the run has not finished its first step", mpath)
	}
	if err := r.readConfig(filepath.Join(dir, ConfigFile)); err != nil {
		return nil, err
	}
	if err := readLines(filepath.Join(dir, SamplesFile), func(line []byte) error {
		var s rl.SampleRecord
		if err := json.Unmarshal(line, &s); err != nil {
			return err
		}
		if s.Batch == "" {
			return fmt.Errorf("no \"batch\" field: not a sample record")
		}
		r.Samples = append(r.Samples, s)
		return nil
	}); err != nil {
		return nil, err
	}
	r.Samples = lastWritePerStep(r.Samples)
	if err := readLines(filepath.Join(dir, UhOhFile), func(line []byte) error {
		var fl rl.Flag
		if err := json.Unmarshal(line, &fl); err != nil {
			return err
		}
		if fl.Pattern == "" {
			return fmt.Errorf("no \"pattern\" field: not an uh-oh flag")
		}
		r.UhOh = append(r.UhOh, fl)
		return nil
	}); err != nil {
		return nil, err
	}
	return r, nil
}

// metricsLine tells the two kinds of metrics.jsonl lines apart.
type metricsLine struct {
	Step    *int               `json:"step"`
	Eval    map[string]float64 `json:"eval"`
	Batches json.RawMessage    `json:"batches"`
}

func (r *Run) readMetrics(path string, in io.Reader) error {
	steps := map[int]rl.StepMetrics{}
	evals := map[int]map[string]float64{}
	err := scanLines(path, in, func(line []byte) error {
		var probe metricsLine
		if err := json.Unmarshal(line, &probe); err != nil {
			return err
		}
		switch {
		case probe.Step == nil:
			return fmt.Errorf("no \"step\" field: not a metrics record")
		case probe.Eval != nil:
			evals[*probe.Step] = probe.Eval
		case probe.Batches != nil:
			var m rl.StepMetrics
			if err := json.Unmarshal(line, &m); err != nil {
				return err
			}
			steps[m.Step] = m
		default:
			return fmt.Errorf("neither a step record (\"batches\") nor an evaluation (\"eval\")")
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, s := range sortedKeys(steps) {
		r.Steps = append(r.Steps, steps[s])
	}
	for _, s := range sortedKeys(evals) {
		r.Evals = append(r.Evals, EvalPoint{Step: s, Scores: evals[s]})
	}
	return nil
}

func (r *Run) readConfig(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &r.Config); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readLines calls f on each non-empty line of an optional JSON-lines file.
func readLines(path string, f func([]byte) error) error {
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer file.Close()
	return scanLines(path, file, f)
}

// scanLines calls f on each non-empty line; an error names the file and
// line. A last line without its newline that does not parse is one the run
// is writing right now: it is left for the next report, not an error.
func scanLines(path string, in io.Reader, f func([]byte) error) error {
	data, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	lines := bytes.Split(data, []byte("\n"))
	for i, raw := range lines {
		line := bytes.TrimSpace(raw)
		if len(line) == 0 {
			continue
		}
		if err := f(line); err != nil {
			if i == len(lines)-1 && !json.Valid(line) {
				return nil // still being written
			}
			return fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
	}
	return nil
}

// lastWritePerStep keeps the last record of each (step, batch, index): a
// resumed run redoes the steps after its last checkpoint and writes their
// samples again (the same ones: resuming is deterministic).
func lastWritePerStep(recs []rl.SampleRecord) []rl.SampleRecord {
	type key struct {
		step  int
		batch string
		index int
	}
	last := map[key]int{}
	for i, s := range recs {
		last[key{s.Step, s.Batch, s.Index}] = i
	}
	var out []rl.SampleRecord
	for i, s := range recs {
		if last[key{s.Step, s.Batch, s.Index}] == i {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Step < out[b].Step })
	return out
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}
