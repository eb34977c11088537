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

// TaskFromName guesses the task of a benchmark file from its base name:
// a name containing deduction (or cruxeval-o), abduction (cruxeval-i),
// induction or humaneval, as the files `azr-native nano data` writes
// (deduction.jsonl, abduction.jsonl, induction.jsonl). ok is false when the
// name says nothing or more than one task.
func TaskFromName(path string) (task Task, ok bool) {
	base := strings.ToLower(path[strings.LastIndexAny(path, `/\`)+1:])
	var found []Task
	for _, c := range []struct {
		task  Task
		words []string
	}{
		{TaskOutput, []string{"deduction", "cruxeval-o", "cruxeval_o"}},
		{TaskInput, []string{"abduction", "cruxeval-i", "cruxeval_i"}},
		{TaskInduction, []string{"induction"}},
		{TaskFunction, []string{"humaneval"}},
	} {
		for _, w := range c.words {
			if strings.Contains(base, w) {
				found = append(found, c.task)
				break
			}
		}
	}
	if len(found) != 1 {
		return "", false
	}
	return found[0], true
}
