// Package sandbox runs untrusted, model-written Python programs in isolated,
// pooled fork-server workers and computes what AZR needs from them: the repr of
// f(input), validity of proposed tasks and correctness of answers.
//
// This file is the package's public contract (shared with package rl). The
// implementation lives in the other files of the package.
package sandbox

import "time"

// Status says how one execution ended.
type Status string

const (
	StatusOK       Status = "ok"        // f returned; Output holds repr(result)
	StatusError    Status = "error"     // the program raised; Error holds the last traceback line
	StatusTimeout  Status = "timeout"   // killed at the deadline
	StatusMemory   Status = "memory"    // hit the memory limit
	StatusKilled   Status = "killed"    // died from a signal or a resource limit other than the above
	StatusRejected Status = "rejected"  // refused before running (syntax error, banned module, ...)
	StatusTooLarge Status = "too_large" // output exceeded the output cap
)

// Result is the outcome of running one program on one input.
type Result struct {
	Status   Status        `json:"status"`
	Output   string        `json:"output,omitempty"` // repr(f(input)), stripped, when Status == StatusOK
	Error    string        `json:"error,omitempty"`  // e.g. "ZeroDivisionError: division by zero" or why it was rejected
	Duration time.Duration `json:"duration_ns"`
}

// Validation is the verdict on a proposed task: a program plus one or more inputs.
type Validation struct {
	Valid   bool     `json:"valid"`
	Reason  string   `json:"reason,omitempty"`  // why not valid; empty when valid
	Outputs []string `json:"outputs,omitempty"` // repr(f(input_i)) for each input, when valid
	Imports []string `json:"imports,omitempty"` // the program's import lines, rebuilt from its AST
}
