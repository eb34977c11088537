package rl

import (
	"fmt"
	"strings"
)

// The compact prompt style: the same six task texts with terse instructions,
// reference triplets written in two lines each instead of three fenced blocks,
// and a one-sentence think/answer instruction in the template. The answer
// formats (```python, ```input, ```output, ```message blocks inside
// <answer>) and therefore the parsers are exactly those of the full style.
// It exists for small-context models such as a nano base with a 512-1024
// token window, where the full proposer prompt alone (~1.2k-1.9k byte-level
// tokens with K = 6 references) does not fit. It says less: the judging
// criteria and the banned-module list are not spelled out (the sandbox still
// enforces the module policy; SwapDifficulty has no sentence to swap), and
// fewer references (Config.References, e.g. 2) keep the proposer prompt short.

// Prompt styles (Config.PromptStyle, PromptOptions.Style).
const (
	PromptStyleFull    = "full"
	PromptStyleCompact = "compact"
)

// PromptStyles lists the accepted prompt styles.
var PromptStyles = []string{PromptStyleFull, PromptStyleCompact}

// checkPromptStyle reports an unknown style; "" means full.
func checkPromptStyle(style string) error {
	if style == "" || oneOf(style, PromptStyles...) {
		return nil
	}
	return fmt.Errorf("prompt_style must be full or compact, not %q", style)
}

// compactInstruction is the compact style's think/answer instruction.
const compactInstruction = "Think inside <think> </think>, then give the final answer inside <answer> </answer>."

// TemplateFor returns the template of a name (r1, chatml) in a prompt style:
// the compact style keeps the template's turns, prefill and cut and shortens
// its instruction to one sentence.
func TemplateFor(name, style string) (Template, error) {
	if err := checkPromptStyle(style); err != nil {
		return Template{}, err
	}
	t, err := TemplateByName(name)
	if err != nil || style != PromptStyleCompact {
		return t, err
	}
	t.Before = strings.Replace(t.Before, wrapperInstruction, compactInstruction, 1)
	return t, nil
}

// PromptOptions returns the options of the run's task texts.
func (c *Config) PromptOptions() PromptOptions {
	return PromptOptions{BannedModules: c.BannedModules, NumInputs: c.NumInputs, SwapDifficulty: c.SwapDifficulty, Style: c.PromptStyle}
}

// PromptTemplate returns the run's template in its prompt style.
func (c *Config) PromptTemplate() (Template, error) { return TemplateFor(c.Template, c.PromptStyle) }

// compactInputRule says what an input is, once, in the compact texts.
const compactInputRule = "An input is the text between the parentheses of a call f(...): arguments separated by commas, strings quoted."

func proposeTripletCompact(typ TaskType, refs []Task, o PromptOptions) string {
	var b strings.Builder
	goal := "predict what f returns for your input"
	if typ == Abduction {
		goal = "find an input for which f returns the same output as yours"
	}
	b.WriteString("Write a new Python function f and one input for it, as a puzzle: someone will " + goal + ".\n")
	b.WriteString("f takes arguments and returns a value; it is deterministic (no randomness, time, I/O or printing) and needs several steps of reasoning. Imports go at the top. " + compactInputRule + "\n")
	b.WriteString("Answer with the code in a ```python block and the input in an ```input block.")
	if len(refs) > 0 {
		b.WriteString(" Make it different from these:\n")
		for _, r := range refs {
			fmt.Fprintf(&b, "%s\nf(%s) == %s\n", fence("python", r.Program), r.Input, r.Output)
		}
	} else {
		b.WriteString("\n")
	}
	return b.String()
}

func proposeInductionCompact(program string, o PromptOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Write %d different inputs for the function f below and a message hinting at what f does without showing its code. Someone will see half of the inputs with their outputs and the message, and must write f.\n", o.NumInputs)
	b.WriteString(compactInputRule + " Put each input in its own ```input block and the message in a ```message block.\n")
	b.WriteString(fence("python", program) + "\n")
	return b.String()
}

func solveTextCompact(typ TaskType, t Task) string {
	var b strings.Builder
	switch typ {
	case Deduction:
		b.WriteString("Predict what f returns for the input. Answer with the value as Python's repr() prints it, in an ```output block.\n")
		b.WriteString(fence("python", t.Program) + "\n" + fence("input", t.Input) + "\n")
	case Abduction:
		b.WriteString("Find an input for which f returns the output. " + compactInputRule + " Answer in an ```input block.\n")
		b.WriteString(fence("python", t.Program) + "\n" + fence("output", t.Output) + "\n")
	default:
		gi, gout, _, _ := t.InductionSplit()
		b.WriteString("Write a Python function f that returns these outputs for these inputs (other inputs are checked too). Answer in a ```python block.\n")
		b.WriteString("Message: " + t.Message + "\n")
		for i := range gi {
			fmt.Fprintf(&b, "f(%s) == %s\n", gi[i], gout[i])
		}
	}
	return b.String()
}
