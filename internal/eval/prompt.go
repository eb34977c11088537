package eval

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/azr-native/azr-native/rl"
)

// PromptText is the task text of an item, before the template wraps it:
// self-play's solver prompt for output, input and induction, and a prompt in
// the same manner for function, in the prompt style of a run (rl.PromptStyleFull,
// "" too, or rl.PromptStyleCompact).
func PromptText(task Task, it *Item, style string) string {
	if task == TaskFunction {
		return functionText(it, style)
	}
	return rl.SolveTextWith(task.selfPlayType(), it.Task, rl.PromptOptions{Style: style})
}

func fence(label, body string) string { return "```" + label + "\n" + body + "\n```" }

// functionText asks for the completed function in a ```python block, which
// the induction parser (the last python block of the answer) extracts.
func functionText(it *Item, style string) string {
	prompt := fence("python", strings.TrimRight(it.Prompt, "\n"))
	if style == rl.PromptStyleCompact {
		return "Complete the function " + it.EntryPoint + " so that it does what its docstring says; tests will call it. Answer with the whole function in a ```python block.\n" + prompt + "\n"
	}
	var b strings.Builder
	b.WriteString("## Your job: complete the Python function below\n\n")
	b.WriteString("Write the whole function `" + it.EntryPoint + "`: its signature, its body and any imports or helpers it needs, so that it does what its docstring says. Hidden tests will call it. Put the code in a ```python block.\n\n")
	b.WriteString("### Function to complete\n" + prompt + "\n\n")
	b.WriteString("### Answer format\n" + fence("python", "def "+it.EntryPoint+"(...):\n    ...") + "\n")
	return b.String()
}

// functionSource is the program a function answer is judged as: the row's
// prompt (its imports, helpers and the docstring-only definition) followed
// by the answer, which redefines the entry point; an answer that is only a
// body is indented under the prompt's definition instead.
func functionSource(it *Item, answer string) string {
	def := regexp.MustCompile(`(?m)^def[ \t]+` + regexp.QuoteMeta(it.EntryPoint) + `[ \t]*\(`)
	if def.MatchString(answer) {
		return it.Prompt + "\n\n" + answer + "\n"
	}
	return strings.TrimRight(it.Prompt, "\n") + "\n" + indentBody(answer) + "\n"
}

// indentBody re-indents a function body by four spaces. The parser trimmed
// the first line's indentation, so the common indentation of the other lines
// is taken as the body's own.
func indentBody(body string) string {
	lines := strings.Split(body, "\n")
	common := -1
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if common < 0 || n < common {
			common = n
		}
	}
	for i, l := range lines {
		if i > 0 && common > 0 && len(l) >= common {
			l = l[common:]
		}
		if strings.TrimSpace(l) != "" {
			l = "    " + l
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// functionHarness is the program the sandbox runs for a function answer:
// f(0) executes the answer and the row's test in a namespace of their own
// (so an answer that defines its own f or check cannot replace the
// harness's), calls check(entry_point) and returns True when no assertion
// failed. The source travels as a JSON string, which is a valid Python
// string literal.
func functionHarness(it *Item, source string) string {
	full := source + "\n\n" + it.Test + "\n"
	lit, _ := json.Marshal(full)
	var b strings.Builder
	b.WriteString("def f(_):\n")
	b.WriteString("    namespace = {'__name__': '__main__'}\n")
	b.WriteString("    exec(compile(" + string(lit) + ", '<solution>', 'exec'), namespace)\n")
	b.WriteString("    namespace['check'](namespace[" + pyString(it.EntryPoint) + "])\n")
	b.WriteString("    return True\n")
	return b.String()
}

func pyString(s string) string {
	lit, _ := json.Marshal(s)
	return string(lit)
}
