package rl

import (
	"fmt"
	"regexp"
	"strings"
)

// ParseOptions selects between the reference's parsing rules and azr-native's
// fixes. DefaultParseOptions fixes the quirks; ReferenceParseOptions
// reproduces the paper branch.
type ParseOptions struct {
	// CodeFence picks the proposal's code block. "python" (default): the first
	// block labelled python/py or unlabelled. "first": the reference's regex,
	// the first block of ANY language, so an input block written first became
	// "the code" (docs/AZR.md Q7). It also picks the induction solver's program:
	// the last python/unlabelled block, or (with "first") the last block of any kind.
	CodeFence string `json:"code_fence"`
	// RejectMultipleFunctions rejects proposals defining more than one function (reference: true).
	RejectMultipleFunctions bool `json:"reject_multiple_functions"`
	// CountNestedFunctions counts nested defs and methods too (reference
	// behaviour, Q6, which contradicts the prompt's "nested definitions are
	// allowed"). Default false: only top-level defs count.
	CountNestedFunctions bool `json:"count_nested_functions"`
	// FReplaceLocation says which function is renamed to f when none is
	// called f: "not_first" (the first def, reference default) or "any_last"
	// (keep f if it exists, else rename the last def; Llama/Qwen3 scripts).
	FReplaceLocation string `json:"f_replace_location"`
	// ReferenceRename also rewrites NAME( after a dot (method calls such as
	// obj.NAME(...)) when renaming, as the reference's \bNAME\s*\( regex did.
	// Default false: only plain calls are renamed.
	ReferenceRename bool `json:"reference_rename"`
	// StripQuotes strips " and ' characters from both ends of the generation
	// text before parsing, as the reference's strip('"\'') did. Default false.
	StripQuotes bool `json:"strip_quotes"`
	// SolverFallbacks says where a deduction/abduction answer may come from
	// when the <answer> holds no ```output / ```input block. "reference"
	// (default): the reference's full list, in its order — a "# Output:"
	// block (to the next fence or the end, so it may span lines), an
	// output(...) / input(...) call, an <output> tag (closed or not), a
	// sentence "the output is ...", then the whole answer. The solver reward
	// then agrees with the one that trained the published models. "strict":
	// a one-line "# Output:" comment, a closed tag, then the whole answer.
	SolverFallbacks string `json:"solver_fallbacks"`
}

// DefaultParseOptions returns azr-native's rules: the reference's with its quirks fixed.
func DefaultParseOptions() ParseOptions {
	return ParseOptions{CodeFence: "python", RejectMultipleFunctions: true, FReplaceLocation: "not_first", SolverFallbacks: "reference"}
}

// ReferenceParseOptions reproduces the paper branch's parsing.
func ReferenceParseOptions() ParseOptions {
	return ParseOptions{CodeFence: "first", RejectMultipleFunctions: true, CountNestedFunctions: true,
		FReplaceLocation: "not_first", ReferenceRename: true, StripQuotes: true, SolverFallbacks: "reference"}
}

func (o *ParseOptions) validate() error {
	if !oneOf(o.CodeFence, "python", "first") {
		return fmt.Errorf("parse.code_fence must be python or first, not %q", o.CodeFence)
	}
	if !oneOf(o.FReplaceLocation, "not_first", "any_last") {
		return fmt.Errorf("parse.f_replace_location must be not_first or any_last, not %q", o.FReplaceLocation)
	}
	if !oneOf(o.SolverFallbacks, "", "reference", "strict") { // "" (configs written before the option): reference
		return fmt.Errorf("parse.solver_fallbacks must be reference or strict, not %q", o.SolverFallbacks)
	}
	return nil
}

var (
	formatRe      = regexp.MustCompile(`^(?s)<think>.*?</think>\s*<answer>.*?</answer>`)
	fenceRe       = regexp.MustCompile("(?s)```[ \\t]*([A-Za-z0-9_+.-]*)[ \\t]*\\n?(.*?)\\n?```")
	refFirstFence = regexp.MustCompile("(?is)```(?:python\\s*)?\\n?(.*?)\\n?```")
	defAnyRe      = regexp.MustCompile(`(?m)^\s*def\s+(\w+)\s*\(`)
	defTopRe      = regexp.MustCompile(`(?m)^def\s+(\w+)\s*\(`)
)

// GenerationText is the text the parsers see: the part of the response
// template that the prompt already opened (tpl.Prefill, e.g. "<think>")
// followed by the sampled response, cut at the first tpl.Cut (for the r1
// template "Assistant:", where a base model starts inventing the next turn;
// the reference split the decoded text on it), trimmed, and quote-stripped
// under the reference option.
func GenerationText(tpl Template, response string, opt ParseOptions) string {
	if tpl.Cut != "" {
		if i := strings.Index(response, tpl.Cut); i >= 0 {
			response = response[:i]
		}
	}
	s := strings.TrimSpace(tpl.Prefill + response)
	if opt.StripQuotes {
		s = strings.Trim(s, `"'`)
	}
	return s
}

// FormatScore is 1 when the text starts with <think>...</think> followed by
// <answer>...</answer> (trailing text allowed), else 0 (docs/AZR.md §4.1).
func FormatScore(text string) float64 {
	// Equivalent to formatRe (which the tests check) without running a
	// lazy DOTALL regex over the whole response: some "</think>" after the
	// opening tag is followed by optional whitespace, "<answer>", and later
	// a "</answer>".
	if !strings.HasPrefix(text, "<think>") {
		return 0
	}
	rest := text[len("<think>"):]
	for {
		i := strings.Index(rest, "</think>")
		if i < 0 {
			return 0
		}
		rest = rest[i+len("</think>"):]
		after := strings.TrimLeft(rest, " \t\n\f\r")
		if strings.HasPrefix(after, "<answer>") {
			if strings.Contains(after[len("<answer>"):], "</answer>") {
				return 1
			}
			return 0 // a later </think> cannot find a </answer> either
		}
	}
}

// formatScoreRegexp is the reference definition of FormatScore.
func formatScoreRegexp(text string) float64 {
	if formatRe.MatchString(text) {
		return 1
	}
	return 0
}

// ExtractAnswer returns the text after the LAST <answer>, up to the next
// </answer> or the end, trimmed; ok is false when there is no <answer>.
func ExtractAnswer(text string) (answer string, ok bool) {
	i := strings.LastIndex(text, "<answer>")
	if i < 0 {
		return "", false
	}
	rest := text[i+len("<answer>"):]
	if j := strings.Index(rest, "</answer>"); j >= 0 {
		rest = rest[:j]
	}
	return strings.TrimSpace(rest), true
}

// ExtractThought returns the text of the first <think>...</think>, trimmed.
func ExtractThought(text string) string {
	i := strings.Index(text, "<think>")
	if i < 0 {
		return ""
	}
	rest := text[i+len("<think>"):]
	j := strings.Index(rest, "</think>")
	if j < 0 {
		return ""
	}
	return strings.TrimSpace(rest[:j])
}

// Fence is one ``` block: its label (lower case, may be empty) and body.
type Fence struct {
	Label string
	Body  string
}

// Fences returns the ``` blocks of s in order.
func Fences(s string) []Fence {
	var out []Fence
	for _, m := range fenceRe.FindAllStringSubmatch(s, -1) {
		out = append(out, Fence{Label: strings.ToLower(m[1]), Body: m[2]})
	}
	return out
}

func isCodeLabel(l string) bool { return l == "" || l == "python" || l == "py" || l == "python3" }

func firstFence(fs []Fence, label string) (string, bool) {
	for _, f := range fs {
		if f.Label == label {
			return f.Body, true
		}
	}
	return "", false
}

func lastFence(fs []Fence, label string) (string, bool) {
	for i := len(fs) - 1; i >= 0; i-- {
		if fs[i].Label == label {
			return fs[i].Body, true
		}
	}
	return "", false
}

// The fallback patterns, compiled once per label.
var commentRes, tagRes = map[string]*regexp.Regexp{}, map[string]*regexp.Regexp{}

func init() {
	for _, l := range []string{"input", "output", "message"} {
		commentRes[l] = regexp.MustCompile(`(?mi)^[ \t]*#[ \t]*` + l + `[ \t]*:[ \t]*(.+)$`)
		tagRes[l] = regexp.MustCompile(`(?s)<` + l + `>(.*?)</` + l + `>`)
	}
}

// commentLine finds "# Label: value" and returns value (first or last match).
func commentLine(s, label string, last bool) (string, bool) {
	return submatch(commentRes[label], s, last)
}

// tagged finds <tag>value</tag> and returns value (first or last match).
func tagged(s, tag string, last bool) (string, bool) {
	return submatch(tagRes[tag], s, last)
}

// submatch returns the trimmed first group of re's first (or last) match in s.
func submatch(re *regexp.Regexp, s string, last bool) (string, bool) {
	ms := re.FindAllStringSubmatch(s, -1)
	if len(ms) == 0 {
		return "", false
	}
	m := ms[0]
	if last {
		m = ms[len(ms)-1]
	}
	return strings.TrimSpace(m[1]), true
}

// Proposal is what a proposer response parsed into.
type Proposal struct {
	Answer    string   `json:"answer"`
	Thought   string   `json:"thought,omitempty"`
	Program   string   `json:"program,omitempty"`   // deduction/abduction, after renaming to f
	Original  string   `json:"original,omitempty"`  // the program as written
	Functions []string `json:"functions,omitempty"` // the def names counted
	Input     string   `json:"input,omitempty"`     // deduction/abduction
	Inputs    []string `json:"inputs,omitempty"`    // induction: the last N input blocks
	Message   string   `json:"message,omitempty"`   // induction
}

// ParseProposal parses a proposer's generation text (see GenerationText).
// A non-nil error says why the proposal is unusable (reward -1).
// For induction, numInputs is the required number of inputs (10).
func ParseProposal(typ TaskType, text string, numInputs int, opt ParseOptions) (Proposal, error) {
	answer, ok := ExtractAnswer(text)
	if !ok || answer == "" {
		return Proposal{Answer: answer, Thought: ExtractThought(text)}, fmt.Errorf("no <answer> content")
	}
	return parseProposalBody(typ, text, answer, numInputs, opt)
}

// ParseSeedProposal parses a proposal made during seeding the way the
// reference does (docs/AZR.md §6.3): the blocks are looked for in the whole
// generation text, so a response without <answer> tags (usual for a base
// model before any training) still yields a task.
func ParseSeedProposal(typ TaskType, text string, numInputs int, opt ParseOptions) (Proposal, error) {
	if answer, ok := ExtractAnswer(text); ok && answer != "" {
		if p, err := parseProposalBody(typ, text, answer, numInputs, opt); err == nil {
			return p, nil
		}
	}
	return parseProposalBody(typ, text, text, numInputs, opt)
}

// parseProposalBody finds a proposal's blocks in body (the <answer> content,
// or during seeding the whole text).
func parseProposalBody(typ TaskType, text, body string, numInputs int, opt ParseOptions) (Proposal, error) {
	p := Proposal{Answer: body, Thought: ExtractThought(text)}
	answer := body
	fences := Fences(answer)
	if typ == Induction {
		var ins []string
		for _, f := range fences {
			if f.Label == "input" {
				ins = append(ins, strings.TrimSpace(f.Body))
			}
		}
		if len(ins) < numInputs {
			return p, fmt.Errorf("%d input blocks, want at least %d", len(ins), numInputs)
		}
		p.Inputs = ins[len(ins)-numInputs:]
		msg, ok := firstFence(fences, "message")
		if !ok {
			msg, ok = tagged(answer, "message", false)
		}
		if !ok {
			msg, ok = commentLine(answer, "message", false)
		}
		msg = strings.TrimSpace(msg)
		if !ok || msg == "" {
			return p, fmt.Errorf("no message block")
		}
		p.Message = msg
		return p, nil
	}

	// Deduction and abduction: one program and one input.
	var code string
	ok := false
	if opt.CodeFence == "first" {
		if m := refFirstFence.FindStringSubmatch(answer); m != nil {
			code, ok = m[1], true
		}
	} else {
		for _, f := range fences {
			if isCodeLabel(f.Label) {
				code, ok = f.Body, true
				break
			}
		}
	}
	code = strings.TrimSpace(code)
	if !ok || code == "" {
		return p, fmt.Errorf("no python code block")
	}
	in, ok := firstFence(fences, "input")
	if !ok {
		in, ok = commentLine(answer, "input", false)
	}
	in = strings.TrimSpace(in)
	if !ok || in == "" {
		return p, fmt.Errorf("no input block")
	}
	p.Original, p.Input = code, in
	prog, names, err := NormalizeProgram(code, opt)
	p.Functions = names
	if err != nil {
		return p, err
	}
	p.Program = prog
	return p, nil
}

// NormalizeProgram counts the program's functions and renames the entry
// function to f (docs/AZR.md §2.4 steps 4-5).
func NormalizeProgram(code string, opt ParseOptions) (string, []string, error) {
	re := defTopRe
	if opt.CountNestedFunctions {
		re = defAnyRe
	}
	var names []string
	for _, m := range re.FindAllStringSubmatch(code, -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		return code, names, fmt.Errorf("no function definition")
	}
	if opt.RejectMultipleFunctions && len(names) > 1 {
		return code, names, fmt.Errorf("%d functions defined (%s), want one", len(names), strings.Join(names, ", "))
	}
	target := names[0]
	if opt.FReplaceLocation == "any_last" {
		target = names[len(names)-1]
		for _, n := range names {
			if n == "f" {
				target = "f"
			}
		}
	}
	if target == "f" {
		return code, names, nil
	}
	q := regexp.QuoteMeta(target)
	code = regexp.MustCompile(`\bdef\s+`+q+`\s*\(`).ReplaceAllString(code, "def f(")
	if opt.ReferenceRename {
		code = regexp.MustCompile(`\b`+q+`\s*\(`).ReplaceAllString(code, "f(")
	} else {
		code = regexp.MustCompile(`(^|[^.\w])`+q+`\s*\(`).ReplaceAllString(code, "${1}f(")
	}
	return code, names, nil
}

// SolverAnswer is what a solver response parsed into.
type SolverAnswer struct {
	Answer string `json:"answer"` // the <answer> content
	Value  string `json:"value"`  // the extracted input, output or program
	Source string `json:"source"` // where Value came from: fence, comment, tag, answer
	OK     bool   `json:"ok"`     // false: nothing usable (format 0 for induction)
}

// ExtractSolverAnswer takes the solver's answer for a task type (docs/AZR.md §4.1):
// deduction the last ```output block, abduction the last ```input block,
// then the fallbacks ParseOptions.SolverFallbacks lists, then the whole
// answer content; induction the last python block.
func ExtractSolverAnswer(typ TaskType, text string, opt ParseOptions) SolverAnswer {
	answer, ok := ExtractAnswer(text)
	a := SolverAnswer{Answer: answer}
	if !ok {
		return a
	}
	fences := Fences(answer)
	if typ == Induction {
		for i := len(fences) - 1; i >= 0; i-- {
			if opt.CodeFence == "first" || isCodeLabel(fences[i].Label) {
				a.Value, a.Source = strings.TrimSpace(fences[i].Body), "fence"
				a.OK = a.Value != ""
				return a
			}
		}
		return a
	}
	label := "output"
	if typ == Abduction {
		label = "input"
	}
	if v, ok := lastFence(fences, label); ok {
		a.Value, a.Source, a.OK = strings.TrimSpace(v), "fence", true
		return a
	}
	if opt.SolverFallbacks == "strict" {
		if v, ok := commentLine(answer, label, true); ok {
			a.Value, a.Source, a.OK = v, "comment", true
		} else if v, ok := tagged(answer, label, true); ok {
			a.Value, a.Source, a.OK = v, "tag", true
		} else {
			a.Value, a.Source, a.OK = answer, "answer", answer != ""
		}
		return a
	}
	for _, f := range referenceFallbacks {
		if v, ok := f.find(answer, label); ok {
			a.Value, a.Source, a.OK = strings.TrimSpace(v), f.source, true
			return a
		}
	}
	a.Value, a.Source, a.OK = answer, "answer", answer != ""
	return a
}

// The reference's solver-answer fallbacks, in its order; each takes the LAST
// match of its pattern (case-insensitive, "." matching newlines too).
var referenceFallbacks = []struct {
	source string
	find   func(answer, label string) (string, bool)
}{
	{"comment", commentBlock},
	{"call", func(s, l string) (string, bool) { return lastGroup(callRes[l], s) }},
	{"tag", func(s, l string) (string, bool) { return lastGroup(openTagRes[l], s) }},
	{"sentence", func(s, l string) (string, bool) { return lastGroup(sentenceRes[l], s) }},
}

// Patterns of the reference fallbacks, per label ("input", "output").
var callRes, openTagRes, sentenceRes = map[string]*regexp.Regexp{}, map[string]*regexp.Regexp{}, map[string]*regexp.Regexp{}

func init() {
	for _, l := range []string{"input", "output"} {
		// input(...) up to the FIRST ")": a nested call is cut short, as in the reference.
		callRes[l] = regexp.MustCompile(`(?is)` + l + `\s*\((.*?)\)`)
		// <input> up to </input>, or to the end when the tag is never closed.
		openTagRes[l] = regexp.MustCompile(`(?is)<` + l + `>\s*(.*?)(?:</` + l + `>|\s*$)`)
		// "the input is X" to the end of the answer, without a final period.
		sentenceRes[l] = regexp.MustCompile(`(?is)the ` + l + ` is\s*(.*?)\.?$`)
	}
}

// lastGroup returns group 1 of re's last match in s.
func lastGroup(re *regexp.Regexp, s string) (string, bool) {
	ms := re.FindAllStringSubmatch(s, -1)
	if len(ms) == 0 {
		return "", false
	}
	return ms[len(ms)-1][1], true
}

// commentBlock finds the last "# Input:" (any case) and returns what follows
// it, leading whitespace skipped, up to the next line that opens a ``` fence
// or the end of the answer: the block may span several lines. (The
// reference's pattern needs a look-ahead, which Go's regexp lacks.)
func commentBlock(s, label string) (string, bool) {
	marker := "# " + label + ":"
	lower := strings.ToLower(s)
	value, found := "", false
	for pos := 0; ; {
		i := strings.Index(lower[pos:], marker)
		if i < 0 {
			return value, found
		}
		start := pos + i + len(marker)
		for start < len(s) && isSpace(s[start]) {
			start++
		}
		end := len(s)
		if j := strings.Index(s[start:], "\n```"); j >= 0 {
			end = start + j
		} else if strings.HasSuffix(s, "\n") && end > start {
			end-- // Python's $ also matches before a final newline
		}
		value, found, pos = s[start:end], true, end
		if pos >= len(s) {
			return value, found
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
