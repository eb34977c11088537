package synth

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
)

// vtype is the static type of a generated Python value. Programs are
// generated type-correct, so the sandbox rejects few of them.
type vtype int

const (
	tInt     vtype = iota
	tStr           // any string
	tBool          // a condition
	tIntList       // list[int]
	tStrList       // list[str]
	tDict          // dict[str, int]
	numTypes
)

func (t vtype) describe() string {
	return [...]string{"an integer", "a string", "a boolean", "a list of integers", "a list of strings", "a dict from strings to integers"}[t]
}

type variable struct {
	name string
	t    vtype
}

// builder composes one program. Scope is a stack: loop and comprehension
// variables are pushed while their body is generated.
type builder struct {
	rng     *rand.Rand
	opt     Options
	cat     Category
	imports map[string]bool // import lines
	names   map[string]bool // identifiers taken
	params  []variable
	scope   []variable
	locals  []variable // assigned at f's top level, in order
	lines   []string
	indent  int
	// alphabet is the program's character set: its string inputs and its
	// character constants share it, so comparisons and counts are not
	// always trivially false.
	alphabet string
	words    []string
}

// Name pools. Python builtins and the imported module names never appear.
var (
	paramNames = map[vtype][]string{
		tInt:     {"n", "k", "x", "y", "m", "a", "b", "num", "limit", "step", "base", "start", "target", "size", "shift", "bound"},
		tStr:     {"s", "text", "word", "name", "code", "msg", "line", "key", "pattern", "label", "phrase"},
		tIntList: {"nums", "xs", "values", "arr", "data", "scores", "seq", "numbers", "costs", "heights", "weights", "points"},
		tStrList: {"words", "names", "tokens", "parts", "tags", "keys", "labels", "items", "fruits"},
		tDict:    {"d", "counts", "table", "mapping", "stock", "prices", "ages", "inventory", "scores_by_name"},
	}
	localNames = map[vtype][]string{
		tInt:     {"total", "acc", "result", "count", "best", "cur", "tmp", "score", "steps", "level", "state", "carry", "diff", "peak", "low", "high", "prod", "run", "hits", "idx", "value", "span"},
		tStr:     {"out", "res", "buf", "prefix", "built", "joined", "tail", "head", "piece", "chunk", "encoded", "rev", "clean", "marked"},
		tBool:    {"flag", "found", "ok", "done", "is_even", "valid", "has_pair", "seen_big"},
		tIntList: {"collected", "kept", "evens", "picked", "stack", "window", "merged", "ordered", "doubled", "trimmed", "diffs", "sizes", "prefix_sums"},
		tStrList: {"pieces", "chunks", "kept_words", "fragments", "upper_words", "sorted_words", "pairs_text", "heads"},
		tDict:    {"freq", "seen", "index", "groups", "tally", "lookup", "by_len", "positions"},
	}
	helperNames  = []string{"helper", "step", "walk", "go", "rec", "visit", "solve", "count_ways", "dig", "fold", "combine", "score_of", "transform", "measure"}
	intLoopVars  = []string{"x", "v", "val", "item", "e", "p", "q", "num", "el"}
	charLoopVars = []string{"ch", "c", "letter", "char"}
	wordLoopVars = []string{"w", "word", "tok", "part", "entry"}
	idxVars      = []string{"i", "j", "pos", "idx", "t"}
	alphabets    = []string{"abcde", "aeioubcd", "abcxyz", "hello", "abab", "xyzw", "mnop", "abcdefgh", "racecar", "banana"}
	wordPool     = []string{"apple", "bob", "cat", "dog", "ear", "fig", "go", "hat", "ice", "jam", "kit", "level", "moon", "noon", "oak", "pen", "quiz", "red", "sun", "top", "up", "van", "wow", "yes", "zoo", "tree", "leaf", "sky", "ant", "bee"}
)

func newBuilder(rng *rand.Rand, o Options, cat Category) *builder {
	b := &builder{rng: rng, opt: o, cat: cat, imports: map[string]bool{}, names: map[string]bool{"f": true}}
	b.alphabet = pick(rng, alphabets)
	// A few words per program, so that list-of-string inputs and string
	// constants overlap.
	perm := rng.Perm(len(wordPool))
	for _, i := range perm[:8] {
		b.words = append(b.words, wordPool[i])
	}
	return b
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func (b *builder) chance(p float64) bool { return b.rng.Float64() < p }

// between returns an int in [lo, hi].
func (b *builder) between(lo, hi int) int { return lo + b.rng.IntN(hi-lo+1) }

// fresh takes an unused identifier from pool (numbered when all are taken).
func (b *builder) fresh(pool []string) string {
	for range 4 {
		n := pick(b.rng, pool)
		if !b.names[n] {
			b.names[n] = true
			return n
		}
	}
	for _, n := range pool {
		if !b.names[n] {
			b.names[n] = true
			return n
		}
	}
	for i := 2; ; i++ {
		n := fmt.Sprintf("%s%d", pool[0], i)
		if !b.names[n] {
			b.names[n] = true
			return n
		}
	}
}

// release frees a loop or comprehension variable's name for reuse.
func (b *builder) release(name string) { delete(b.names, name) }

func (b *builder) emit(format string, args ...any) {
	b.lines = append(b.lines, strings.Repeat("    ", b.indent)+fmt.Sprintf(format, args...))
}

func (b *builder) varsOf(t vtype) []variable {
	var out []variable
	for _, v := range b.scope {
		if v.t == t {
			out = append(out, v)
		}
	}
	return out
}

func (b *builder) push(v variable) { b.scope = append(b.scope, v) }
func (b *builder) pop(n int) {
	for _, v := range b.scope[len(b.scope)-n:] {
		b.release(v.name)
	}
	b.scope = b.scope[:len(b.scope)-n]
}

func (b *builder) use(line string) { b.imports[line] = true }

// paramTypes is the argument list a category starts from.
func (b *builder) paramTypes() []vtype {
	n := 1 + b.rng.IntN(3)
	first := map[Category][]vtype{
		Arithmetic:    {tInt},
		Strings:       {tStr},
		Lists:         {tIntList, tStrList},
		Dicts:         {tDict, tStrList, tStr},
		Comprehension: {tIntList, tStrList, tStr},
		Loops:         {tIntList, tStr, tInt},
		Conditionals:  {tInt, tStr, tIntList},
		Recursion:     {tInt, tStr, tIntList},
		Imports:       {tIntList, tStr, tInt},
	}[b.cat]
	ts := []vtype{pick(b.rng, first)}
	for len(ts) < n {
		if b.chance(0.5) {
			ts = append(ts, tInt)
		} else {
			ts = append(ts, pick(b.rng, []vtype{tInt, tStr, tIntList, tStrList, tDict}))
		}
	}
	return ts
}

// build composes the program; ok is false when its result cannot depend
// on its arguments.
func (b *builder) build() (p Program, ok bool) {
	for _, t := range b.paramTypes() {
		v := variable{b.fresh(paramNames[t]), t}
		b.params = append(b.params, v)
		b.push(v)
	}
	b.indent = 1
	nStmts := 1 + b.rng.IntN(b.opt.MaxStatements)
	// The category's signature statement comes first or after one warm-up.
	core := b.rng.IntN(min(2, nStmts))
	for i := 0; i < nStmts; i++ {
		if i == core {
			b.coreStatement()
		} else {
			b.statement()
		}
	}
	ret, rt, dependsOnArgs := b.returnExpr()
	b.emit("return %s", ret)

	var src strings.Builder
	imps := make([]string, 0, len(b.imports))
	for l := range b.imports {
		imps = append(imps, l)
	}
	sort.Strings(imps)
	for _, l := range imps {
		src.WriteString(l + "\n")
	}
	if len(imps) > 0 {
		src.WriteString("\n")
	}
	names := make([]string, len(b.params))
	for i, p := range b.params {
		names[i] = p.name
	}
	fmt.Fprintf(&src, "def f(%s):\n", strings.Join(names, ", "))
	src.WriteString(strings.Join(b.lines, "\n"))
	return Program{
		Category: b.cat,
		Code:     src.String(),
		Inputs:   b.inputs(),
		Params:   names,
		Message:  b.message(rt),
	}, dependsOnArgs
}

// local assigns a new top-level (or current-block) variable.
func (b *builder) local(t vtype, value string) variable {
	v := variable{b.fresh(localNames[t]), t}
	b.emit("%s = %s", v.name, value)
	b.push(v)
	if b.indent == 1 {
		b.locals = append(b.locals, v)
	}
	return v
}

// returnExpr prefers what the body computed from the arguments; ok is false
// when the returned value cannot depend on them.
func (b *builder) returnExpr() (expr, describe string, ok bool) {
	params := make([]string, len(b.params))
	for i, p := range b.params {
		params[i] = p.name
	}
	dep := dependents(b.lines, params)
	var ls []variable
	for _, v := range b.locals {
		if dep[v.name] && b.inScope(v.name) {
			ls = append(ls, v)
		}
	}
	switch {
	case len(ls) >= 2 && b.chance(0.25):
		x, y := ls[len(ls)-1], ls[b.rng.IntN(len(ls)-1)]
		return fmt.Sprintf("(%s, %s)", x.name, y.name), "a pair (" + x.t.describe() + ", " + y.t.describe() + ")", true
	case len(ls) >= 1 && b.chance(0.7):
		v := ls[len(ls)-1]
		if b.chance(0.3) {
			v = pick(b.rng, ls)
		}
		return v.name, v.t.describe(), true
	}
	t := pick(b.rng, []vtype{tInt, tStr, tIntList, tInt, tStrList, tDict, tBool})
	if len(ls) > 0 && b.chance(0.7) {
		t = ls[len(ls)-1].t
	}
	var names []string
	for n := range dep {
		if b.inScope(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	e := b.dependent(func() string { return b.expr(t, max(1, b.opt.MaxDepth-1)) }, names...)
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return e, t.describe(), mentions(e, set)
}
