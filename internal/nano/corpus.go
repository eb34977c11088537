package nano

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/azr-native/azr-native/internal/progress"
	"github.com/azr-native/azr-native/internal/synth"
	"github.com/azr-native/azr-native/rl"
)

// Document kinds of the pretraining corpus.
const (
	KindProgram = "program" // a generated program followed by assert lines with real outputs
	// Transcripts: a prompt rendered exactly as self-play renders it, then a
	// short think and the correct answer in the fences the parser expects.
	KindProposeDeduction = "propose_deduction"
	KindProposeAbduction = "propose_abduction"
	KindProposeInduction = "propose_induction"
	KindSolveDeduction   = "solve_deduction"
	KindSolveAbduction   = "solve_abduction"
	KindSolveInduction   = "solve_induction"
)

// Kinds lists every document kind in a fixed order.
var Kinds = []string{KindProgram, KindProposeDeduction, KindProposeAbduction, KindProposeInduction, KindSolveDeduction, KindSolveAbduction, KindSolveInduction}

// The prompt settings the corpus's transcripts use by default. A self-play
// run on a base pretrained on this corpus should prompt it the same way:
// SetRunPromptDefaults applies them to a run's default config (before the
// user's config file, environment and flags are layered on top).
const (
	DefaultTemplate    = "r1"
	DefaultPromptStyle = rl.PromptStyleCompact
	DefaultReferences  = 2
)

// SetRunPromptDefaults makes cfg prompt as the corpus's transcripts do.
func SetRunPromptDefaults(cfg *rl.Config) {
	cfg.Template, cfg.PromptStyle, cfg.References = DefaultTemplate, DefaultPromptStyle, DefaultReferences
}

// Mixture is the expected number of documents of each kind per realized
// program (a weight of 0.5 makes a document for half of the programs).
// docs/NANO.md explains the default.
type Mixture map[string]float64

// DefaultVariantShare is CorpusOptions.VariantShare's default: half of the
// deduction and abduction proposer transcripts answer with a variant of a
// reference.
const DefaultVariantShare = 0.5

// DefaultMixture: every program once as code with asserts, each solver
// transcript for 60% of programs, each proposer transcript for 40%.
func DefaultMixture() Mixture {
	return Mixture{
		KindProgram:          1,
		KindSolveDeduction:   0.6,
		KindSolveAbduction:   0.6,
		KindSolveInduction:   0.6,
		KindProposeDeduction: 0.4,
		KindProposeAbduction: 0.4,
		KindProposeInduction: 0.4,
	}
}

// CorpusOptions configure BuildCorpus. Zero fields take the defaults noted.
type CorpusOptions struct {
	Seed     uint64
	Programs int // programs generated and realized in the sandbox (default 2000)
	// Template and PromptStyle render the transcripts as `run` will
	// (defaults "r1" and "compact"); References is the K of proposer
	// prompts (default 2); NumInputs the induction N (default 10).
	Template    string
	PromptStyle string
	References  int
	NumInputs   int
	Mixture     Mixture       // default DefaultMixture()
	Synth       synth.Options // difficulty knobs; Seed and NumInputs are set from these options
	// MinDistinctOutputs drops programs whose outputs over their inputs take
	// fewer distinct values (default 2: a function ignoring its input teaches
	// little and makes an unusable induction task).
	MinDistinctOutputs int
	// VariantShare is the share of deduction and abduction proposer
	// transcripts whose answer changes one constant of a reference
	// (corpus_variants.go says why); the rest propose a new program. Default
	// DefaultVariantShare; a negative value means none.
	VariantShare float64
	Parallel     int // concurrent sandbox validations (default 4)
	Logger       *zap.Logger
	// Exclude holds NormalizeProgram texts that must not appear (used by
	// the evaluation sets against the corpus).
	Exclude map[string]bool
}

func (o CorpusOptions) withDefaults() (CorpusOptions, error) {
	if o.Programs == 0 {
		o.Programs = 2000
	}
	if o.Template == "" {
		o.Template = DefaultTemplate
	}
	if o.PromptStyle == "" {
		o.PromptStyle = DefaultPromptStyle
	}
	if o.References == 0 {
		o.References = DefaultReferences
	}
	if o.NumInputs == 0 {
		o.NumInputs = 10
	}
	if o.Mixture == nil {
		o.Mixture = DefaultMixture()
	}
	if o.MinDistinctOutputs == 0 {
		o.MinDistinctOutputs = 2
	}
	if o.Parallel == 0 {
		o.Parallel = 4
	}
	switch {
	case o.VariantShare == 0:
		o.VariantShare = DefaultVariantShare
	case o.VariantShare < 0:
		o.VariantShare = 0
	case o.VariantShare > 1:
		return o, fmt.Errorf("corpus: variant share must be at most 1, not %g", o.VariantShare)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	switch {
	case o.Programs < 0:
		return o, fmt.Errorf("corpus: programs must be > 0, not %d", o.Programs)
	case o.References < 0:
		return o, fmt.Errorf("corpus: references must be >= 0, not %d", o.References)
	case o.NumInputs < 2:
		return o, fmt.Errorf("corpus: num_inputs must be >= 2, not %d", o.NumInputs)
	}
	for k, w := range o.Mixture {
		if !knownKind(k) {
			return o, fmt.Errorf("corpus: unknown document kind %q in the mixture (want one of %s)", k, strings.Join(Kinds, ", "))
		}
		if w < 0 || w > 10 {
			return o, fmt.Errorf("corpus: mixture weight of %s is %g, want 0-10", k, w)
		}
	}
	o.Synth.Seed = o.Seed
	o.Synth.NumInputs = o.NumInputs
	return o, nil
}

func knownKind(k string) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Document is one training text. PromptBytes, for transcripts, is the length
// of the rendered prompt at the start of Text: what follows it is the
// model's part (a driver may weight the two differently).
type Document struct {
	Kind        string `json:"kind"`
	Text        string `json:"text"`
	PromptBytes int    `json:"prompt_bytes,omitempty"`
}

// Corpus is the pretraining corpus with the tasks it was made from.
type Corpus struct {
	Documents []Document
	Tasks     []synth.Task // the realized programs, in generation order
	// Variants are the realized one-constant variants that proposer
	// transcripts answer with, in the order of their programs in Tasks.
	Variants []synth.Task
	Stats    CorpusStats
}

// CorpusStats summarises a build.
type CorpusStats struct {
	Generated   int            `json:"generated"`            // programs generated
	Valid       int            `json:"valid"`                // passed the self-play validity checks
	Used        int            `json:"used"`                 // valid, varied and not excluded: the corpus's programs
	Constant    int            `json:"constant"`             // valid, but fewer than MinDistinctOutputs distinct outputs
	Excluded    int            `json:"excluded"`             // valid, but in Exclude (or a repeat)
	Rejected    map[string]int `json:"rejected"`             // invalid, by reason
	Categories  map[string]int `json:"categories"`           // used programs per category
	Documents   map[string]int `json:"documents"`            // per kind
	Bytes       map[string]int `json:"bytes"`                // per kind
	TotalBytes  int            `json:"total_bytes"`          // all documents
	PromptBytes map[string]int `json:"max_prompt_bytes"`     // longest rendered prompt per transcript kind
	Seconds     float64        `json:"seconds"`              // wall time
	Options     map[string]any `json:"options,omitempty"`    // what built it
	Mixture     Mixture        `json:"mixture,omitempty"`    // expected documents per program
	Shapes      int            `json:"distinct_shapes"`      // programs distinct once names, numbers and strings are abstracted
	Duplicates  int            `json:"duplicates,omitempty"` // generated programs repeating an earlier one
	Variants    int            `json:"variants"`             // programs with a realized one-constant variant
	// VariantsChanged counts the variants whose outputs differ from their
	// program's on some input (the others differ in text only).
	VariantsChanged int     `json:"variants_changed"`
	ValidRate       float64 `json:"valid_rate"` // Valid / Generated
	UsedRate        float64 `json:"used_rate"`  // Used / Generated
}

// realizeBatch is how many programs are sent to the sandbox between progress lines.
const realizeBatch = 100

// realizePrograms generates and realizes up to opt.Programs programs,
// keeping the valid, varied, new ones; with want > 0 it stops as soon as it
// has want of them.
func realizePrograms(ctx context.Context, exec rl.Executor, opt CorpusOptions, what string, want int, st *CorpusStats) ([]synth.Task, error) {
	scorer, err := corpusScorer(opt, exec)
	if err != nil {
		return nil, err
	}
	gen, err := synth.New(opt.Synth)
	if err != nil {
		return nil, err
	}
	st.Rejected, st.Categories = map[string]int{}, map[string]int{}
	seen := map[string]bool{}
	shapes := map[string]bool{}
	var tasks []synth.Task
	total := opt.Programs
	if want > 0 {
		total = want
	}
	tr := progress.New(opt.Logger, what+": programs realized in the sandbox", int64(total), progress.Unit("programs"))
	defer tr.Finish()
	for done := 0; done < opt.Programs && (want <= 0 || len(tasks) < want); {
		n := min(realizeBatch, opt.Programs-done)
		if want > 0 {
			// Ask for what is missing plus a margin for rejections.
			n = min(n, (want-len(tasks))*5/4+2)
		}
		progs := make([]synth.Program, n)
		for i := range progs {
			progs[i] = gen.Next()
		}
		var onDone func(int)
		if want <= 0 {
			onDone = func(int) { tr.Add(1) }
		}
		res, err := synth.RealizeAll(ctx, scorer, progs, opt.Parallel, onDone)
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			st.Generated++
			if r.Reason != "" {
				st.Rejected[reasonClass(r.Reason)]++
				continue
			}
			st.Valid++
			norm := NormalizeProgram(r.Task.Program)
			switch {
			case seen[norm]:
				st.Duplicates++
				continue
			case opt.Exclude[norm]:
				st.Excluded++
				continue
			case r.Task.DistinctOutputs() < opt.MinDistinctOutputs:
				st.Constant++
				continue
			}
			if want > 0 && len(tasks) >= want {
				continue
			}
			seen[norm] = true
			shapes[programShape(r.Task.Program)] = true
			st.Categories[string(r.Task.Category)]++
			tasks = append(tasks, r.Task)
		}
		done += n
		if want > 0 {
			tr.Set(int64(len(tasks)))
		}
		tr.Note(fmt.Sprintf("%d valid, %d kept", st.Valid, len(tasks)))
	}
	st.Used = len(tasks)
	st.Shapes = len(shapes)
	if st.Generated > 0 {
		st.ValidRate = float64(st.Valid) / float64(st.Generated)
		st.UsedRate = float64(st.Used) / float64(st.Generated)
	}
	return tasks, nil
}

// corpusScorer is self-play's scorer with the corpus's prompt settings: the
// checks every corpus program passes.
func corpusScorer(opt CorpusOptions, exec rl.Executor) (*rl.Scorer, error) {
	cfg := rl.DefaultConfig()
	cfg.Template, cfg.PromptStyle, cfg.NumInputs = opt.Template, opt.PromptStyle, opt.NumInputs
	return rl.NewScorer(&cfg, exec)
}

// reasonClass shortens a rejection reason to its kind ("input 3: error:
// ZeroDivisionError: ..." -> "error: ZeroDivisionError").
func reasonClass(r string) string {
	if strings.HasPrefix(r, "input ") {
		if i := strings.Index(r, ": "); i >= 0 {
			r = r[i+2:]
		}
	}
	parts := strings.SplitN(r, ": ", 3)
	if len(parts) >= 2 && parts[0] == "error" {
		return "error: " + parts[1]
	}
	if len(parts[0]) > 60 {
		return parts[0][:60]
	}
	return parts[0]
}

// BuildCorpus generates opt.Programs programs, realizes them in the sandbox
// (exec is the real executor) and writes the documents the mixture asks for.
// Same options and the same sandbox => the same corpus.
func BuildCorpus(ctx context.Context, exec rl.Executor, opt CorpusOptions) (*Corpus, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	r, err := newRenderer(opt) // checks template and prompt style before any sandbox work
	if err != nil {
		return nil, err
	}
	start := time.Now()
	c := &Corpus{}
	c.Stats.Options = map[string]any{"seed": opt.Seed, "programs": opt.Programs, "template": opt.Template, "prompt_style": opt.PromptStyle,
		"references": opt.References, "num_inputs": opt.NumInputs, "min_distinct_outputs": opt.MinDistinctOutputs,
		"variant_share": opt.VariantShare, "max_depth": opt.Synth.MaxDepth, "max_statements": opt.Synth.MaxStatements, "max_input_size": opt.Synth.MaxInputSize}
	c.Stats.Mixture = opt.Mixture
	tasks, err := realizePrograms(ctx, exec, opt, "corpus", 0, &c.Stats)
	if err != nil {
		return nil, err
	}
	c.Tasks = tasks
	var variants []*synth.Task
	if opt.VariantShare > 0 {
		if variants, err = realizeVariants(ctx, exec, opt, tasks, &c.Stats); err != nil {
			return nil, err
		}
		for _, v := range variants {
			if v != nil {
				c.Variants = append(c.Variants, *v)
			}
		}
	}
	// Mixture draws come from their own stream, so that the programs do
	// not change when only the mixture does.
	rng := rand.New(rand.NewPCG(opt.Seed, 0x6d6978)) // "mix"
	pool := []rl.Task{rl.ZeroTriplet()}              // reference pool: self-play's start, then the corpus so far
	for i, t := range tasks {
		var variant *synth.Task
		if variants != nil {
			variant = variants[i]
		}
		for _, kind := range Kinds {
			w := opt.Mixture[kind]
			n := int(w)
			if rng.Float64() < w-float64(n) {
				n++
			}
			for range n {
				doc, err := r.render(kind, t, variant, pool, rng)
				if err != nil {
					return nil, fmt.Errorf("corpus: %s document for program:\n%s\n%w", kind, t.Program, err)
				}
				c.Documents = append(c.Documents, doc)
			}
		}
		pool = append(pool, t.Triplet())
	}
	rng.Shuffle(len(c.Documents), func(i, j int) { c.Documents[i], c.Documents[j] = c.Documents[j], c.Documents[i] })
	c.Stats.Documents, c.Stats.Bytes, c.Stats.PromptBytes = map[string]int{}, map[string]int{}, map[string]int{}
	for _, d := range c.Documents {
		c.Stats.Documents[d.Kind]++
		c.Stats.Bytes[d.Kind] += len(d.Text)
		c.Stats.TotalBytes += len(d.Text)
		c.Stats.PromptBytes[d.Kind] = max(c.Stats.PromptBytes[d.Kind], d.PromptBytes)
	}
	c.Stats.Seconds = time.Since(start).Seconds()
	opt.Logger.Info("corpus built", zap.Int("programs", c.Stats.Used), zap.Int("documents", len(c.Documents)), zap.Int("bytes", c.Stats.TotalBytes),
		zap.Float64("valid_rate", c.Stats.ValidRate), zap.Float64("seconds", c.Stats.Seconds))
	return c, nil
}

// ProgramSet returns the normalized texts of the corpus's programs and variants (for
// excluding them from evaluation sets).
func (c *Corpus) ProgramSet() map[string]bool {
	out := make(map[string]bool, len(c.Tasks)+len(c.Variants))
	for _, t := range append(slices.Clip(c.Tasks), c.Variants...) {
		out[NormalizeProgram(t.Program)] = true
	}
	return out
}

// NormalizeProgram is the text two programs are compared by: lines with
// trailing space removed, blank lines dropped, runs of spaces inside a line
// collapsed (indentation kept).
func NormalizeProgram(code string) string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(code, "\r\n", "\n"), "\n") {
		l = strings.TrimRight(l, " \t")
		if strings.TrimSpace(l) == "" {
			continue
		}
		body := strings.TrimLeft(l, " \t")
		indent := l[:len(l)-len(body)]
		out = append(out, indent+strings.Join(strings.Fields(body), " "))
	}
	return strings.Join(out, "\n")
}

var (
	shapeIdent  = regexp.MustCompile(`[A-Za-z_]\w*`)
	shapeNumber = regexp.MustCompile(`\d+`)
	shapeString = regexp.MustCompile(`'[^']*'`)
	pyKeywords  = map[string]bool{"def": true, "return": true, "for": true, "in": true, "if": true, "elif": true, "else": true,
		"while": true, "and": true, "or": true, "not": true, "import": true, "from": true, "lambda": true, "break": true}
)

// programShape abstracts names, numbers and strings away, keeping keywords
// and punctuation (for the diversity statistic).
func programShape(code string) string {
	code = shapeString.ReplaceAllString(code, "S")
	code = shapeNumber.ReplaceAllString(code, "N")
	return shapeIdent.ReplaceAllStringFunc(code, func(id string) string {
		if pyKeywords[id] {
			return id
		}
		return "x"
	})
}
