package eval

import (
	"fmt"
	"strings"

	"github.com/azr-native/azr-native/rl"
)

// Task is what a benchmark file asks of the model.
type Task string

const (
	// TaskOutput: predict f(input) (self-play's deduction; CRUXEval-O).
	TaskOutput Task = "output"
	// TaskInput: find an input x with f(x) == output (abduction; CRUXEval-I).
	TaskInput Task = "input"
	// TaskInduction: write f from input/output pairs and a message.
	TaskInduction Task = "induction"
	// TaskFunction: complete a HumanEval-style function that its tests check.
	TaskFunction Task = "function"
)

// Tasks lists every task in a stable order.
var Tasks = []Task{TaskOutput, TaskInput, TaskInduction, TaskFunction}

// ParseTask accepts the task names and the self-play names they correspond
// to: output|deduction|code_o, input|abduction|code_i, induction|code_f,
// function|humaneval.
func ParseTask(s string) (Task, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "output", "deduction", "code_o":
		return TaskOutput, nil
	case "input", "abduction", "code_i":
		return TaskInput, nil
	case "induction", "code_f":
		return TaskInduction, nil
	case "function", "humaneval":
		return TaskFunction, nil
	}
	return "", fmt.Errorf("unknown eval task %q (want output, input, induction or function)", s)
}

// selfPlayType is the self-play task type whose solver prompt and parser a
// task uses (function parses like induction: the last python block).
func (t Task) selfPlayType() rl.TaskType {
	switch t {
	case TaskOutput:
		return rl.Deduction
	case TaskInput:
		return rl.Abduction
	}
	return rl.Induction
}
