package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/azr-native/azr-native/internal/eval"
	"github.com/azr-native/azr-native/internal/eval/engine"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

// evalMaxOutputBytes is the sandbox's output cap for evaluation: benchmark
// outputs may be longer than the 400 bytes self-play allows a proposal.
const evalMaxOutputBytes = 64 << 10

func init() { registerCommandMaker(evalCommandDef) }

// evalCommandDef builds the eval command (afresh for each app: see registerCommandMaker).
func evalCommandDef() *cli.Command {
	return &cli.Command{
		Name:      "eval",
		Usage:     "score a model, an adapter, or given responses on a benchmark file, checked in the sandbox",
		UsageText: "azr-native eval --data FILE.jsonl [--task output|input|induction|function] (--model M.gguf [--adapter A.gguf] | --run DIR | --responses R.jsonl) [options]",
		Description: `Evaluates code reasoning the way self-play trains it: every item is turned into
self-play's solver prompt (same template and prompt style), the answer is parsed by
self-play's parser, and the verdict comes from the isolated Python sandbox, never from Go.

Tasks and the JSON-lines layouts they read (one object per line):
  output     {"id", "code", "input", "output"}  (CRUXEval): predict f(input)  [deduction]
  input      the same rows: find an input for which f returns the output; any input
             that gives it counts  [abduction]
  induction  {"id", "code", "inputs", "outputs", "message"}: write f from the first half
             of the pairs and the message; it must reproduce EVERY pair
  function   {"task_id", "prompt", "entry_point", "test"} (HumanEval; "canonical_solution"
             optional): complete the function; the row's test runs check(entry_point)
"code" defines f; inputs are the text between the parentheses of f(...), outputs the
repr of the value, e.g. {"id": "s0", "code": "def f(x):\n    return x * 2", "input": "3",
"output": "6"}.

Each row is first checked in the sandbox (f(input) must give the output; a function
row's canonical_solution must pass its test). Bad rows (bad JSON, a missing field,
unparsable input, gold the sandbox does not reproduce) are reported with their line
number and skipped, or reject the file with --strict; a file with no usable row is an
error.

Answers come from a model (--model, optionally with a LoRA --adapter such as a run's
checkpoints/step-N/policy/adapter.gguf; --run DIR takes a run's model, latest adapter,
template, prompt style and parsing rules at once), sampled --samples times per item at
--temperature (0 = greedy; the seed, global --seed, makes sampling repeatable), or from
--responses FILE: JSON lines {"id": ..., "response": "..."} or {"id": ...,
"responses": [...]}, each the text after the prompt (which ends with "<think>"; a
response starting with "<think>" is accepted too). That grades another system's
outputs or a past run without a model.

Prints pass@1 and, with several samples, the unbiased pass@k (1 - C(n-c,k)/C(n,k));
--json prints one JSON object (items, pass_at_1, pass_at_k, bad_rows, ...), --out
writes one JSON line per item (every response, its extracted answer and verdict).

Examples:
  azr-native eval --data cruxeval.jsonl --task output -m qwen2.5-0.5b-q4_0.gguf
  azr-native eval --data cruxeval.jsonl --task input -m base.gguf \
      --adapter runs/first/checkpoints/step-000100/policy/adapter.gguf
  azr-native eval --data cruxeval.jsonl --task input --run runs/first   # the same, latest step
  azr-native eval --data humaneval.jsonl --task function -m m.gguf --template chatml \
      --samples 10 --temperature 0.8 --k 1,5,10 --out results.jsonl
  azr-native eval --data dev_ded.jsonl --task output --responses answers.jsonl --json

--task may be left out when the file's name says it (deduction.jsonl, abduction.jsonl,
induction.jsonl, humaneval.jsonl: the held-out sets of azr-native nano data).

During training, run --eval-data TASK=FILE (repeatable; also a FILE named as above, or a
directory of such files) --eval-every N evaluates the live adapter the same way (greedy,
one sample) and logs eval/<task>/pass_at_1 to metrics.jsonl.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Aliases: []string{"d"}, Required: true, Usage: "benchmark `FILE` (JSON lines)", EnvVars: envVar("data")},
			&cli.StringFlag{Name: "task", Usage: "output, input, induction or function (deduction/abduction accepted); default: from the --data file's name (deduction.jsonl, abduction.jsonl, induction.jsonl, humaneval.jsonl)", EnvVars: envVar("task")},
			&cli.StringFlag{Name: "run", Usage: "a run `DIR` of azr-native run: its model, latest adapter, template, prompt style and parsing rules (flags given override them)", EnvVars: envVar("run")},
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "GGUF model `FILE` to sample answers from", EnvVars: envVar("model")},
			&cli.StringFlag{Name: "adapter", Usage: "LoRA adapter GGUF `FILE` applied to --model", EnvVars: envVar("adapter")},
			&cli.StringFlag{Name: "responses", Usage: "JSON-lines `FILE` of given responses by id, instead of a model", EnvVars: envVar("responses")},
			&cli.IntFlag{Name: "samples", Aliases: []string{"n"}, Value: 1, Usage: "responses sampled per item", EnvVars: envVar("samples")},
			&cli.Float64Flag{Name: "temperature", Value: 0, Usage: "sampling temperature; 0 = greedy", EnvVars: envVar("temperature")},
			&cli.Float64Flag{Name: "top-p", Value: 1, Usage: "nucleus sampling mass; 1 = off", EnvVars: envVar("top-p")},
			&cli.IntFlag{Name: "top-k", Value: 0, Usage: "keep the k most likely tokens; 0 = off", EnvVars: envVar("top-k")},
			&cli.IntFlag{Name: "max-tokens", Value: 1024, Usage: "tokens per response", EnvVars: envVar("max-tokens")},
			&cli.StringSliceFlag{Name: "stop", Usage: "stop string (repeatable): a response ends before it, e.g. User: for a base model with the r1 template (self-play uses none)", EnvVars: envVar("stop")},
			&cli.IntFlag{Name: "max-prompt-length", Value: 0, Usage: "items whose prompt has more tokens are counted as failed (and reported); 0 = no limit", EnvVars: envVar("max-prompt-length")},
			&cli.StringFlag{Name: "k", Usage: "pass@k to report, comma-separated (default 1, 5, 10, ... up to --samples, and --samples)", EnvVars: envVar("k")},
			&cli.StringFlag{Name: "template", Value: "r1", Usage: "prompt template: r1 (base models) or chatml (instruct models), as in run", EnvVars: envVar("template")},
			&cli.StringFlag{Name: "prompt-style", Value: rl.PromptStyleFull, Usage: "full or compact, as in run", EnvVars: envVar("prompt-style")},
			&cli.BoolFlag{Name: "reference-parsing", Usage: "parse answers with the reference's rules and quirks instead of azr-native's fixes", EnvVars: envVar("reference-parsing")},
			&cli.IntFlag{Name: "limit", Usage: "evaluate only the first N usable items; 0 = all", EnvVars: envVar("limit")},
			&cli.BoolFlag{Name: "strict", Usage: "reject the file if any row is bad, instead of skipping bad rows", EnvVars: envVar("strict")},
			&cli.BoolFlag{Name: "no-verify", Usage: "do not check the rows' own gold answers in the sandbox first", EnvVars: envVar("no-verify")},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write per-item results to `FILE` (JSON lines)", EnvVars: envVar("out")},
			jsonFlag(),
			&cli.DurationFlag{Name: "exec-timeout", Value: 2 * time.Second, Usage: "wall-clock limit of one program run in the sandbox", EnvVars: envVar("exec-timeout")},
			&cli.StringFlag{Name: "python", Usage: "Python interpreter for the sandbox (default: python3 on PATH)", EnvVars: envVar("python")},
			sbxIsolationFlag(),
			&cli.IntFlag{Name: "batch", Value: 8, Usage: "items per generation call", EnvVars: envVar("batch")},
			&cli.IntFlag{Name: "ctx", Value: 8192, Usage: "KV cache cells shared by a generation batch", EnvVars: envVar("ctx")},
			&cli.IntFlag{Name: "slots", Value: 8, Usage: "sequences decoded together", EnvVars: envVar("slots")},
			&cli.IntFlag{Name: "gpu-layers", Value: -1, Usage: "layers to offload to a GPU when one is present (azr-native devices); -1 = all, 0 = none", EnvVars: envVar("gpu-layers")},
		},
		Action: evalCommand,
	}
}

func evalCommand(c *cli.Context) error {
	task, err := eval.ParseTask(c.String("task"))
	if c.String("task") == "" {
		var ok bool
		if task, ok = eval.TaskFromName(c.String("data")); !ok {
			return fmt.Errorf("--task is needed: the name of %s does not say whether it is output, input, induction or function", c.String("data"))
		}
	} else if err != nil {
		return fmt.Errorf("--task: %w", err)
	}
	model, adapter, responsesPath := c.String("model"), c.String("adapter"), c.String("responses")
	template, style := c.String("template"), c.String("prompt-style")
	parse := rl.DefaultParseOptions()
	if dir := c.String("run"); dir != "" {
		rs, ckpt, err := loadRunForEval(dir)
		if err != nil {
			return fmt.Errorf("--run: %w", err)
		}
		if !c.IsSet("model") && responsesPath == "" {
			model = rs.Model
		}
		if !c.IsSet("adapter") && responsesPath == "" && ckpt != "" {
			adapter = filepath.Join(ckpt, "policy", "adapter.gguf")
		}
		if !c.IsSet("template") {
			template = rs.Template
		}
		if !c.IsSet("prompt-style") {
			style = rs.PromptStyle
		}
		parse = rs.Parse
		logger.Info("evaluating a run", zap.String("run", dir), zap.String("model", model), zap.String("adapter", adapter),
			zap.String("template", template), zap.String("prompt_style", style))
	}
	switch {
	case model == "" && responsesPath == "":
		return errors.New("give --model FILE (sample answers from a model) or --responses FILE (score given responses)")
	case model != "" && responsesPath != "":
		return errors.New("give --model or --responses, not both")
	case adapter != "" && model == "":
		return errors.New("--adapter needs --model (the base it was trained on)")
	case c.Int("samples") < 1:
		return fmt.Errorf("--samples must be at least 1, got %d", c.Int("samples"))
	case c.Float64("temperature") < 0:
		return fmt.Errorf("--temperature must be >= 0, got %g", c.Float64("temperature"))
	case c.Int("limit") < 0:
		return fmt.Errorf("--limit must be >= 0, got %d", c.Int("limit"))
	}
	if responsesPath != "" {
		for _, name := range []string{"samples", "temperature", "top-p", "top-k", "max-tokens", "stop", "max-prompt-length", "batch", "ctx", "slots", "gpu-layers"} {
			if c.IsSet(name) {
				return fmt.Errorf("--%s applies to sampling from --model; with --responses every given response is scored", name)
			}
		}
	}
	ks, err := parseKs(c.String("k"))
	if err != nil {
		return err
	}
	tpl, err := rl.TemplateFor(template, style)
	if err != nil {
		return fmt.Errorf("--template/--prompt-style: %w", err)
	}
	if c.Bool("reference-parsing") {
		parse = rl.ReferenceParseOptions()
	}
	var responses eval.Responses
	if responsesPath != "" {
		if responses, err = eval.ReadResponsesFile(responsesPath); err != nil {
			return err
		}
	}
	ctx := c.Context
	if ctx == nil {
		ctx = context.Background()
	}
	iso, err := sandbox.ParseIsolation(c.String("sandbox-isolation"))
	if err != nil {
		return err
	}
	pool, err := sandbox.New(ctx, sandbox.Config{Workers: c.Int("threads"), Timeout: c.Duration("exec-timeout"),
		MaxOutputBytes: evalMaxOutputBytes, Python: c.String("python"), Isolation: iso, Logger: logger})
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer pool.Close()
	var ds *eval.Dataset
	if c.Bool("no-verify") {
		ds, err = eval.ReadFile(c.String("data"), task, c.Bool("strict"))
	} else {
		ds, err = eval.Load(ctx, c.String("data"), task, pool, c.Bool("strict"), c.Int("threads"))
	}
	if err != nil {
		return err
	}
	for _, b := range ds.Bad {
		logger.Warn("row skipped", zap.String("data", ds.Name), zap.Int("line", b.Line), zap.String("id", b.ID), zap.String("why", b.Reason))
	}
	if n := c.Int("limit"); n > 0 && n < len(ds.Items) {
		ds.Items = ds.Items[:n]
	}
	opts := eval.Options{
		Data: ds, Exec: pool, Responses: responses, Template: tpl, PromptStyle: style, Parse: parse,
		Samples: c.Int("samples"), Temperature: float32(c.Float64("temperature")), TopP: float32(c.Float64("top-p")), TopK: c.Int("top-k"),
		MaxTokens: c.Int("max-tokens"), Stop: c.StringSlice("stop"), MaxPromptTokens: c.Int("max-prompt-length"), Seed: c.Uint64("seed"),
		Ks: ks, Batch: c.Int("batch"), Parallel: c.Int("threads"), Retries: 2, Logger: logger,
	}
	if model != "" {
		if opts.Temperature == 0 && opts.Samples > 1 {
			logger.Warn("greedy decoding gives every sample of an item the same text; pass@k > 1 needs --temperature > 0", zap.Int("samples", opts.Samples))
		}
		start := time.Now()
		g, err := engine.Open(model, engine.Options{Adapter: adapter, Threads: c.Int("threads"),
			GPULayers: c.Int("gpu-layers"), ContextSize: c.Int("ctx"), Slots: c.Int("slots")})
		if err != nil {
			return err
		}
		defer g.Close()
		logger.Info("model ready", zap.String("model", g.Model().Info().Description), zap.String("adapter", adapter),
			zap.Duration("took", time.Since(start)))
		opts.Generator = g
	}
	sum, items, err := eval.Run(ctx, opts)
	if err != nil {
		return err
	}
	if path := c.String("out"); path != "" {
		if err := writeItemResults(path, items); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	printEvalSummary(c.App.Writer, sum, c.String("out"))
	return nil
}

// loadRunForEval reads a run directory's effective settings (config.json)
// and its latest checkpoint ("" when it has none yet).
func loadRunForEval(dir string) (runSettings, string, error) {
	path := filepath.Join(dir, "config.json")
	patch, err := readConfigFile(path)
	if err != nil {
		return runSettings{}, "", err
	}
	rs := defaultRunSettings()
	if err := applyPatch(&rs, patch); err != nil {
		return rs, "", fmt.Errorf("%s: %w", path, err)
	}
	ckpt, err := rl.LatestCheckpoint(dir)
	if errors.Is(err, os.ErrNotExist) {
		return rs, "", nil
	}
	return rs, ckpt, err
}

// parseKs reads --k: comma-separated positive integers.
func parseKs(text string) ([]int, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	var ks []int
	for _, f := range strings.Split(text, ",") {
		var k int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &k); err != nil || k < 1 {
			return nil, fmt.Errorf("--k: %q is not a positive integer (want e.g. 1,5,10)", strings.TrimSpace(f))
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// writeItemResults writes one JSON line per item.
func writeItemResults(path string, items []eval.ItemResult) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func printEvalSummary(w io.Writer, s eval.Summary, out string) {
	fmt.Fprintf(w, "%s on %s: %d items, %d response(s) each, from %s\n", s.Task, s.Data, s.Items, s.Samples, s.Source)
	ks := make([]string, 0, len(s.PassAtK))
	for k := range s.PassAtK {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return len(ks[i]) < len(ks[j]) || (len(ks[i]) == len(ks[j]) && ks[i] < ks[j]) })
	for _, k := range ks {
		fmt.Fprintf(w, "  pass@%-4s %.4f\n", k, s.PassAtK[k])
	}
	fmt.Fprintf(w, "  format    %.4f   (responses in <think>...</think><answer>...</answer> form)\n", s.FormatRate)
	fmt.Fprintf(w, "  answered  %.4f   (responses with an answer the parser could extract)\n", s.AnswerRate)
	if s.ExecErrors > 0 {
		fmt.Fprintf(w, "  %d responses could not be judged: the sandbox failed (counted wrong)\n", s.ExecErrors)
	}
	if s.TooLong > 0 {
		fmt.Fprintf(w, "  %d items had prompts over --max-prompt-length (counted wrong)\n", s.TooLong)
	}
	if len(s.BadRows) > 0 {
		fmt.Fprintf(w, "skipped %d bad rows:\n", len(s.BadRows))
		for i, b := range s.BadRows {
			if i == 20 {
				fmt.Fprintf(w, "  ... and %d more (all in --json)\n", len(s.BadRows)-20)
				break
			}
			fmt.Fprintf(w, "  %v\n", b)
		}
	}
	if out != "" {
		fmt.Fprintf(w, "per-item results: %s\n", out)
	}
}

// runEvaluator is run's evaluation during training: each TASK=FILE of
// --eval-data is read and checked once, then scored greedily with the live
// policy whenever the trainer asks. Scores are eval/<task>/pass_at_1 (and
// items, format_rate); per-item results go to DIR/eval/<task>-step-NNNNNN.jsonl.
type runEvaluator struct {
	sets []*eval.Dataset
	opts eval.Options // everything but Data
	dir  string
}

// newRunEvaluator reads the --eval-data files; nil when there are none.
func newRunEvaluator(ctx context.Context, specs []string, cfg rl.Config, exec eval.Executor, gen eval.Generator, dir string, parallel int) (*runEvaluator, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	tpl, err := cfg.PromptTemplate()
	if err != nil {
		return nil, err
	}
	e := &runEvaluator{dir: dir, opts: eval.Options{
		Exec: exec, Generator: gen, Template: tpl, PromptStyle: cfg.PromptStyle, Parse: cfg.Parse,
		Samples: 1, Temperature: 0, MaxTokens: cfg.MaxResponseLength, MaxPromptTokens: cfg.MaxPromptLength,
		Seed: cfg.Seed, Ks: []int{1}, Parallel: parallel, Retries: cfg.ExecRetries, Logger: logger,
	}}
	seen := map[eval.Task]string{}
	var files []evalFile
	for _, spec := range specs {
		fs, err := expandEvalSpec(spec)
		if err != nil {
			return nil, err
		}
		files = append(files, fs...)
	}
	for _, f := range files {
		task, path := f.task, f.path
		if prev, dup := seen[task]; dup {
			return nil, fmt.Errorf("eval_data: task %s given twice (%s and %s); one file per task", task, prev, path)
		}
		seen[task] = path
		ds, err := eval.Load(ctx, path, task, exec, false, parallel)
		if err != nil {
			return nil, fmt.Errorf("eval_data: %w", err)
		}
		for _, b := range ds.Bad {
			logger.Warn("eval row skipped", zap.String("data", ds.Name), zap.Int("line", b.Line), zap.String("id", b.ID), zap.String("why", b.Reason))
		}
		logger.Info("eval data", zap.String("task", string(task)), zap.String("file", path), zap.Int("items", len(ds.Items)), zap.Int("bad_rows", len(ds.Bad)))
		e.sets = append(e.sets, ds)
	}
	return e, nil
}

type evalFile struct {
	task eval.Task
	path string
}

// expandEvalSpec reads one eval_data entry: TASK=FILE, a FILE whose name
// says its task (deduction.jsonl, abduction.jsonl, induction.jsonl,
// humaneval.jsonl), or a DIR holding such files (what nano data writes to
// DIR/eval/dev).
func expandEvalSpec(spec string) ([]evalFile, error) {
	const want = "want TASK=FILE (tasks: output, input, induction, function), a FILE named after its task (deduction, abduction, induction, humaneval) or a DIR of such files"
	if name, path, ok := strings.Cut(spec, "="); ok {
		task, err := eval.ParseTask(name)
		if err == nil {
			if strings.TrimSpace(path) == "" {
				return nil, fmt.Errorf("eval_data %q: no file after %s=", spec, name)
			}
			return []evalFile{{task, path}}, nil
		}
		if _, statErr := os.Stat(spec); statErr != nil {
			return nil, fmt.Errorf("eval_data %q: %w", spec, err)
		}
	}
	info, err := os.Stat(spec)
	if err != nil {
		return nil, fmt.Errorf("eval_data %q: %w; %s", spec, err, want)
	}
	if !info.IsDir() {
		task, ok := eval.TaskFromName(spec)
		if !ok {
			return nil, fmt.Errorf("eval_data %q: the file name does not say its task; %s", spec, want)
		}
		return []evalFile{{task, spec}}, nil
	}
	entries, err := os.ReadDir(spec)
	if err != nil {
		return nil, fmt.Errorf("eval_data %q: %w", spec, err)
	}
	var out []evalFile
	for _, e := range entries {
		if task, ok := eval.TaskFromName(e.Name()); ok && !e.IsDir() && strings.HasSuffix(e.Name(), ".jsonl") {
			out = append(out, evalFile{task, filepath.Join(spec, e.Name())})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("eval_data %q: no deduction, abduction, induction or humaneval .jsonl file in this directory", spec)
	}
	return out, nil
}

// Eval is the trainer's evaluation hook.
func (e *runEvaluator) Eval(ctx context.Context, step int) (map[string]float64, error) {
	scores := map[string]float64{}
	for _, ds := range e.sets {
		o := e.opts
		o.Data = ds
		sum, items, err := eval.Run(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ds.Name, err)
		}
		key := "eval/" + string(ds.Task) + "/"
		scores[key+"pass_at_1"] = sum.PassAt1
		scores[key+"items"] = float64(sum.Items)
		scores[key+"format_rate"] = sum.FormatRate
		if sum.TooLong > 0 {
			scores[key+"prompt_too_long"] = float64(sum.TooLong)
		}
		if e.dir != "" {
			dir := filepath.Join(e.dir, "eval")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			if err := writeItemResults(filepath.Join(dir, fmt.Sprintf("%s-step-%06d.jsonl", ds.Task, step)), items); err != nil {
				return nil, err
			}
		}
	}
	return scores, nil
}
