package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/azr-native/azr-native/internal/nano"
	"github.com/azr-native/azr-native/internal/synth"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
)

func init() {
	d := rl.DefaultConfig()
	registerNano(&cli.Command{
		Name:      "data",
		Usage:     "generate the nano base's pretraining corpus and its held-out evaluation sets",
		UsageText: "azr-native nano data --out DIR [--seed S] [--programs N] [--eval-items N]",
		Description: `Generates small Python programs (arithmetic, strings, lists, dicts, comprehensions,
loops, conditionals, recursion, standard-library imports) with inputs, runs every one in
the sandbox with the same checks a self-play proposal must pass (parses as one function f,
no banned modules, runs on every input, deterministic across two separate executions,
output within the size cap), and writes:

  DIR/corpus.jsonl                         pretraining documents, one JSON object a line:
                                           {"kind": "...", "text": "...", "prompt_bytes": N}
  DIR/eval/dev/{deduction,abduction,induction}.jsonl    held-out items for choosing settings
  DIR/eval/test/{deduction,abduction,induction}.jsonl   held-out items for final numbers only
  DIR/stats.json                           what was generated, kept, rejected and why

Document kinds: "program" (code followed by assert lines with the sandbox's outputs) and
the six self-play transcripts propose_/solve_ x deduction/abduction/induction: the prompt
exactly as 'run' renders it (--template, --prompt-style, --references), then a short
<think> and the correct answer in the fences the parser reads. prompt_bytes is the length
of the prompt at the start of text. docs/NANO.md explains the mixture.

Deduction and abduction rows use the CRUXEval layout {"id", "code", "input", "output"};
induction rows are {"id", "code", "inputs", "outputs", "message"}. The evaluation programs
come from a different seed (--eval-seed, default --seed + 1) and are never in the corpus:
they are de-duplicated against it (and test against dev) on normalized program text.
Every output in every file was computed by Python in the sandbox, never by Go.

The same flags give the same files. Examples:
  azr-native nano data --out data/nano                        # 2000 programs, 200 eval items per split
  azr-native nano data --out /tmp/d --programs 200 --eval-items 50     # a quick small set
  azr-native nano data --out d --prompt-style full --references 6      # transcripts for a larger context
  azr-native nano data --out d --max-depth 3 --max-statements 6        # harder programs`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "output `DIR` (created; files in it are replaced)", EnvVars: envVar("out")},
			&cli.Uint64Flag{Name: "seed", Value: d.Seed, Usage: "seed of the corpus programs (also settable as the global --seed)", EnvVars: envVar("seed")},
			&cli.IntFlag{Name: "programs", Value: 2000, Usage: "programs to generate for the corpus (rejected and constant ones are dropped)", EnvVars: envVar("programs")},
			&cli.DurationFlag{Name: "exec-timeout", Value: 5 * time.Second, Usage: "wall-clock limit of one program run; far above self-play's so that a busy machine cannot turn a program into a timeout and change the corpus (same seed, same files)", EnvVars: envVar("exec-timeout")},
			&cli.StringSliceFlag{Name: "categories", Usage: "difficulty: generate only these program categories (default all: arithmetic, strings, lists, dicts, comprehension, loops, conditionals, recursion, imports)", EnvVars: envVar("categories")},
			&cli.IntFlag{Name: "seeds", Value: 256, Usage: "corpus programs written to DIR/seeds.jsonl as seed tasks for 'run --seed-file' (each as a triplet and as an induction task)", EnvVars: envVar("seeds")},
			&cli.IntFlag{Name: "eval-items", Value: 200, Usage: "items per evaluation file (one program gives a deduction, an abduction and an induction row)", EnvVars: envVar("eval-items")},
			&cli.Uint64Flag{Name: "eval-seed", DefaultText: "--seed + 1", Usage: "seed of the evaluation programs (must differ from --seed)", EnvVars: envVar("eval-seed")},
			&cli.StringFlag{Name: "template", Value: nano.DefaultTemplate, Usage: "prompt template of the transcripts: r1 or chatml", EnvVars: envVar("template")},
			&cli.StringFlag{Name: "prompt-style", Value: nano.DefaultPromptStyle, Usage: "prompt style of the transcripts: compact or full (as run's --prompt-style)", EnvVars: envVar("prompt-style")},
			&cli.IntFlag{Name: "references", Value: nano.DefaultReferences, Usage: "reference triplets in proposer transcripts (run's --references)", EnvVars: envVar("references")},
			&cli.IntFlag{Name: "num-inputs", Value: d.NumInputs, Usage: "inputs per program (induction N)", EnvVars: envVar("num-inputs")},
			&cli.IntFlag{Name: "max-depth", Value: 2, Usage: "difficulty: nesting of generated expressions (1-5)", EnvVars: envVar("max-depth")},
			&cli.IntFlag{Name: "max-statements", Value: 4, Usage: "difficulty: statements in f's body (1-10)", EnvVars: envVar("max-statements")},
			&cli.IntFlag{Name: "max-input-size", Value: 6, Usage: "difficulty: length of list, string and dict arguments (1-16)", EnvVars: envVar("max-input-size")},
			&cli.Float64Flag{Name: "variant-share", Value: nano.DefaultVariantShare, Usage: "share of deduction and abduction proposer transcripts that answer with a reference changed in one constant, on a new input (0: every one proposes a new program; see docs/NANO.md)", EnvVars: envVar("variant-share")},
			&cli.StringFlag{Name: "mixture", Usage: "documents per program by kind, e.g. program=1,solve_deduction=0.6 (kinds not named keep their default; see docs/NANO.md)", EnvVars: envVar("mixture")},
			&cli.IntFlag{Name: "parallel", Value: 4, Usage: "programs validated at once in the sandbox", EnvVars: envVar("parallel")},
			&cli.StringFlag{Name: "python", Usage: "Python interpreter for the sandbox (default: python3 on PATH)", EnvVars: envVar("python")},
			sbxIsolationFlag(),
		},
		Action: nanoData,
	})
}

// parseMixture reads "kind=weight,kind=weight" over the default mixture.
func parseMixture(s string) (nano.Mixture, error) {
	m := nano.DefaultMixture()
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("%q is not kind=weight", part)
		}
		w, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, fmt.Errorf("%q: weight: %w", part, err)
		}
		m[strings.TrimSpace(k)] = w
	}
	return m, nil
}

// seedFlag is the subcommand's --seed, or the global one when only that is given.
func seedFlag(c *cli.Context) uint64 {
	if c.IsSet("seed") {
		return c.Uint64("seed")
	}
	for _, a := range c.Lineage()[1:] {
		if a.IsSet("seed") {
			return a.Uint64("seed")
		}
	}
	return c.Uint64("seed")
}

// nanoDataStats is DIR/stats.json.
type nanoDataStats struct {
	Corpus   nano.CorpusStats `json:"corpus"`
	EvalDev  nano.CorpusStats `json:"eval_dev"`
	EvalTest nano.CorpusStats `json:"eval_test"`
	Files    []string         `json:"files"`
	Seconds  float64          `json:"seconds"`
}

func nanoData(c *cli.Context) error {
	start := time.Now()
	seed := seedFlag(c)
	evalSeed := seed + 1
	if c.IsSet("eval-seed") {
		evalSeed = c.Uint64("eval-seed")
	}
	if evalSeed == seed {
		return fmt.Errorf("--eval-seed must differ from --seed (%d): the evaluation programs must come from another stream", seed)
	}
	if c.Int("programs") < 1 {
		return fmt.Errorf("--programs must be at least 1, not %d", c.Int("programs"))
	}
	if c.Int("eval-items") < 1 {
		return fmt.Errorf("--eval-items must be at least 1, not %d", c.Int("eval-items"))
	}
	mix, err := parseMixture(c.String("mixture"))
	if err != nil {
		return fmt.Errorf("--mixture: %w", err)
	}
	knobs := synth.Options{MaxDepth: c.Int("max-depth"), MaxStatements: c.Int("max-statements"), MaxInputSize: c.Int("max-input-size")}
	for _, name := range c.StringSlice("categories") {
		for _, part := range strings.Split(name, ",") {
			cat, ok := synth.Category(strings.TrimSpace(part)), false
			for _, known := range synth.AllCategories {
				ok = ok || known == cat
			}
			if !ok {
				return fmt.Errorf("--categories: unknown category %q (categories: %v)", part, synth.AllCategories)
			}
			knobs.Categories = append(knobs.Categories, cat)
		}
	}
	if _, err := synth.New(knobs); err != nil {
		return err
	}
	out := c.String("out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := rl.DefaultConfig()
	iso, err := sandbox.ParseIsolation(c.String("sandbox-isolation"))
	if err != nil {
		return err
	}
	pool, err := sandbox.New(ctx, sandbox.Config{Workers: c.Int("threads"), Timeout: c.Duration("exec-timeout"), BannedModules: cfg.BannedModules,
		Python: c.String("python"), Isolation: iso, Logger: logger})
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer pool.Close()

	variantShare := c.Float64("variant-share")
	if variantShare < 0 || variantShare > 1 {
		return fmt.Errorf("--variant-share must be between 0 and 1, not %g", variantShare)
	}
	if variantShare == 0 {
		variantShare = -1 // CorpusOptions: negative means none, zero the default
	}
	corpus, err := nano.BuildCorpus(ctx, pool, nano.CorpusOptions{
		Seed: seed, Programs: c.Int("programs"), Template: c.String("template"), PromptStyle: c.String("prompt-style"),
		References: c.Int("references"), NumInputs: c.Int("num-inputs"), Mixture: mix, Synth: knobs, VariantShare: variantShare,
		Parallel: c.Int("parallel"), Logger: logger,
	})
	if err != nil {
		return err
	}
	if corpus.Stats.Used == 0 {
		return fmt.Errorf("no usable program among the %d generated (%d valid, %d with a constant output; rejections: %v); is the sandbox working? try 'azr-native sandbox validate'",
			corpus.Stats.Generated, corpus.Stats.Valid, corpus.Stats.Constant, corpus.Stats.Rejected)
	}
	corpusPath := filepath.Join(out, "corpus.jsonl")
	if err := nano.WriteCorpusFile(corpusPath, corpus.Documents); err != nil {
		return err
	}
	logger.Info("corpus written", zap.String("path", corpusPath), zap.Int("documents", len(corpus.Documents)))
	seedsPath := filepath.Join(out, "seeds.jsonl")
	if err := nano.WriteSeedFile(seedsPath, corpus.Tasks, c.Int("seeds")); err != nil {
		return err
	}

	sets, err := nano.BuildEvalSets(ctx, pool, nano.EvalOptions{
		Seed: evalSeed, Items: c.Int("eval-items"), Synth: knobs, NumInputs: c.Int("num-inputs"),
		Parallel: c.Int("parallel"), Logger: logger, Exclude: corpus.ProgramSet(),
	})
	if err != nil {
		return err
	}
	if err := nano.WriteEvalSets(out, sets); err != nil {
		return err
	}
	st := nanoDataStats{Corpus: corpus.Stats, EvalDev: sets.Dev.Stats, EvalTest: sets.Test.Stats, Files: []string{corpusPath, seedsPath}}
	for _, split := range []string{"dev", "test"} {
		for _, typ := range []rl.TaskType{rl.Deduction, rl.Abduction, rl.Induction} {
			st.Files = append(st.Files, nano.EvalFiles(out)[split][typ])
		}
	}
	st.Seconds = time.Since(start).Seconds()
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "stats.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	w := c.App.Writer
	cs := corpus.Stats
	fmt.Fprintf(w, "corpus: %d programs generated, %d valid (%.1f%%), %d kept (%d constant, %d repeats); %d documents, %.1f MB -> %s\n",
		cs.Generated, cs.Valid, 100*cs.ValidRate, cs.Used, cs.Constant, cs.Duplicates, len(corpus.Documents), float64(cs.TotalBytes)/1e6, corpusPath)
	for _, k := range nano.Kinds {
		fmt.Fprintf(w, "  %-18s %6d documents %9d bytes  (longest prompt %d bytes)\n", k, cs.Documents[k], cs.Bytes[k], cs.PromptBytes[k])
	}
	for _, sp := range []nano.EvalSplit{sets.Dev, sets.Test} {
		fmt.Fprintf(w, "eval %s: %d items per file (%d generated, %d excluded as corpus or dev programs) -> %s\n",
			sp.Name, len(sp.Deduction), sp.Stats.Generated, sp.Stats.Excluded, filepath.Join(out, "eval", sp.Name))
	}
	fmt.Fprintf(w, "stats: %s (%.0f s)\n", filepath.Join(out, "stats.json"), st.Seconds)
	return nil
}
