package rl

import (
	"fmt"
	"strings"
)

// Template wraps a task text into the model's prompt. The prompt always ends
// by opening the assistant's reasoning (Prefill, "<think>"), which the
// parsers put back in front of the sampled response (GenerationText).
type Template struct {
	Name    string
	Before  string // text before the task
	After   string // text after the task; ends with Prefill
	Prefill string // the part of After that belongs to the response
	Cut     string // a response is cut at its first Cut, if any
}

// Render returns the full prompt for a task text.
func (t Template) Render(task string) string { return t.Before + task + t.After }

// wrapperInstruction is our wording of the R1-Zero style instruction
// (docs/AZR.md §0): reason inside <think>, answer inside <answer>.
const wrapperInstruction = "A User and an Assistant are talking. The User poses a problem and the Assistant solves it. " +
	"The Assistant first works the problem out step by step, writing that reasoning between <think> and </think>, " +
	"and then writes its final answer between <answer> and </answer>, like this: " +
	"<think> step-by-step reasoning </think> <answer> final answer </answer>."

// TemplateR1 is the plain-text template for base models: no special tokens,
// "User: ...", then "Assistant: <think>".
var TemplateR1 = Template{
	Name:    "r1",
	Before:  wrapperInstruction + "\nUser: ",
	After:   "\nAssistant: <think>",
	Prefill: "<think>",
	Cut:     "Assistant:",
}

// TemplateChatML is the <|im_start|> chat format of Qwen instruct models,
// with the same think/answer instruction as the system message.
var TemplateChatML = Template{
	Name:    "chatml",
	Before:  "<|im_start|>system\n" + wrapperInstruction + "<|im_end|>\n<|im_start|>user\n",
	After:   "<|im_end|>\n<|im_start|>assistant\n<think>",
	Prefill: "<think>",
}

// TemplateByName returns "r1" or "chatml" with the full instruction (the
// "full" prompt style); TemplateFor also knows the compact style.
func TemplateByName(name string) (Template, error) {
	switch name {
	case "r1", "":
		return TemplateR1, nil
	case "chatml", "qwen":
		return TemplateChatML, nil
	}
	return Template{}, fmt.Errorf("unknown template %q (want r1 or chatml)", name)
}

// PromptOptions carries what the task texts depend on besides the task.
// Config.PromptOptions derives them from a run's settings.
type PromptOptions struct {
	BannedModules  []string
	NumInputs      int
	SwapDifficulty bool   // reproduce the reference's swapped difficulty sentence (Q8)
	Style          string // PromptStyleFull ("" too) or PromptStyleCompact (prompt_compact.go)
}

func fence(label, body string) string { return "```" + label + "\n" + body + "\n```" }

// ProposeTriplet writes the task text asking for a new deduction or abduction
// task (docs/AZR.md §2.2), with the reference triplets to differ from.
func ProposeTriplet(typ TaskType, refs []Task, o PromptOptions) string {
	if o.Style == PromptStyleCompact {
		return proposeTripletCompact(typ, refs, o)
	}
	var b strings.Builder
	subject := "work out the output the snippet returns for your input"
	if typ == Abduction {
		subject = "work out an input that makes the snippet return the output it is shown"
	}
	hardDed := "reaching the output from the input should take several careful steps of reasoning"
	hardAbd := "recovering an input from the output alone should take several careful steps of reasoning"
	hard := hardDed
	if typ == Abduction {
		hard = hardAbd
	}
	if o.SwapDifficulty {
		if typ == Abduction {
			hard = hardDed
		} else {
			hard = hardAbd
		}
	}
	fmt.Fprintf(&b, "## Your job: write a new Python code snippet and one input for it\n\n")
	fmt.Fprintf(&b, "You may define your own classes at the top of the snippet. The snippet and your input will be used as a reasoning test (an I.Q. test) for someone else: they will be asked to %s.\n\n", subject)
	b.WriteString("### What the code must do\n")
	b.WriteString("- Name the entry function `f`. Helper functions may be nested inside it.\n")
	b.WriteString("- `f` takes one or more parameters and returns a value.\n")
	b.WriteString("- It is deterministic, and computing its result means keeping track of state over several steps.\n")
	b.WriteString("- No randomness, no dates or times, no file or network I/O, no printing or logging, no state from outside the snippet.\n")
	b.WriteString("- It finishes in well under 10 seconds.\n")
	b.WriteString("- Imports and class definitions go at the top; the snippet ends with the return of `f`, and anything after it is dropped.\n\n")
	b.WriteString("### What the input must look like\n")
	b.WriteString("- Exactly one input: the text that goes between the parentheses of the call `f(...)`.\n")
	b.WriteString("- Separate several arguments with commas, and quote strings.\n\n")
	b.WriteString("### How to format your answer\n")
	b.WriteString("Put the code in a ```python block and the input in an ```input block, for example:\n")
	b.WriteString(fence("python", "def f(name: str, scores: dict):\n    ...\n    return result") + "\n")
	b.WriteString(fence("input", "'Ada', {'math': 91, 'art': 78}") + "\n\n")
	b.WriteString("### How it will be judged\n")
	b.WriteString("- It must run without errors.\n")
	fmt.Fprintf(&b, "- Difficulty: %s; algorithmic or logical work (trees, heaps, graphs, dynamic programming, recursion, backtracking, ...) is welcome.\n", hard)
	b.WriteString("- Creativity: it should be clearly different from the reference snippets below.\n")
	if len(o.BannedModules) > 0 {
		fmt.Fprintf(&b, "- Never use any of these, in any form, not even in comments: %s\n", strings.Join(o.BannedModules, ", "))
	}
	b.WriteString("\nFirst plan what the snippet will do, then write the code and the input.\n")
	if len(refs) > 0 {
		b.WriteString("\n### Reference snippets\n")
		for k, r := range refs {
			fmt.Fprintf(&b, "<snippet_%d>\n%s\n%s\n%s\n</snippet_%d>\n", k, fence("python", r.Program), fence("input", r.Input), fence("output", r.Output), k)
		}
	}
	return b.String()
}

// ProposeInduction writes the task text asking for N inputs and a message for
// an existing program (docs/AZR.md §2.3).
func ProposeInduction(program string, o PromptOptions) string {
	if o.Style == PromptStyleCompact {
		return proposeInductionCompact(program, o)
	}
	var b strings.Builder
	n := o.NumInputs
	fmt.Fprintf(&b, "## Your job: write %d inputs and a message for the code snippet below\n\n", n)
	b.WriteString("Some of your inputs, with the outputs the snippet returns for them, and your message will be shown to someone who cannot see the code; they must work out the function from them. Choose inputs whose outputs differ from each other.\n\n")
	b.WriteString("### What the inputs must look like\n")
	fmt.Fprintf(&b, "- Exactly %d inputs, each the text that goes between the parentheses of the call `f(...)`.\n", n)
	b.WriteString("- Separate several arguments with commas, and quote strings.\n")
	b.WriteString("- Put every input in its own ```input block.\n\n")
	b.WriteString("### What the message must look like\n")
	b.WriteString("- Put it in a ```message block.\n")
	b.WriteString("- It may be phrased any way you like, for example as a coding question or a plain description of what to do, but it must not give away the code.\n\n")
	b.WriteString("For example:\n")
	b.WriteString(fence("input", "'Ada', {'math': 91, 'art': 78}") + "\n")
	b.WriteString(fence("input", "'Grace', {'physics': 64}") + "\n\n")
	b.WriteString("### How it will be judged\n")
	b.WriteString("- Every input must run without errors.\n")
	b.WriteString("- The inputs should cover the space of possible inputs well and differ from one another.\n")
	b.WriteString("- The task should be hard but still solvable from what is shown.\n")
	b.WriteString("\nFirst plan your inputs and message, then write them.\n\n")
	b.WriteString("### The code snippet\n")
	b.WriteString(fence("python", program) + "\n")
	b.WriteString("Each input is placed here: f(<your input goes here>)\n")
	return b.String()
}

// SolveDeduction asks for the output of a program on an input.
func SolveDeduction(t Task) string {
	var b strings.Builder
	b.WriteString("## Your job: predict the output of the code snippet for the given input\n\n")
	b.WriteString("Give the value exactly as Python's repr() would print it: quote strings, and write a tuple when the function returns several values. Put it in an ```output block.\n\n")
	b.WriteString("### Code snippet\n" + fence("python", t.Program) + "\n\n")
	b.WriteString("### Input\n" + fence("input", t.Input) + "\n\n")
	b.WriteString("### Answer format\n" + fence("output", "<the value f returns>") + "\n")
	return b.String()
}

// SolveAbduction asks for any input that makes a program return an output.
func SolveAbduction(t Task) string {
	var b strings.Builder
	b.WriteString("## Your job: find an input for which the code snippet returns the given output\n\n")
	b.WriteString("Any input that produces the output is accepted. Write it as the text that goes between the parentheses of the call `f(...)`: separate several arguments with commas and quote strings. Put it in an ```input block.\n\n")
	b.WriteString("### Code snippet\n" + fence("python", t.Program) + "\n\n")
	b.WriteString("### Output\n" + fence("output", t.Output) + "\n\n")
	b.WriteString("### Answer format\n" + fence("input", "<the arguments of f>") + "\n")
	return b.String()
}

// SolveInduction asks for the program behind the shown pairs and the message.
func SolveInduction(t Task) string {
	gi, gout, _, _ := t.InductionSplit()
	var b strings.Builder
	b.WriteString("## Your job: write the function that turns each input below into its output\n\n")
	b.WriteString("Write a Python function named `f` that returns exactly these outputs for these inputs (and behaves the same way on other inputs, which will be checked). Put the code in a ```python block.\n\n")
	b.WriteString("### Message\n" + t.Message + "\n\n")
	b.WriteString("### Examples\n")
	for i := range gi {
		fmt.Fprintf(&b, "%s\n%s\n", fence("input", gi[i]), fence("output", gout[i]))
	}
	b.WriteString("\n### Answer format\n" + fence("python", "def f(...):\n    ...") + "\n")
	return b.String()
}

// SolveTextWith returns the solver task text for a task of the given type in
// the prompt style of o (only o.Style matters to solver texts).
func SolveTextWith(typ TaskType, t Task, o PromptOptions) string {
	if o.Style == PromptStyleCompact {
		return solveTextCompact(typ, t)
	}
	return SolveText(typ, t)
}

// SolveText returns the solver task text for a task of the given type, in the
// full prompt style.
func SolveText(typ TaskType, t Task) string {
	switch typ {
	case Deduction:
		return SolveDeduction(t)
	case Abduction:
		return SolveAbduction(t)
	}
	return SolveInduction(t)
}
