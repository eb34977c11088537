package synth

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/azr-native/azr-native/rl"
)

// Task is a generated program made real by the sandbox: every output was
// computed by Python, and the program passed exactly the checks a self-play
// proposal must pass.
type Task struct {
	Category Category `json:"category"`
	Program  string   `json:"program"` // as the proposal parser normalised it (entry function f)
	Inputs   []string `json:"inputs"`
	Outputs  []string `json:"outputs"` // repr(f(input)) per input, from the sandbox
	Imports  []string `json:"imports,omitempty"`
	Message  string   `json:"message"`
}

// Triplet is the deduction/abduction task: the program on its first input.
func (t Task) Triplet() rl.Task { return t.TripletAt(0) }

// TripletAt is the deduction/abduction task of the program on input i.
func (t Task) TripletAt(i int) rl.Task {
	return rl.Task{Program: t.Program, Input: t.Inputs[i], Output: t.Outputs[i], Imports: t.Imports}
}

// Induction is the induction task over all inputs (the first half shown).
func (t Task) Induction() rl.Task {
	return rl.Task{Program: t.Program, Inputs: t.Inputs, Outputs: t.Outputs, Message: t.Message, Imports: t.Imports}
}

// DistinctOutputs counts the different outputs.
func (t Task) DistinctOutputs() int {
	seen := map[string]bool{}
	for _, o := range t.Outputs {
		seen[o] = true
	}
	return len(seen)
}

// ProposalAnswer is the <answer> body a deduction or abduction proposer would
// write for program p on its first input.
func ProposalAnswer(code, input string) string {
	return "```python\n" + code + "\n```\n```input\n" + input + "\n```"
}

// InductionAnswer is the <answer> body an induction proposer would write.
func InductionAnswer(inputs []string, message string) string {
	var b strings.Builder
	for _, in := range inputs {
		b.WriteString("```input\n" + in + "\n```\n")
	}
	b.WriteString("```message\n" + message + "\n```")
	return b.String()
}

// response wraps an answer as the text a model writes after the prompt's
// "<think>" prefill.
func response(answer string) string {
	return " Plan the program. </think>\n<answer>\n" + answer + "\n</answer>"
}

// Realize runs p through the checks self-play applies to proposals, with the
// scorer the trainer uses: the program, written as a deduction proposal on
// its first input, must parse (one top-level function, renamed to f) and
// validate (module policy included); then, as an induction proposal over all
// of p's inputs, it must validate in the sandbox (syntax, every input runs,
// deterministic across two separate executions, outputs within the size cap
// and on one line). The sandbox's
// outputs become the task's. reason says why p was rejected (task is then
// zero); err is non-nil only when ctx ends or the executor fails.
func Realize(ctx context.Context, s *rl.Scorer, p Program) (task Task, reason string, err error) {
	if len(p.Inputs) == 0 || len(p.Inputs) != s.NumInputs {
		return Task{}, fmt.Sprintf("%d distinct inputs, the scorer wants %d", len(p.Inputs), s.NumInputs), nil
	}
	text := rl.GenerationText(s.Template, response(ProposalAnswer(p.Code, p.Inputs[0])), s.Parse)
	prop, err := rl.ParseProposal(rl.Deduction, text, s.NumInputs, s.Parse)
	if err != nil {
		return Task{}, "parse: " + err.Error(), nil
	}
	// As a deduction proposal on its first input: this is where the module
	// policy applies (induction proposals reuse buffer programs and skip it).
	ded, err := s.ScoreProposal(ctx, rl.Deduction, rl.Task{}, text, 0)
	if reason, err := rejection(ded, err); reason != "" || err != nil {
		return Task{}, reason, err
	}
	ps, err := s.ScoreProposal(ctx, rl.Induction, rl.Task{Program: prop.Program}, response(InductionAnswer(p.Inputs, p.Message)), 0)
	if reason, err := rejection(ps, err); reason != "" || err != nil {
		return Task{}, reason, err
	}
	return Task{Category: p.Category, Program: prop.Program, Inputs: ps.Task.Inputs, Outputs: ps.Task.Outputs, Imports: ps.Task.Imports, Message: p.Message}, "", nil
}

// rejection turns a proposal score into Realize's (reason, err): an executor
// failure is an error, an invalid proposal a reason.
func rejection(ps rl.ProposalScore, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(ps.Reason, "executor: ") {
		return "", fmt.Errorf("synth: %s", ps.Reason)
	}
	if !ps.Valid {
		return ps.Reason, nil
	}
	return "", nil
}

// Result is one program's fate in RealizeAll.
type Result struct {
	Program Program
	Task    Task
	Reason  string // empty when Task is valid
}

// RealizeAll realizes programs with up to parallel concurrent sandbox calls
// and returns the results in the programs' order (so the outcome does not
// depend on parallel). progress, if set, is called after each program.
func RealizeAll(ctx context.Context, s *rl.Scorer, progs []Program, parallel int, progress func(done int)) ([]Result, error) {
	out := make([]Result, len(progs))
	parallel = max(1, parallel)
	next := make(chan int)
	var mu sync.Mutex
	var firstErr error
	done := 0
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t, reason, err := Realize(ctx, s, progs[i])
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out[i] = Result{Program: progs[i], Task: t, Reason: reason}
				done++
				if progress != nil {
					progress(done)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range progs {
		if ctx.Err() != nil {
			break
		}
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
