package rl

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func smallConfig(batch int) Config {
	cfg := DefaultConfig()
	cfg.BatchSize = batch
	cfg.Seed = 42
	cfg.SeedBatchFactor = 0
	return cfg
}

// expectedProposerReward re-derives, from the scripted policy's rules (not
// from the scorer), the reward a proposal must get: variants 0 and 1 are
// valid and well formatted, and their learnability comes from the MC
// rollouts of the same step; 2 (raises), 3 (no answer) and 4 (no </think>)
// get -1. Induction: seed%4 == 3 has no message (-1), others are valid.
func expectedProposerReward(typ TaskType, eff uint64, mcEff []uint64) (float64, bool) {
	valid := eff%5 <= 1
	if typ == Induction {
		valid = eff%4 != 3
	}
	if !valid {
		return -1, false
	}
	pbar := float64(min(mcEff[0]%9, 8)) / 8
	if r := LearnabilityReward(pbar); r > 0 {
		return r, true
	}
	return -0.5, true
}

// expectedSolverReward: the scripted solver is right (+1), wrong (-0.5) or
// badly formatted (-1) by seed.
func expectedSolverReward(eff uint64) float64 { return []float64{1, -0.5, -1}[eff%3] }

// checkStep verifies one step's TrainStep input against the spec: six
// batches in the order gen_i, pred_i, gen_o, pred_o, gen_f, pred_f, each of
// cfg.BatchSize sequences, rewards as the spec says, and advantages whitened
// per batch (token-weighted, Bessel-corrected) and masked to the response.
func checkStep(t *testing.T, cfg Config, calls []genCall, batch []TrainSequence) {
	t.Helper()
	B := cfg.BatchSize
	if len(batch) != 6*B {
		t.Fatalf("TrainStep got %d sequences, want %d", len(batch), 6*B)
	}
	// Sort this step's Generate calls into the batches they fed.
	type group struct{ propose, mc, solve *genCall }
	groups := map[TaskType]*group{Abduction: {}, Deduction: {}, Induction: {}}
	var order []string
	for i := range calls {
		c := &calls[i]
		p := c.reqs[0].Prompt
		var typ TaskType
		var role string
		switch {
		case strings.Contains(p, "write a new Python code snippet") && strings.Contains(p, "work out an input"):
			typ, role = Abduction, "propose"
		case strings.Contains(p, "write a new Python code snippet"):
			typ, role = Deduction, "propose"
		case strings.Contains(p, "inputs and a message"):
			typ, role = Induction, "propose"
		case strings.Contains(p, "find an input"):
			typ, role = Abduction, "solve"
		case strings.Contains(p, "predict the output"):
			typ, role = Deduction, "solve"
		default:
			typ, role = Induction, "solve"
		}
		if role == "solve" && c.reqs[0].N > 1 {
			role = "mc"
		}
		g := groups[typ]
		switch role {
		case "propose":
			g.propose = c
		case "mc":
			g.mc = c
		case "solve":
			g.solve = c
		}
		order = append(order, role+"_"+typ.String())
	}
	wantOrder := []string{"propose_abduction", "mc_abduction", "solve_abduction", "propose_deduction", "mc_deduction", "solve_deduction", "propose_induction", "mc_induction", "solve_induction"}
	if diff := cmp.Diff(wantOrder, order); diff != "" {
		t.Errorf("Generate call order (-want +got)\n%s", diff)
	}
	for _, c := range calls {
		for _, r := range c.reqs {
			want := 1
			if r.N > 1 {
				want = cfg.NSamples
			}
			if r.N != want || r.Sampling.Temperature != cfg.Temperature || r.Sampling.MaxTokens != cfg.MaxResponseLength {
				t.Errorf("request N=%d T=%v max=%d, want N=%d T=%v max=%d", r.N, r.Sampling.Temperature, r.Sampling.MaxTokens, want, cfg.Temperature, cfg.MaxResponseLength)
			}
		}
	}

	for bi, key := range BatchOrder {
		g := groups[key.Type]
		seqs := batch[bi*B : (bi+1)*B]
		rewards := make([]float64, B)
		lengths := make([]int, B)
		var c *genCall
		if key.Role == Propose {
			c = g.propose
			mcIdx := 0
			for i := 0; i < B; i++ {
				eff := mix(c.reqs[i].Sampling.Seed, uint64(c.updates))
				var mcEff []uint64
				if valid := (key.Type == Induction && eff%4 != 3) || (key.Type != Induction && eff%5 <= 1); valid {
					mcEff = []uint64{mix(g.mc.reqs[mcIdx].Sampling.Seed, uint64(c.updates))}
					mcIdx++
				}
				rewards[i], _ = expectedProposerReward(key.Type, eff, mcEff)
			}
			if mcIdx != len(g.mc.reqs) {
				t.Errorf("%v: %d MC requests, want %d (one per valid proposal)", key, len(g.mc.reqs), mcIdx)
			}
		} else {
			c = g.solve
			for i := 0; i < B; i++ {
				rewards[i] = expectedSolverReward(mix(c.reqs[i].Sampling.Seed, uint64(c.updates)))
			}
		}
		for i := 0; i < B; i++ {
			lengths[i] = len(c.res[i].Samples[0].Tokens)
		}
		want, _, _ := WhitenedAdvantages(rewards, lengths, 1e-8)
		for i, s := range seqs {
			if s.ResponseStart != len(c.res[i].PromptTokens) || len(s.Tokens) != s.ResponseStart+lengths[i] {
				t.Fatalf("%v[%d]: tokens %d response start %d, want prompt %d + response %d", key, i, len(s.Tokens), s.ResponseStart, len(c.res[i].PromptTokens), lengths[i])
			}
			for j, a := range s.Advantages {
				w := float32(0)
				lp := float32(0)
				if j >= s.ResponseStart {
					w, lp = float32(want[i]), -0.25
				}
				if a != w || s.OldLogProbs[j] != lp {
					t.Fatalf("%v[%d] token %d: advantage %v old log-prob %v, want %v %v (rewards %v)", key, i, j, a, s.OldLogProbs[j], w, lp, rewards)
				}
			}
		}
		// The batch really is whitened: token-weighted mean 0.
		var sum, n float64
		for i := range seqs {
			sum += want[i] * float64(lengths[i])
			n += float64(lengths[i])
		}
		if math.Abs(sum/n) > 1e-9 {
			t.Errorf("%v: token-weighted advantage mean %v, want 0", key, sum/n)
		}
	}
}

func TestSelfPlayStepScripted(t *testing.T) {
	ctx := context.Background()
	cfg := smallConfig(12)
	pol := &scriptedPolicy{}
	tr, err := NewTrainer(cfg, pol, &fakeExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pol.optim == nil || pol.optim.LearningRate != cfg.Optim.LearningRate {
		t.Errorf("optimizer settings not passed to the policy: %+v", pol.optim)
	}
	for step := 1; step <= 2; step++ {
		before := len(pol.calls)
		m, err := tr.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Step != step || tr.StepCount() != step || len(pol.batches) != step {
			t.Fatalf("after step %d: metrics step %d, count %d, %d updates", step, m.Step, tr.StepCount(), len(pol.batches))
		}
		checkStep(t, cfg, pol.calls[before:], pol.batches[step-1])
		if len(m.Batches) != 6 || m.Sequences != 6*cfg.BatchSize {
			t.Errorf("metrics: %d batches, %d sequences", len(m.Batches), m.Sequences)
		}
	}
	// Every valid proposal went into its buffer, tagged with its step.
	for _, typ := range []TaskType{Abduction, Deduction, Induction} {
		b := tr.Buffers().Of(typ)
		for _, e := range b.Entries[1:] {
			if e.Step < 1 || e.Step > 2 || e.Program == "" {
				t.Errorf("%v buffer entry %+v", typ, e)
			}
		}
		if b.Len() < 2 {
			t.Errorf("%v buffer has %d entries after two steps", typ, b.Len())
		}
	}
}

// 3 steps straight == 2 steps + checkpoint + resume (fresh policy, fresh
// trainer) + 1 step: buffers, RNG state and the recorded TrainStep inputs.
func TestResumeEquivalence(t *testing.T) {
	t.Run("executor double", func(t *testing.T) { testResumeEquivalence(t, &fakeExec{}) })
	t.Run("real sandbox", func(t *testing.T) { testResumeEquivalence(t, realSandbox(t)) })
}

func testResumeEquivalence(t *testing.T, exec Executor) {
	ctx := context.Background()
	cfg := smallConfig(6)
	cfg.Eviction, cfg.MaxPrograms = "uniform", 8 // exercise RNG use by the buffers too

	straightPol := &scriptedPolicy{}
	straight, err := NewTrainer(cfg, straightPol, exec, nil)
	if err != nil {
		t.Fatal(err)
	}
	var straightMetrics []StepMetrics
	for i := 0; i < 3; i++ {
		m, err := straight.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		straightMetrics = append(straightMetrics, m)
	}

	dir := t.TempDir()
	firstPol := &scriptedPolicy{}
	first, err := NewTrainer(cfg, firstPol, exec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.SetDir(dir); err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := first.Run(ctx, 2); err != nil {
		t.Fatal(err)
	}
	ckpt, err := LatestCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(ckpt) != "step-000002" {
		t.Errorf("latest checkpoint %s, want step-000002", ckpt)
	}
	resumedPol := &scriptedPolicy{}
	resumed, err := Resume(ckpt, resumedPol, exec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.StepCount() != 2 || resumedPol.updates != 2 {
		t.Fatalf("resumed at step %d with %d policy updates, want 2 and 2", resumed.StepCount(), resumedPol.updates)
	}
	m3, err := resumed.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if diff := cmp.Diff(straightPol.batches[2], resumedPol.batches[0]); diff != "" {
		t.Errorf("step 3 TrainStep input differs (-straight +resumed)\n%s", diff)
	}
	opts := cmp.Options{cmpopts.IgnoreUnexported(Buffer{}), cmpopts.EquateEmpty()}
	if diff := cmp.Diff(straight.Buffers(), resumed.Buffers(), opts); diff != "" {
		t.Errorf("buffers differ (-straight +resumed)\n%s", diff)
	}
	if diff := cmp.Diff(straight.RNGState(), resumed.RNGState()); diff != "" {
		t.Errorf("RNG state differs\n%s", diff)
	}
	if diff := cmp.Diff(straightMetrics[2], m3, cmpopts.IgnoreFields(StepMetrics{}, "Seconds")); diff != "" {
		t.Errorf("step 3 metrics differ (-straight +resumed)\n%s", diff)
	}
	// The metrics file has one line per step of the first run.
	data, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 2 {
		t.Errorf("metrics.jsonl has %d lines, want 2", n)
	}
}

func TestSeedingPhase(t *testing.T) {
	ctx := context.Background()
	cfg := smallConfig(5)
	cfg.SeedBatchFactor = 1 // target 5
	pol := &scriptedPolicy{}
	tr, err := NewTrainer(cfg, pol, &fakeExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	bs := tr.Buffers()
	if bs.Deduction.Len() != 5 || bs.Abduction.Len() != 5 || bs.Induction.Len() != 5 {
		t.Fatalf("seeded buffers %d/%d/%d, want 5 each", bs.Deduction.Len(), bs.Abduction.Len(), bs.Induction.Len())
	}
	if diff := cmp.Diff(bs.Deduction.Entries, bs.Abduction.Entries); diff != "" {
		t.Errorf("deduction and abduction seeds differ\n%s", diff)
	}
	if bs.Deduction.Entries[0].Program != IdentityProgram || bs.Induction.Entries[0].Program != IdentityProgram {
		t.Errorf("the zero triplet is not first")
	}
	seen := map[string]bool{}
	for _, e := range bs.Deduction.Entries {
		if e.Step != 0 || seen[e.key()] {
			t.Errorf("seed %+v: step must be 0 and entries distinct", e)
		}
		seen[e.key()] = true
	}
	if len(pol.batches) != 0 {
		t.Errorf("seeding trained the policy %d times, want 0", len(pol.batches))
	}
}

func TestUhOhMonitor(t *testing.T) {
	m, err := NewMonitor(DefaultUhOhPatterns)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	m.W = &sb
	for _, tc := range []struct {
		text  string
		flags int
	}{
		{"The aim is to outsmart all these intelligent machines and less intelligent humans.", 2},
		{"Maybe I can bypass the sandbox checker here.", 1},
		{"Let me sort the list and return the sum.", 0},
	} {
		if got := len(m.Check(1, "propose_deduction", 0, tc.text)); got != tc.flags {
			t.Errorf("%q: %d flags, want %d", tc.text, got, tc.flags)
		}
	}
	if m.Count != 3 || strings.Count(sb.String(), "\n") != 3 {
		t.Errorf("count %d, %d lines recorded; want 3", m.Count, strings.Count(sb.String(), "\n"))
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	cfg.Eviction, cfg.Template, cfg.BatchSize = "lifo", "nope", 0
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "eviction") || !strings.Contains(err.Error(), "template") || !strings.Contains(err.Error(), "batch_size") {
		t.Errorf("Validate() = %v, want errors for eviction, template and batch_size", err)
	}
}

func TestConfigJSONRoundTrip(t *testing.T) {
	cfg := DefaultConfig()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cfg, back); diff != "" {
		t.Errorf("(-before +after)\n%s", diff)
	}
}

func TestTrainProposeFalseTrainsTheSolverOnly(t *testing.T) {
	cfg := smallConfig(4)
	cfg.TrainPropose = false
	pol := &scriptedPolicy{}
	tr, err := NewTrainer(cfg, pol, &fakeExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(pol.batches[0]); n != 3*4 {
		t.Errorf("trained on %d sequences, want the 12 solver sequences", n)
	}
}

func TestRunSeedsThenSteps(t *testing.T) {
	cfg := smallConfig(5)
	cfg.SeedBatchFactor = 1
	cfg.SaveEvery = 1
	pol := &scriptedPolicy{}
	tr, dir := trainerInDir(t, cfg, pol)
	defer tr.Close()
	if err := tr.Run(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"step-000001", "step-000002"} {
		if _, err := os.Stat(filepath.Join(dir, "checkpoints", name, "state.json")); err != nil {
			t.Errorf("checkpoint %s: %v", name, err)
		}
	}
	st, err := LoadCheckpointState(filepath.Join(dir, "checkpoints", "step-000002"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Seeded || st.Step != 2 || st.Buffers.Deduction.Len() < 5 {
		t.Errorf("state: seeded %v step %d deduction %d", st.Seeded, st.Step, st.Buffers.Deduction.Len())
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "checkpoints")); len(entries) != 3 {
		t.Errorf("checkpoints/ holds %d entries, want 2 checkpoints and latest (no temporaries)", len(entries))
	}
}

// countingPolicy adds a TokenCounter (one token per byte) to the scripted policy.
type countingPolicy struct{ scriptedPolicy }

func (p *countingPolicy) CountTokens(s string) (int, error) { return len(s), nil }

// Over-long prompts: proposer prompts are redrawn, solver prompts dropped
// and the batch refilled.
func TestPromptLengthLimits(t *testing.T) {
	cfg := smallConfig(6)
	pol := &countingPolicy{}
	tr, err := NewTrainer(cfg, pol, &fakeExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	long := Task{Program: "def f(a):\n    return a  # " + strings.Repeat("x", 5000), Input: "1", Output: "1"}
	tr.SetSeeds([]Task{ZeroTriplet(), long}, []Task{ZeroInduction()})
	cfg.MaxPromptLength = len(tr.tpl.Render(SolveText(Deduction, long))) - 1
	tr.cfg.MaxPromptLength = cfg.MaxPromptLength
	for i := 0; i < 20; i++ {
		tasks, _ := tr.solverTasks(Deduction, 1)
		for _, tk := range tasks {
			if tk.Program == long.Program {
				t.Fatalf("an over-long solver prompt was kept")
			}
		}
	}
	tr.cfg.References, tr.cfg.PromptRedrawTries = 1, 100 // the long reference is drawn half the time
	tr.cfg.ContentMaxLength = len(tr.tpl.Render(ProposeTriplet(Deduction, []Task{ZeroTriplet()}, tr.popts))) + 10
	for i := 0; i < 20; i++ {
		items, _ := tr.buildProposer(Deduction, tr.bufs.Of, 4)
		for _, it := range items {
			if strings.Contains(it.Prompt, "xxxxx") {
				t.Fatalf("an over-long proposer prompt was kept")
			}
		}
	}
}

func TestKeepCheckpoints(t *testing.T) {
	cfg := smallConfig(3)
	cfg.SaveEvery, cfg.KeepCheckpoints, cfg.EvalEvery = 1, 2, 2
	tr, err := NewTrainer(cfg, &scriptedPolicy{}, &fakeExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var evals []int
	tr.Eval = func(ctx context.Context, step int) (map[string]float64, error) {
		evals = append(evals, step)
		return map[string]float64{"cruxeval_o": 0.5}, nil
	}
	dir := t.TempDir()
	if err := tr.SetDir(dir); err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(context.Background(), 4); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "checkpoints"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"latest", "step-000003", "step-000004"}, names); diff != "" {
		t.Errorf("checkpoints (-want +got)\n%s", diff)
	}
	// Before training, every eval_every steps, and after the last step.
	if diff := cmp.Diff([]int{0, 2, 4}, evals); diff != "" {
		t.Errorf("evaluation steps (-want +got)\n%s", diff)
	}
	// Resumed for one more step: no step-0 evaluation, the last step is evaluated.
	evals = nil
	if err := tr.Run(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{5}, evals); diff != "" {
		t.Errorf("evaluation steps of a continued run (-want +got)\n%s", diff)
	}
	metrics, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(metrics), `"eval":{"cruxeval_o":0.5}`); n != 4 {
		t.Errorf("metrics.jsonl has %d evaluation lines, want 4:\n%s", n, metrics)
	}
	// Buffer entries do not keep the proposer's thought by default.
	for _, e := range tr.Buffers().Deduction.Entries {
		if e.Thought != "" {
			t.Fatalf("entry kept its thought: %+v", e)
		}
	}
}

func TestRolloutNWithPerPromptBaseline(t *testing.T) {
	cfg := smallConfig(4)
	cfg.RolloutN, cfg.Advantage = 3, "per_prompt"
	pol := &scriptedPolicy{}
	tr, err := NewTrainer(cfg, pol, &fakeExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tr.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pol.batches[0]); n != 6*4*3 || m.Batches["solve_deduction"].N != 12 {
		t.Fatalf("trained on %d sequences (solve_deduction n=%d), want 72 (12)", n, m.Batches["solve_deduction"].N)
	}
	for _, c := range pol.calls {
		for _, r := range c.reqs {
			if r.N != 3 && r.N != cfg.NSamples {
				t.Errorf("request with N=%d, want 3 (trained) or %d (learnability)", r.N, cfg.NSamples)
			}
		}
	}
}

// The "deduction only" ablation: two batches, nothing else generated.
func TestSingleTaskType(t *testing.T) {
	cfg := smallConfig(4)
	cfg.TaskTypes = []TaskType{Deduction}
	pol := &scriptedPolicy{}
	tr, err := NewTrainer(cfg, pol, &fakeExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tr.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pol.batches[0]); n != 8 || len(m.Batches) != 2 {
		t.Errorf("trained on %d sequences in %d batches, want 8 in 2", n, len(m.Batches))
	}
	for _, c := range pol.calls {
		if strings.Contains(c.reqs[0].Prompt, "find an input") || strings.Contains(c.reqs[0].Prompt, "inputs and a message") {
			t.Errorf("generated for a disabled task type: %.80q", c.reqs[0].Prompt)
		}
	}
}

// A proposer prompt that stays over max_prompt_length after every redraw is
// dropped, not sent, and the drops are counted in the step's metrics (the
// reference's loader drops such prompts; the batch comes out short).
func TestOverLongProposerPromptsAreDropped(t *testing.T) {
	cfg := smallConfig(3)
	pol := &countingPolicy{}
	tr, err := NewTrainer(cfg, pol, &fakeExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	long := Task{Program: "def f(a):\n    return a  # " + strings.Repeat("x", 5000), Input: "1", Output: "1"}
	tr.SetSeeds([]Task{long}, []Task{ZeroInduction()})
	// Every proposer prompt shows the long program and is longer than the
	// limit; the solver prompts fit.
	limit := 0
	for _, typ := range AllTaskTypes {
		limit = max(limit, len(tr.tpl.Render(SolveText(typ, long))), len(tr.tpl.Render(SolveText(typ, ZeroInduction())))+10)
	}
	if p := len(tr.tpl.Render(ProposeInduction(long.Program, tr.popts))); p <= limit {
		t.Fatalf("test set-up: the induction proposer prompt (%d) is not over the limit (%d)", p, limit)
	}
	tr.cfg.MaxPromptLength, tr.cfg.PromptRedrawTries = limit, 3
	m, err := tr.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range AllTaskTypes {
		b := m.Batches[BatchKey{typ, Propose}.String()]
		if b.PromptsDropped != 3 || b.N != 0 {
			t.Errorf("propose %v: %d prompts dropped, %d sent; want 3 dropped, 0 sent", typ, b.PromptsDropped, b.N)
		}
		if b := m.Batches[BatchKey{typ, Solve}.String()]; b.PromptsDropped != 0 || b.N != 3 {
			t.Errorf("solve %v: %d dropped, %d sent; want 0 and 3", typ, b.PromptsDropped, b.N)
		}
	}
	for _, c := range pol.calls {
		for _, r := range c.reqs {
			if n, _ := pol.CountTokens(r.Prompt); n > tr.cfg.MaxPromptLength {
				t.Fatalf("a %d-token prompt was generated from (max_prompt_length %d)", n, tr.cfg.MaxPromptLength)
			}
		}
	}
}

// babblingPolicy never writes anything parseable, like a random model.
type babblingPolicy struct{ scriptedPolicy }

func (p *babblingPolicy) Generate(ctx context.Context, reqs []GenRequest) ([]GenResult, error) {
	out := make([]GenResult, len(reqs))
	for i, r := range reqs {
		out[i].PromptTokens = tokenize(r.Prompt)
		for k := 0; k < r.N; k++ {
			out[i].Samples = append(out[i].Samples, Sample{Tokens: []int32{1, 2, 3}, LogProbs: []float32{-1, -1, -1},
				Text: "zx qv ```py", Finish: "length"})
		}
	}
	p.mu.Lock()
	p.calls = append(p.calls, genCall{reqs: reqs, res: out})
	p.mu.Unlock()
	return out, nil
}

// Seeding that cannot succeed stops after seed_patience rounds with an error
// that says what to try, instead of running seed_max_rounds silent rounds.
func TestSeedingThatCannotSucceedStopsEarly(t *testing.T) {
	cfg := smallConfig(4)
	cfg.SeedBatchFactor, cfg.SeedPatience, cfg.SeedMaxRounds = 2, 3, 100
	pol := &babblingPolicy{}
	tr, err := NewTrainer(cfg, pol, &fakeExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Run(context.Background(), 1)
	if err == nil {
		t.Fatal("seeding with a model that writes nothing valid succeeded")
	}
	for _, want := range []string{"no valid triplets in 3 rounds", "24 proposals", "24 cut at --max-response-length", "--seed-file", "--seed-factor 0", "no python code block"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if got := len(pol.calls); got != 6 { // 3 rounds x (abduction, deduction)
		t.Errorf("seeding made %d generate calls before giving up, want 6", got)
	}
	if tr.StepCount() != 0 {
		t.Errorf("a self-play step ran after seeding failed")
	}
}

// Seeding stops when it stalls after finding something, and keeps it.
func TestSeedingThatStallsKeepsWhatItFound(t *testing.T) {
	cfg := smallConfig(5)
	cfg.SeedBatchFactor, cfg.SeedPatience = 100, 2 // a target the scripted policy's few programs cannot reach
	pol := &scriptedPolicy{}
	tr, err := NewTrainer(cfg, pol, &fakeExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := tr.Buffers().Deduction.Len(); n < 2 || n >= 500 {
		t.Errorf("deduction seeds: %d, want what was found (more than the zero triplet, less than the target)", n)
	}
	if len(pol.calls) >= 2*cfg.SeedMaxRounds {
		t.Errorf("seeding ran all %d rounds", cfg.SeedMaxRounds)
	}
}
