package rl

import "unicode/utf8"

// MaxSampleChars bounds the response text of one SampleRecord, so that
// samples.jsonl stays small however long the responses are.
const MaxSampleChars = 4000

// SampleRecord is one response kept for people to read: a run writes
// Config.SamplesPerBatch of them per (task type x role) batch and step to
// samples.jsonl, so a report can show what the model proposed and answered.
type SampleRecord struct {
	Step  int    `json:"step"`
	Batch string `json:"batch"` // "propose_deduction", "solve_induction", ...
	Index int    `json:"index"` // the response's position in its batch
	// Task: proposer, the task the response proposed (when valid); solver,
	// the task it was asked to solve (with the gold answer).
	Task    *Task   `json:"task,omitempty"`
	Valid   bool    `json:"valid"`   // proposer: a valid task; solver: an answer could be extracted
	Correct float64 `json:"correct"` // solver: 1 if right; proposer: learnability r
	PBar    float64 `json:"p_bar,omitempty"`
	Reward  float64 `json:"reward"`
	Format  float64 `json:"format"`
	Answer  string  `json:"answer,omitempty"` // solver: the extracted answer
	Tokens  int     `json:"response_tokens"`
	Finish  string  `json:"finish"`
	// Response is the model's text, cut to MaxSampleChars (Truncated says so).
	Response  string `json:"response"`
	Truncated bool   `json:"truncated,omitempty"`
}

// pickSamples chooses up to n responses of a batch to keep: valid ones
// first (the interesting ones are rare early in a run), then the rest, each
// group in batch order, so the choice is deterministic.
func pickSamples(b []scored, n int) []int {
	if n <= 0 {
		return nil
	}
	var picked []int
	for _, wantValid := range []bool{true, false} {
		for i := range b {
			if len(picked) == n {
				return picked
			}
			if b[i].valid == wantValid {
				picked = append(picked, i)
			}
		}
	}
	return picked
}

// sampleRecords builds the records of one step, batches in BatchOrder.
func sampleRecords(step int, batches map[BatchKey][]scored, n int) []SampleRecord {
	var out []SampleRecord
	for _, k := range BatchOrder {
		b := batches[k]
		for _, i := range pickSamples(b, n) {
			s := b[i]
			r := SampleRecord{Step: step, Batch: k.String(), Index: i, Task: s.task, Valid: s.valid, Correct: s.correct,
				Reward: s.reward, Format: s.format}
			if k.Role == Propose {
				r.PBar = s.pbar
			} else {
				r.Answer = s.answer
			}
			if s.sample != nil {
				r.Tokens, r.Finish = len(s.sample.Tokens), s.sample.Finish
				r.Response, r.Truncated = truncateChars(s.sample.Text, MaxSampleChars)
			}
			out = append(out, r)
		}
	}
	return out
}

// truncateChars cuts s to at most max bytes without splitting a UTF-8 character.
func truncateChars(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
}
