package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
	"github.com/nats-io/nats.go"
)

// Executor is an rl.Executor whose calls run on sandbox workers. Every call
// is one work-queue message; the verdict is the worker's sandbox pool's,
// computed exactly as the in-process pool computes it.
type Executor struct {
	c      *Client
	policy ExecPolicy
}

var (
	_ rl.Executor   = (*Executor)(nil)
	_ LocalExecutor = (*Executor)(nil)
	_ LocalExecutor = (*sandbox.Pool)(nil)
)

// LocalExecutor is what a sandbox worker serves with: the executor calls
// plus single runs (for evaluation). *sandbox.Pool implements it.
type LocalExecutor interface {
	rl.Executor
	Run(ctx context.Context, program, input string) (sandbox.Result, error)
}

// NewExecutor returns an executor over c's sandbox workers. policy is the
// trainer's execution policy; only workers with the same one serve it.
func NewExecutor(c *Client, policy ExecPolicy) *Executor { return &Executor{c: c, policy: policy} }

func (e *Executor) call(ctx context.Context, req sandboxRequest) (sandboxResult, error) {
	req.Policy = e.policy
	body, err := encode(req)
	if err != nil {
		return sandboxResult{}, fmt.Errorf("cluster executor: %w", err)
	}
	var res sandboxResult
	_, err = e.c.do(ctx, sandboxSubject, body, func(h nats.Header, b []byte) error {
		var r sandboxResult
		if err := decode(h, b, &r); err != nil {
			return err
		}
		res = r.unmarshalled()
		return nil
	})
	if err != nil {
		return sandboxResult{}, err
	}
	if res.Err != "" {
		return res, errors.New(res.Err)
	}
	return res, nil
}

// Validate implements rl.Executor.
func (e *Executor) Validate(ctx context.Context, program string, inputs []string) (sandbox.Validation, error) {
	r, err := e.call(ctx, sandboxRequest{Op: opValidate, Program: program, Inputs: inputs})
	return r.Validation, err
}

// ValidateInputs implements rl.Executor.
func (e *Executor) ValidateInputs(ctx context.Context, program string, inputs []string) (sandbox.Validation, error) {
	r, err := e.call(ctx, sandboxRequest{Op: opValidateInputs, Program: program, Inputs: inputs})
	return r.Validation, err
}

// CheckOutput implements rl.Executor.
func (e *Executor) CheckOutput(ctx context.Context, gold, predicted string) (bool, error) {
	r, err := e.call(ctx, sandboxRequest{Op: opCheckOutput, Gold: gold, Predicted: predicted})
	return r.OK, err
}

// CheckInput implements rl.Executor.
func (e *Executor) CheckInput(ctx context.Context, program string, imports []string, gold, predictedInput string) (bool, error) {
	r, err := e.call(ctx, sandboxRequest{Op: opCheckInput, Program: program, Imports: imports, Gold: gold, Predicted: predictedInput})
	return r.OK, err
}

// CheckProgram implements rl.Executor.
func (e *Executor) CheckProgram(ctx context.Context, program string, imports []string, inputs, outputs []string) (bool, error) {
	r, err := e.call(ctx, sandboxRequest{Op: opCheckProgram, Program: program, Imports: imports, Inputs: inputs, Outputs: outputs})
	return r.OK, err
}

// Run runs program on one input (what evaluation needs besides rl.Executor).
func (e *Executor) Run(ctx context.Context, program, input string) (sandbox.Result, error) {
	r, err := e.call(ctx, sandboxRequest{Op: opRun, Program: program, Input: input})
	return r.Run, err
}

// serveSandbox runs one request on a local executor (the worker's side).
func serveSandbox(ctx context.Context, exec LocalExecutor, req sandboxRequest) sandboxResult {
	var (
		r   sandboxResult
		err error
	)
	switch req.Op {
	case opValidate:
		r.Validation, err = exec.Validate(ctx, req.Program, req.Inputs)
	case opValidateInputs:
		r.Validation, err = exec.ValidateInputs(ctx, req.Program, req.Inputs)
	case opCheckOutput:
		r.OK, err = exec.CheckOutput(ctx, req.Gold, req.Predicted)
	case opCheckInput:
		r.OK, err = exec.CheckInput(ctx, req.Program, req.Imports, req.Gold, req.Predicted)
	case opCheckProgram:
		r.OK, err = exec.CheckProgram(ctx, req.Program, req.Imports, req.Inputs, req.Outputs)
	case opRun:
		r.Run, err = exec.Run(ctx, req.Program, req.Input)
	default:
		err = fmt.Errorf("unknown sandbox operation %q", req.Op)
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r.marshalled()
}
