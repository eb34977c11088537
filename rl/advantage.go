package rl

import "math"

// WhitenedAdvantages is the REINFORCE++ advantage of one batch (docs/AZR.md
// §5.1): every response token of sequence j carries the return r_j (γ = 1),
// and the returns are whitened over all response tokens of the batch,
//
//	A_j = (r_j - μ) / sqrt(σ² + eps)
//	μ  = Σ_j L_j r_j / n,  σ² = Σ_j L_j (r_j - μ)² / (n - 1),  n = Σ_j L_j
//
// with L_j the response length of sequence j (token-weighted mean, Bessel-
// corrected variance). Sequences with no response tokens do not count. With
// n < 2 the variance is undefined and every advantage is 0. TRR++ calls this
// once per (task type x role) batch.
func WhitenedAdvantages(rewards []float64, lengths []int, eps float64) (adv []float64, mean, std float64) {
	adv = make([]float64, len(rewards))
	var n, sum float64
	for j, r := range rewards {
		n += float64(lengths[j])
		sum += float64(lengths[j]) * r
	}
	if n < 2 {
		return adv, 0, 0
	}
	mean = sum / n
	var ss float64
	for j, r := range rewards {
		d := r - mean
		ss += float64(lengths[j]) * d * d
	}
	variance := ss / (n - 1)
	inv := 1 / math.Sqrt(variance+eps)
	for j, r := range rewards {
		adv[j] = (r - mean) * inv
	}
	return adv, mean, math.Sqrt(variance)
}

// Advantages computes the advantages of one batch for an estimator:
//
//   - "task_relative" (default, TRR++): WhitenedAdvantages over the batch.
//   - "per_prompt": subtract the mean reward of the sequence's prompt group
//     (the sequences sampled from one prompt, Config.RolloutN > 1), then
//     whiten over the batch (veRL's reinforce_plus_plus_baseline).
//   - "grpo": (r - group mean) / (group std + eps), std with Bessel
//     correction over the group's sequences (0 for a group of one).
//
// groups[j] names the prompt of sequence j.
func Advantages(mode string, rewards []float64, lengths, groups []int, eps float64) []float64 {
	switch mode {
	case "per_prompt", "grpo":
	default:
		adv, _, _ := WhitenedAdvantages(rewards, lengths, eps)
		return adv
	}
	sum, cnt := map[int]float64{}, map[int]float64{}
	for j, r := range rewards {
		sum[groups[j]] += r
		cnt[groups[j]]++
	}
	centered := make([]float64, len(rewards))
	for j, r := range rewards {
		centered[j] = r - sum[groups[j]]/cnt[groups[j]]
	}
	if mode == "per_prompt" {
		adv, _, _ := WhitenedAdvantages(centered, lengths, eps)
		return adv
	}
	ss := map[int]float64{}
	for j, c := range centered {
		ss[groups[j]] += c * c
	}
	adv := make([]float64, len(rewards))
	for j, c := range centered {
		if n := cnt[groups[j]]; n > 1 {
			adv[j] = c / (math.Sqrt(ss[groups[j]]/(n-1)) + eps)
		}
	}
	return adv
}

// BuildSequence assembles one TrainSequence: prompt tokens then response
// tokens, the sequence's advantage on every response token, the sampling
// log-probs as the old log-probs, and 0 on the prompt.
func BuildSequence(promptTokens []int32, s *Sample, advantage float64) TrainSequence {
	n := len(promptTokens) + len(s.Tokens)
	seq := TrainSequence{
		Tokens:        make([]int32, 0, n),
		ResponseStart: len(promptTokens),
		Advantages:    make([]float32, n),
		OldLogProbs:   make([]float32, n),
	}
	seq.Tokens = append(append(seq.Tokens, promptTokens...), s.Tokens...)
	a := float32(advantage)
	for i := range s.Tokens {
		seq.Advantages[len(promptTokens)+i] = a
		if i < len(s.LogProbs) {
			seq.OldLogProbs[len(promptTokens)+i] = s.LogProbs[i]
		}
	}
	return seq
}
