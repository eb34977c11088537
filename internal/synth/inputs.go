package synth

import (
	"fmt"
	"strconv"
	"strings"
)

// Inputs are Python literal argument lists written in Go. Only ints and
// strings of letters (and spaces) appear, so Go's text equals Python's repr.

func (b *builder) intValue() int {
	size := b.opt.MaxInputSize
	switch r := b.rng.IntN(10); {
	case r < 6:
		return b.between(0, 2*size+4)
	case r < 8:
		return b.between(-size-2, -1)
	default:
		return b.between(10, 20*size+20)
	}
}

func (b *builder) strValue() string {
	n := b.between(0, b.opt.MaxInputSize)
	if n == 0 && b.chance(0.7) {
		n = 1
	}
	var s strings.Builder
	for i := 0; i < n; i++ {
		switch {
		case i > 0 && b.chance(0.08):
			s.WriteByte(' ')
		case b.chance(0.05):
			s.WriteByte(byte('A' + b.rng.IntN(26)))
		default:
			s.WriteByte(b.alphabet[b.rng.IntN(len(b.alphabet))])
		}
	}
	if b.chance(0.1) {
		return pick(b.rng, b.words) + " " + pick(b.rng, b.words)
	}
	return s.String()
}

func (b *builder) value(t vtype) string {
	size := b.opt.MaxInputSize
	switch t {
	case tInt:
		return strconv.Itoa(b.intValue())
	case tStr:
		return "'" + b.strValue() + "'"
	case tBool:
		return pick(b.rng, []string{"True", "False"})
	case tIntList:
		n := b.between(1, size)
		xs := make([]string, n)
		for i := range xs {
			xs[i] = strconv.Itoa(b.between(-3, 3*size+3))
		}
		return "[" + strings.Join(xs, ", ") + "]"
	case tStrList:
		n := b.between(1, max(1, size*2/3))
		xs := make([]string, n)
		for i := range xs {
			if b.chance(0.8) {
				xs[i] = "'" + pick(b.rng, b.words) + "'"
			} else {
				xs[i] = "'" + b.strValue() + "'"
			}
		}
		return "[" + strings.Join(xs, ", ") + "]"
	}
	n := b.between(1, max(1, size/2+1))
	keys := b.rng.Perm(len(b.words))[:min(n, len(b.words))]
	xs := make([]string, len(keys))
	for i, k := range keys {
		xs[i] = fmt.Sprintf("'%s': %d", b.words[k], b.between(0, 5*size+5))
	}
	return "{" + strings.Join(xs, ", ") + "}"
}

// inputs draws Options.NumInputs distinct argument lists.
func (b *builder) inputs() []string {
	seen := map[string]bool{}
	var out []string
	for tries := 0; len(out) < b.opt.NumInputs && tries < 50*b.opt.NumInputs; tries++ {
		args := make([]string, len(b.params))
		for i, p := range b.params {
			args[i] = b.value(p.t)
		}
		in := strings.Join(args, ", ")
		if !seen[in] {
			seen[in] = true
			out = append(out, in)
		}
	}
	return out
}

// message describes f's contract and flavour without its code (the
// induction proposer's message).
func (b *builder) message(returns string) string {
	args := make([]string, len(b.params))
	for i, p := range b.params {
		args[i] = p.t.describe() + " " + p.name
	}
	var list string
	switch len(args) {
	case 1:
		list = args[0]
	case 2:
		list = args[0] + " and " + args[1]
	default:
		list = strings.Join(args[:len(args)-1], ", ") + " and " + args[len(args)-1]
	}
	hint := map[Category][]string{
		Arithmetic:    {"Work out the arithmetic.", "It is all integer arithmetic.", "Think about what happens to the numbers."},
		Strings:       {"It transforms text.", "Watch what happens to the characters.", "The answer is built from the string."},
		Lists:         {"It reorders, filters or combines list elements.", "Track the list as it changes.", "Look at which elements survive."},
		Dicts:         {"It counts or groups things into a dict.", "Keys and values both matter.", "Think of a tally."},
		Comprehension: {"Each element is transformed or filtered.", "It maps over a collection.", "Some elements are kept, some are changed."},
		Loops:         {"It walks over the input keeping a running state.", "A loop accumulates the result.", "Follow the state step by step."},
		Conditionals:  {"Different cases give different results.", "Which branch applies depends on the input.", "Compare the cases carefully."},
		Recursion:     {"The answer is defined in terms of smaller answers.", "Something is computed recursively.", "Break the problem into smaller pieces."},
		Imports:       {"It uses a standard library helper.", "A standard module does part of the work.", "Standard library tools are involved."},
	}[b.cat]
	form := pick(b.rng, []string{
		"Write f taking %s; it returns %s. %s",
		"Given %s, f returns %s. %s",
		"f(%s) returns %s. %s",
		"The function takes %s and gives back %s. %s",
	})
	return fmt.Sprintf(form, list, returns, pick(b.rng, hint))
}
