package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
	"github.com/urfave/cli/v2"
)

const taskJSONHelp = `TASK.json is a task as a buffer stores it (rl.Task):
  program   Python source defining the entry function f (imports and classes at the top)
  input     deduction/abduction: the text between the parentheses of the call, e.g. "'abc', [1, 2]"
  output    deduction/abduction: repr(f(input)), e.g. "['a', 'b']"
  inputs    induction: the N inputs (the first half is shown to the solver, the rest is hidden)
  outputs   induction: repr(f(input_n)) for each input
  message   induction: the proposer's description shown to the solver
  imports   optional import lines prepended when an answer is checked, e.g. ["import math"]
  step      optional: the step that added the task (0 for seeds)
Example (deduction or abduction):
  {"program": "def f(xs):\n    return sorted(xs)[-2:]", "input": "[3, 1, 2]", "output": "[2, 3]"}
Example (induction):
  {"program": "def f(s):\n    return s[::-1]", "inputs": ["'ab'", "'xyz'", "''", "'aba'"],
   "outputs": ["'ba'", "'zyx'", "''", "'aba'"], "message": "Reverse it."}
For --role propose only the induction program matters (deduction and abduction
proposals bring their own program; --task may be omitted).`

func init() {
	registerCommand(&cli.Command{
		Name:  "task",
		Usage: "inspect AZR tasks: how a response is parsed and scored, and the prompts the model sees",
		Subcommands: []*cli.Command{
			{
				Name:      "score",
				Usage:     "parse and score one model response to a task, with the real sandbox",
				UsageText: "azr-native task score --type deduction|abduction|induction --role propose|solve --task TASK.json --response RESPONSE.txt [--rollouts ROLLOUTS.json] [--json]",
				Description: `Prints what was parsed, the format score, validity (with the reason) and the reward,
exactly as a self-play step computes them (package rl), checking programs and answers
in the isolated Python sandbox.

RESPONSE.txt is the model's continuation after the prompt, which ends with "<think>";
a response that starts with "<think>" itself is accepted too. "-" reads standard input.

Solver role: reward +1 correct, -0.5 well formatted but wrong, -1 bad format.
Proposer role: -1 for an invalid or badly formatted proposal. The learnability
reward needs solver rollouts of the proposed task, which this command cannot sample:
give them with --rollouts FILE (a JSON array of solver responses, normally 8) and the
reward is 1 - p̄ for 0 < p̄ < 1 and --trivial-reward otherwise. Without --rollouts
the reward is reported as if no rollout were counted (p̄ = 0, so --trivial-reward).

` + taskJSONHelp,
				Flags: append(taskFlags(),
					&cli.StringFlag{Name: "response", Required: true, Usage: "`FILE` holding the model's response; - for stdin", EnvVars: envVar("response")},
					&cli.StringFlag{Name: "rollouts", Usage: "propose role: JSON `FILE` with an array of solver responses for the learnability reward", EnvVars: envVar("rollouts")},
					&cli.Float64Flag{Name: "trivial-reward", Value: rl.DefaultConfig().TrivialReward, Usage: "proposer reward of a valid task solved always or never (reference -0.5, paper 0)", EnvVars: envVar("trivial-reward")},
					&cli.DurationFlag{Name: "exec-timeout", Value: rl.DefaultConfig().ExecTimeout, Usage: "wall-clock limit of one program run", EnvVars: envVar("exec-timeout")},
					&cli.StringFlag{Name: "python", Usage: "Python interpreter for the sandbox (default: python3 on PATH)", EnvVars: envVar("python")},
					&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON", EnvVars: envVar("json")},
				),
				Action: taskScore,
			},
			{
				Name:      "prompt",
				Usage:     "print the prompt the model would get for a task",
				UsageText: "azr-native task prompt --type deduction|abduction|induction --role propose|solve [--task TASK.json] [--refs REFS.jsonl]",
				Description: `Prints the full prompt text (template included) for one task: for --role solve the
solver prompt of TASK.json; for --role propose the proposer prompt, with the reference
triplets from --refs (JSON lines of tasks; the zero triplet when absent) for deduction
and abduction, or the program of TASK.json for induction.

` + taskJSONHelp,
				Flags: append(taskFlags(),
					&cli.StringFlag{Name: "refs", Usage: "JSON lines `FILE` of reference tasks for deduction/abduction proposer prompts", EnvVars: envVar("refs")},
				),
				Action: taskPrompt,
			},
		},
	})
}

func taskFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "type", Required: true, Usage: "deduction, abduction or induction", EnvVars: envVar("type")},
		&cli.StringFlag{Name: "role", Required: true, Usage: "propose or solve", EnvVars: envVar("role")},
		&cli.StringFlag{Name: "task", Usage: "TASK.json `FILE` (see below)", EnvVars: envVar("task")},
		&cli.StringFlag{Name: "template", Value: "r1", Usage: "prompt template: r1 (base models) or chatml", EnvVars: envVar("template")},
		&cli.StringFlag{Name: "prompt-style", Value: rl.PromptStyleFull, Usage: "full, or compact (terse instructions for small-context models; same answer formats)", EnvVars: envVar("prompt-style")},
		&cli.BoolFlag{Name: "reference-parsing", Usage: "parse with the reference's rules and quirks instead of azr-native's fixes", EnvVars: envVar("reference-parsing")},
		&cli.IntFlag{Name: "num-inputs", Value: rl.DefaultConfig().NumInputs, Usage: "inputs an induction proposal must carry", EnvVars: envVar("num-inputs")},
	}
}

func readInput(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

type taskArgs struct {
	typ  rl.TaskType
	role rl.Role
	task rl.Task
	cfg  rl.Config
	tpl  rl.Template
}

func parseTaskArgs(c *cli.Context) (*taskArgs, error) {
	var a taskArgs
	var err error
	if a.typ, err = rl.ParseTaskType(c.String("type")); err != nil {
		return nil, fmt.Errorf("--type: %w", err)
	}
	if a.role, err = rl.ParseRole(c.String("role")); err != nil {
		return nil, fmt.Errorf("--role: %w", err)
	}
	if path := c.String("task"); path != "" {
		data, err := readInput(path)
		if err != nil {
			return nil, fmt.Errorf("--task: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a.task); err != nil {
			return nil, fmt.Errorf("--task %s: %w", path, err)
		}
	} else if a.role == rl.Solve || a.typ == rl.Induction {
		return nil, fmt.Errorf("--task is required for %v %v", a.role, a.typ)
	}
	a.cfg = rl.DefaultConfig()
	a.cfg.Template = c.String("template")
	a.cfg.PromptStyle = c.String("prompt-style")
	a.cfg.NumInputs = c.Int("num-inputs")
	if c.Bool("reference-parsing") {
		a.cfg.Parse = rl.ReferenceParseOptions()
	}
	if a.tpl, err = a.cfg.PromptTemplate(); err != nil {
		return nil, fmt.Errorf("--template/--prompt-style: %w", err)
	}
	return &a, nil
}

// taskScoreReport is what `task score --json` prints.
type taskScoreReport struct {
	Type         rl.TaskType       `json:"type"`
	Role         rl.Role           `json:"role"`
	FormatScore  float64           `json:"format_score"`
	Valid        bool              `json:"valid"`
	Reason       string            `json:"reason,omitempty"`
	Reward       float64           `json:"reward"`
	Solve        *rl.SolveScore    `json:"solve,omitempty"`
	Proposal     *rl.ProposalScore `json:"proposal,omitempty"`
	Learnability *rl.Learnability  `json:"learnability,omitempty"`
	Note         string            `json:"note,omitempty"`
}

func taskScore(c *cli.Context) error {
	a, err := parseTaskArgs(c)
	if err != nil {
		return err
	}
	data, err := readInput(c.String("response"))
	if err != nil {
		return fmt.Errorf("--response: %w", err)
	}
	response := string(data)
	if t := strings.TrimSpace(response); strings.HasPrefix(t, a.tpl.Prefill) {
		response = strings.TrimPrefix(t, a.tpl.Prefill)
	}
	var rollouts []string
	if path := c.String("rollouts"); path != "" {
		if a.role != rl.Propose {
			return fmt.Errorf("--rollouts applies to --role propose only")
		}
		raw, err := readInput(path)
		if err != nil {
			return fmt.Errorf("--rollouts: %w", err)
		}
		if err := json.Unmarshal(raw, &rollouts); err != nil {
			return fmt.Errorf("--rollouts %s: want a JSON array of strings: %w", path, err)
		}
	}

	ctx := c.Context
	if ctx == nil {
		ctx = context.Background()
	}
	pool, err := sandbox.New(ctx, sandbox.Config{
		Workers: c.Int("threads"), Timeout: c.Duration("exec-timeout"),
		BannedModules: a.cfg.BannedModules, Python: c.String("python"), Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer pool.Close()
	a.cfg.TrivialReward = c.Float64("trivial-reward")
	scorer, err := rl.NewScorer(&a.cfg, pool)
	if err != nil {
		return err
	}

	rep := taskScoreReport{Type: a.typ, Role: a.role}
	start := time.Now()
	if a.role == rl.Solve {
		sc, err := scorer.ScoreSolve(ctx, a.typ, a.task, response)
		if err != nil {
			return err
		}
		rep.Solve, rep.FormatScore, rep.Valid, rep.Reward = &sc, sc.Format, sc.Parsed.OK, sc.Reward
		switch {
		case !sc.Parsed.OK:
			rep.Reason = "no answer could be extracted"
		case sc.ExecErr != "":
			rep.Reason = "executor error: " + sc.ExecErr
		}
	} else {
		ps, err := scorer.ScoreProposal(ctx, a.typ, a.task, response, a.task.Step)
		if err != nil {
			return err
		}
		rep.Proposal, rep.FormatScore, rep.Valid, rep.Reason = &ps, ps.Format, ps.Valid, ps.Reason
		var l rl.Learnability
		if ps.Valid && len(rollouts) > 0 {
			if l, err = scorer.Learnability(ctx, a.typ, ps.Task, rollouts); err != nil {
				return err
			}
			rep.Learnability = &l
		} else if ps.Valid && ps.Format > 0 {
			rep.Note = "no --rollouts: learnability unknown, reward computed as if no rollout were counted (p̄ = 0, r = 0)"
		}
		rep.Reward = rl.ProposerReward(ps.Format, ps.Valid, l.R, a.cfg.TrivialReward)
	}
	elapsed := time.Since(start)

	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "%s %s\n", a.role, a.typ)
	if rep.Solve != nil {
		p := rep.Solve.Parsed
		if p.OK {
			fmt.Fprintf(w, "parsed answer (from %s):\n%s\n", p.Source, indent(p.Value))
		} else {
			fmt.Fprintf(w, "parsed answer: none (answer block: %q)\n", p.Answer)
		}
		fmt.Fprintf(w, "format score: %g\n", rep.FormatScore)
		fmt.Fprintf(w, "correct: %v\n", rep.Solve.Correct)
	} else {
		p := rep.Proposal.Parsed
		if p.Program != "" {
			if p.Original != p.Program {
				fmt.Fprintf(w, "program (as written):\n%s\n", indent(p.Original))
			}
			fmt.Fprintf(w, "program:\n%s\n", indent(p.Program))
		}
		if p.Input != "" {
			fmt.Fprintf(w, "input: %s\n", p.Input)
		}
		for i, in := range p.Inputs {
			fmt.Fprintf(w, "input %d: %s\n", i+1, in)
		}
		if p.Message != "" {
			fmt.Fprintf(w, "message: %s\n", p.Message)
		}
		fmt.Fprintf(w, "format score: %g\n", rep.FormatScore)
		if rep.Valid {
			t := rep.Proposal.Task
			fmt.Fprintln(w, "valid: yes")
			if a.typ == rl.Induction {
				for i := range t.Outputs {
					fmt.Fprintf(w, "  f(%s) = %s\n", t.Inputs[i], t.Outputs[i])
				}
			} else {
				fmt.Fprintf(w, "  f(%s) = %s\n", t.Input, t.Output)
			}
			if len(t.Imports) > 0 {
				fmt.Fprintf(w, "  imports: %s\n", strings.Join(t.Imports, "; "))
			}
		} else {
			fmt.Fprintf(w, "valid: no (%s)\n", rep.Reason)
		}
		if rep.Learnability != nil {
			l := rep.Learnability
			fmt.Fprintf(w, "learnability: %d of %d counted rollouts solved, p̄ = %g, r = %g\n", l.Solved, l.Counted, l.PBar, l.R)
		}
		if rep.Note != "" {
			fmt.Fprintln(w, "note:", rep.Note)
		}
	}
	if rep.Solve != nil && rep.Reason != "" {
		fmt.Fprintf(w, "note: %s\n", rep.Reason)
	}
	fmt.Fprintf(w, "reward: %g\n", rep.Reward)
	fmt.Fprintf(w, "(checked in %s)\n", elapsed.Round(time.Millisecond))
	return nil
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

func taskPrompt(c *cli.Context) error {
	a, err := parseTaskArgs(c)
	if err != nil {
		return err
	}
	opts := a.cfg.PromptOptions()
	var text string
	switch {
	case a.role == rl.Solve:
		text = rl.SolveTextWith(a.typ, a.task, opts)
	case a.typ == rl.Induction:
		text = rl.ProposeInduction(a.task.Program, opts)
	default:
		refs := []rl.Task{rl.ZeroTriplet()}
		if path := c.String("refs"); path != "" {
			data, err := readInput(path)
			if err != nil {
				return fmt.Errorf("--refs: %w", err)
			}
			refs = nil
			dec := json.NewDecoder(strings.NewReader(string(data)))
			for dec.More() {
				var t rl.Task
				if err := dec.Decode(&t); err != nil {
					return fmt.Errorf("--refs %s: %w", path, err)
				}
				refs = append(refs, t)
			}
		}
		text = rl.ProposeTriplet(a.typ, refs, opts)
	}
	_, err = fmt.Fprintln(c.App.Writer, a.tpl.Render(text))
	return err
}
