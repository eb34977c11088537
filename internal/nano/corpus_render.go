package nano

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"

	"github.com/azr-native/azr-native/internal/synth"
	"github.com/azr-native/azr-native/rl"
)

// renderer writes documents with the prompts self-play renders and answers
// that self-play's parser reads back (checked for every document).
type renderer struct {
	opt   CorpusOptions
	tpl   rl.Template
	popts rl.PromptOptions
	parse rl.ParseOptions
}

func newRenderer(opt CorpusOptions) (*renderer, error) {
	cfg := rl.DefaultConfig()
	cfg.Template, cfg.PromptStyle, cfg.NumInputs, cfg.References = opt.Template, opt.PromptStyle, opt.NumInputs, opt.References
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	tpl, err := cfg.PromptTemplate()
	if err != nil {
		return nil, err
	}
	return &renderer{opt: opt, tpl: tpl, popts: cfg.PromptOptions(), parse: cfg.Parse}, nil
}

var defParamsRe = regexp.MustCompile(`(?m)^def f\((.*)\):`)

// params returns f's parameter names.
func params(program string) []string {
	m := defParamsRe.FindStringSubmatch(program)
	if m == nil {
		return nil
	}
	var out []string
	for _, p := range strings.Split(m[1], ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// splitArgs splits an argument list at its top-level commas (text only:
// brackets and quotes are tracked, nothing is evaluated).
func splitArgs(s string) []string {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// binding says which argument goes to which parameter: "n = 3, s = 'ab'".
func binding(program, input string) string {
	ps, as := params(program), splitArgs(input)
	if len(ps) != len(as) {
		return "f(" + input + ")"
	}
	parts := make([]string, len(ps))
	for i := range ps {
		parts[i] = ps[i] + " = " + as[i]
	}
	return strings.Join(parts, ", ")
}

var categoryPhrase = map[synth.Category]string{
	synth.Arithmetic:    "does integer arithmetic",
	synth.Strings:       "transforms strings",
	synth.Lists:         "works on lists",
	synth.Dicts:         "builds a dict",
	synth.Comprehension: "uses comprehensions",
	synth.Loops:         "loops with a running state",
	synth.Conditionals:  "branches on its input",
	synth.Recursion:     "uses a recursive helper",
	synth.Imports:       "uses a standard module",
}

// reply is what the model writes after the prompt's "<think>".
func reply(think, answer string) string {
	return " " + think + " </think>\n<answer>\n" + answer + "\n</answer>"
}

func fenced(label, body string) string { return "```" + label + "\n" + body + "\n```" }

// render makes one document of a kind from a task; pool holds the earlier
// triplets that proposer prompts show as references. variant, when not nil,
// is t with one constant changed: a deduction or abduction proposer
// transcript then shows t among its references and answers with variant, in
// the share of transcripts opt.VariantShare asks for.
func (r *renderer) render(kind string, t synth.Task, variant *synth.Task, pool []rl.Task, rng *rand.Rand) (Document, error) {
	j := rng.IntN(len(t.Inputs)) // which input/output pair a deduction/abduction document uses
	triplet := t.TripletAt(j)
	ps := strings.Join(params(t.Program), ", ")
	var task, think, answer string
	var typ rl.TaskType
	role := rl.Solve
	switch kind {
	case KindProgram:
		var b strings.Builder
		b.WriteString(t.Program + "\n\n")
		for _, i := range rng.Perm(len(t.Inputs))[:min(3, len(t.Inputs))] {
			fmt.Fprintf(&b, "assert f(%s) == %s\n", t.Inputs[i], t.Outputs[i])
		}
		return Document{Kind: kind, Text: b.String()}, nil
	case KindProposeDeduction, KindProposeAbduction:
		typ, role = rl.Deduction, rl.Propose
		if kind == KindProposeAbduction {
			typ = rl.Abduction
		}
		k := min(r.opt.References, len(pool))
		refs := make([]rl.Task, k)
		for i, idx := range rng.Perm(len(pool))[:k] {
			refs[i] = pool[idx]
		}
		think = fmt.Sprintf("A new f(%s) that %s, different from the references, and one input for it.", ps, categoryPhrase[t.Category])
		if variant != nil && r.opt.References > 0 && rng.Float64() < r.opt.VariantShare {
			// t, on an input the answer does not use, takes one reference's place.
			shown := (j + 1 + rng.IntN(len(t.Inputs)-1)) % len(t.Inputs)
			at := rng.IntN(k) // k >= 1: the pool starts with the zero triplet
			refs[at] = t.TripletAt(shown)
			t = *variant
			triplet = t.TripletAt(j)
			think = fmt.Sprintf("The %s reference with one number changed, and a new input for it.", ordinal(at))
		}
		task = rl.ProposeTriplet(typ, refs, r.popts)
		answer = synth.ProposalAnswer(t.Program, triplet.Input)
	case KindProposeInduction:
		typ, role = rl.Induction, rl.Propose
		task = rl.ProposeInduction(t.Program, r.popts)
		think = fmt.Sprintf("f(%s) %s. %d inputs with different outputs, and a message that does not show the code.", ps, categoryPhrase[t.Category], len(t.Inputs))
		answer = synth.InductionAnswer(t.Inputs, t.Message)
	case KindSolveDeduction:
		typ = rl.Deduction
		task = rl.SolveTextWith(typ, triplet, r.popts)
		think = fmt.Sprintf("Run f with %s step by step.", binding(t.Program, triplet.Input))
		answer = fenced("output", triplet.Output)
	case KindSolveAbduction:
		typ = rl.Abduction
		task = rl.SolveTextWith(typ, triplet, r.popts)
		think = fmt.Sprintf("f must return %s. Choose %s and check by running f.", clipText(triplet.Output, 60), ps)
		answer = fenced("input", triplet.Input)
	case KindSolveInduction:
		typ = rl.Induction
		task = rl.SolveTextWith(typ, t.Induction(), r.popts)
		think = fmt.Sprintf("The examples and the message: %s Write f(%s) to match every pair.", t.Message, ps)
		answer = fenced("python", t.Program)
	default:
		return Document{}, fmt.Errorf("unknown document kind %q", kind)
	}
	prompt := r.tpl.Render(task)
	resp := reply(think, answer)
	if err := r.check(typ, role, t, triplet, resp); err != nil {
		return Document{}, err
	}
	return Document{Kind: kind, Text: prompt + resp, PromptBytes: len(prompt)}, nil
}

// check parses a transcript's response with self-play's parsers and
// confirms it reads back the intended answer with full format score.
func (r *renderer) check(typ rl.TaskType, role rl.Role, t synth.Task, triplet rl.Task, resp string) error {
	text := rl.GenerationText(r.tpl, resp, r.parse)
	if rl.FormatScore(text) != 1 {
		return fmt.Errorf("format score 0 for %q", text)
	}
	if role == rl.Propose {
		p, err := rl.ParseProposal(typ, text, r.opt.NumInputs, r.parse)
		if err != nil {
			return fmt.Errorf("proposal does not parse: %w", err)
		}
		if typ == rl.Induction {
			if strings.Join(p.Inputs, "\n") != strings.Join(t.Inputs, "\n") || p.Message != t.Message {
				return fmt.Errorf("induction proposal reads back as %v / %q", p.Inputs, p.Message)
			}
		} else if p.Program != t.Program || p.Input != triplet.Input {
			return fmt.Errorf("proposal reads back as %q / %q", p.Program, p.Input)
		}
		return nil
	}
	a := rl.ExtractSolverAnswer(typ, text, r.parse)
	want := map[rl.TaskType]string{rl.Deduction: triplet.Output, rl.Abduction: triplet.Input, rl.Induction: t.Program}[typ]
	if !a.OK || a.Value != want {
		return fmt.Errorf("solver answer reads back as %q, want %q", a.Value, want)
	}
	return nil
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
