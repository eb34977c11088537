package rl

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// The hot path of a step outside the model and the sandbox: parse and
// format-score the 384 trained responses (6 batches of 64, ~4 KB and ~1000
// tokens each) and compute the TRR++ advantages. The baseline is the direct
// transliteration of the reference: the format score as its lazy DOTALL
// regexp over the whole response, and the advantages as veRL computes them,
// materializing the per-token returns and whitening the token matrix.
//
//	go test ./rl -run '^$' -bench 'StepHotPath' -benchmem

const benchTokens = 1000 // response tokens per sequence

type benchResp struct {
	typ    TaskType
	role   Role
	text   string
	reward float64
	length int
}

func benchStep() ([6][]benchResp, Template) {
	think := strings.Repeat("Let me trace the loop carefully, keeping the stack in mind. ", 60) // ~3.6 KB
	var batches [6][]benchResp
	for bi, k := range BatchOrder {
		for i := 0; i < 64; i++ {
			var a string
			switch {
			case k.Role == Propose && k.Type == Induction:
				a = inputs(10, i) + "```message\nCount the vowels.\n```"
			case k.Role == Propose:
				a = "```python\ndef solve_it(xs, k):\n    seen = {}\n    for i, x in enumerate(xs):\n        seen[x] = seen.get(x, 0) + i * k\n    return sorted(seen.items())\n```\n```input\n[3, 1, 3, 2], " + strconv.Itoa(i) + "\n```"
			case k.Type == Induction:
				a = "```python\ndef f(s):\n    return sum(c in 'aeiou' for c in s)\n```"
			case k.Type == Abduction:
				a = "```input\n[1, 2, 3], " + strconv.Itoa(i) + "\n```"
			default:
				a = "```output\n[(1, 0), (2, 6), (3, 4)]\n```"
			}
			text := " " + think + "</think>\n<answer>\n" + a + "\n</answer>"
			batches[bi] = append(batches[bi], benchResp{k.Type, k.Role, text, float64(i%3) - 1, benchTokens - 50 + i%100})
		}
	}
	return batches, TemplateR1
}

func benchParse(b *testing.B, batches [6][]benchResp, tpl Template, opt ParseOptions, format func(string) float64) {
	for _, batch := range batches {
		for _, r := range batch {
			text := GenerationText(tpl, r.text, opt)
			_ = format(text)
			if r.role == Propose {
				if _, err := ParseProposal(r.typ, text, 10, opt); err != nil {
					b.Fatal(err)
				}
			} else if a := ExtractSolverAnswer(r.typ, text, opt); !a.OK {
				b.Fatal("no answer")
			}
		}
	}
}

func BenchmarkStepHotPath(b *testing.B) {
	batches, tpl := benchStep()
	opt := DefaultParseOptions()
	b.ReportAllocs()
	for b.Loop() {
		benchParse(b, batches, tpl, opt, FormatScore)
		for _, batch := range batches {
			rs, ls := make([]float64, len(batch)), make([]int, len(batch))
			for i, r := range batch {
				rs[i], ls[i] = r.reward, r.length
			}
			WhitenedAdvantages(rs, ls, 1e-8)
		}
	}
}

// perTokenAdvantages is the baseline: whitening over a materialized token matrix.
func perTokenAdvantages(rewards []float64, lengths []int) [][]float64 {
	ret := make([][]float64, len(rewards))
	var n, sum float64
	for j, r := range rewards {
		ret[j] = make([]float64, lengths[j])
		for t := range ret[j] {
			ret[j][t] = r
			sum += r
			n++
		}
	}
	mean := sum / n
	var ss float64
	for _, row := range ret {
		for _, v := range row {
			ss += (v - mean) * (v - mean)
		}
	}
	inv := 1 / math.Sqrt(ss/(n-1)+1e-8)
	for _, row := range ret {
		for t := range row {
			row[t] = (row[t] - mean) * inv
		}
	}
	return ret
}

func BenchmarkStepHotPathBaseline(b *testing.B) {
	batches, tpl := benchStep()
	opt := DefaultParseOptions()
	b.ReportAllocs()
	for b.Loop() {
		benchParse(b, batches, tpl, opt, formatScoreRegexp)
		for _, batch := range batches {
			rs, ls := make([]float64, len(batch)), make([]int, len(batch))
			for i, r := range batch {
				rs[i], ls[i] = r.reward, r.length
			}
			perTokenAdvantages(rs, ls)
		}
	}
}

// The two advantage computations agree.
func TestPerTokenBaselineAgrees(t *testing.T) {
	rs, ls := []float64{1, -0.5, -1, 0.25}, []int{3, 1, 2, 5}
	adv, _, _ := WhitenedAdvantages(rs, ls, 1e-8)
	tok := perTokenAdvantages(rs, ls)
	for j := range rs {
		for _, v := range tok[j] {
			if math.Abs(v-adv[j]) > 1e-12 {
				t.Fatalf("sequence %d: per-token %v, closed form %v", j, v, adv[j])
			}
		}
	}
}
