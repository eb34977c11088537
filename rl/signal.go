package rl

import "strings"

// SignalHealth says whether a step gave the update anything to learn from.
// Self-play learns only when proposals are valid, when some of them are
// neither always nor never solved (0 < p̄ < 1: the only proposals with a
// non-zero learnability reward) and when the tasks are not all the same
// program; these are the numbers to watch when a run does not improve.
type SignalHealth struct {
	// ValidProposalRate is valid proposals / proposals, over every task type.
	ValidProposalRate float64 `json:"valid_proposal_rate"`
	// LearnableShare is proposals whose solve rate over the learnability
	// rollouts is strictly inside 0 < p̄ < 1, over all proposals (invalid
	// ones count as not learnable).
	LearnableShare float64 `json:"learnable_share"`
	// SolveRate is, per task type, the solver's correct answers / answers.
	SolveRate map[string]float64 `json:"solve_rate"`
	// ProgramDiversity is distinct programs / valid proposals among this
	// step's deduction and abduction proposals, comparing programs after
	// NormalizeForDiversity (induction proposals reuse buffer programs).
	ProgramDiversity float64 `json:"program_diversity"`
	// ValidPrograms is the diversity's denominator: valid deduction and
	// abduction proposals in the step (0: no diversity to speak of).
	ValidPrograms int `json:"valid_programs"`
	// BufferProgramDiversity is, per buffer, distinct normalized programs / entries.
	BufferProgramDiversity map[string]float64 `json:"buffer_program_diversity"`
	// Response lengths in tokens, mean over the step's trained responses.
	ProposerResponseLen float64 `json:"proposer_response_len_mean"`
	SolverResponseLen   float64 `json:"solver_response_len_mean"`
}

// learnable reports whether a solve rate gives a non-zero learnability reward.
func learnable(pbar float64) bool { return pbar > 0 && pbar < 1 }

// signalHealth summarizes a step's batches and the buffers after it.
func signalHealth(batches map[BatchKey][]scored, bufs *Buffers) SignalHealth {
	h := SignalHealth{SolveRate: map[string]float64{}, BufferProgramDiversity: map[string]float64{}}
	var proposals, valid, learnableN, propTokens, solveTokens, solves int
	programs := map[string]bool{}
	nPrograms := 0
	for _, k := range BatchOrder {
		b, ok := batches[k]
		if !ok {
			continue
		}
		if k.Role == Solve {
			correct := 0.0
			for _, s := range b {
				correct += s.correct
				solveTokens += len(s.sample.Tokens)
			}
			solves += len(b)
			if len(b) > 0 {
				h.SolveRate[k.Type.String()] = correct / float64(len(b))
			}
			continue
		}
		proposals += len(b)
		for _, s := range b {
			propTokens += len(s.sample.Tokens)
			if !s.valid {
				continue
			}
			valid++
			if learnable(s.pbar) {
				learnableN++
			}
			if k.Type != Induction && s.program != "" {
				programs[NormalizeForDiversity(s.program)] = true
				nPrograms++
			}
		}
	}
	h.ValidProposalRate = ratio(valid, proposals)
	h.LearnableShare = ratio(learnableN, proposals)
	h.ProgramDiversity = ratio(len(programs), nPrograms)
	h.ValidPrograms = nPrograms
	h.ProposerResponseLen = ratio(propTokens, proposals)
	h.SolverResponseLen = ratio(solveTokens, solves)
	if bufs != nil {
		for _, typ := range AllTaskTypes {
			if buf := bufs.Of(typ); buf != nil && buf.Len() > 0 {
				h.BufferProgramDiversity[typ.String()] = programDiversity(buf.Entries)
			}
		}
	}
	return h
}

// programDiversity is distinct normalized programs / tasks (0 for none).
func programDiversity(tasks []Task) float64 {
	seen := make(map[string]bool, len(tasks))
	for i := range tasks {
		seen[NormalizeForDiversity(tasks[i].Program)] = true
	}
	return ratio(len(seen), len(tasks))
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// NormalizeForDiversity reduces a program to what matters for telling
// programs apart: comments, blank lines and spacing differences (other than
// the indentation depth) go, so two
// proposals that differ only in those count as one program. It is a text
// transformation only (the program is never run in Go); a '#' inside a
// string literal is kept.
func NormalizeForDiversity(program string) string {
	var out []string
	for _, line := range strings.Split(program, "\n") {
		line = stripComment(line)
		body := strings.TrimLeft(line, " \t")
		if strings.TrimSpace(body) == "" {
			continue
		}
		// Indentation is Python syntax: keep its depth (a tab as four spaces).
		indent := strings.ReplaceAll(line[:len(line)-len(body)], "\t", "    ")
		out = append(out, indent+strings.Join(strings.Fields(body), " "))
	}
	return strings.Join(out, "\n")
}

// stripComment cuts a Python line at a '#' that is outside string literals
// (single-line strings; a triple-quoted string spanning lines is rare in
// proposals and at worst makes two identical programs look different).
func stripComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == '\\':
			i++ // skip the escaped character
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '\'' || c == '"'):
			quote = c
		case quote == 0 && c == '#':
			return line[:i]
		}
	}
	return line
}
