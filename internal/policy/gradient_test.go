package policy

// End-to-end tests of the policy gradient: the real engine on a tiny model,
// the real sandbox, batches of 2 with rewards that differ, hence non-zero
// advantages (batch size 1 makes every advantage exactly 0, and then "the
// adapter changed" proves nothing: weight decay and the entropy term alone
// change it).

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/rl"
	"go.uber.org/zap"
)

// solvedAnswer is what the warmed-up tiny model learns to write after a
// solver prompt of the zero triplet: a well-formatted answer that is right
// for deduction ('Hello world' is the output) and abduction (it is also an
// input giving that output) alike.
const solvedAnswer = " ok </think>\n<answer>'Hello world'</answer>"

// gradientConfig is a self-play configuration with short, compact prompts (4 per batch, so that a solver batch of right and
// wrong answers is likely); no entropy bonus and no weight decay, so that the
// only thing moving the adapter is the policy gradient.
func gradientConfig() rl.Config {
	cfg := tinyConfig()
	cfg.BatchSize = 4
	cfg.MaxResponseLength = 40
	cfg.PromptStyle = rl.PromptStyleCompact
	cfg.Optim.EntropyCoeff = 0
	cfg.Optim.WeightDecay = 0
	return cfg
}

// packageDir is a temporary directory shared by the package's tests (the
// warmed-up model), removed after them.
var packageDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "azr-policy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	packageDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var warm struct {
	once   sync.Once
	model  string
	params []float32
	err    error
}

// warmedModel returns a tiny model and adapter parameters taught, by
// policy-gradient steps with advantage +1 (maximum likelihood), to answer
// the zero triplet's solver prompts with solvedAnswer most of the time: at
// temperature 1 some answers come out right and some wrong, so the solver
// batches' rewards differ. (A random tiny model never writes a parseable
// answer, so all its rewards are -1.) The parameters come without the
// optimizer state, whose momentum would otherwise carry the warm-up's
// direction into the step under test.
func warmedModel(t *testing.T) (string, []float32) {
	t.Helper()
	warm.once.Do(func() {
		warm.model = filepath.Join(packageDir, "tiny.gguf")
		spec := bindings.TinyTest
		spec.InitScale = 0.3
		if warm.err = bindings.WriteTinyModel(warm.model, spec); warm.err != nil {
			return
		}
		cfg := gradientConfig()
		e, err := New(warm.model, engineOptions(cfg))
		if err != nil {
			warm.err = err
			return
		}
		defer e.Close()
		if warm.err = e.SetOptim(cfg.Optim); warm.err != nil {
			return
		}
		tpl, err := rl.TemplateFor(cfg.Template, cfg.PromptStyle)
		if err != nil {
			warm.err = err
			return
		}
		var batch []rl.TrainSequence
		for _, typ := range []rl.TaskType{rl.Deduction, rl.Abduction} {
			prompt, err := e.tokenize(tpl.Render(rl.SolveTextWith(typ, rl.ZeroTriplet(), rl.PromptOptions{Style: cfg.PromptStyle})))
			if err != nil {
				warm.err = err
				return
			}
			resp, err := e.model.Tokenize(solvedAnswer, false, false)
			if err != nil {
				warm.err = err
				return
			}
			toks := append(append([]int32(nil), prompt...), resp...)
			adv := make([]float32, len(toks))
			for i := len(prompt); i < len(toks); i++ {
				adv[i] = 1
			}
			batch = append(batch, rl.TrainSequence{Tokens: toks, ResponseStart: len(prompt), Advantages: adv})
		}
		for i := 0; i < 30; i++ { // most, not all, sampled answers come out right
			if _, warm.err = e.TrainStep(context.Background(), batch); warm.err != nil {
				return
			}
		}
		warm.params, warm.err = e.Adapter().Params()
	})
	if warm.err != nil {
		t.Fatalf("warming up the tiny model: %v", warm.err)
	}
	return warm.model, warm.params
}

// warmedEngine is a fresh engine (fresh optimizer state) with the warmed-up adapter.
func warmedEngine(t *testing.T, cfg rl.Config) *Engine {
	t.Helper()
	model, params := warmedModel(t)
	e := newEngine(t, model, cfg)
	if err := e.Adapter().SetParams(params); err != nil {
		t.Fatal(err)
	}
	return e
}

// recordingEngine measures, with the trainer's own log-prob function, every
// trained sequence's response log-likelihood just before and just after
// the update.
type recordingEngine struct {
	*Engine
	batch         []rl.TrainSequence
	before, after []float64
	stats         rl.TrainStats
}

func (r *recordingEngine) responseLogLik(batch []rl.TrainSequence) ([]float64, error) {
	seqs := make([][]int32, len(batch))
	for i, s := range batch {
		seqs[i] = s.Tokens
	}
	lps, err := r.trainer.LogProbs(seqs)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(batch))
	for i, s := range batch {
		for t := s.ResponseStart; t < len(s.Tokens); t++ {
			out[i] += float64(lps[i][t])
		}
	}
	return out, nil
}

func (r *recordingEngine) TrainStep(ctx context.Context, batch []rl.TrainSequence) (rl.TrainStats, error) {
	var err error
	if r.before, err = r.responseLogLik(batch); err != nil {
		return rl.TrainStats{}, err
	}
	if r.stats, err = r.Engine.TrainStep(ctx, batch); err != nil {
		return r.stats, err
	}
	r.after, err = r.responseLogLik(batch)
	r.batch = batch
	return r.stats, err
}

// One self-play step on the real engine and sandbox, measured with the
// trainer's own log-prob function: the log-likelihood of the responses with
// a positive advantage rises, and of those with a negative advantage falls.
func TestPolicyGradientDirectionOnTheRealEngine(t *testing.T) {
	cfg := gradientConfig()
	rec := &recordingEngine{Engine: warmedEngine(t, cfg)}
	tr, err := rl.NewTrainer(cfg, rec, newPool(t), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	m, err := tr.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.Train.Skipped || len(rec.batch) < 2 {
		t.Fatalf("step: skipped %v, %d sequences", m.Train.Skipped, len(rec.batch))
	}
	// Responses share tokens (a wrong answer can start like a right one), so
	// one response may move against its own advantage when others pull on
	// the same tokens; what the gradient guarantees is the direction on
	// average, weighted by the advantages.
	var pos, neg []float64
	weighted := 0.0
	for i, s := range rec.batch {
		a := float64(s.Advantages[len(s.Tokens)-1])
		d := rec.after[i] - rec.before[i]
		switch {
		case a > 0:
			pos = append(pos, d)
		case a < 0:
			neg = append(neg, d)
		}
		weighted += a * d
		t.Logf("sequence %2d: advantage %+.3f, log-likelihood %.3f -> %.3f", i, a, rec.before[i], rec.after[i])
	}
	if len(pos) == 0 || len(neg) == 0 {
		t.Fatalf("the step trained %d positively and %d negatively advantaged sequences; the test needs both", len(pos), len(neg))
	}
	if m := mean(pos); !(m > 0) {
		t.Errorf("positively advantaged responses: mean log-likelihood change %+.4g, want > 0 (%v)", m, pos)
	}
	if m := mean(neg); !(m < 0) {
		t.Errorf("negatively advantaged responses: mean log-likelihood change %+.4g, want < 0 (%v)", m, neg)
	}
	if !(weighted > 0) {
		t.Errorf("sum of advantage x log-likelihood change = %+.4g, want > 0", weighted)
	}
	if math.Abs(m.Batches["solve_deduction"].AdvMax) == 0 && math.Abs(m.Batches["solve_abduction"].AdvMax) == 0 {
		t.Errorf("no solver batch had a non-zero advantage: %+v", m.Batches)
	}
}

// The PPO ratio's old log-probs. By default (old_logprobs = train) they are
// the training forward's own, so with one update per batch the ratio is
// exactly 1: the clip never binds and the update is the plain policy
// gradient, as in the reference (which recomputes them with its training
// model). With old_logprobs = sampler, the sampler's log-probs are used,
// and where they differ from the trainer's by more than the clip range (here
// shifted by ±0.5, as a quantized sampler can differ) the clip zeroes those
// tokens' gradients.
func TestPPORatioAgainstTheTrainingForward(t *testing.T) {
	model := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := bindings.WriteTinyModel(model, bindings.TinyTest); err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig()
	gen := newEngine(t, model, cfg)
	res, err := gen.Generate(context.Background(), []rl.GenRequest{
		{Prompt: "def f(x):", N: 2, Sampling: rl.Sampling{Temperature: 1, TopP: 1, MaxTokens: 12, Seed: 3}},
		{Prompt: "x = [1, 2]", N: 2, Sampling: rl.Sampling{Temperature: 1, TopP: 1, MaxTokens: 12, Seed: 4}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var batch, noOld []rl.TrainSequence
	for i, r := range res {
		for k := range r.Samples {
			s := &r.Samples[k]
			seq := rl.BuildSequence(r.PromptTokens, s, float64(1-2*((i+k)%2))) // advantages +1, -1, -1, +1
			for j := seq.ResponseStart; j < len(seq.Tokens); j++ {
				seq.OldLogProbs[j] += float32(0.5 * float64(1-2*(j%2))) // the sampler's view, off by ±0.5
			}
			batch = append(batch, seq)
			plain := seq
			plain.OldLogProbs = nil
			noOld = append(noOld, plain)
		}
	}
	step := func(mode string, b []rl.TrainSequence) (rl.TrainStats, []float32) {
		c := cfg
		c.Optim.OldLogProbs = mode
		e := newEngine(t, model, c)
		if err := e.SetOptim(c.Optim); err != nil {
			t.Fatal(err)
		}
		st, err := e.TrainStep(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.Adapter().Params()
		if err != nil {
			t.Fatal(err)
		}
		return st, p
	}
	_, plain := step("train", noOld)
	st, got := step("train", batch)
	if st.ClipFrac != 0 {
		t.Errorf("old_logprobs=train: clip_frac %v, want exactly 0 (ratio 1)", st.ClipFrac)
	}
	if !slices.Equal(got, plain) {
		t.Errorf("old_logprobs=train: the update differs from the plain policy-gradient update")
	}
	st, got = step("sampler", batch)
	if st.ClipFrac <= 0.2 {
		t.Errorf("old_logprobs=sampler with a ±0.5 gap: clip_frac %v, want about half the tokens clipped", st.ClipFrac)
	}
	if slices.Equal(got, plain) {
		t.Errorf("old_logprobs=sampler: the clip changed nothing")
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
