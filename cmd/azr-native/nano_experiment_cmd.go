package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/azr-native/azr-native/internal/report"
	"github.com/azr-native/azr-native/rl"
)

// The learning experiment: does self-play make the nano base better? It is
// an orchestration of the other subcommands (eval, run, nano pretrain), each
// started as a child process of this binary with its command line recorded,
// so every number in the results can be reproduced by hand.

// experimentArm is one self-play configuration of the experiment.
type experimentArm struct {
	Name    string   `json:"name"`
	What    string   `json:"what"`
	RunArgs []string `json:"run_args"`
}

var experimentArms = []experimentArm{
	{"full", "self-play: all three task types, proposer and solver trained", nil},
	{"frozen-proposer", "ablation (a): the proposer is not trained (only solver batches get gradients)", []string{"--train-propose=false"}},
	{"no-induction", "ablation (b): no induction tasks (abduction and deduction only)", []string{"--task-types", "abduction,deduction"}},
}

// controlArm spends the full arm's self-play time on more supervised pretraining.
const controlArm = "pretrain-control"

var experimentTasks = []string{"deduction", "abduction", "induction"}

// The settings of the built-in base: its prompt format and context (docs/NANO-BASE.md).
var experimentPromptArgs = []string{"--template", "r1", "--prompt-style", "compact", "--max-tokens", "256", "--max-prompt-length", "512"}
var experimentRunArgs = []string{"--template", "r1", "--prompt-style", "compact", "--references", "2", "--max-response-length", "256", "--max-prompt-length", "512"}

func init() {
	registerNano(&cli.Command{
		Name:      "experiment",
		Usage:     "measure whether self-play improves a nano base: eval -> self-play -> eval, with ablations and a pretraining control",
		UsageText: "azr-native nano experiment --base-run DIR --evals DIR --out DIR [--steps N] [--eval-every K] [-- RUN FLAGS]",
		Description: `Runs the learning experiment of docs/EXPERIMENT.md on a pretraining run of
'azr-native nano pretrain' (--base-run: its nano-q8_0.gguf is the base, its F32 weights
and token streams feed the control):

  1. the base is evaluated on the --evals files (deduction, abduction, induction; greedy,
     pass@1, the base's prompt format);
  2. three self-play runs of --steps steps each start from the base, the same seed and
     settings except: full; frozen-proposer (--train-propose=false); no-induction
     (--task-types abduction,deduction). Their adapters are checkpointed every
     --eval-every steps and each checkpoint is evaluated like the base;
  3. the control continues supervised pretraining of the base (nano pretrain --init)
     for as long as the full run's self-play steps took, and is evaluated too;
  4. OUT/results.json, OUT/EXPERIMENT.md (the table, the exact command lines) and
     OUT/experiment-*.png (held-out accuracy per task type over the steps) are written.

Flags after -- go to every 'run' (for example -- --batch-size 16 --lr 1e-4).
Everything is resumable: run the same command again and finished parts are reused.
Child logs are in OUT/logs/. --eval-limit evaluates only the first N items of each
file (for a quick look; the results of a real experiment use all of them).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "base-run", Required: true, Usage: "finished 'nano pretrain' run `DIR` (nano-q8_0.gguf, nano-f32.gguf, token streams)", EnvVars: envVar("base-run")},
			&cli.StringFlag{Name: "evals", Required: true, Usage: "`DIR` of deduction.jsonl, abduction.jsonl, induction.jsonl (the held-out test split of 'nano data')", EnvVars: envVar("evals")},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "experiment `DIR` (resumed when it exists)", EnvVars: envVar("out")},
			&cli.IntFlag{Name: "steps", Value: 30, Usage: "self-play steps of each arm", EnvVars: envVar("steps")},
			&cli.IntFlag{Name: "eval-every", Value: 10, Usage: "evaluate the adapter every N steps (and at the last step)", EnvVars: envVar("eval-every")},
			&cli.IntFlag{Name: "eval-limit", Usage: "evaluate only the first N items of each file (0: all)", EnvVars: envVar("eval-limit")},
			&cli.IntFlag{Name: "jobs", Value: 3, Usage: "arms run at the same time (each with --threads engine threads)", EnvVars: envVar("jobs")},
			&cli.StringSliceFlag{Name: "arms", Usage: "arms to run: full, frozen-proposer, no-induction, " + controlArm + " (default: all)", EnvVars: envVar("arms")},
			&cli.Float64Flag{Name: "control-lr", Value: 5e-4, Usage: "peak learning rate of the control's continued pretraining", EnvVars: envVar("control-lr")},
			&cli.Int64Flag{Name: "control-tokens", Usage: "training budget of the control in tokens (exactly reproducible; overrides --control-minutes); given, the control runs beside the arms", EnvVars: envVar("control-tokens")},
			&cli.Float64Flag{Name: "control-minutes", Usage: "training time of the control; given, the control runs beside the arms (0: after them, for the full arm's measured self-play time)", EnvVars: envVar("control-minutes")},
		},
		Action: nanoExperiment,
	})
}

type experiment struct {
	bin, baseRun, evals, out string
	steps, every, limit      int
	threads                  int
	seed                     uint64
	passthrough              []string

	mu       sync.Mutex
	commands []string // every child command line, in the order first started (earlier invocations' first)
}

func nanoExperiment(c *cli.Context) error {
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	x := &experiment{bin: bin, baseRun: c.String("base-run"), evals: c.String("evals"), out: c.String("out"),
		steps: c.Int("steps"), every: c.Int("eval-every"), limit: c.Int("eval-limit"),
		threads: c.Int("threads"), seed: c.Uint64("seed"), passthrough: c.Args().Slice()}
	if x.steps < 1 || x.every < 1 {
		return errors.New("nano experiment: --steps and --eval-every must be at least 1")
	}
	for _, f := range []string{filepath.Join(x.baseRun, "nano-q8_0.gguf"), filepath.Join(x.baseRun, "nano-f32.gguf")} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("--base-run %s: %w (make one with 'azr-native nano pretrain' or 'make nano')", x.baseRun, err)
		}
	}
	for _, t := range experimentTasks {
		if _, err := os.Stat(filepath.Join(x.evals, t+".jsonl")); err != nil {
			return fmt.Errorf("--evals %s: %w (the test split of 'azr-native nano data' is DIR/eval/test)", x.evals, err)
		}
	}
	arms, control, err := chooseArms(c.StringSlice("arms"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(x.out, "logs"), 0o755); err != nil {
		return err
	}
	// A rerun reuses finished parts: the commands that made them come from
	// the earlier invocation's results, so the report keeps listing them.
	if js, err := os.ReadFile(filepath.Join(x.out, "results.json")); err == nil {
		var earlier experimentResults
		if json.Unmarshal(js, &earlier) == nil {
			x.commands = earlier.Commands
		}
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	res := &experimentResults{Steps: x.steps, EvalEvery: x.every, EvalLimit: x.limit, Seed: x.seed,
		BaseRun: x.baseRun, Evals: x.evals, RunArgs: append(append([]string{}, experimentRunArgs...), x.passthrough...)}
	base, err := x.evaluate(ctx, "base", filepath.Join(x.baseRun, "nano-q8_0.gguf"), "")
	if err != nil {
		return err
	}
	res.Base = base
	logger.Info("base evaluated", zap.Any("pass_at_1", base))

	// With --control-minutes the control's budget is known up front and it
	// runs beside the arms, under the same machine load; otherwise it follows
	// the full arm, whose self-play time it then gets.
	controlMinutes, controlLR := c.Float64("control-minutes"), c.Float64("control-lr")
	budget := controlBudget{tokens: c.Int64("control-tokens")}
	jobs := max(1, c.Int("jobs"))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	results := make([]armResult, len(arms))
	errs := make([]error, len(arms)+1)
	for i, a := range arms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], errs[i] = x.selfPlay(ctx, a)
		}()
	}
	var cr controlResult
	if control && (budget.tokens > 0 || controlMinutes > 0) {
		budget.minutes = controlMinutes
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cr, errs[len(arms)] = x.pretrainControl(ctx, budget, controlLR)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	res.Arms = results
	if control && budget.tokens <= 0 && controlMinutes <= 0 {
		for _, r := range results {
			if r.Name == "full" {
				controlMinutes = r.SelfPlaySeconds / 60
			}
		}
		if controlMinutes <= 0 {
			return errors.New("nano experiment: the control's budget is the full arm's self-play time; run the full arm too or give --control-minutes")
		}
		budget.minutes = controlMinutes
		if cr, err = x.pretrainControl(ctx, budget, controlLR); err != nil {
			return err
		}
	}
	if control {
		res.Control = &cr
	}
	x.mu.Lock()
	res.Commands = append([]string{}, x.commands...)
	x.mu.Unlock()
	doc, err := writeExperimentResults(x.out, res)
	if err != nil {
		return err
	}
	logger.Info("experiment done", zap.String("results", doc))
	return nil
}

func chooseArms(names []string) (arms []experimentArm, control bool, err error) {
	if len(names) == 0 {
		return experimentArms, true, nil
	}
	for _, n := range names {
		for _, part := range strings.Split(n, ",") {
			part = strings.TrimSpace(part)
			if part == controlArm {
				control = true
				continue
			}
			found := false
			for _, a := range experimentArms {
				if a.Name == part {
					arms, found = append(arms, a), true
				}
			}
			if !found {
				return nil, false, fmt.Errorf("--arms: unknown arm %q (arms: full, frozen-proposer, no-induction, %s)", part, controlArm)
			}
		}
	}
	return arms, control, nil
}

// child runs this binary with args, its log appended to OUT/logs/NAME.log and
// its standard output to stdoutPath (the log too when empty).
func (x *experiment) child(ctx context.Context, name, stdoutPath string, args ...string) error {
	full := append([]string{"--threads", strconv.Itoa(x.threads), "--seed", strconv.FormatUint(x.seed, 10), "--log-format", "json"}, args...)
	line := "azr-native " + shellJoin(full)
	x.mu.Lock()
	if !slices.Contains(x.commands, line) {
		x.commands = append(x.commands, line)
	}
	x.mu.Unlock()
	logPath := filepath.Join(x.out, "logs", name+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := exec.CommandContext(ctx, x.bin, full...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if stdoutPath != "" {
		out, err := os.Create(stdoutPath)
		if err != nil {
			return err
		}
		defer out.Close()
		cmd.Stdout = out
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	start := time.Now()
	logger.Info("started", zap.String("part", name), zap.String("log", logPath))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w (see %s)", name, err, logPath)
	}
	logger.Info("finished", zap.String("part", name), zap.Duration("took", time.Since(start).Round(time.Second)))
	return nil
}

// evaluate scores a model (with an adapter, if any) on the three files; a
// finished evaluation (its JSON summary exists) is reused.
func (x *experiment) evaluate(ctx context.Context, name, model, adapter string) (map[string]float64, error) {
	scores := map[string]float64{}
	dir := filepath.Join(x.out, "evals")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, t := range experimentTasks {
		sumPath := filepath.Join(dir, name+"-"+t+".json")
		if _, err := os.Stat(sumPath); err != nil {
			tmp := sumPath + ".tmp"
			args := []string{"eval", "-m", model, "--data", filepath.Join(x.evals, t+".jsonl"), "--json",
				"--out", filepath.Join(dir, name+"-"+t+".items.jsonl"), "--limit", strconv.Itoa(x.limit)}
			if adapter != "" {
				args = append(args, "--adapter", adapter)
			}
			args = append(args, experimentPromptArgs...)
			if err := x.child(ctx, "eval-"+name+"-"+t, tmp, args...); err != nil {
				return nil, err
			}
			if err := os.Rename(tmp, sumPath); err != nil {
				return nil, err
			}
		}
		data, err := os.ReadFile(sumPath)
		if err != nil {
			return nil, err
		}
		var s struct {
			PassAt1 float64 `json:"pass_at_1"`
			Format  float64 `json:"format_rate"`
		}
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", sumPath, err)
		}
		scores[t], scores[formatKey(t)] = s.PassAt1, s.Format
	}
	return scores, nil
}

// formatKey names a task's format rate (answers in the expected form) among the scores.
func formatKey(task string) string { return "format_" + task }

// armResult is one arm's outcome: held-out pass@1 per task at each evaluated step.
type armResult struct {
	Name            string                     `json:"name"`
	What            string                     `json:"what"`
	Args            []string                   `json:"args"`
	Evals           map[int]map[string]float64 `json:"evals"` // step -> task -> pass@1
	SelfPlaySeconds float64                    `json:"self_play_seconds"`
	Signal          map[string]float64         `json:"signal"` // means over the steps
	// SignalSteps is the proposer's side per step: whether self-play's
	// tasks get better is seen here first, before any held-out score moves.
	SignalSteps []stepSignal `json:"signal_steps"`
}

// stepSignal is one step's valid-proposal rate and learnable share (0 < p̄ < 1).
type stepSignal struct {
	Step              int     `json:"step"`
	ValidProposalRate float64 `json:"valid_proposal_rate"`
	LearnableShare    float64 `json:"learnable_share"`
}

func (x *experiment) evalSteps() []int {
	var steps []int
	for s := x.every; s < x.steps; s += x.every {
		steps = append(steps, s)
	}
	return append(steps, x.steps)
}

func (x *experiment) selfPlay(ctx context.Context, a experimentArm) (armResult, error) {
	dir := filepath.Join(x.out, a.Name)
	args := []string{"run", "--out", dir, "-m", filepath.Join(x.baseRun, "nano-q8_0.gguf"),
		"--steps", strconv.Itoa(x.steps), "--save-every", strconv.Itoa(x.every)}
	args = append(args, experimentRunArgs...)
	args = append(args, a.RunArgs...)
	args = append(args, x.passthrough...)
	r := armResult{Name: a.Name, What: a.What, Args: a.RunArgs, Evals: map[int]map[string]float64{}}
	if err := x.child(ctx, a.Name, "", args...); err != nil {
		return r, err
	}
	run, err := report.Load(dir)
	if err != nil {
		return r, err
	}
	r.SelfPlaySeconds, r.Signal, r.SignalSteps = selfPlaySummary(run, x.steps)
	for _, s := range x.evalSteps() {
		adapter := filepath.Join(dir, "checkpoints", fmt.Sprintf("step-%06d", s), "policy", "adapter.gguf")
		if _, err := os.Stat(adapter); err != nil {
			return r, fmt.Errorf("%s: no adapter at step %d: %w", a.Name, s, err)
		}
		sc, err := x.evaluate(ctx, fmt.Sprintf("%s-step%06d", a.Name, s), filepath.Join(x.baseRun, "nano-q8_0.gguf"), adapter)
		if err != nil {
			return r, err
		}
		r.Evals[s] = sc
	}
	return r, nil
}

// selfPlaySummary sums the wall time of the first steps steps, averages
// their signal health and lists the proposer's signal per step (a run
// directory may hold more steps than asked for).
func selfPlaySummary(run *report.Run, steps int) (seconds float64, signal map[string]float64, perStep []stepSignal) {
	signal = map[string]float64{}
	var kept []rl.StepMetrics
	for _, st := range run.Steps {
		if st.Step <= steps {
			kept = append(kept, st)
		}
	}
	n := float64(len(kept))
	for _, st := range kept {
		seconds += st.Seconds["total"]
		signal["valid_proposal_rate"] += st.Signal.ValidProposalRate / n
		signal["learnable_share"] += st.Signal.LearnableShare / n
		signal["program_diversity"] += st.Signal.ProgramDiversity / n
		for t, v := range st.Signal.SolveRate {
			signal["solve_rate_"+t] += v / n
		}
		perStep = append(perStep, stepSignal{Step: st.Step, ValidProposalRate: st.Signal.ValidProposalRate, LearnableShare: st.Signal.LearnableShare})
	}
	return seconds, signal, perStep
}

// controlBudget is the control's training budget: tokens when set, else minutes.
type controlBudget struct {
	tokens  int64
	minutes float64
}

// controlResult is the supervised-pretraining control.
type controlResult struct {
	Minutes     float64            `json:"minutes"` // training time it took
	Budget      string             `json:"budget"`  // as given: "N tokens" or "M minutes"
	LR          float64            `json:"lr"`
	Steps       int                `json:"steps"`
	Tokens      int64              `json:"tokens"`
	HeldOutLoss [2]float64         `json:"heldout_loss"` // before, after
	Eval        map[string]float64 `json:"eval"`
}

func (x *experiment) pretrainControl(ctx context.Context, b controlBudget, lr float64) (controlResult, error) {
	dir := filepath.Join(x.out, controlArm)
	cr := controlResult{LR: lr}
	args := []string{"nano", "pretrain", "--init", x.baseRun, "--out", dir, "--lr", strconv.FormatFloat(lr, 'g', -1, 64),
		"--min-lr", strconv.FormatFloat(lr/10, 'g', -1, 64), "--warmup", "10"}
	if b.tokens > 0 {
		cr.Budget = fmt.Sprintf("%d tokens", b.tokens)
		args = append(args, "--tokens", strconv.FormatInt(b.tokens, 10))
	} else {
		cr.Budget = fmt.Sprintf("%.2f minutes", b.minutes)
		args = append(args, "--minutes", strconv.FormatFloat(b.minutes, 'f', 2, 64))
	}
	if err := x.child(ctx, controlArm, "", args...); err != nil {
		return cr, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return cr, err
	}
	var sum struct {
		Seconds       float64 `json:"train_seconds"`
		Steps         int     `json:"steps"`
		TrainedTokens int64   `json:"trained_tokens"`
		First         float64 `json:"first_heldout_loss"`
		Final         float64 `json:"final_heldout_loss"`
		ModelQuant    string  `json:"model_quant"`
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		return cr, err
	}
	cr.Steps, cr.Tokens, cr.HeldOutLoss, cr.Minutes = sum.Steps, sum.TrainedTokens, [2]float64{sum.First, sum.Final}, sum.Seconds/60
	cr.Eval, err = x.evaluate(ctx, controlArm, sum.ModelQuant, "")
	return cr, err
}

// shellJoin quotes args for a shell, for the recorded command lines.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			out[i] = a
		}
	}
	return strings.Join(out, " ")
}
