package synth

import (
	"fmt"
	"strings"
)

// Statements of f's body. Loops always terminate: for loops run over finite
// inputs or constant ranges, while loops divide a non-negative counter or
// move two indices towards each other or carry a step bound, and recursion
// shrinks a bounded argument.

// statementWeights are the odds of each statement kind per category, in the
// order assign, update, for loop, while loop, if chain, helper function.
var statementWeights = map[Category][6]int{
	Arithmetic:    {5, 3, 1, 2, 2, 1},
	Strings:       {5, 2, 2, 1, 1, 1},
	Lists:         {4, 2, 3, 1, 1, 1},
	Dicts:         {4, 2, 3, 0, 1, 1},
	Comprehension: {6, 1, 1, 0, 1, 1},
	Loops:         {2, 2, 5, 2, 1, 0},
	Conditionals:  {3, 2, 1, 1, 4, 1},
	Recursion:     {4, 2, 1, 1, 1, 2},
	Imports:       {5, 2, 2, 1, 1, 1},
}

// statement emits one statement of a kind the category favours.
func (b *builder) statement() {
	weights := statementWeights[b.cat]
	total := 0
	for _, w := range weights {
		total += w
	}
	r := b.rng.IntN(total)
	kind := 0
	for ; r >= weights[kind]; kind++ {
		r -= weights[kind]
	}
	switch kind {
	case 0:
		b.assign()
	case 1:
		if !b.update() {
			b.assign()
		}
	case 2:
		b.forLoop()
	case 3:
		b.whileLoop()
	case 4:
		b.ifChain()
	default:
		b.helper()
	}
}

// coreStatement emits the category's signature construct.
func (b *builder) coreStatement() {
	switch b.cat {
	case Arithmetic:
		if b.chance(0.3) {
			b.pairRecurrence()
		} else {
			b.local(tInt, b.intExpr(b.opt.MaxDepth))
		}
	case Strings:
		if b.chance(0.3) {
			b.forLoopOver(tStr, tStr)
		} else {
			b.local(tStr, b.strExpr(b.opt.MaxDepth))
		}
	case Lists:
		if b.chance(0.5) {
			b.forLoopOver(tIntList, tIntList)
		} else {
			b.local(tIntList, b.intListExpr(b.opt.MaxDepth))
		}
	case Dicts:
		if b.chance(0.6) {
			b.forLoopOver(pick(b.rng, []vtype{tStr, tStrList, tIntList}), tDict)
		} else {
			b.local(tDict, b.dictExpr(b.opt.MaxDepth))
		}
	case Comprehension:
		t := pick(b.rng, []vtype{tIntList, tIntList, tStrList, tDict})
		switch t {
		case tIntList:
			b.local(t, "["+b.comp(pick(b.rng, []vtype{tIntList, tStr, tStrList}), b.opt.MaxDepth, tInt, b.chance(0.6))+"]")
		case tStrList:
			b.local(t, "["+b.comp(pick(b.rng, []vtype{tStrList, tStr}), b.opt.MaxDepth, tStr, b.chance(0.6))+"]")
		default:
			b.local(t, b.dictExpr(b.opt.MaxDepth))
		}
	case Loops:
		if b.chance(0.75) {
			b.forLoop()
		} else {
			b.whileLoop()
		}
	case Conditionals:
		b.ifChain()
	case Recursion:
		b.recursion()
	case Imports:
		b.importStatement()
	}
}

func (b *builder) assign() {
	t := pick(b.rng, []vtype{tInt, tInt, tStr, tIntList, tStrList, tDict, tBool})
	switch b.cat {
	case Strings:
		t = pick(b.rng, []vtype{tStr, tStr, tInt, tStrList})
	case Lists:
		t = pick(b.rng, []vtype{tIntList, tIntList, tStrList, tInt})
	case Arithmetic:
		t = pick(b.rng, []vtype{tInt, tInt, tInt, tBool, tIntList})
	case Dicts:
		t = pick(b.rng, []vtype{tDict, tDict, tStrList, tInt})
	}
	b.local(t, b.dependent(func() string { return b.expr(t, b.opt.MaxDepth) }))
}

// update changes an existing top-level local in place; false if there is none.
func (b *builder) update() bool {
	if len(b.locals) == 0 {
		return false
	}
	v := pick(b.rng, b.locals)
	if !b.inScope(v.name) || v.t == tBool {
		return false
	}
	b.accUpdate(v)
	return true
}

func (b *builder) inScope(name string) bool {
	for _, v := range b.scope {
		if v.name == name {
			return true
		}
	}
	return false
}

// hiding generates with v out of scope, so that an accumulator's update does
// not feed on itself (s += s doubles per iteration and overflows the output cap).
func (b *builder) hiding(v variable, gen func() string) string {
	saved := b.scope
	b.scope = nil
	for _, x := range saved {
		if x.name != v.name {
			b.scope = append(b.scope, x)
		}
	}
	s := gen()
	b.scope = saved
	return s
}

// accUpdate emits one statement folding a value into the accumulator acc.
func (b *builder) accUpdate(acc variable) {
	d := max(1, b.opt.MaxDepth-1)
	switch acc.t {
	case tInt:
		e := b.hiding(acc, func() string { return b.dependent(func() string { return b.expr(tInt, d) }) })
		switch b.rng.IntN(5) {
		case 0, 1:
			b.emit("%s += %s", acc.name, e)
		case 2:
			b.emit("%s -= %s", acc.name, e)
		case 3:
			b.emit("%s = %s(%s, %s)", acc.name, pick(b.rng, []string{"max", "min"}), acc.name, e)
		default:
			b.emit("%s = (%s * %s + %s) %% %d", acc.name, acc.name, b.smallConst(), e, b.between(11, 1009))
		}
	case tStr:
		e := b.hiding(acc, func() string { return b.dependent(func() string { return b.expr(tStr, d) }) })
		if b.chance(0.7) {
			b.emit("%s += %s", acc.name, e)
		} else {
			b.emit("%s = %s + %s", acc.name, e, acc.name)
		}
	case tIntList:
		e := b.hiding(acc, func() string { return b.dependent(func() string { return b.expr(tInt, d) }) })
		switch b.rng.IntN(4) {
		case 0, 1:
			b.emit("%s.append(%s)", acc.name, e)
		case 2:
			b.emit("%s.insert(0, %s)", acc.name, e)
		default:
			b.emit("if %s and %s[-1] == %s:", acc.name, acc.name, e)
			b.emit("    %s.pop()", acc.name)
			b.emit("else:")
			b.emit("    %s.append(%s)", acc.name, e)
		}
	case tStrList:
		e := b.hiding(acc, func() string { return b.expr(tStr, d) })
		b.emit("%s.append(%s)", acc.name, e)
	case tDict:
		key := b.dictKey()
		e := b.hiding(acc, func() string { return b.expr(tInt, 0) })
		if b.chance(0.5) {
			e = "1"
		}
		b.emit("%s[%s] = %s.get(%s, 0) + %s", acc.name, key, acc.name, key, e)
	}
}

// dictKey is a string-valued key built from what is in scope.
func (b *builder) dictKey() string {
	if v, ok := b.leafVar(tStr); ok && b.chance(0.7) {
		return v
	}
	if v, ok := b.leafVar(tInt); ok {
		if b.chance(0.5) {
			return fmt.Sprintf("'even' if %s %% 2 == 0 else 'odd'", v)
		}
		return fmt.Sprintf("str(%s %% %s)", v, b.smallConst())
	}
	return b.strConst()
}

// forLoop folds some iterable into a fresh accumulator.
func (b *builder) forLoop() {
	src := pick(b.rng, []vtype{tIntList, tStr, tStrList, tInt})
	acc := pick(b.rng, []vtype{tInt, tInt, tStr, tIntList, tDict})
	b.forLoopOver(src, acc)
}

var accInit = map[vtype][]string{tInt: {"0", "0", "1"}, tStr: {"''"}, tIntList: {"[]"}, tStrList: {"[]"}, tDict: {"{}"}}

func (b *builder) forLoopOver(src, accT vtype) {
	// The header is generated before the accumulator exists, so that the
	// loop never walks over its own (empty) accumulator.
	var header string
	var loopVars []variable
	switch src {
	case tInt:
		i := variable{b.fresh(idxVars), tInt}
		header = fmt.Sprintf("for %s in range(%s):", i.name, pick(b.rng, []string{b.smallConst(), "min(abs(" + b.leaf(tInt) + "), 12)", fmt.Sprintf("1, %d", b.between(4, 12))}))
		loopVars = []variable{i}
	case tStr:
		if b.chance(0.3) {
			i, c := variable{b.fresh(idxVars), tInt}, variable{b.fresh(charLoopVars), tStr}
			header = fmt.Sprintf("for %s, %s in enumerate(%s):", i.name, c.name, b.expr(tStr, 1))
			loopVars = []variable{i, c}
		} else {
			c := variable{b.fresh(charLoopVars), tStr}
			header = fmt.Sprintf("for %s in %s:", c.name, b.expr(tStr, 1))
			loopVars = []variable{c}
		}
	case tStrList:
		w := variable{b.fresh(wordLoopVars), tStr}
		header = fmt.Sprintf("for %s in %s:", w.name, b.expr(tStrList, 1))
		loopVars = []variable{w}
	default:
		if b.chance(0.3) {
			i, x := variable{b.fresh(idxVars), tInt}, variable{b.fresh(intLoopVars), tInt}
			header = fmt.Sprintf("for %s, %s in enumerate(%s):", i.name, x.name, b.expr(tIntList, 1))
			loopVars = []variable{i, x}
		} else {
			x := variable{b.fresh(intLoopVars), tInt}
			header = fmt.Sprintf("for %s in %s:", x.name, b.expr(tIntList, 1))
			loopVars = []variable{x}
		}
	}
	acc := b.local(accT, pick(b.rng, accInit[accT]))
	mark := len(b.scope)
	b.emit("%s", header)
	for _, v := range loopVars {
		b.push(v)
	}
	b.indent++
	for n := b.between(1, 2); n > 0; n-- {
		if b.chance(0.55) {
			b.emit("if %s:", b.dependent(func() string { return b.boolExpr(max(1, b.opt.MaxDepth-1)) }))
			b.indent++
			b.accUpdate(acc)
			b.indent--
			if b.chance(0.5) {
				b.emit("else:")
				b.indent++
				b.accUpdate(acc)
				b.indent--
			}
		} else {
			b.accUpdate(acc)
		}
	}
	if b.chance(0.1) {
		b.emit("if %s:", b.boolExpr(1))
		b.emit("    break")
	}
	b.indent--
	b.pop(len(b.scope) - mark)
}

// whileLoop is a digit walk, a two-pointer scan or a bounded iteration.
func (b *builder) whileLoop() {
	switch b.rng.IntN(3) {
	case 0:
		m := b.local(tInt, "abs("+b.expr(tInt, max(1, b.opt.MaxDepth-1))+")")
		base := b.between(2, 10)
		accT := pick(b.rng, []vtype{tInt, tIntList})
		acc := b.local(accT, accInit[accT][0])
		b.emit("while %s > 0:", m.name)
		b.indent++
		if acc.t == tIntList {
			b.emit("%s.append(%s %% %d)", acc.name, m.name, base)
		} else if b.chance(0.5) {
			b.emit("%s += %s %% %d", acc.name, m.name, base)
		} else {
			b.emit("%s = %s * %d + %s %% %d", acc.name, acc.name, b.between(2, 10), m.name, base)
		}
		b.emit("%s //= %d", m.name, base)
		b.indent--
	case 1:
		seqT := pick(b.rng, []vtype{tStr, tIntList})
		seq, ok := b.leafVar(seqT)
		if !ok {
			seq = b.local(seqT, b.expr(seqT, 1)).name
		}
		lo, hi := b.fresh([]string{"lo", "left", "l"}), b.fresh([]string{"hi", "right", "r"})
		b.emit("%s, %s = 0, len(%s) - 1", lo, hi, seq)
		acc := b.local(tInt, "0")
		b.emit("while %s < %s:", lo, hi)
		b.indent++
		b.emit("if %s[%s] %s %s[%s]:", seq, lo, pick(b.rng, []string{"==", "!=", "<", ">"}), seq, hi)
		b.emit("    %s += %s", acc.name, pick(b.rng, []string{"1", hi + " - " + lo, b.smallConst()}))
		b.emit("%s += 1", lo)
		b.emit("%s -= 1", hi)
		b.indent--
	default:
		m := b.local(tInt, "abs("+b.expr(tInt, 1)+") + 1")
		steps := b.local(tInt, "0")
		b.emit("while %s != 1 and %s < %d:", m.name, steps.name, b.between(20, 80))
		b.indent++
		b.emit("%s = %s // 2 if %s %% 2 == 0 else %d * %s + 1", m.name, m.name, m.name, 3, m.name)
		b.emit("%s += 1", steps.name)
		b.indent--
	}
}

// ifChain assigns a new local in every branch of an if/elif/else.
func (b *builder) ifChain() {
	t := pick(b.rng, []vtype{tInt, tInt, tStr, tIntList})
	name := b.fresh(localNames[t])
	d := max(1, b.opt.MaxDepth-1)
	cond := func(d int) string { return b.dependent(func() string { return b.boolExpr(d) }) }
	b.emit("if %s:", cond(b.opt.MaxDepth))
	b.emit("    %s = %s", name, b.expr(t, d))
	for n := b.rng.IntN(3); n > 0; n-- {
		b.emit("elif %s:", cond(d))
		b.emit("    %s = %s", name, b.expr(t, d))
	}
	b.emit("else:")
	b.emit("    %s = %s", name, b.expr(t, d))
	v := variable{name, t}
	b.push(v)
	if b.indent == 1 {
		b.locals = append(b.locals, v)
	}
}

// helper defines a nested one-argument function and applies it.
func (b *builder) helper() {
	pt := pick(b.rng, []vtype{tInt, tInt, tStr})
	rt := pick(b.rng, []vtype{tInt, tStr, tInt})
	name := b.fresh(helperNames)
	p := variable{b.fresh(map[vtype][]string{tInt: {"v", "z", "u", "w"}, tStr: {"t", "piece", "chunk"}}[pt]), pt}
	b.emit("def %s(%s):", name, p.name)
	b.indent++
	mark := len(b.scope)
	b.push(p)
	d := max(1, b.opt.MaxDepth-1)
	if b.chance(0.4) {
		b.emit("if %s:", b.boolExpr(d))
		b.emit("    return %s", b.expr(rt, d))
	}
	b.emit("return %s", b.expr(rt, d))
	b.pop(len(b.scope) - mark)
	b.indent--
	if pt == tInt && b.chance(0.5) {
		if src, ok := b.leafVar(tIntList); ok {
			x := b.fresh(intLoopVars)
			b.release(x)
			if rt == tInt {
				b.local(tIntList, fmt.Sprintf("[%s(%s) for %s in %s]", name, x, x, src))
			} else {
				b.local(tStrList, fmt.Sprintf("[%s(%s) for %s in %s]", name, x, x, src))
			}
			return
		}
	}
	call := fmt.Sprintf("%s(%s)", name, b.expr(pt, 1))
	if rt == tInt && b.chance(0.4) {
		call += fmt.Sprintf(" + %s(%s)", name, b.expr(pt, 1))
	}
	b.local(rt, call)
}

// pairRecurrence iterates a two-variable recurrence a bounded number of times.
func (b *builder) pairRecurrence() {
	x, y := b.fresh(localNames[tInt]), b.fresh(localNames[tInt])
	b.emit("%s, %s = %s, %s", x, y, b.intConst(), b.intConst())
	bound := "min(abs(" + b.leaf(tInt) + "), 20)"
	b.emit("for _ in range(%s):", bound)
	op := pick(b.rng, []string{"+", "-", "*"})
	b.emit("    %s, %s = %s, (%s %s %s + %s) %% %d", x, y, y, x, op, y, b.smallConst(), b.between(50, 1000))
	for _, n := range []string{x, y} {
		v := variable{n, tInt}
		b.push(v)
		b.locals = append(b.locals, v)
	}
}

// recursion defines a small recursive helper of one of several shapes.
func (b *builder) recursion() {
	name := b.fresh(helperNames)
	d := max(1, b.opt.MaxDepth-1)
	switch b.rng.IntN(7) {
	case 0: // digit fold
		base := b.between(2, 10)
		b.emit("def %s(m):", name)
		b.emit("    if m < %d:", base)
		b.emit("        return m")
		b.emit("    return %s %s %s(m // %d)", pick(b.rng, []string{"m % " + fmt.Sprint(base), "(m % " + fmt.Sprint(base) + ") * 2"}), pick(b.rng, []string{"+", "-"}), name, base)
		b.local(tInt, fmt.Sprintf("%s(abs(%s))", name, b.expr(tInt, d)))
	case 1: // string recursion
		b.emit("def %s(t):", name)
		b.emit("    if not t:")
		b.emit("        return ''")
		head := pick(b.rng, []string{"t[0]", "t[0].upper()", "t[0] * 2", "(t[0] if t[0] in " + b.strConst() + " else '')"})
		if b.chance(0.5) {
			b.emit("    return %s(t[1:]) + %s", name, head)
		} else {
			b.emit("    return %s + %s(t[1:])", head, name)
		}
		b.local(tStr, fmt.Sprintf("%s(%s)", name, b.expr(tStr, d)))
	case 2: // list recursion
		b.emit("def %s(items):", name)
		b.emit("    if not items:")
		b.emit("        return %s", b.intConst())
		switch b.rng.IntN(3) {
		case 0:
			b.emit("    return items[0] + %s(items[1:])", name)
		case 1:
			b.emit("    return max(items[0], %s(items[1:]))", name)
		default:
			b.emit("    return (items[0] * %s + %s(items[1:])) %% %d", b.smallConst(), name, b.between(50, 1000))
		}
		b.local(tInt, fmt.Sprintf("%s(%s)", name, b.expr(tIntList, d)))
	case 3: // memoised recurrence
		memo := b.fresh([]string{"memo", "cache", "known"})
		b.emit("%s = {}", memo)
		b.emit("def %s(m):", name)
		b.emit("    if m <= %d:", b.between(1, 2))
		b.emit("        return %s", pick(b.rng, []string{"m", "1", b.smallConst()}))
		b.emit("    if m not in %s:", memo)
		b.emit("        %s[m] = (%s(m - 1) %s %s(m - 2)) %% %d", memo, name, pick(b.rng, []string{"+", "*", "+ 2 *"}), name, b.between(100, 10007))
		b.emit("    return %s[m]", memo)
		b.local(tInt, fmt.Sprintf("%s(abs(%s) %% %d)", name, b.expr(tInt, d), b.between(10, 40)))
	case 4: // grid paths
		b.emit("def %s(r, c):", name)
		b.emit("    if r == 0 or c == 0:")
		b.emit("        return 1")
		b.emit("    return %s(r - 1, c) + %s(r, c - 1)", name, name)
		b.local(tInt, fmt.Sprintf("%s(abs(%s) %% 6, abs(%s) %% 6)", name, b.expr(tInt, 1), b.expr(tInt, 1)))
	case 5: // subset sums (backtracking)
		seq, ok := b.leafVar(tIntList)
		if !ok {
			seq = b.local(tIntList, b.expr(tIntList, 1)).name
		}
		b.emit("def %s(i, remaining):", name)
		b.emit("    if remaining == 0:")
		b.emit("        return 1")
		b.emit("    if i == len(%s):", seq)
		b.emit("        return 0")
		b.emit("    return %s(i + 1, remaining - %s[i]) + %s(i + 1, remaining)", name, seq, name)
		b.local(tInt, fmt.Sprintf("%s(0, %s)", name, b.expr(tInt, 1)))
	default: // gcd-like
		b.emit("def %s(p, q):", name)
		b.emit("    if q == 0:")
		b.emit("        return p")
		b.emit("    return %s(q, p %% q)", name)
		b.local(tInt, fmt.Sprintf("%s(abs(%s), abs(%s))", name, b.expr(tInt, d), b.expr(tInt, d)))
	}
}

// importStatement always uses an allowed module.
func (b *builder) importStatement() {
	d := b.opt.MaxDepth
	switch b.rng.IntN(6) {
	case 0:
		b.use("from collections import Counter")
		src := b.expr(pick(b.rng, []vtype{tStr, tStrList, tIntList}), 1)
		b.local(tStrList, fmt.Sprintf("[str(k) for k, _ in Counter(%s).most_common(%d)]", src, b.between(1, 3)))
	case 1:
		b.use("from collections import defaultdict")
		g := b.fresh(localNames[tDict])
		b.emit("%s = defaultdict(int)", g)
		w := b.fresh(wordLoopVars)
		b.emit("for %s in %s:", w, b.expr(pick(b.rng, []vtype{tStrList, tStr}), 1))
		b.emit("    %s[%s] += %s", g, pick(b.rng, []string{w, w + "[:1]", "str(len(" + w + "))"}), pick(b.rng, []string{"1", "len(" + w + ")"}))
		b.release(w)
		b.local(tDict, "dict("+g+")")
	case 2:
		b.use("from collections import deque")
		q := b.fresh([]string{"queue", "dq", "line_"})
		b.emit("%s = deque(%s)", q, b.expr(tIntList, 1))
		acc := b.local(tInt, "0")
		b.emit("while %s:", q)
		b.emit("    %s = %s(%s, %s.%s())", acc.name, pick(b.rng, []string{"max", "min"}), acc.name, q, pick(b.rng, []string{"popleft", "pop"}))
		b.emit("    if %s and %s[0] %% 2 == 0:", q, q)
		b.emit("        %s.rotate(1)", q)
		b.emit("        %s.popleft()", q)
	case 3:
		b.use("import math")
		b.local(tInt, fmt.Sprintf("math.%s(%s)", pick(b.rng, []string{"prod", "fsum"}), b.expr(tIntList, 1)))
		if strings.Contains(b.lines[len(b.lines)-1], "fsum") {
			b.lines[len(b.lines)-1] = strings.Replace(b.lines[len(b.lines)-1], "math.fsum(", "int(math.fsum(", 1) + ")"
		}
	case 4:
		b.use("from functools import lru_cache")
		name := b.fresh(helperNames)
		b.emit("@lru_cache(maxsize=None)")
		b.emit("def %s(m):", name)
		b.emit("    if m < 2:")
		b.emit("        return %s", pick(b.rng, []string{"m", "1"}))
		b.emit("    return (%s(m - 1) + %s(m // 2)) %% %d", name, name, b.between(100, 5000))
		b.local(tInt, fmt.Sprintf("%s(abs(%s) %% 60)", name, b.expr(tInt, 1)))
	default:
		t := pick(b.rng, []vtype{tInt, tIntList, tStr, tDict})
		var e string
		for range 8 {
			before := len(b.imports)
			e = b.expr(t, d)
			if len(b.imports) > before {
				break
			}
		}
		b.local(t, e)
	}
}
