package bindings

import (
	"context"
	"math"
	"sort"
	"testing"
)

// sampledDistribution is the distribution a sampler with these settings must
// draw from, written from its definition: softmax(logits / T); top-k keeps
// the k most probable tokens (ties: lower id first); top-p then keeps the
// smallest most-probable prefix holding at least topP of what top-k kept;
// the kept tokens are renormalized. topK <= 0 and topP >= 1 are off.
func sampledDistribution(row []float32, temp float64, topK int, topP float64) []float64 {
	p := make([]float64, len(row))
	mx := math.Inf(-1)
	for _, x := range row {
		mx = math.Max(mx, float64(x)/temp)
	}
	var sum float64
	for i, x := range row {
		p[i] = math.Exp(float64(x)/temp - mx)
		sum += p[i]
	}
	ids := make([]int, len(row))
	for i := range ids {
		ids[i] = i
		p[i] /= sum
	}
	sort.SliceStable(ids, func(a, b int) bool { return p[ids[a]] > p[ids[b]] })
	if topK > 0 && topK < len(ids) {
		ids = ids[:topK]
	}
	var kept float64
	for _, id := range ids {
		kept += p[id]
	}
	if topP < 1 {
		var acc float64
		for n, id := range ids {
			acc += p[id]
			if acc >= topP*kept {
				ids = ids[:n+1]
				break
			}
		}
	}
	q := make([]float64, len(row))
	var mass float64
	for _, id := range ids {
		mass += p[id]
	}
	for _, id := range ids {
		q[id] = p[id] / mass
	}
	return q
}

// chiSquareCritical is the chi-square quantile with df degrees of freedom
// that a statistic exceeds with probability about 1e-4 (Wilson-Hilferty).
func chiSquareCritical(df int) float64 {
	const z = 3.719 // standard normal upper 1e-4 quantile
	d := float64(df)
	c := 1 - 2/(9*d) + z*math.Sqrt(2/(9*d))
	return d * c * c * c
}

// chiSquare compares observed counts with n draws from q: tokens expected
// at least 5 times are bins of their own, the rest of the support one bin.
func chiSquare(counts map[int32]int, q []float64, n int) (stat float64, df int) {
	var restExp, restObs float64
	bins := 0
	for id, pr := range q {
		if pr == 0 {
			continue
		}
		e := pr * float64(n)
		o := float64(counts[int32(id)])
		if e < 5 {
			restExp += e
			restObs += o
			continue
		}
		stat += (o - e) * (o - e) / e
		bins++
	}
	if restExp > 0 {
		stat += (restObs - restExp) * (restObs - restExp) / restExp
		bins++
	}
	return stat, bins - 1
}

// TestSamplerDrawsFromTheStatedDistribution draws many single tokens from one
// logits row (one Generate call, n samples of one token each) and checks,
// for temperature, top-k and top-p: no token outside the kept set is drawn,
// the counts pass a chi-square test against sampledDistribution, and each
// reported log-prob is that of the distribution actually sampled.
func TestSamplerDrawsFromTheStatedDistribution(t *testing.T) {
	m := loadModel(t, testModelSpec)
	g := newGen(t, m, GeneratorOptions{ContextSize: 2048, Slots: 64})
	prompt := tokenize(t, m, "def f(x):")
	logits, err := g.EvalLogits(prompt)
	if err != nil {
		t.Fatal(err)
	}
	v := m.Info().Vocab
	row := logits[(len(prompt)-1)*v:]
	const n = 12000
	cases := []struct {
		name string
		temp float32
		topK int
		topP float32
	}{
		{"temperature 1", 1, 0, 1},
		{"temperature 0.5", 0.5, 0, 1},
		{"temperature 2", 2, 0, 1},
		{"top-k 8", 1.5, 8, 1},
		{"top-p 0.7", 1.5, 0, 0.7},
		{"top-k 40 then top-p 0.9", 2, 40, 0.9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := sampledDistribution(row, float64(c.temp), c.topK, float64(c.topP))
			support, top := 0, 0.0
			for _, pr := range q {
				if pr > 0 {
					support++
				}
				top = math.Max(top, pr)
			}
			out, _, err := g.Generate(context.Background(), []Prompt{{Tokens: prompt, Samples: n}},
				Sampling{Temperature: c.temp, TopK: c.topK, TopP: c.topP, MaxTokens: 1, Seed: 11, IgnoreEOS: true})
			if err != nil {
				t.Fatal(err)
			}
			counts := map[int32]int{}
			badLP := 0
			for _, s := range out {
				tok := s.Tokens[0]
				if q[tok] == 0 {
					t.Fatalf("drew token %d, which the settings exclude", tok)
				}
				counts[tok]++
				if d := float64(s.LogProbs[0]) - math.Log(q[tok]); math.Abs(d) > 1e-3 {
					if badLP++; badLP <= 3 {
						t.Errorf("token %d: reported log-prob %.5f, sampled distribution gives %.5f", tok, s.LogProbs[0], math.Log(q[tok]))
					}
				}
			}
			stat, df := chiSquare(counts, q, n)
			t.Logf("support %d tokens, top probability %.3f, %d distinct drawn; chi-square %.1f with %d df (critical %.1f)",
				support, top, len(counts), stat, df, chiSquareCritical(df))
			if df < 3 {
				t.Fatalf("only %d degrees of freedom: the test has no power here", df)
			}
			if stat > chiSquareCritical(df) {
				t.Errorf("draws do not follow the stated distribution: chi-square %.1f > %.1f (df %d)", stat, chiSquareCritical(df), df)
			}
		})
	}
}

// TestSamplerChiSquareHasPower: the same test rejects draws from a
// neighbouring distribution (another temperature, top-k off by a few), so a
// sampler that ignored a setting could not pass it.
func TestSamplerChiSquareHasPower(t *testing.T) {
	m := loadModel(t, testModelSpec)
	g := newGen(t, m, GeneratorOptions{ContextSize: 2048, Slots: 64})
	prompt := tokenize(t, m, "def f(x):")
	logits, err := g.EvalLogits(prompt)
	if err != nil {
		t.Fatal(err)
	}
	row := logits[(len(prompt)-1)*m.Info().Vocab:]
	const n = 12000
	for _, c := range []struct {
		name              string
		temp, claimedTemp float32
		topK, claimedTopK int
	}{
		{"temperature 1 claimed as 1.2", 1, 1.2, 0, 0},
		{"top-k 8 claimed as top-k 12", 1.5, 1.5, 8, 12},
	} {
		out, _, err := g.Generate(context.Background(), []Prompt{{Tokens: prompt, Samples: n}},
			Sampling{Temperature: c.temp, TopK: c.topK, MaxTokens: 1, Seed: 11, IgnoreEOS: true})
		if err != nil {
			t.Fatal(err)
		}
		counts := map[int32]int{}
		for _, s := range out {
			counts[s.Tokens[0]]++
		}
		stat, df := chiSquare(counts, sampledDistribution(row, float64(c.claimedTemp), c.claimedTopK, 1), n)
		if stat <= chiSquareCritical(df) {
			t.Errorf("%s: chi-square %.1f <= %.1f (df %d): the test cannot tell these apart", c.name, stat, chiSquareCritical(df), df)
		}
	}
}

// TestGenerationStopsAtEndOfGeneration: a sample that draws an
// end-of-generation token ends there with finish "eog" (the token kept, not
// rendered); every other sample runs to MaxTokens with finish "length"; with
// IgnoreEOS samples run past those tokens to MaxTokens.
func TestGenerationStopsAtEndOfGeneration(t *testing.T) {
	m := loadModel(t, testModelSpec)
	g := newGen(t, m, GeneratorOptions{ContextSize: 4096, Slots: 64})
	prompt := []Prompt{{Tokens: tokenize(t, m, "x"), Samples: 64}}
	const maxTokens = 24
	// A high temperature spreads the draws over the whole vocabulary, the
	// end-of-generation tokens included.
	s := Sampling{Temperature: 8, MaxTokens: maxTokens, Seed: 3}
	out, _, err := g.Generate(context.Background(), prompt, s)
	if err != nil {
		t.Fatal(err)
	}
	s.IgnoreEOS = true
	free, _, err := g.Generate(context.Background(), prompt, s)
	if err != nil {
		t.Fatal(err)
	}
	eogs, ranPast := 0, 0
	for i, smp := range out {
		firstEOG := -1
		for k, tok := range smp.Tokens {
			if m.IsEOG(tok) {
				firstEOG = k
				break
			}
		}
		switch smp.Finish {
		case FinishEOG:
			eogs++
			if firstEOG != len(smp.Tokens)-1 {
				t.Errorf("sample %d: finish eog but its end-of-generation token is at %d of %d tokens", i, firstEOG, len(smp.Tokens))
			}
		case FinishLength:
			if firstEOG >= 0 || len(smp.Tokens) != maxTokens {
				t.Errorf("sample %d: finish length with %d tokens, end-of-generation token at %d", i, len(smp.Tokens), firstEOG)
			}
		default:
			t.Errorf("sample %d: finish %v", i, smp.Finish)
		}
		if len(smp.LogProbs) != len(smp.Tokens) {
			t.Errorf("sample %d: %d log-probs for %d tokens", i, len(smp.LogProbs), len(smp.Tokens))
		}
		// The same stream run with IgnoreEOS goes the full length. (Only
		// its first token, drawn from the same prompt logits, must agree:
		// later logits come from batches of another shape once samples
		// stop, and differ in the last bits.)
		f := free[i]
		if f.Finish != FinishLength || len(f.Tokens) != maxTokens || f.Tokens[0] != smp.Tokens[0] {
			t.Errorf("sample %d with IgnoreEOS: finish %v after %d tokens, first token %d (%d without)", i, f.Finish, len(f.Tokens), f.Tokens[0], smp.Tokens[0])
		}
		for _, tok := range f.Tokens[:len(f.Tokens)-1] {
			if m.IsEOG(tok) {
				ranPast++
				break
			}
		}
	}
	t.Logf("%d of %d samples ended at an end-of-generation token", eogs, len(out))
	if eogs == 0 || ranPast == 0 {
		t.Fatalf("%d samples stopped at, %d ran past an end-of-generation token: the test checked nothing", eogs, ranPast)
	}
}
