package nano

import (
	"context"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"

	"github.com/azr-native/azr-native/internal/progress"
	"github.com/azr-native/azr-native/internal/synth"
	"github.com/azr-native/azr-native/rl"
)

// Variant proposals. A model of a few million weights, pretrained for
// minutes, does not write a new program that runs: measured in the first
// experiment, 1 valid proposal in 480. What even a small transformer learns
// quickly is to copy text from its context. So part of the deduction and
// abduction proposer transcripts (CorpusOptions.VariantShare) show one of
// the references as the program the answer starts from: the answer is that
// reference with one integer constant changed, on a new input, and its
// think says which reference it changes. Self-play's proposers see
// references from their buffers, so a base that learned this proposes
// programs that run from the first step, and they still differ from every
// reference ("make it different from these", as the prompt asks).

// integerLiteral finds integer constants (word boundaries keep names such as
// x1 and digits inside identifiers out).
var integerLiteral = regexp.MustCompile(`\b\d+\b`)

// variantCode returns code with one integer constant of its body changed by
// a small amount, or false when the body has none. Import and def lines are
// left alone; which constant and by how much come from rng.
func variantCode(code string, rng *rand.Rand) (string, bool) {
	type span struct{ start, end int }
	var spans []span
	offset := 0
	for _, line := range strings.SplitAfter(code, "\n") {
		head := strings.TrimSpace(line)
		if !strings.HasPrefix(head, "def ") && !strings.HasPrefix(head, "import ") && !strings.HasPrefix(head, "from ") {
			for _, m := range integerLiteral.FindAllStringIndex(line, -1) {
				spans = append(spans, span{offset + m[0], offset + m[1]})
			}
		}
		offset += len(line)
	}
	if len(spans) == 0 {
		return "", false
	}
	s := spans[rng.IntN(len(spans))]
	v, err := strconv.Atoi(code[s.start:s.end])
	if err != nil || len(code[s.start:s.end]) > 1 && code[s.start] == '0' {
		return "", false // too long for an int, or a literal with leading zeros
	}
	deltas := []int{-2, -1, 1, 2, 3}
	nv := v + deltas[rng.IntN(len(deltas))]
	if nv < 0 || nv == v {
		nv = v + 1
	}
	return code[:s.start] + strconv.Itoa(nv) + code[s.end:], true
}

// variantTries is how many one-constant variants are tried per program.
// Many constants of generated programs do not change what f returns on its
// ten inputs (a bound no loop reaches, a branch no input takes), so a second
// try often finds one that does.
const variantTries = 2

// realizeVariants makes, for each task, up to variantTries variants with one
// constant changed and realizes them on the task's inputs with self-play's
// checks. variants[i] is task i's variant (nil when none is valid with
// varying outputs): the first that computes something else than the task on
// some input, else the first valid one (its text still differs). Same tasks
// and seed => the same variants.
func realizeVariants(ctx context.Context, exec rl.Executor, opt CorpusOptions, tasks []synth.Task, st *CorpusStats) ([]*synth.Task, error) {
	scorer, err := corpusScorer(opt, exec)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x766172)) // "var"
	var progs []synth.Program
	var of []int // progs[k] is a variant of tasks[of[k]]
	for i, t := range tasks {
		tried := map[string]bool{}
		for range variantTries {
			code, ok := variantCode(t.Program, rng)
			if !ok || tried[code] {
				continue
			}
			tried[code] = true
			progs = append(progs, synth.Program{Category: t.Category, Code: code, Inputs: t.Inputs, Params: params(t.Program), Message: t.Message})
			of = append(of, i)
		}
	}
	tr := progress.New(opt.Logger, "corpus: one-constant variants realized in the sandbox", int64(len(progs)), progress.Unit("programs"))
	defer tr.Finish()
	res, err := synth.RealizeAll(ctx, scorer, progs, opt.Parallel, func(int) { tr.Add(1) })
	if err != nil {
		return nil, err
	}
	variants := make([]*synth.Task, len(tasks))
	changed := make([]bool, len(tasks))
	for k, r := range res {
		i := of[k]
		if r.Reason != "" || r.Task.DistinctOutputs() < opt.MinDistinctOutputs || changed[i] {
			continue
		}
		differs := strings.Join(r.Task.Outputs, "\n") != strings.Join(tasks[i].Outputs, "\n")
		if variants[i] == nil || differs {
			v := r.Task
			variants[i], changed[i] = &v, differs
		}
	}
	for i, v := range variants {
		if v != nil {
			st.Variants++
			if changed[i] {
				st.VariantsChanged++
			}
		}
	}
	return variants, nil
}

// ordinal names a reference's place in a proposer prompt.
func ordinal(i int) string {
	if i < len(ordinals) {
		return ordinals[i]
	}
	return strconv.Itoa(i+1) + "th"
}

var ordinals = []string{"first", "second", "third", "fourth", "fifth", "sixth"}
