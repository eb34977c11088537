package synth

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Typed random expressions. Every form is chosen so that it cannot raise for
// any value of its operands' types (no unguarded indexing, division only by
// non-zero constants, max/min with defaults), which keeps the sandbox's
// valid rate high; sizes can still blow past the output cap occasionally,
// and the sandbox rejects those.

// sub returns a depth for an operand of a depth-d expression.
func (b *builder) sub(d int) int {
	if d <= 1 {
		return 0
	}
	return b.rng.IntN(d)
}

func (b *builder) smallConst() string { return strconv.Itoa(b.between(2, 9)) }

func (b *builder) intConst() string {
	if b.chance(0.15) {
		return strconv.Itoa(b.between(10, 50))
	}
	return strconv.Itoa(b.between(0, 9))
}

func (b *builder) char() string { return "'" + string(b.alphabet[b.rng.IntN(len(b.alphabet))]) + "'" }

func (b *builder) strConst() string {
	switch b.rng.IntN(3) {
	case 0:
		return b.char()
	case 1:
		i := b.rng.IntN(len(b.alphabet))
		j := min(len(b.alphabet), i+1+b.rng.IntN(3))
		return "'" + b.alphabet[i:j] + "'"
	}
	return "'" + pick(b.rng, b.words) + "'"
}

// withImport allows module forms: often in the Imports category, rarely elsewhere.
func (b *builder) withImport() bool {
	if b.cat == Imports {
		return b.chance(0.45)
	}
	return b.chance(0.04)
}

// leafVar returns an in-scope variable of type t, if any (biased to the most recent).
func (b *builder) leafVar(t vtype) (string, bool) {
	vs := b.varsOf(t)
	if len(vs) == 0 {
		return "", false
	}
	if b.chance(0.4) {
		return vs[len(vs)-1].name, true
	}
	return pick(b.rng, vs).name, true
}

func (b *builder) leaf(t vtype) string {
	if v, ok := b.leafVar(t); ok && b.chance(0.85) {
		return v
	}
	if e, ok := b.converted(t); ok && b.chance(0.75) {
		return e
	}
	switch t {
	case tInt:
		if v, ok := b.leafVar(pick(b.rng, []vtype{tStr, tIntList, tStrList})); ok && b.chance(0.5) {
			return "len(" + v + ")"
		}
		return b.intConst()
	case tStr:
		return b.strConst()
	case tBool:
		return fmt.Sprintf("%s %s %s", b.leaf(tInt), pick(b.rng, []string{">", "<", "==", ">=", "!="}), b.intConst())
	case tIntList:
		n := b.between(1, 4)
		xs := make([]string, n)
		for i := range xs {
			xs[i] = b.intConst()
		}
		return "[" + strings.Join(xs, ", ") + "]"
	case tStrList:
		n := b.between(1, 3)
		xs := make([]string, n)
		for i := range xs {
			xs[i] = "'" + pick(b.rng, b.words) + "'"
		}
		return "[" + strings.Join(xs, ", ") + "]"
	}
	return fmt.Sprintf("{%s: %s}", b.strConst(), b.intConst())
}

// expr returns an expression of type t nested at most d deep.
func (b *builder) expr(t vtype, d int) string {
	if d <= 0 || b.chance(0.2) {
		return b.leaf(t)
	}
	switch t {
	case tInt:
		return b.intExpr(d)
	case tStr:
		return b.strExpr(d)
	case tBool:
		return b.boolExpr(d)
	case tIntList:
		return b.intListExpr(d)
	case tStrList:
		return b.strListExpr(d)
	}
	return b.dictExpr(d)
}

// comp builds "ELEM for V in SRC[ if COND]" with V in scope while ELEM and
// COND are generated; elemT < 0 makes ELEM the variable itself.
func (b *builder) comp(srcT vtype, d int, elemT vtype, cond bool) string {
	var src string
	var vt vtype
	var pool []string
	switch srcT {
	case tStr:
		src, vt, pool = b.expr(tStr, b.sub(d)), tStr, charLoopVars
	case tStrList:
		src, vt, pool = b.expr(tStrList, b.sub(d)), tStr, wordLoopVars
	case tDict:
		src, vt, pool = b.expr(tDict, b.sub(d)), tStr, wordLoopVars
	default:
		src, vt, pool = b.expr(tIntList, b.sub(d)), tInt, intLoopVars
	}
	v := variable{b.fresh(pool), vt}
	b.push(v)
	elem := v.name
	if elemT >= 0 {
		elem = b.dependent(func() string { return b.expr(elemT, b.sub(d)) }, v.name)
	}
	s := fmt.Sprintf("%s for %s in %s", elem, v.name, src)
	if cond {
		s += " if " + b.dependent(func() string { return b.expr(tBool, b.sub(d)) }, v.name)
	}
	b.pop(1)
	return s
}

func (b *builder) intExpr(d int) string {
	s := func() string { return b.expr(tInt, b.sub(d)) }
	if b.withImport() {
		switch b.rng.IntN(7) {
		case 0:
			b.use("import math")
			return fmt.Sprintf("math.gcd(%s, %s)", s(), s())
		case 1:
			b.use("import math")
			return fmt.Sprintf("math.isqrt(abs(%s))", s())
		case 2:
			b.use("from functools import reduce")
			return fmt.Sprintf("reduce(lambda p, q: (p * %s + q) %% %d, %s, %s)", b.smallConst(), b.between(11, 997), b.expr(tIntList, b.sub(d)), b.intConst())
		case 3:
			b.use("import bisect")
			return fmt.Sprintf("bisect.bisect_left(sorted(%s), %s)", b.expr(tIntList, b.sub(d)), s())
		case 4:
			b.use("from itertools import combinations")
			return fmt.Sprintf("sum(1 for p, q in combinations(%s, 2) if p %s q)", b.expr(tIntList, b.sub(d)), pick(b.rng, []string{"<", ">", "==", "!="}))
		case 5:
			b.use("from collections import Counter")
			return fmt.Sprintf("max(Counter(%s).values(), default=0)", b.expr(pick(b.rng, []vtype{tStr, tIntList, tStrList}), b.sub(d)))
		default:
			b.use("import math")
			return fmt.Sprintf("math.comb(%d, %d)", b.between(3, 12), b.between(0, 3))
		}
	}
	switch b.rng.IntN(19) {
	case 0, 1, 2:
		x, y := s(), s()
		if x == y {
			y = b.intConst()
		}
		return fmt.Sprintf("(%s %s %s)", x, pick(b.rng, []string{"+", "+", "-"}), y)
	case 3:
		return fmt.Sprintf("(%s * %s)", s(), b.leaf(tInt))
	case 4:
		return fmt.Sprintf("(%s // %s)", s(), b.smallConst())
	case 5:
		return fmt.Sprintf("(%s %% %s)", s(), b.smallConst())
	case 6:
		return fmt.Sprintf("%s(%s, %s)", pick(b.rng, []string{"max", "min"}), s(), s())
	case 7:
		return fmt.Sprintf("abs(%s)", s())
	case 8:
		return fmt.Sprintf("len(%s)", b.expr(pick(b.rng, []vtype{tStr, tIntList, tStrList, tDict}), b.sub(d)))
	case 9:
		return fmt.Sprintf("sum(%s)", b.expr(tIntList, b.sub(d)))
	case 10:
		return fmt.Sprintf("%s(%s, default=%s)", pick(b.rng, []string{"max", "min"}), b.expr(tIntList, b.sub(d)), b.intConst())
	case 11:
		if b.chance(0.5) {
			return fmt.Sprintf("%s.count(%s)", b.expr(tStr, b.sub(d)), b.char())
		}
		return fmt.Sprintf("%s.count(%s)", b.expr(tIntList, b.sub(d)), b.leaf(tInt))
	case 12:
		return fmt.Sprintf("(%s if %s else %s)", s(), b.expr(tBool, b.sub(d)), s())
	case 13:
		return fmt.Sprintf("sum(%s)", b.comp(pick(b.rng, []vtype{tIntList, tStr, tStrList}), d, tInt, b.chance(0.6)))
	case 14:
		return fmt.Sprintf("len(set(%s))", b.expr(pick(b.rng, []vtype{tIntList, tStr}), b.sub(d)))
	case 15:
		return fmt.Sprintf("%s.find(%s)", b.expr(tStr, b.sub(d)), b.strConst())
	case 16:
		if v, ok := b.leafVar(tIntList); ok {
			return fmt.Sprintf("(%s[%s %% len(%s)] if %s else %s)", v, s(), v, v, b.intConst())
		}
		if v, ok := b.leafVar(tStr); ok {
			return fmt.Sprintf("(ord(%s[%s %% len(%s)]) if %s else %s)", v, s(), v, v, b.intConst())
		}
		return fmt.Sprintf("int(%s)", b.expr(tBool, b.sub(d)))
	case 17:
		if v, ok := b.leafVar(tDict); ok {
			if b.chance(0.5) {
				return fmt.Sprintf("%s.get(%s, %s)", v, b.strConst(), b.intConst())
			}
			return fmt.Sprintf("sum(%s.values())", v)
		}
		return fmt.Sprintf("sum(%s.values())", b.expr(tDict, b.sub(d)))
	}
	return fmt.Sprintf("int(%s)", b.expr(tBool, b.sub(d)))
}

func (b *builder) strExpr(d int) string {
	s := func() string { return b.expr(tStr, b.sub(d)) }
	if b.withImport() {
		switch b.rng.IntN(3) {
		case 0:
			b.use("import string")
			c := b.fresh(charLoopVars)
			src := s()
			b.release(c)
			return fmt.Sprintf("''.join(%s for %s in %s if %s in string.ascii_lowercase[%d:])", c, c, src, c, b.between(1, 12))
		case 1:
			b.use("import string")
			k := b.between(1, 25)
			return fmt.Sprintf("%s.translate(str.maketrans(string.ascii_lowercase, string.ascii_lowercase[%d:] + string.ascii_lowercase[:%d]))", s(), k, k)
		default:
			b.use("import string")
			i := b.between(0, 20)
			return fmt.Sprintf("string.ascii_lowercase[%d:%d]", i, i+b.between(1, 6))
		}
	}
	switch b.rng.IntN(17) {
	case 0, 1:
		return fmt.Sprintf("(%s + %s)", s(), s())
	case 2:
		return fmt.Sprintf("%s[::-1]", s())
	case 3:
		return fmt.Sprintf("%s.%s()", s(), pick(b.rng, []string{"upper", "lower", "swapcase", "capitalize"}))
	case 4:
		return fmt.Sprintf("%s[%s]", s(), pick(b.rng, []string{b.smallConst() + ":", ":" + b.smallConst(), "::2", "1::2", "1:-1"}))
	case 5:
		return fmt.Sprintf("%s.replace(%s, %s)", s(), b.char(), b.strConst())
	case 6:
		return fmt.Sprintf("str(%s)", b.expr(tInt, b.sub(d)))
	case 7:
		return fmt.Sprintf("''.join(sorted(%s))", s())
	case 8:
		return fmt.Sprintf("%s.join(%s)", pick(b.rng, []string{"''", "'-'", "' '", "','", "'/'"}), b.expr(tStrList, b.sub(d)))
	case 9:
		return fmt.Sprintf("%s.strip(%s)", s(), b.strConst())
	case 10:
		return fmt.Sprintf("''.join(%s)", b.comp(tStr, d, -1, true))
	case 11:
		i := variable{b.fresh(idxVars), tInt}
		c := variable{b.fresh(charLoopVars), tStr}
		src := s()
		b.push(i)
		b.push(c)
		cond := b.expr(tBool, b.sub(d))
		b.pop(2)
		return fmt.Sprintf("''.join(%s.upper() if %s else %s for %s, %s in enumerate(%s))", c.name, cond, c.name, i.name, c.name, src)
	case 12:
		return fmt.Sprintf("(%s if %s else %s)", s(), b.expr(tBool, b.sub(d)), s())
	case 13:
		return fmt.Sprintf("(%s * %d)", b.leaf(tStr), b.between(2, 3))
	case 14:
		c := b.fresh(charLoopVars)
		k := b.between(1, 25)
		src := s()
		b.release(c)
		return fmt.Sprintf("''.join(chr((ord(%s) - 97 + %d) %% 26 + 97) if %s.islower() else %s for %s in %s)", c, k, c, c, c, src)
	case 15:
		x := b.fresh(intLoopVars)
		src := b.expr(tIntList, b.sub(d))
		b.release(x)
		return fmt.Sprintf("%s.join(str(%s) for %s in %s)", pick(b.rng, []string{"''", "'-'", "','", "' '"}), x, x, src)
	}
	return fmt.Sprintf("max(%s, key=len, default='')", b.expr(tStrList, b.sub(d)))
}

func (b *builder) boolExpr(d int) string {
	i := func() string { return b.expr(tInt, b.sub(d)) }
	switch b.rng.IntN(12) {
	case 0, 1:
		x, y := i(), i()
		if x == y {
			y = b.intConst()
		}
		return fmt.Sprintf("%s %s %s", x, pick(b.rng, []string{">", "<", "==", "!=", ">=", "<="}), y)
	case 2:
		return fmt.Sprintf("%s %% %s == %d", i(), b.smallConst(), b.between(0, 1))
	case 3:
		return fmt.Sprintf("%s in %s", b.char(), b.expr(tStr, b.sub(d)))
	case 4:
		return fmt.Sprintf("%s in %s", i(), b.expr(tIntList, b.sub(d)))
	case 5:
		return fmt.Sprintf("%s.%s", b.expr(tStr, b.sub(d)), pick(b.rng, []string{"startswith(" + b.char() + ")", "endswith(" + b.char() + ")", "isalpha()", "islower()", "isdigit()"}))
	case 6:
		return fmt.Sprintf("len(%s) > %s", b.expr(pick(b.rng, []vtype{tStr, tIntList, tStrList}), b.sub(d)), b.smallConst())
	case 7:
		return fmt.Sprintf("not %s", b.leaf(tBool))
	case 8:
		x, y := b.expr(tBool, b.sub(d)), b.expr(tBool, b.sub(d))
		if x == y {
			return "not " + x
		}
		return fmt.Sprintf("(%s %s %s)", x, pick(b.rng, []string{"and", "or"}), y)
	case 9:
		if v, ok := b.leafVar(tStr); ok {
			return fmt.Sprintf("%s == %s[::-1]", v, v)
		}
		return fmt.Sprintf("%s > %s", i(), i())
	case 10:
		return fmt.Sprintf("%s(%s)", pick(b.rng, []string{"all", "any"}), b.comp(tIntList, d, tBool, false))
	}
	return fmt.Sprintf("%s in %s", b.strConst(), b.expr(pick(b.rng, []vtype{tDict, tStrList}), b.sub(d)))
}

func (b *builder) intListExpr(d int) string {
	l := func() string { return b.expr(tIntList, b.sub(d)) }
	if b.withImport() {
		switch b.rng.IntN(4) {
		case 0:
			b.use("from itertools import accumulate")
			return fmt.Sprintf("list(accumulate(%s))", l())
		case 1:
			b.use("import heapq")
			return fmt.Sprintf("heapq.%s(%s, %s)", pick(b.rng, []string{"nsmallest", "nlargest"}), b.smallConst(), l())
		case 2:
			b.use("from itertools import groupby")
			g := b.fresh([]string{"grp", "block", "group"})
			b.release(g)
			return fmt.Sprintf("[len(list(%s)) for _, %s in groupby(%s)]", g, g, b.expr(pick(b.rng, []vtype{tStr, tIntList}), b.sub(d)))
		default:
			b.use("from itertools import chain")
			return fmt.Sprintf("list(chain(%s, %s))", l(), l())
		}
	}
	switch b.rng.IntN(15) {
	case 0:
		return fmt.Sprintf("sorted(%s%s)", l(), pick(b.rng, []string{"", ", reverse=True"}))
	case 1:
		return fmt.Sprintf("%s[%s]", l(), pick(b.rng, []string{"::-1", b.smallConst() + ":", ":" + b.smallConst(), "::2", "1:"}))
	case 2:
		return fmt.Sprintf("(%s + %s)", l(), l())
	case 3, 4:
		return "[" + b.comp(tIntList, d, tInt, b.chance(0.3)) + "]"
	case 5, 6:
		return "[" + b.comp(tIntList, d, -1, true) + "]"
	case 7:
		return "[" + b.comp(tStrList, d, tInt, false) + "]"
	case 8:
		c := b.fresh(charLoopVars)
		src := b.expr(tStr, b.sub(d))
		b.release(c)
		return fmt.Sprintf("[ord(%s) %% %s for %s in %s]", c, b.smallConst(), c, src)
	case 9:
		return fmt.Sprintf("list(range(%s))", b.smallConst())
	case 10:
		return fmt.Sprintf("sorted(set(%s))", l())
	case 11:
		return fmt.Sprintf("list(%s.values())", b.expr(tDict, b.sub(d)))
	case 12:
		p, q := b.fresh(intLoopVars), b.fresh(intLoopVars)
		x, y := l(), l()
		b.release(p)
		b.release(q)
		return fmt.Sprintf("[%s %s %s for %s, %s in zip(%s, %s)]", p, pick(b.rng, []string{"*", "+", "-"}), q, p, q, x, y)
	case 13:
		if v, ok := b.leafVar(tIntList); ok {
			i := b.fresh(idxVars)
			b.release(i)
			return fmt.Sprintf("[%s[%s] - %s[%s - 1] for %s in range(1, len(%s))]", v, i, v, i, i, v)
		}
		return l()
	}
	i := variable{b.fresh(idxVars), tInt}
	x := variable{b.fresh(intLoopVars), tInt}
	src := l()
	b.push(i)
	b.push(x)
	elem := b.expr(tInt, b.sub(d))
	b.pop(2)
	return fmt.Sprintf("[%s for %s, %s in enumerate(%s)]", elem, i.name, x.name, src)
}

func (b *builder) strListExpr(d int) string {
	l := func() string { return b.expr(tStrList, b.sub(d)) }
	switch b.rng.IntN(10) {
	case 0:
		return fmt.Sprintf("%s.split(%s)", b.expr(tStr, b.sub(d)), pick(b.rng, []string{"", b.char()}))
	case 1:
		return fmt.Sprintf("list(%s)", b.expr(tStr, b.sub(d)))
	case 2:
		return fmt.Sprintf("sorted(%s%s)", l(), pick(b.rng, []string{"", ", key=len", ", reverse=True"}))
	case 3:
		return fmt.Sprintf("%s[%s]", l(), pick(b.rng, []string{"::-1", "1:", ":" + b.smallConst()}))
	case 4, 5:
		return "[" + b.comp(tStrList, d, tStr, b.chance(0.4)) + "]"
	case 6:
		return "[" + b.comp(tStrList, d, -1, true) + "]"
	case 7:
		return fmt.Sprintf("sorted(%s)", b.expr(tDict, b.sub(d)))
	case 8:
		if v, ok := b.leafVar(tStr); ok {
			i, k := b.fresh(idxVars), b.between(2, 3)
			b.release(i)
			return fmt.Sprintf("[%s[%s:%s + %d] for %s in range(0, len(%s), %d)]", v, i, i, k, i, v, k)
		}
		return l()
	}
	return "[" + b.comp(tStr, d, tStr, false) + "]"
}

func (b *builder) dictExpr(d int) string {
	if b.withImport() {
		b.use("from collections import Counter")
		return fmt.Sprintf("dict(Counter(%s))", b.expr(pick(b.rng, []vtype{tStr, tStrList}), b.sub(d)))
	}
	switch b.rng.IntN(6) {
	case 0:
		w := variable{b.fresh(wordLoopVars), tStr}
		src := b.expr(tStrList, b.sub(d))
		b.push(w)
		val := b.expr(tInt, b.sub(d))
		b.pop(1)
		return fmt.Sprintf("{%s: %s for %s in %s}", w.name, val, w.name, src)
	case 1:
		if v, ok := b.leafVar(tStr); ok {
			c := b.fresh(charLoopVars)
			b.release(c)
			return fmt.Sprintf("{%s: %s.count(%s) for %s in %s}", c, v, c, c, v)
		}
		return b.leaf(tDict)
	case 2:
		k := variable{b.fresh([]string{"k", "key", "name"}), tStr}
		v := variable{b.fresh([]string{"v", "val", "amount"}), tInt}
		src := b.expr(tDict, b.sub(d))
		b.push(k)
		b.push(v)
		val := b.expr(tInt, b.sub(d))
		cond := ""
		if b.chance(0.5) {
			cond = " if " + b.expr(tBool, b.sub(d))
		}
		b.pop(2)
		return fmt.Sprintf("{%s: %s for %s, %s in %s.items()%s}", k.name, val, k.name, v.name, src, cond)
	case 3:
		return fmt.Sprintf("dict(zip(%s, %s))", b.expr(tStrList, b.sub(d)), b.expr(tIntList, b.sub(d)))
	case 4:
		c, i := b.fresh(charLoopVars), b.fresh(idxVars)
		src := b.expr(tStr, b.sub(d))
		b.release(c)
		b.release(i)
		return fmt.Sprintf("{%s: %s for %s, %s in enumerate(%s)}", c, i, i, c, src)
	}
	return fmt.Sprintf("{**%s, %s: %s}", b.expr(tDict, b.sub(d)), b.strConst(), b.expr(tInt, b.sub(d)))
}

// converted derives a value of type t from an in-scope variable of another
// type, so that expressions depend on the arguments rather than on constants.
func (b *builder) converted(t vtype) (string, bool) {
	type conv struct {
		from vtype
		form string // %[1]s is the variable, %[2]s a fresh comprehension variable
	}
	forms := map[vtype][]conv{
		tInt: {{tStr, "len(%[1]s)"}, {tIntList, "len(%[1]s)"}, {tStrList, "len(%[1]s)"}, {tIntList, "sum(%[1]s)"}, {tDict, "len(%[1]s)"}},
		tStr: {{tInt, "str(%[1]s)"}, {tStrList, "''.join(%[1]s)"}, {tStrList, "' '.join(%[1]s)"}, {tIntList, "''.join(str(%[2]s) for %[2]s in %[1]s)"}},
		tIntList: {{tStr, "[ord(%[2]s) %% 10 for %[2]s in %[1]s]"}, {tInt, "list(range(abs(%[1]s) %% 8))"}, {tDict, "list(%[1]s.values())"},
			{tStrList, "[len(%[2]s) for %[2]s in %[1]s]"}},
		tStrList: {{tStr, "%[1]s.split()"}, {tStr, "list(%[1]s)"}, {tDict, "sorted(%[1]s)"}, {tIntList, "[str(%[2]s) for %[2]s in %[1]s]"}},
		tDict: {{tStrList, "{%[2]s: len(%[2]s) for %[2]s in %[1]s}"}, {tStr, "{%[2]s: %[1]s.count(%[2]s) for %[2]s in %[1]s}"},
			{tIntList, "{str(%[2]s): %[2]s for %[2]s in %[1]s}"}},
	}[t]
	var usable []conv
	for _, c := range forms {
		if len(b.varsOf(c.from)) > 0 {
			usable = append(usable, c)
		}
	}
	if len(usable) == 0 {
		return "", false
	}
	c := pick(b.rng, usable)
	v, _ := b.leafVar(c.from)
	pool := intLoopVars
	if c.from == tStr {
		pool = charLoopVars
	} else if c.from == tStrList {
		pool = wordLoopVars
	}
	x := b.fresh(pool)
	b.release(x)
	return fmt.Sprintf(c.form, v, x), true
}

var identRe = regexp.MustCompile(`[A-Za-z_]\w*`)

// mentions reports whether code uses one of names (outside string literals).
func mentions(code string, names map[string]bool) bool {
	for _, id := range identRe.FindAllString(stripStrings(code), -1) {
		if names[id] {
			return true
		}
	}
	return false
}

// stripStrings blanks out '...' literals (the only kind generated).
func stripStrings(code string) string {
	var out strings.Builder
	in := false
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c == '\'' {
			in = !in
			out.WriteByte(' ')
			continue
		}
		if in {
			out.WriteByte(' ')
		} else {
			out.WriteByte(c)
		}
	}
	return out.String()
}

// dependent retries gen a few times until its result mentions one of the
// given variables (all in-scope ones when none are given): random
// composition otherwise yields many constant sub-programs ('w' in {'dog': 1},
// [40 for q in xs]) whose result does not depend on the arguments.
func (b *builder) dependent(gen func() string, on ...string) string {
	names := map[string]bool{}
	if len(on) == 0 {
		for _, v := range b.scope {
			names[v.name] = true
		}
	}
	for _, n := range on {
		names[n] = true
	}
	var s string
	for range 4 {
		if s = gen(); mentions(s, names) {
			break
		}
	}
	return s
}
