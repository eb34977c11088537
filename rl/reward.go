package rl

import (
	"context"
	"fmt"

	"github.com/azr-native/azr-native/sandbox"
)

// SolverReward is the solver's reward (docs/AZR.md §4.2): -1 for a bad format,
// +1 for a correct answer, -0.5 for a well-formatted wrong one.
func SolverReward(format float64, correct bool) float64 {
	switch {
	case format <= 0:
		return -1
	case correct:
		return 1
	}
	return -0.5
}

// LearnabilityReward is r = 1 - p̄ for 0 < p̄ < 1, and 0 when the task is
// always solved (p̄ = 1) or never solved (p̄ = 0) (docs/AZR.md §4.3).
func LearnabilityReward(pbar float64) float64 {
	if pbar <= 0 || pbar >= 1 {
		return 0
	}
	return 1 - pbar
}

// ProposerReward is the proposer's reward: -1 for an invalid or badly
// formatted proposal, r when r > 0, and trivial (-0.5 by default, 0 in the
// paper's formula) for a valid task that is always or never solved.
func ProposerReward(format float64, valid bool, r, trivial float64) float64 {
	switch {
	case format <= 0 || !valid:
		return -1
	case r > 0:
		return r
	}
	return trivial
}

// Scorer parses responses and judges them with the executor. It is shared by
// the trainer and `azr-native task score`.
type Scorer struct {
	Exec      Executor
	Parse     ParseOptions
	Template  Template // its Prefill goes back in front of each response (GenerationText)
	NumInputs int      // induction inputs a proposal must carry
	Trivial   float64
	Retries   int // retries of an executor call that failed (not a program that failed)
}

// NewScorer returns the scorer a Config describes.
func NewScorer(cfg *Config, exec Executor) (*Scorer, error) {
	tpl, err := cfg.PromptTemplate()
	if err != nil {
		return nil, err
	}
	return &Scorer{Exec: exec, Parse: cfg.Parse, Template: tpl, NumInputs: cfg.NumInputs, Trivial: cfg.TrivialReward, Retries: cfg.ExecRetries}, nil
}

func retry[T any](ctx context.Context, n int, f func() (T, error)) (T, error) {
	var v T
	var err error
	for i := 0; i <= n; i++ {
		if v, err = f(); err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return v, ctx.Err()
		}
	}
	return v, err
}

// SolveScore is the verdict on one solver response.
type SolveScore struct {
	Parsed  SolverAnswer `json:"parsed"`
	Format  float64      `json:"format_score"`
	Correct bool         `json:"correct"`
	ExecErr string       `json:"exec_error,omitempty"` // the executor failed (after retries); scored as wrong
	Reward  float64      `json:"reward"`
}

// check runs the executor's correctness check for an extracted answer.
func (s *Scorer) check(ctx context.Context, typ TaskType, task *Task, value string) (bool, error) {
	return retry(ctx, s.Retries, func() (bool, error) {
		switch typ {
		case Deduction:
			return s.Exec.CheckOutput(ctx, task.Output, value)
		case Abduction:
			return s.Exec.CheckInput(ctx, task.Program, task.Imports, task.Output, value)
		}
		_, _, hi, ho := task.InductionSplit()
		return s.Exec.CheckProgram(ctx, value, task.Imports, hi, ho)
	})
}

// ScoreSolve judges a solver response to a task. The error is non-nil only
// when ctx ends.
func (s *Scorer) ScoreSolve(ctx context.Context, typ TaskType, task Task, response string) (SolveScore, error) {
	text := GenerationText(s.Template, response, s.Parse)
	var sc SolveScore
	sc.Parsed = ExtractSolverAnswer(typ, text, s.Parse)
	sc.Format = FormatScore(text)
	if typ == Induction && !sc.Parsed.OK {
		sc.Format = 0 // no program block: bad format (docs/AZR.md §4.1)
	}
	if sc.Parsed.OK {
		ok, err := s.check(ctx, typ, &task, sc.Parsed.Value)
		if err != nil {
			if ctx.Err() != nil {
				return sc, ctx.Err()
			}
			sc.ExecErr = err.Error()
		}
		sc.Correct = ok && err == nil
	}
	sc.Reward = SolverReward(sc.Format, sc.Correct)
	return sc, nil
}

// ProposalScore is the verdict on one proposer response (before learnability).
type ProposalScore struct {
	Parsed Proposal `json:"parsed"`
	Format float64  `json:"format_score"`
	Valid  bool     `json:"valid"`
	Reason string   `json:"reason,omitempty"` // why not valid
	Task   Task     `json:"task"`             // the task to store, when valid
}

// ScoreProposal parses and validates a proposer response. For induction,
// base is the task whose program the proposer was shown (Program, Imports).
// The new task is stamped with step. The error is non-nil only when ctx ends.
func (s *Scorer) ScoreProposal(ctx context.Context, typ TaskType, base Task, response string, step int) (ProposalScore, error) {
	return s.scoreProposal(ctx, typ, base, response, step, ParseProposal)
}

// ScoreSeedProposal is ScoreProposal for the seeding phase: the response is
// parsed as the reference's seeding does (ParseSeedProposal, no <answer>
// needed). Format is still reported but seeding does not require it.
func (s *Scorer) ScoreSeedProposal(ctx context.Context, typ TaskType, base Task, response string) (ProposalScore, error) {
	return s.scoreProposal(ctx, typ, base, response, 0, ParseSeedProposal)
}

func (s *Scorer) scoreProposal(ctx context.Context, typ TaskType, base Task, response string, step int,
	parse func(TaskType, string, int, ParseOptions) (Proposal, error)) (ProposalScore, error) {
	text := GenerationText(s.Template, response, s.Parse)
	var ps ProposalScore
	ps.Format = FormatScore(text)
	p, err := parse(typ, text, s.NumInputs, s.Parse)
	ps.Parsed = p
	if err != nil {
		ps.Reason = "parse: " + err.Error()
		return ps, nil
	}
	v, err := retry(ctx, s.Retries, func() (sandbox.Validation, error) {
		if typ == Induction {
			// The program comes from our own buffers; the proposer wrote only
			// the inputs. The reference validates these runs with an empty
			// banned list, so the module policy does not apply here.
			return s.Exec.ValidateInputs(ctx, base.Program, p.Inputs)
		}
		return s.Exec.Validate(ctx, p.Program, []string{p.Input})
	})
	if err != nil {
		if ctx.Err() != nil {
			return ps, ctx.Err()
		}
		ps.Reason = "executor: " + err.Error()
		return ps, nil
	}
	if !v.Valid {
		ps.Reason = v.Reason
		if ps.Reason == "" {
			ps.Reason = "invalid"
		}
		return ps, nil
	}
	want := 1
	if typ == Induction {
		want = len(p.Inputs)
	}
	if len(v.Outputs) != want {
		ps.Reason = fmt.Sprintf("executor returned %d outputs for %d inputs", len(v.Outputs), want)
		return ps, nil
	}
	ps.Valid = true
	if typ == Induction {
		imports := base.Imports
		if len(imports) == 0 {
			imports = v.Imports
		}
		ps.Task = Task{Program: base.Program, Inputs: p.Inputs, Outputs: v.Outputs, Message: p.Message, Imports: imports, Step: step, Thought: p.Thought}
	} else {
		ps.Task = Task{Program: p.Program, Input: p.Input, Output: v.Outputs[0], Imports: v.Imports, Step: step, Thought: p.Thought}
	}
	return ps, nil
}

// Learnability is the Monte-Carlo estimate behind a proposer's reward.
type Learnability struct {
	Samples int       `json:"samples"` // rollouts given
	Counted int       `json:"counted"` // rollouts scored (executor failures are dropped, as the reference drops None)
	Solved  int       `json:"solved"`
	Scores  []float64 `json:"scores"` // per rollout: 1, 0, or -1 when dropped
	PBar    float64   `json:"p_bar"`
	R       float64   `json:"r"` // LearnabilityReward(PBar)
}

// Learnability scores N solver rollouts of a valid task (docs/AZR.md §4.3): only
// the <answer> content matters, not the think/answer format; identical
// answers are judged once. With no counted rollouts p̄ = 0, so r = 0.
func (s *Scorer) Learnability(ctx context.Context, typ TaskType, task Task, responses []string) (Learnability, error) {
	l := Learnability{Samples: len(responses), Scores: make([]float64, len(responses))}
	cache := map[string]float64{}
	for i, resp := range responses {
		a := ExtractSolverAnswer(typ, GenerationText(s.Template, resp, s.Parse), s.Parse)
		score := 0.0
		if a.OK {
			if v, ok := cache[a.Value]; ok {
				score = v
			} else {
				ok, err := s.check(ctx, typ, &task, a.Value)
				switch {
				case err != nil && ctx.Err() != nil:
					return l, ctx.Err()
				case err != nil:
					score = -1
				case ok:
					score = 1
				}
				cache[a.Value] = score
			}
		}
		l.Scores[i] = score
		if score >= 0 {
			l.Counted++
			if score == 1 {
				l.Solved++
			}
		}
	}
	if l.Counted > 0 {
		l.PBar = float64(l.Solved) / float64(l.Counted)
	}
	l.R = LearnabilityReward(l.PBar)
	return l, nil
}
