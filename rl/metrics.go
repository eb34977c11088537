package rl

import (
	"math"
	"strings"
)

// BatchMetrics summarizes one (task type x role) batch of a step.
type BatchMetrics struct {
	N          int     `json:"n"`
	RewardMean float64 `json:"reward_mean"`
	RewardMin  float64 `json:"reward_min"`
	RewardMax  float64 `json:"reward_max"`
	AdvMean    float64 `json:"adv_mean"`
	AdvMin     float64 `json:"adv_min"`
	AdvMax     float64 `json:"adv_max"`
	// Accuracy: solver, the fraction answered correctly; proposer, the mean
	// learnability r counting invalid proposals as 0 (the reference's metric).
	Accuracy   float64 `json:"accuracy"`
	FormatRate float64 `json:"format_rate"`
	// Valid: proposer, valid proposals (all are stored); solver, answers that could be extracted.
	Valid     int     `json:"valid"`
	ValidRate float64 `json:"valid_rate"`                // Valid / N
	Learnable float64 `json:"learnable_share,omitempty"` // proposer: share of proposals with 0 < p̄ < 1
	// ProgramDiversity: proposer (deduction/abduction), distinct programs
	// (after NormalizeForDiversity) / valid proposals.
	ProgramDiversity float64 `json:"program_diversity,omitempty"`
	PBarMean         float64 `json:"p_bar_mean,omitempty"` // proposer: mean p̄ over valid proposals
	ExecErrors       int     `json:"exec_errors,omitempty"`
	RespLenMean      float64 `json:"response_len_mean"`
	RespLenMin       int     `json:"response_len_min"`
	RespLenMax       int     `json:"response_len_max"`
	ClipRatio        float64 `json:"clip_ratio"` // responses that hit the length cap
	PromptLen        float64 `json:"prompt_len_mean"`
	// PromptsDropped counts prompts over max_prompt_length: proposer prompts
	// still too long after the redraws (the batch is that much shorter);
	// solver tasks replaced by repeats of tasks that fit.
	PromptsDropped int     `json:"prompts_dropped,omitempty"`
	PromptChars    float64 `json:"prompt_chars_mean"`
	ProgramLines   float64 `json:"program_lines_mean,omitempty"` // proposer (deduction/abduction): valid programs
	// ProgramBranches is a cheap complexity proxy: control-flow keywords
	// (if, for, while, def, lambda, try, return ... ) per valid program.
	ProgramBranches float64 `json:"program_branches_mean,omitempty"`
	// AnswerDiversity is distinct answers / answers: solver, the extracted
	// answers; proposer, the gold outputs of the valid tasks.
	AnswerDiversity float64 `json:"answer_diversity"`
}

// StepMetrics is the JSON line written for each step.
type StepMetrics struct {
	Step           int                     `json:"step"`
	Batches        map[string]BatchMetrics `json:"batches"` // keyed "propose_deduction", "solve_induction", ...
	Buffers        map[string]int          `json:"buffers"`
	ValidProposals int                     `json:"valid_proposals"`
	Sequences      int                     `json:"sequences"`
	Train          TrainStats              `json:"train"`
	TrainNonFinite bool                    `json:"train_non_finite,omitempty"` // the policy reported NaN/Inf statistics (zeroed above)
	UhOh           int                     `json:"uhoh_total"`
	Signal         SignalHealth            `json:"signal"` // is there anything to learn from? (valid, learnable, diverse)
	Seconds        map[string]float64      `json:"seconds"`
}

// finiteStats zeroes non-finite statistics, which JSON cannot carry.
func finiteStats(s TrainStats) (TrainStats, bool) {
	bad := false
	for _, p := range []*float64{&s.Loss, &s.GradNorm, &s.Entropy, &s.ClipFrac, &s.LearnRate, &s.DurationSec} {
		if math.IsNaN(*p) || math.IsInf(*p, 0) {
			*p, bad = 0, true
		}
	}
	return s, bad
}

var branchWords = []string{"if ", "for ", "while ", "def ", "lambda", "try:", "elif ", "return "}

func programBranches(p string) int {
	n := 0
	for _, line := range strings.Split(p, "\n") {
		l := strings.TrimSpace(line)
		for _, w := range branchWords {
			if strings.HasPrefix(l, w) || (w == "lambda" && strings.Contains(l, "lambda")) {
				n++
				break
			}
		}
	}
	return n
}

func batchMetrics(k BatchKey, b []scored, adv []float64) BatchMetrics {
	m := BatchMetrics{N: len(b), RewardMin: math.Inf(1), RewardMax: math.Inf(-1), AdvMin: math.Inf(1), AdvMax: math.Inf(-1), RespLenMin: math.MaxInt}
	if len(b) == 0 {
		return BatchMetrics{}
	}
	answers, programs := map[string]bool{}, map[string]bool{}
	nAnswers, nProg, nValid, nLearnable := 0, 0, 0, 0
	var pbar float64
	for i, s := range b {
		m.RewardMean += s.reward
		m.RewardMin, m.RewardMax = min(m.RewardMin, s.reward), max(m.RewardMax, s.reward)
		m.AdvMean += adv[i]
		m.AdvMin, m.AdvMax = min(m.AdvMin, adv[i]), max(m.AdvMax, adv[i])
		m.Accuracy += s.correct
		m.FormatRate += s.format
		l := len(s.sample.Tokens)
		m.RespLenMean += float64(l)
		m.RespLenMin, m.RespLenMax = min(m.RespLenMin, l), max(m.RespLenMax, l)
		if s.sample.Finish == "length" {
			m.ClipRatio++
		}
		m.PromptLen += float64(len(s.prompt))
		m.PromptChars += float64(s.promptChars)
		if s.execErr {
			m.ExecErrors++
		}
		if s.valid {
			m.Valid++
			nValid++
			pbar += s.pbar
			if learnable(s.pbar) {
				nLearnable++
			}
			if s.answer != "" || k.Role == Propose {
				answers[s.answer] = true
				nAnswers++
			}
			if s.program != "" && k.Type != Induction {
				nProg++
				m.ProgramLines += float64(strings.Count(s.program, "\n") + 1)
				m.ProgramBranches += float64(programBranches(s.program))
				programs[NormalizeForDiversity(s.program)] = true
			}
		}
	}
	n := float64(len(b))
	m.RewardMean /= n
	m.AdvMean /= n
	m.Accuracy /= n
	m.FormatRate /= n
	m.RespLenMean /= n
	m.ClipRatio /= n
	m.PromptLen /= n
	m.PromptChars /= n
	if nProg > 0 {
		m.ProgramLines /= float64(nProg)
		m.ProgramBranches /= float64(nProg)
	}
	m.ValidRate = float64(m.Valid) / n
	if k.Role == Propose {
		m.Learnable = float64(nLearnable) / n
		m.ProgramDiversity = ratio(len(programs), nProg)
	}
	if k.Role == Propose && nValid > 0 {
		m.PBarMean = pbar / float64(nValid)
	}
	if nAnswers > 0 {
		m.AnswerDiversity = float64(len(answers)) / float64(nAnswers)
	}
	return m
}
