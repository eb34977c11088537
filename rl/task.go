package rl

import (
	"encoding/json"
	"fmt"
	"strings"
)

// TaskType is one of AZR's three code-reasoning task types.
type TaskType int

const (
	// Deduction: given a program and an input, predict the output (reference name code_o).
	Deduction TaskType = iota
	// Abduction: given a program and an output, find an input producing it (code_i).
	Abduction
	// Induction: given input/output pairs and a message, write the program (code_f).
	Induction
)

// AllTaskTypes lists the task types in the order a self-play step processes
// them (docs/AZR.md §7: abduction, deduction, induction).
var AllTaskTypes = []TaskType{Abduction, Deduction, Induction}

func (t TaskType) String() string {
	switch t {
	case Deduction:
		return "deduction"
	case Abduction:
		return "abduction"
	case Induction:
		return "induction"
	}
	return fmt.Sprintf("TaskType(%d)", int(t))
}

// ParseTaskType accepts deduction|abduction|induction and the reference's
// code_o|code_i|code_f.
func ParseTaskType(s string) (TaskType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "deduction", "code_o", "o":
		return Deduction, nil
	case "abduction", "code_i", "i":
		return Abduction, nil
	case "induction", "code_f", "f":
		return Induction, nil
	}
	return 0, fmt.Errorf("unknown task type %q (want deduction, abduction or induction)", s)
}

func (t TaskType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

func (t *TaskType) UnmarshalText(b []byte) error {
	v, err := ParseTaskType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Role says whether the model proposes a task or solves one.
type Role int

const (
	Propose Role = iota
	Solve
)

func (r Role) String() string {
	switch r {
	case Propose:
		return "propose"
	case Solve:
		return "solve"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// ParseRole accepts propose|solve (and the reference's gen|pred).
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "propose", "proposer", "gen":
		return Propose, nil
	case "solve", "solver", "pred":
		return Solve, nil
	}
	return 0, fmt.Errorf("unknown role %q (want propose or solve)", s)
}

func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// BatchKey names one of the six (task type x role) batches of a step.
type BatchKey struct {
	Type TaskType
	Role Role
}

func (k BatchKey) String() string { return k.Role.String() + "_" + k.Type.String() }

// BatchOrder is the order in which the six batches are concatenated for the
// single optimizer update (docs/AZR.md §7: gen_i, pred_i, gen_o, pred_o, gen_f, pred_f).
var BatchOrder = []BatchKey{
	{Abduction, Propose}, {Abduction, Solve},
	{Deduction, Propose}, {Deduction, Solve},
	{Induction, Propose}, {Induction, Solve},
}

// Task is one entry of a buffer, and the TASK.json format of `azr-native task score`.
//
// For deduction and abduction it is a triplet (Program, Input, Output); for
// induction it is a program with N inputs, their outputs and a message.
//
//	program   Python source defining the entry function f (imports and classes at the top)
//	input     deduction/abduction: the text inside the call's parentheses, e.g. "'abc', [1, 2]"
//	output    deduction/abduction: repr(f(input)) as the sandbox printed it, stripped
//	inputs    induction: the N inputs (the first len/2 are shown to the solver, the rest are hidden)
//	outputs   induction: repr(f(input_n)) for each input
//	message   induction: the proposer's hint for the solver (must not reveal the code)
//	imports   the program's import lines, as the sandbox rebuilt them from its AST
//	step      the self-play step that added the entry (0 for seeds)
//	thought   the proposer's <think> text (kept for inspection only)
type Task struct {
	Program string   `json:"program"`
	Input   string   `json:"input,omitempty"`
	Output  string   `json:"output,omitempty"`
	Inputs  []string `json:"inputs,omitempty"`
	Outputs []string `json:"outputs,omitempty"`
	Message string   `json:"message,omitempty"`
	Imports []string `json:"imports,omitempty"`
	Step    int      `json:"step"`
	Thought string   `json:"thought,omitempty"`
}

// key identifies a task's content for de-duplication (the step and thought do not count).
func (t *Task) key() string {
	b, _ := json.Marshal(struct {
		P, I, O string
		Is, Os  []string
		M       string
	}{t.Program, t.Input, t.Output, t.Inputs, t.Outputs, t.Message})
	return string(b)
}

// InductionSplit returns the shown (given) and hidden pairs of an induction
// task: the first len(inputs)/2 pairs are shown, the rest are hidden.
func (t *Task) InductionSplit() (givenIn, givenOut, hiddenIn, hiddenOut []string) {
	n := len(t.Inputs)
	if len(t.Outputs) < n {
		n = len(t.Outputs)
	}
	h := n / 2
	return t.Inputs[:h], t.Outputs[:h], t.Inputs[h:n], t.Outputs[h:n]
}

// IdentityProgram is the "zero triplet" program that seeds every buffer.
const IdentityProgram = "def f(a):\n    return a"

// ZeroTriplet is the identity task that seeds the deduction and abduction buffers.
func ZeroTriplet() Task {
	return Task{Program: IdentityProgram, Input: "'Hello world'", Output: "'Hello world'"}
}

// ZeroInduction is the identity task that seeds the induction buffer: six
// inputs of assorted types (so a 3/3 split) whose outputs equal their reprs.
func ZeroInduction() Task {
	return Task{
		Program: IdentityProgram,
		Inputs:  []string{"'Hello world'", "1", "dict(a=1, b=2)", "(1.1, 1.2, 1.3)", "'[[1, 0, 0], [0, 0, 0], [0, 0, 0]]'", "1001101100010001"},
		Outputs: []string{"'Hello world'", "1", "{'a': 1, 'b': 2}", "(1.1, 1.2, 1.3)", "'[[1, 0, 0], [0, 0, 0], [0, 0, 0]]'", "1001101100010001"},
		Message: "Whatever goes in comes back out unchanged.",
	}
}
