// Package synth generates small Python programs of the kind AZR's proposer
// writes: an entry function f of one to three arguments built from
// arithmetic, strings, lists, dicts, comprehensions, loops, conditionals,
// small recursion and a few allowed standard modules, together with inputs
// for it (the text inside the call's parentheses, as in self-play).
//
// Generation is pure Go and deterministic: the same Options (seed included)
// give the same programs, in the same order, on every machine. Nothing here
// runs Python. Outputs, and whether a program is a valid AZR task at all, come
// from the real sandbox through the same checks self-play applies to a
// proposal (see Realize), never from Go.
//
// Each program is a random composition, not a fixed template: a category
// fixes the argument types and the kinds of statements favoured, and typed
// random expressions, statements, names and constants fill the body.
// Difficulty knobs: Options.MaxDepth (expression nesting), MaxStatements
// (statements in f's body) and MaxInputSize (length of input lists, strings
// and dicts).
package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Category is the dominant construct of a generated program.
type Category string

// The categories. Every one of them appears in a long enough stream.
const (
	Arithmetic    Category = "arithmetic"
	Strings       Category = "strings"
	Lists         Category = "lists"
	Dicts         Category = "dicts"
	Comprehension Category = "comprehension"
	Loops         Category = "loops"
	Conditionals  Category = "conditionals"
	Recursion     Category = "recursion"
	Imports       Category = "imports"
)

// AllCategories lists the categories in a fixed order.
var AllCategories = []Category{Arithmetic, Strings, Lists, Dicts, Comprehension, Loops, Conditionals, Recursion, Imports}

// Options configure a Generator. Zero fields take the defaults below.
type Options struct {
	Seed uint64
	// MaxDepth bounds the nesting of generated expressions (1-5, default 2).
	MaxDepth int
	// MaxStatements bounds the statements of f's body besides its return,
	// loops counting with their bodies as one (1-10, default 4).
	MaxStatements int
	// MaxInputSize bounds the length of list, string and dict arguments
	// (1-16, default 6).
	MaxInputSize int
	// NumInputs is how many inputs each program gets (default 10, the
	// induction proposer's N); the first is the deduction/abduction input.
	NumInputs int
	// Categories restricts generation to these categories (default all).
	Categories []Category
}

// Limits of the knobs.
const (
	maxDepthLimit      = 5
	maxStatementsLimit = 10
	maxInputSizeLimit  = 16
)

func (o Options) withDefaults() (Options, error) {
	if o.MaxDepth == 0 {
		o.MaxDepth = 2
	}
	if o.MaxStatements == 0 {
		o.MaxStatements = 4
	}
	if o.MaxInputSize == 0 {
		o.MaxInputSize = 6
	}
	if o.NumInputs == 0 {
		o.NumInputs = 10
	}
	if len(o.Categories) == 0 {
		o.Categories = AllCategories
	}
	switch {
	case o.MaxDepth < 1 || o.MaxDepth > maxDepthLimit:
		return o, fmt.Errorf("synth: MaxDepth %d out of range 1-%d", o.MaxDepth, maxDepthLimit)
	case o.MaxStatements < 1 || o.MaxStatements > maxStatementsLimit:
		return o, fmt.Errorf("synth: MaxStatements %d out of range 1-%d", o.MaxStatements, maxStatementsLimit)
	case o.MaxInputSize < 1 || o.MaxInputSize > maxInputSizeLimit:
		return o, fmt.Errorf("synth: MaxInputSize %d out of range 1-%d", o.MaxInputSize, maxInputSizeLimit)
	case o.NumInputs < 1 || o.NumInputs > 64:
		return o, fmt.Errorf("synth: NumInputs %d out of range 1-64", o.NumInputs)
	}
	for _, c := range o.Categories {
		if !knownCategory(c) {
			return o, fmt.Errorf("synth: unknown category %q", c)
		}
	}
	return o, nil
}

func knownCategory(c Category) bool {
	for _, k := range AllCategories {
		if k == c {
			return true
		}
	}
	return false
}

// ParseCategory accepts a category name.
func ParseCategory(s string) (Category, error) {
	c := Category(strings.ToLower(strings.TrimSpace(s)))
	if !knownCategory(c) {
		return "", fmt.Errorf("unknown program category %q", s)
	}
	return c, nil
}

// Program is one generated program with its inputs. Its outputs are unknown
// until the sandbox runs it (Realize).
type Program struct {
	Category Category `json:"category"`
	Code     string   `json:"code"`    // imports, then def f(...)
	Inputs   []string `json:"inputs"`  // Options.NumInputs argument texts, distinct
	Params   []string `json:"params"`  // f's parameter names
	Message  string   `json:"message"` // a description of f's contract that does not show its code (induction)
}

// Generator yields programs. It is not safe for concurrent use; make one per
// goroutine (with different seeds).
type Generator struct {
	opt Options
	rng *rand.Rand
}

// New returns a generator; it fails only on out-of-range options.
func New(o Options) (*Generator, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Generator{opt: o, rng: rand.New(rand.NewPCG(o.Seed, 0x73796e7468))}, nil // "synth"
}

// Options returns the generator's options with defaults filled in.
func (g *Generator) Options() Options { return g.opt }

// Next returns the next program. Categories are drawn uniformly.
func (g *Generator) Next() Program {
	cat := g.opt.Categories[g.rng.IntN(len(g.opt.Categories))]
	var p Program
	for range maxBuildTries {
		var ok bool
		if p, ok = newBuilder(g.rng, g.opt, cat).build(); ok {
			break
		}
	}
	return p
}

// maxBuildTries bounds the attempts at a program whose result depends on
// its arguments; the last attempt is kept either way.
const maxBuildTries = 8
