package eval

import (
	"context"
	"fmt"
	"strings"

	"github.com/azr-native/azr-native/internal/parallel"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
)

// Executor is the sandbox as eval needs it: self-play's checks, plus running
// a program (function tasks and row verification). *sandbox.Pool implements it.
type Executor interface {
	rl.Executor
	Run(ctx context.Context, program, input string) (sandbox.Result, error)
}

var _ Executor = (*sandbox.Pool)(nil)

// SampleResult is the verdict on one response.
type SampleResult struct {
	Response string  `json:"response"`
	Answer   string  `json:"answer,omitempty"` // the extracted output, input or program
	Parsed   bool    `json:"parsed"`           // an answer could be extracted
	Format   float64 `json:"format_score"`     // 1 for <think>...</think><answer>...</answer>
	Correct  bool    `json:"correct"`
	// Detail says why a function answer failed (the sandbox's status and
	// error), or why a response was not judged.
	Detail string `json:"detail,omitempty"`
	// ExecError is set when the executor itself failed (after retries); the
	// sample counts as wrong and the summary counts it.
	ExecError    string `json:"exec_error,omitempty"`
	Tokens       int    `json:"tokens,omitempty"`
	PromptTokens int    `json:"prompt_tokens,omitempty"`
	Finish       string `json:"finish,omitempty"`
}

// Scorer judges responses to items. Parse and Template must be the ones the
// prompts were made with (the template's prefill, e.g. "<think>", goes back in
// front of every response before parsing).
type Scorer struct {
	Exec     Executor
	Template rl.Template
	Parse    rl.ParseOptions
	Retries  int // retries of an executor call that failed (not of a program that failed)
}

// retry runs an executor call up to 1+n times while it fails and ctx lives.
func retry[T any](ctx context.Context, n int, f func() (T, error)) (T, error) {
	var v T
	var err error
	for i := 0; i <= n; i++ {
		if v, err = f(); err == nil || ctx.Err() != nil {
			return v, err
		}
	}
	return v, err
}

// Score judges one response to an item. The error is non-nil only when ctx
// ends; executor failures are reported in SampleResult.ExecError.
func (s *Scorer) Score(ctx context.Context, task Task, it *Item, response string) (SampleResult, error) {
	res := SampleResult{Response: response}
	switch task {
	case TaskOutput, TaskInput:
		// Exactly self-play's solver verdict.
		sc := rl.Scorer{Exec: s.Exec, Parse: s.Parse, Template: s.Template, Retries: s.Retries}
		v, err := sc.ScoreSolve(ctx, task.selfPlayType(), it.Task, response)
		if err != nil {
			return res, err
		}
		res.Answer, res.Parsed, res.Format, res.Correct, res.ExecError = v.Parsed.Value, v.Parsed.OK, v.Format, v.Correct, v.ExecErr
		return res, nil
	case TaskInduction, TaskFunction:
	default:
		return res, fmt.Errorf("unknown eval task %q", task)
	}

	// Induction and function: the program in the last python block.
	text := rl.GenerationText(s.Template, response, s.Parse)
	a := rl.ExtractSolverAnswer(rl.Induction, text, s.Parse)
	res.Answer, res.Parsed, res.Format = a.Value, a.OK, rl.FormatScore(text)
	if !a.OK {
		res.Format = 0 // no program: bad format, as in self-play
		res.Detail = "no python block in the answer"
		return res, nil
	}
	var err error
	if task == TaskInduction {
		// Every pair, shown and held back.
		res.Correct, err = retry(ctx, s.Retries, func() (bool, error) {
			return s.Exec.CheckProgram(ctx, a.Value, it.Task.Imports, it.Task.Inputs, it.Task.Outputs)
		})
	} else {
		res.Correct, res.Detail, err = s.runFunction(ctx, it, functionSource(it, a.Value))
	}
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		res.Correct, res.ExecError = false, err.Error()
	}
	return res, nil
}

// runFunction runs a function row's test against source in the sandbox.
// passed is true only when the harness returned True.
func (s *Scorer) runFunction(ctx context.Context, it *Item, source string) (passed bool, detail string, err error) {
	r, err := retry(ctx, s.Retries, func() (sandbox.Result, error) {
		return s.Exec.Run(ctx, functionHarness(it, source), "0")
	})
	if err != nil {
		return false, "", err
	}
	if r.Status == sandbox.StatusOK && r.Output == "True" {
		return true, "", nil
	}
	detail = string(r.Status)
	if r.Error != "" {
		detail += ": " + r.Error
	}
	return false, detail, nil
}

// verifyItem checks an item's own gold data in the sandbox: f(input) gives
// the output (output, input), f reproduces every pair (induction), or the
// canonical solution passes the test (function, when the row has one). A
// non-empty reason means the row is unusable; err means the executor failed.
func (s *Scorer) verifyItem(ctx context.Context, task Task, it *Item) (reason string, err error) {
	switch task {
	case TaskOutput, TaskInput:
		return s.verifyPair(ctx, it.Task.Program, it.Task.Input, it.Task.Output, "")
	case TaskInduction:
		for i := range it.Task.Inputs {
			why, err := s.verifyPair(ctx, it.Task.Program, it.Task.Inputs[i], it.Task.Outputs[i], fmt.Sprintf("pair %d: ", i))
			if why != "" || err != nil {
				return why, err
			}
		}
		return "", nil
	case TaskFunction:
		if strings.TrimSpace(it.Solution) == "" {
			return "", nil // nothing to verify against
		}
		ok, detail, err := s.runFunction(ctx, it, it.Prompt+it.Solution)
		if err != nil || ok {
			return "", err
		}
		return "the row's canonical_solution fails its own test: " + detail, nil
	}
	return "", fmt.Errorf("unknown eval task %q", task)
}

func (s *Scorer) verifyPair(ctx context.Context, program, input, output, prefix string) (string, error) {
	r, err := retry(ctx, s.Retries, func() (sandbox.Result, error) { return s.Exec.Run(ctx, program, input) })
	if err != nil {
		return "", err
	}
	if r.Status != sandbox.StatusOK {
		why := string(r.Status)
		if r.Error != "" {
			why += ": " + r.Error
		}
		return fmt.Sprintf("%sthe row's code does not run on its input (%s)", prefix, why), nil
	}
	same, err := retry(ctx, s.Retries, func() (bool, error) { return s.Exec.CheckOutput(ctx, output, r.Output) })
	if err != nil {
		return "", err
	}
	if !same {
		if strings.TrimSpace(r.Output) == strings.TrimSpace(output) {
			// The same text, yet not equal: the checker only evaluates
			// literal-like values (no inf, nan or objects), as in self-play.
			return fmt.Sprintf("%sthe output %s is not a value the answer checker can compare (it evaluates only literals, as in self-play)", prefix, clip(output)), nil
		}
		return fmt.Sprintf("%sf(%s) returns %s, not the row's output %s", prefix, clip(input), clip(r.Output), clip(output)), nil
	}
	return "", nil
}

func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// Verify checks every item's gold data in the sandbox (see Scorer) and moves
// unusable rows to ds.Bad with their line numbers. As when reading, a
// dataset left without items, or with any bad row under strict, is an error.
func Verify(ctx context.Context, s *Scorer, ds *Dataset, strict bool, workers int) error {
	reasons := make([]string, len(ds.Items))
	err := parallel.For(ctx, len(ds.Items), workers, func(i int) error {
		why, err := s.verifyItem(ctx, ds.Task, &ds.Items[i])
		reasons[i] = why
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: verifying rows: %w", ds.Name, err)
	}
	var keep []Item
	for i, it := range ds.Items {
		if reasons[i] != "" {
			ds.Bad = append(ds.Bad, RowError{Line: it.Line, ID: it.ID, Reason: reasons[i]})
		} else {
			keep = append(keep, it)
		}
	}
	ds.Items = keep
	sortRowErrors(ds.Bad)
	return ds.Err(strict)
}

// Load reads a benchmark file and verifies its rows in the sandbox: the one
// call a caller needs before Run. Bad rows are in Dataset.Bad (with strict,
// any bad row is an error; without, only a file with no usable row is).
func Load(ctx context.Context, path string, task Task, exec Executor, strict bool, workers int) (*Dataset, error) {
	ds, err := ReadFile(path, task, false)
	if err != nil {
		return nil, err
	}
	s := &Scorer{Exec: exec, Template: rl.TemplateR1, Parse: rl.DefaultParseOptions(), Retries: 2}
	if err := Verify(ctx, s, ds, false, workers); err != nil {
		return nil, err
	}
	// Every bad row, from reading and from verifying, in one report.
	return ds, ds.Err(strict)
}
