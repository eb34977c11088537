package synth

import (
	"regexp"
	"strings"
	"testing"

	"github.com/azr-native/azr-native/rl"
)

func generate(t testing.TB, o Options, n int) []Program {
	t.Helper()
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]Program, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

func TestSameSeedSamePrograms(t *testing.T) {
	a := generate(t, Options{Seed: 5}, 200)
	b := generate(t, Options{Seed: 5}, 200)
	c := generate(t, Options{Seed: 6}, 200)
	same := 0
	for i := range a {
		if a[i].Code != b[i].Code || strings.Join(a[i].Inputs, "|") != strings.Join(b[i].Inputs, "|") || a[i].Message != b[i].Message {
			t.Fatalf("program %d differs between two generators with seed 5:\n%s\n---\n%s", i, a[i].Code, b[i].Code)
		}
		if a[i].Code == c[i].Code {
			same++
		}
	}
	if same > 2 {
		t.Errorf("seeds 5 and 6 agree on %d of 200 programs", same)
	}
}

var (
	skelIdent  = regexp.MustCompile(`[A-Za-z_]\w*`)
	skelNumber = regexp.MustCompile(`\d+`)
	skelString = regexp.MustCompile(`'[^']*'`)
	keywords   = map[string]bool{"def": true, "return": true, "for": true, "in": true, "if": true, "elif": true, "else": true, "while": true, "and": true, "or": true, "not": true, "import": true, "from": true, "lambda": true, "break": true}
)

// skeleton abstracts names, numbers and strings away: what is left is the
// program's shape.
func skeleton(code string) string {
	code = skelString.ReplaceAllString(code, "S")
	code = skelNumber.ReplaceAllString(code, "N")
	return skelIdent.ReplaceAllStringFunc(code, func(id string) string {
		if keywords[id] {
			return id
		}
		return "x"
	})
}

func TestDiversityAndCategories(t *testing.T) {
	progs := generate(t, Options{Seed: 1}, 600)
	codes, skels := map[string]bool{}, map[string]bool{}
	cats := map[Category]int{}
	for _, p := range progs {
		codes[p.Code] = true
		skels[skeleton(p.Code)] = true
		cats[p.Category]++
	}
	t.Logf("600 programs: %d distinct texts, %d distinct shapes (names, numbers and strings abstracted)", len(codes), len(skels))
	if len(codes) < 594 {
		t.Errorf("only %d distinct programs of 600", len(codes))
	}
	if len(skels) < 540 {
		t.Errorf("only %d distinct program shapes of 600", len(skels))
	}
	for _, c := range AllCategories {
		if cats[c] < 30 {
			t.Errorf("category %s: %d of 600 programs, want >= 30", c, cats[c])
		}
	}
	t.Logf("per category: %v", cats)
}

func TestEveryProgramParsesAsAProposal(t *testing.T) {
	opt := rl.DefaultParseOptions()
	for i, p := range generate(t, Options{Seed: 2, MaxDepth: 4, MaxStatements: 8}, 300) {
		prop, err := rl.ParseProposal(rl.Deduction, "<think> x </think><answer>"+ProposalAnswer(p.Code, p.Inputs[0])+"</answer>", 10, opt)
		if err != nil {
			t.Fatalf("program %d does not parse as a proposal: %v\n%s", i, err, p.Code)
		}
		if prop.Program != p.Code {
			t.Fatalf("program %d was rewritten by the parser:\n%s\n---\n%s", i, p.Code, prop.Program)
		}
		if len(p.Inputs) != 10 {
			t.Fatalf("program %d has %d inputs, want 10", i, len(p.Inputs))
		}
		if strings.Contains(p.Message, "def ") || strings.Contains(p.Message, "return ") {
			t.Fatalf("program %d: the message shows code: %q", i, p.Message)
		}
	}
}

func TestCategoriesOption(t *testing.T) {
	for _, p := range generate(t, Options{Seed: 3, Categories: []Category{Recursion, Imports}}, 100) {
		if p.Category != Recursion && p.Category != Imports {
			t.Fatalf("category %s generated, only recursion and imports asked for", p.Category)
		}
		if p.Category == Recursion && !regexp.MustCompile(`(?m)^\s+def (\w+)\(.*\n(?s:.*)\b\w+\(`).MatchString(p.Code) {
			t.Errorf("recursion program without a nested function:\n%s", p.Code)
		}
	}
	withImport := 0
	progs := generate(t, Options{Seed: 3, Categories: []Category{Imports}}, 100)
	for _, p := range progs {
		if strings.HasPrefix(p.Code, "import ") || strings.HasPrefix(p.Code, "from ") {
			withImport++
		}
	}
	if withImport < 90 {
		t.Errorf("imports category: %d of 100 programs import a module", withImport)
	}
}

// mean returns the average of a measure over n programs.
func mean(t *testing.T, o Options, measure func(Program) float64) float64 {
	sum := 0.0
	progs := generate(t, o, 300)
	for _, p := range progs {
		sum += measure(p)
	}
	return sum / float64(len(progs))
}

func TestDifficultyKnobs(t *testing.T) {
	lines := func(p Program) float64 { return float64(strings.Count(p.Code, "\n") + 1) }
	nesting := func(p Program) float64 {
		deepest, d := 0, 0
		for _, c := range p.Code {
			switch c {
			case '(', '[', '{':
				d++
				deepest = max(deepest, d)
			case ')', ']', '}':
				d--
			}
		}
		return float64(deepest)
	}
	inputLen := func(p Program) float64 {
		n := 0
		for _, in := range p.Inputs {
			n += len(in)
		}
		return float64(n) / float64(len(p.Inputs))
	}
	for _, tc := range []struct {
		knob        string
		easy, hard  Options
		measure     func(Program) float64
		minIncrease float64
	}{
		{"MaxStatements -> lines of code", Options{Seed: 9, MaxStatements: 1}, Options{Seed: 9, MaxStatements: 8}, lines, 1.8},
		{"MaxDepth -> bracket nesting", Options{Seed: 9, MaxDepth: 1}, Options{Seed: 9, MaxDepth: 4}, nesting, 1.3},
		{"MaxInputSize -> input length", Options{Seed: 9, MaxInputSize: 2}, Options{Seed: 9, MaxInputSize: 12}, inputLen, 1.8},
	} {
		easy, hard := mean(t, tc.easy, tc.measure), mean(t, tc.hard, tc.measure)
		t.Logf("%-32s %.1f -> %.1f", tc.knob, easy, hard)
		if hard < tc.minIncrease*easy {
			t.Errorf("%s: %.2f -> %.2f, want at least x%.1f", tc.knob, easy, hard, tc.minIncrease)
		}
	}
}

func TestOptionsOutOfRange(t *testing.T) {
	for _, o := range []Options{{MaxDepth: 9}, {MaxStatements: -1}, {MaxInputSize: 40}, {NumInputs: 100}, {Categories: []Category{"graphs"}}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted out-of-range options", o)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	g, _ := New(Options{Seed: 1})
	for b.Loop() {
		g.Next()
	}
}
