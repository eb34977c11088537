package nano

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/azr-native/azr-native/internal/synth"
	"github.com/azr-native/azr-native/rl"
)

// CruxRow is a deduction or abduction item in the CRUXEval layout: code
// defines f, input is the text inside the call's parentheses, output is
// repr(f(input)) as the sandbox printed it.
type CruxRow struct {
	ID     string `json:"id"`
	Code   string `json:"code"`
	Input  string `json:"input"`
	Output string `json:"output"`
}

// InductionRow is an induction item: write the function from the examples
// (the first half of the pairs is shown, all are checked) and the message.
type InductionRow struct {
	ID      string   `json:"id"`
	Code    string   `json:"code"`
	Inputs  []string `json:"inputs"`
	Outputs []string `json:"outputs"`
	Message string   `json:"message"`
}

// EvalSplit is one split (dev or test): every program gives one row of each
// type, with the same id in the three files.
type EvalSplit struct {
	Name      string
	Deduction []CruxRow
	Abduction []CruxRow
	Induction []InductionRow
	Stats     CorpusStats
}

// EvalSets are the held-out evaluation sets: dev for choosing
// hyperparameters, test for final numbers only.
type EvalSets struct {
	Dev, Test EvalSplit
}

// EvalOptions configure BuildEvalSets. Zero fields take the defaults noted.
type EvalOptions struct {
	// Seed of the evaluation programs; it must differ from the corpus's
	// (the dev and test generators are derived from it).
	Seed  uint64
	Items int // programs per split (default 200), so Items rows per file
	// Synth holds the difficulty knobs (default: the generator's defaults,
	// the same distribution as the corpus).
	Synth              synth.Options
	NumInputs          int // induction N (default 10)
	MinDistinctOutputs int // default 2, as for the corpus
	Parallel           int // concurrent sandbox validations (default 4)
	Logger             *zap.Logger
	// Exclude holds NormalizeProgram texts that no split may contain: the
	// corpus's programs (Corpus.ProgramSet). The test split also excludes
	// the dev split's programs.
	Exclude map[string]bool
}

// splitSeed derives a split's generator seed from the evaluation seed.
func splitSeed(seed uint64, split string) uint64 {
	h := seed ^ 0x9e3779b97f4a7c15
	for _, c := range split {
		h = (h ^ uint64(c)) * 0x100000001b3
	}
	return h
}

// BuildEvalSets makes the dev and test splits, disjoint from each other and
// from opt.Exclude on normalized program text.
func BuildEvalSets(ctx context.Context, exec rl.Executor, opt EvalOptions) (*EvalSets, error) {
	if opt.Items == 0 {
		opt.Items = 200
	}
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	if opt.Items < 0 {
		return nil, fmt.Errorf("eval sets: items must be > 0, not %d", opt.Items)
	}
	exclude := map[string]bool{}
	for k := range opt.Exclude {
		exclude[k] = true
	}
	sets := &EvalSets{}
	for _, split := range []*EvalSplit{&sets.Dev, &sets.Test} {
		if split == &sets.Dev {
			split.Name = "dev"
		} else {
			split.Name = "test"
		}
		co := CorpusOptions{
			Seed: splitSeed(opt.Seed, split.Name), Programs: 4*opt.Items + 100, NumInputs: opt.NumInputs, Synth: opt.Synth,
			MinDistinctOutputs: opt.MinDistinctOutputs, Parallel: opt.Parallel, Logger: opt.Logger, Exclude: exclude,
		}
		co, err := co.withDefaults()
		if err != nil {
			return nil, err
		}
		tasks, err := realizePrograms(ctx, exec, co, "eval "+split.Name, opt.Items, &split.Stats)
		if err != nil {
			return nil, err
		}
		if len(tasks) < opt.Items {
			return nil, fmt.Errorf("eval %s: only %d usable programs of %d generated, want %d", split.Name, len(tasks), split.Stats.Generated, opt.Items)
		}
		split.Stats.Options = map[string]any{"seed": co.Seed, "items": opt.Items, "num_inputs": co.NumInputs, "min_distinct_outputs": co.MinDistinctOutputs,
			"max_depth": co.Synth.MaxDepth, "max_statements": co.Synth.MaxStatements, "max_input_size": co.Synth.MaxInputSize}
		for i, t := range tasks {
			id := fmt.Sprintf("nano-%s-%04d", split.Name, i)
			split.Deduction = append(split.Deduction, CruxRow{ID: id, Code: t.Program, Input: t.Inputs[0], Output: t.Outputs[0]})
			split.Abduction = append(split.Abduction, CruxRow{ID: id, Code: t.Program, Input: t.Inputs[0], Output: t.Outputs[0]})
			split.Induction = append(split.Induction, InductionRow{ID: id, Code: t.Program, Inputs: t.Inputs, Outputs: t.Outputs, Message: t.Message})
			exclude[NormalizeProgram(t.Program)] = true
		}
		opt.Logger.Info("eval split built", zap.String("split", split.Name), zap.Int("items", len(tasks)), zap.Int("generated", split.Stats.Generated),
			zap.Int("excluded", split.Stats.Excluded))
	}
	return sets, nil
}

// EvalFiles lists the files WriteEvalSets writes under dir, by split and task type.
func EvalFiles(dir string) map[string]map[rl.TaskType]string {
	out := map[string]map[rl.TaskType]string{}
	for _, split := range []string{"dev", "test"} {
		out[split] = map[rl.TaskType]string{}
		for _, typ := range []rl.TaskType{rl.Deduction, rl.Abduction, rl.Induction} {
			out[split][typ] = filepath.Join(dir, "eval", split, typ.String()+".jsonl")
		}
	}
	return out
}

// WriteEvalSets writes dir/eval/{dev,test}/{deduction,abduction,induction}.jsonl.
func WriteEvalSets(dir string, sets *EvalSets) error {
	files := EvalFiles(dir)
	for _, split := range []*EvalSplit{&sets.Dev, &sets.Test} {
		rows := map[rl.TaskType]any{rl.Deduction: split.Deduction, rl.Abduction: split.Abduction, rl.Induction: split.Induction}
		for typ, path := range files[split.Name] {
			if err := writeFileAtomic(path, func(w io.Writer) error { return writeRows(w, rows[typ]) }); err != nil {
				return fmt.Errorf("eval %s %v: %w", split.Name, typ, err)
			}
		}
	}
	return nil
}
