package synth

import (
	"regexp"
	"strings"
)

// A rough data-flow pass over the generated lines: which variables can
// depend on f's arguments. It steers the choice of the returned value away
// from constants (a program whose output ignores its input teaches little and
// makes a useless induction task). It over-approximates, and it only guides
// generation: the sandbox's outputs are what count.

var (
	forRe     = regexp.MustCompile(`^for (.+?) in (.+):$`)
	defRe     = regexp.MustCompile(`^def (\w+)\((.*)\):$`)
	assignRe  = regexp.MustCompile(`^(\w+(?:\s*,\s*\w+)*)\s*(\+|-|\*|//|%)?=\s*([^=].*)$`)
	methodRe  = regexp.MustCompile(`^(\w+)\.\w+\((.*)\)$`)
	itemSetRe = regexp.MustCompile(`^(\w+)\[(.+?)\]\s*=\s*(.+)$`)
	condRe    = regexp.MustCompile(`^(?:if|elif|while) (.+):$`)
)

type depLine struct {
	targets []string
	sources []string
}

func idents(s string) []string { return identRe.FindAllString(stripStrings(s), -1) }

// dependents returns the names that may depend on params after lines.
func dependents(lines []string, params []string) map[string]bool {
	var parsed []depLine
	type cond struct {
		indent int
		ids    []string
	}
	var conds []cond
	for i, raw := range lines {
		body := strings.TrimLeft(raw, " ")
		ind := (len(raw) - len(body)) / 4
		for len(conds) > 0 && conds[len(conds)-1].indent >= ind {
			conds = conds[:len(conds)-1]
		}
		var dl depLine
		switch {
		case body == "else:" || strings.HasPrefix(body, "@"):
		case condRe.MatchString(body):
			m := condRe.FindStringSubmatch(body)
			conds = append(conds, cond{ind, idents(m[1])})
		case forRe.MatchString(body):
			m := forRe.FindStringSubmatch(body)
			dl.targets, dl.sources = idents(m[1]), idents(m[2])
			conds = append(conds, cond{ind, idents(m[2])})
		case defRe.MatchString(body):
			// The helper depends on what its body reads (closures).
			m := defRe.FindStringSubmatch(body)
			dl.targets = []string{m[1]}
			for _, l := range lines[i+1:] {
				lb := strings.TrimLeft(l, " ")
				if (len(l)-len(lb))/4 <= ind {
					break
				}
				dl.sources = append(dl.sources, idents(lb)...)
			}
		case strings.HasPrefix(body, "return "):
			dl.sources = idents(body[len("return "):])
		case itemSetRe.MatchString(body):
			m := itemSetRe.FindStringSubmatch(body)
			dl.targets, dl.sources = []string{m[1]}, idents(m[2]+" "+m[3])
		case assignRe.MatchString(body):
			m := assignRe.FindStringSubmatch(body)
			dl.targets, dl.sources = idents(m[1]), idents(m[3])
			if m[2] != "" {
				dl.sources = append(dl.sources, dl.targets...)
			}
		case methodRe.MatchString(body):
			m := methodRe.FindStringSubmatch(body)
			dl.targets, dl.sources = []string{m[1]}, idents(m[2])
		}
		for _, c := range conds {
			if c.indent < ind {
				dl.sources = append(dl.sources, c.ids...)
			}
		}
		parsed = append(parsed, dl)
	}
	dep := map[string]bool{}
	for _, p := range params {
		dep[p] = true
	}
	for changed := true; changed; {
		changed = false
		for _, dl := range parsed {
			hit := false
			for _, s := range dl.sources {
				if dep[s] {
					hit = true
					break
				}
			}
			if !hit {
				continue
			}
			for _, t := range dl.targets {
				if !dep[t] {
					dep[t] = true
					changed = true
				}
			}
		}
	}
	return dep
}
