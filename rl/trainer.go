package rl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/azr-native/azr-native/internal/parallel"
	"go.uber.org/zap"
)

// Trainer runs Absolute Zero self-play: propose, validate, solve, reward and
// one policy update per step (docs/AZR.md §7). Use NewTrainer or Resume.
type Trainer struct {
	cfg    Config
	policy Policy
	scorer *Scorer
	log    *zap.Logger
	tpl    Template
	popts  PromptOptions
	pcg    *rand.PCG
	rng    *rand.Rand
	step   int // steps completed
	seeded bool
	// savedStep is the step of the newest checkpoint this trainer wrote or
	// was resumed from (-1: none), so a stop never rewrites it.
	savedStep int
	stop      atomic.Bool // RequestStop was called
	bufs      *Buffers
	monitor   *Monitor
	counter   TokenCounter

	dir     string    // run directory: checkpoints/, metrics.jsonl, samples.jsonl, uhoh.jsonl
	metrics io.Writer // JSON lines, one StepMetrics per step
	samples io.Writer // JSON lines, Config.SamplesPerBatch SampleRecords per batch and step
	files   []*os.File

	// OnStep, when set, is called after every step with its metrics.
	OnStep func(StepMetrics)
	// OnProgress, when set, hears how far the seeding phase and each step have got.
	OnProgress func(Progress)
	// Eval, when set, is called by Run before the first step of a run (step
	// 0, the base policy), every cfg.EvalEvery steps (0: never in between) and
	// after the last step of each Run (docs/AZR.md §7 step 5: greedy CruxEval /
	// LiveCodeBench-Execution in the reference); its scores are logged and
	// written to metrics.jsonl as {"step": n, "eval": {...}}.
	Eval func(ctx context.Context, step int) (map[string]float64, error)
}

// NewTrainer returns a trainer at step 0 with buffers holding the zero
// triplet (and, when cfg.SeedBatchFactor > 0, a seeding phase that Run
// performs first).
func NewTrainer(cfg Config, policy Policy, exec Executor, logger *zap.Logger) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rl config: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	tpl, _ := cfg.PromptTemplate()
	scorer, err := NewScorer(&cfg, exec)
	if err != nil {
		return nil, err
	}
	mon, err := NewMonitor(cfg.UhOhPatterns)
	if err != nil {
		return nil, err
	}
	pcg := rand.NewPCG(cfg.Seed, 0x617a722d6e6174) // "azr-nat"
	t := &Trainer{
		cfg: cfg, policy: policy, scorer: scorer, log: logger, tpl: tpl, savedStep: -1,
		popts:   cfg.PromptOptions(),
		pcg:     pcg,
		rng:     rand.New(pcg),
		bufs:    NewBuffers(&cfg),
		monitor: mon,
		seeded:  cfg.SeedTarget() <= 0,
	}
	if tc, ok := policy.(TokenCounter); ok {
		t.counter = tc
	}
	if oc, ok := policy.(OptimConfigurable); ok {
		if err := oc.SetOptim(cfg.Optim); err != nil {
			return nil, fmt.Errorf("policy rejected optimizer settings: %w", err)
		}
	}
	return t, nil
}

// Config returns the trainer's configuration.
func (t *Trainer) Config() Config { return t.cfg }

// StepCount is the number of completed steps.
func (t *Trainer) StepCount() int { return t.step }

// Buffers returns the live buffers (do not modify while a step runs).
func (t *Trainer) Buffers() *Buffers { return t.bufs }

// RNGState returns the serialized state of the trainer's random generator.
func (t *Trainer) RNGState() []byte {
	b, _ := t.pcg.MarshalBinary()
	return b
}

// SetDir sets the run directory: checkpoints go to dir/checkpoints, metrics
// are appended to dir/metrics.jsonl, sample responses to dir/samples.jsonl
// and uh-oh flags to dir/uhoh.jsonl.
func (t *Trainer) SetDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	open := func(name string) (*os.File, error) {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			t.files = append(t.files, f)
		}
		return f, err
	}
	mf, err := open("metrics.jsonl")
	if err != nil {
		return err
	}
	uf, err := open("uhoh.jsonl")
	if err != nil {
		return err
	}
	sf, err := open("samples.jsonl")
	if err != nil {
		return err
	}
	t.dir, t.metrics, t.monitor.W, t.samples = dir, mf, uf, sf
	return nil
}

// Close closes the files SetDir opened.
func (t *Trainer) Close() error {
	var errs []error
	for _, f := range t.files {
		errs = append(errs, f.Close())
	}
	t.files = nil
	return errors.Join(errs...)
}

// Run completes `steps` more steps (running the seeding phase first if it is
// configured and not done), saving a checkpoint every cfg.SaveEvery steps and
// after the last one when a run directory is set.
func (t *Trainer) Run(ctx context.Context, steps int) error {
	if t.step == 0 {
		if err := t.evaluate(ctx); err != nil { // the base policy, before any update
			return err
		}
	}
	if !t.seeded {
		if err := t.Seed(ctx); err != nil {
			return err
		}
	}
	for i := 0; i < steps; i++ {
		if t.stop.Load() {
			t.log.Info("stop requested: no more steps", zap.Int("step", t.step))
			break
		}
		m, err := t.Step(ctx)
		if err != nil {
			return err
		}
		t.log.Info("self-play step",
			zap.Int("step", m.Step), zap.Float64("seconds", m.Seconds["total"]),
			zap.Float64("solve_acc_deduction", m.Batches["solve_deduction"].Accuracy),
			zap.Float64("solve_acc_abduction", m.Batches["solve_abduction"].Accuracy),
			zap.Float64("solve_acc_induction", m.Batches["solve_induction"].Accuracy),
			zap.Int("valid_proposals", m.ValidProposals), zap.Float64("loss", m.Train.Loss))
		if (t.cfg.EvalEvery > 0 && t.step%t.cfg.EvalEvery == 0) || i == steps-1 {
			if err := t.evaluate(ctx); err != nil {
				return err
			}
		}
		if t.dir != "" && t.cfg.SaveEvery > 0 && t.step%t.cfg.SaveEvery == 0 {
			if _, err := t.Save(); err != nil {
				return err
			}
		}
	}
	if t.dir != "" && t.savedStep != t.step {
		if _, err := t.Save(); err != nil {
			return err
		}
	}
	return nil
}

// RequestStop asks Run to stop at the next safe point: after the step (or
// the seeding phase) in progress, Run checkpoints what finished and returns
// nil. Safe to call from any goroutine, e.g. a signal handler.
func (t *Trainer) RequestStop() { t.stop.Store(true) }

// StopRequested reports whether RequestStop was called.
func (t *Trainer) StopRequested() bool { return t.stop.Load() }

// evaluate calls Eval (when set) and logs its scores, also into metrics.jsonl
// as {"step": n, "eval": {...}}.
func (t *Trainer) evaluate(ctx context.Context) error {
	if t.Eval == nil {
		return nil
	}
	scores, err := t.Eval(ctx, t.step)
	if err != nil {
		return fmt.Errorf("evaluation at step %d: %w", t.step, err)
	}
	t.log.Info("evaluation", zap.Int("step", t.step), zap.Any("scores", scores))
	if t.metrics != nil {
		if err := json.NewEncoder(t.metrics).Encode(map[string]any{"step": t.step, "eval": scores}); err != nil {
			t.log.Warn("writing evaluation metrics", zap.Error(err))
		}
	}
	return nil
}

// generate calls the policy and checks the shape of its answer.
func (t *Trainer) generate(ctx context.Context, reqs []GenRequest) ([]GenResult, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	res, err := t.policy.Generate(ctx, reqs)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	if len(res) != len(reqs) {
		return nil, fmt.Errorf("generate: %d results for %d requests", len(res), len(reqs))
	}
	for i := range res {
		if len(res[i].Samples) != reqs[i].N {
			return nil, fmt.Errorf("generate: request %d got %d samples, want %d", i, len(res[i].Samples), reqs[i].N)
		}
	}
	return res, nil
}

// fits reports whether a prompt is within limit tokens (always true without a TokenCounter).
func (t *Trainer) fits(prompt string, limit int) bool {
	if t.counter == nil || limit <= 0 {
		return true
	}
	n, err := t.counter.CountTokens(prompt)
	return err == nil && n <= limit
}

// proposerItem is one proposer prompt of a step.
type proposerItem struct {
	Base   Task // induction: the program shown
	Prompt string
}

// buildProposer builds a batch of proposer prompts for a task type (docs/AZR.md
// §2.1). A prompt over ContentMaxLength or MaxPromptLength tokens is redrawn
// (other references, another program) up to PromptRedrawTries times; one
// still over MaxPromptLength after that is dropped, as the reference's
// dataset loader drops it, so the batch may come out short. It returns the
// items and the number dropped.
func (t *Trainer) buildProposer(typ TaskType, buf func(TaskType) *Buffer, n int) ([]proposerItem, int) {
	items := make([]proposerItem, 0, n)
	dropped := 0
	var programs []Task
	if typ == Induction {
		programs = t.bufs.InductionPrograms(t.cfg.InductionProgramFromBoth)
	}
	for slot := 0; slot < n; slot++ {
		var it proposerItem
		for try := 0; ; try++ {
			if typ == Induction {
				base := Task{Program: IdentityProgram}
				if len(programs) > 0 {
					base = programs[t.rng.IntN(len(programs))]
				}
				it = proposerItem{Base: base, Prompt: t.tpl.Render(ProposeInduction(base.Program, t.popts))}
			} else {
				refs := buf(typ).References(t.rng, t.cfg.References, t.cfg.RefStrategy)
				it = proposerItem{Prompt: t.tpl.Render(ProposeTriplet(typ, refs, t.popts))}
			}
			if t.fits(it.Prompt, t.cfg.ContentMaxLength) && t.fits(it.Prompt, t.cfg.MaxPromptLength) {
				items = append(items, it)
				break
			}
			if try >= t.cfg.PromptRedrawTries {
				if t.fits(it.Prompt, t.cfg.MaxPromptLength) {
					items = append(items, it) // over content_max_length only: the engine still takes it
				} else {
					dropped++
				}
				break
			}
		}
	}
	if dropped > 0 {
		t.log.Warn("proposer prompts over max_prompt_length dropped", zap.String("type", typ.String()),
			zap.Int("dropped", dropped), zap.Int("kept", len(items)), zap.Int("max_prompt_length", t.cfg.MaxPromptLength))
	}
	return items, dropped
}

// scored is one trained response with its reward.
type scored struct {
	prompt      []int32
	sample      *Sample
	group       int // index of the prompt within its batch
	reward      float64
	format      float64
	correct     float64 // solver: 1 if correct; proposer: learnability r (0 if invalid)
	valid       bool
	answer      string // for diversity
	program     string // proposer: the program (for length metrics)
	pbar        float64
	execErr     bool
	promptChars int
	task        *Task // proposer: the valid task proposed; solver: the task solved
}

// Seed runs the optional seeding phase (docs/AZR.md §6.3): propose with the
// current (not updated) policy until cfg.SeedTarget() distinct valid triplets
// and induction tasks exist, then install them, tagged step 0, as the
// initial buffers. Responses are parsed as the reference's seeding parses
// them (ParseSeedProposal: no <answer> needed); induction proposals are made
// for seed programs drawn at random, and induction seeds are not
// de-duplicated (both as in the reference).
//
// Seeding that cannot succeed stops early: after cfg.SeedPatience rounds in a
// row without a new task it returns an error saying what to try when nothing
// but the zero task was found, and otherwise keeps what it found (as it does
// after cfg.SeedMaxRounds rounds).
func (t *Trainer) Seed(ctx context.Context) error {
	target := t.cfg.SeedTarget()
	pool := NewBuffer(0, "oldest", true) // the reference de-duplicates triplet seeds (update_seed)
	pool.Add(ZeroTriplet(), nil)
	get := func(TaskType) *Buffer { return pool }
	var st seedStats
	for round, stale := 0, 0; pool.Len() < target && round < t.cfg.SeedMaxRounds; round++ {
		added := 0
		for _, typ := range []TaskType{Abduction, Deduction} {
			if pool.Len() >= target {
				break
			}
			items, _ := t.buildProposer(typ, get, t.cfg.BatchSize)
			tasks, err := t.proposeSeeds(ctx, typ, items, &st)
			if err != nil {
				return err
			}
			for _, tk := range tasks {
				if pool.Add(tk, nil) {
					added++
				}
			}
		}
		t.log.Info("seeding triplets", zap.Int("round", round+1), zap.Int("have", pool.Len()), zap.Int("target", target),
			zap.Int("new", added), zap.Int("responses", st.responses), zap.Int("valid", st.valid))
		t.progress(Progress{Stage: "seeding triplets", Done: pool.Len(), Total: target})
		if stale++; added > 0 {
			stale = 0
		}
		if t.cfg.SeedPatience > 0 && stale >= t.cfg.SeedPatience {
			if pool.Len() <= 1 {
				return st.hopeless("triplets", round+1, t.cfg.MaxResponseLength)
			}
			t.log.Warn("seeding triplets stalled; keeping what was found", zap.Int("have", pool.Len()), zap.Int("target", target),
				zap.Int("rounds_without_new", stale))
			break
		}
	}
	if pool.Len() > target {
		pool.Entries = pool.Entries[:target]
	}
	problems := NewBuffer(0, "oldest", false)
	problems.Add(ZeroInduction(), nil)
	st = seedStats{}
	for round, stale := 0, 0; problems.Len() < target && round < t.cfg.SeedMaxRounds; round++ {
		items := make([]proposerItem, 0, t.cfg.BatchSize)
		for len(items) < t.cfg.BatchSize {
			e := pool.Entries[t.rng.IntN(pool.Len())]
			base := Task{Program: e.Program, Imports: e.Imports}
			items = append(items, proposerItem{Base: base, Prompt: t.tpl.Render(ProposeInduction(base.Program, t.popts))})
		}
		tasks, err := t.proposeSeeds(ctx, Induction, items, &st)
		if err != nil {
			return err
		}
		for _, tk := range tasks {
			problems.Add(tk, nil)
		}
		t.log.Info("seeding induction tasks", zap.Int("round", round+1), zap.Int("have", problems.Len()), zap.Int("target", target),
			zap.Int("new", len(tasks)), zap.Int("responses", st.responses), zap.Int("valid", st.valid))
		t.progress(Progress{Stage: "seeding induction", Done: problems.Len(), Total: target})
		if stale++; len(tasks) > 0 {
			stale = 0
		}
		if t.cfg.SeedPatience > 0 && stale >= t.cfg.SeedPatience {
			if problems.Len() <= 1 {
				return st.hopeless("induction tasks", round+1, t.cfg.MaxResponseLength)
			}
			t.log.Warn("seeding induction tasks stalled; keeping what was found", zap.Int("have", problems.Len()),
				zap.Int("target", target), zap.Int("rounds_without_new", stale))
			break
		}
	}
	if problems.Len() > target {
		problems.Entries = problems.Entries[:target]
	}
	t.SetSeeds(pool.Entries, problems.Entries)
	return nil
}

// seedStats counts what the seeding proposals came to, for its progress log
// and for the advice when seeding cannot succeed.
type seedStats struct {
	responses, valid, formatted, cut int
	reasons                          map[string]int
}

func (st *seedStats) add(ps ProposalScore, finish string) {
	st.responses++
	if ps.Valid {
		st.valid++
	}
	if ps.Format > 0 {
		st.formatted++
	}
	if finish == "length" {
		st.cut++
	}
	if !ps.Valid && ps.Reason != "" {
		if st.reasons == nil {
			st.reasons = map[string]int{}
		}
		r := ps.Reason
		if len(r) > 60 {
			r = r[:60] + "..."
		}
		st.reasons[r]++
	}
}

// hopeless is the error of a seeding phase that found nothing in its first rounds.
func (st *seedStats) hopeless(what string, rounds, maxResponse int) error {
	type kv struct {
		reason string
		n      int
	}
	var top []kv
	for r, n := range st.reasons {
		top = append(top, kv{r, n})
	}
	sort.Slice(top, func(i, j int) bool {
		return top[i].n > top[j].n || top[i].n == top[j].n && top[i].reason < top[j].reason
	})
	var why []string
	for i := 0; i < len(top) && i < 3; i++ {
		why = append(why, fmt.Sprintf("%dx %q", top[i].n, top[i].reason))
	}
	return fmt.Errorf("seeding found no valid %s in %d rounds (%d proposals: %d formatted as <think>...</think><answer>...</answer>, "+
		"%d cut at --max-response-length %d; why they failed: %s). The model does not write tasks the sandbox accepts "+
		"(a random or tiny test model never will). Try: --seed-file FILE to start from seed tasks (the reference's *_seed_io.jsonl layout); "+
		"--seed-factor 0 to start self-play from the zero triplet; a pretrained base model; or a longer --max-response-length",
		what, rounds, st.responses, st.formatted, st.cut, maxResponse, strings.Join(why, ", "))
}

// SetSeeds replaces the buffers by seed tasks, tagged step 0: triplets go to
// both the deduction and the abduction buffer (as the reference does), and
// induction tasks to the induction buffer. It marks seeding as done. Use it
// to start from seed files such as the reference's *_seed_io.jsonl; call it
// before the first step.
func (t *Trainer) SetSeeds(triplets, induction []Task) {
	fresh := &Buffers{
		Deduction: NewBuffer(t.cfg.MaxPrograms, t.cfg.Eviction, t.cfg.Dedup),
		Abduction: NewBuffer(t.cfg.MaxPrograms, t.cfg.Eviction, t.cfg.Dedup),
		Induction: NewBuffer(t.cfg.MaxPrograms, t.cfg.Eviction, t.cfg.Dedup),
	}
	for _, e := range triplets {
		e.Step = 0
		fresh.Deduction.Add(e, t.rng)
		fresh.Abduction.Add(e, t.rng)
	}
	for _, e := range induction {
		e.Step = 0
		fresh.Induction.Add(e, t.rng)
	}
	t.bufs, t.seeded = fresh, true
}

// proposeSeeds generates and validates seeding proposals (parsed as
// ScoreSeedProposal does) and returns the valid tasks (step 0).
func (t *Trainer) proposeSeeds(ctx context.Context, typ TaskType, items []proposerItem, st *seedStats) ([]Task, error) {
	reqs := make([]GenRequest, len(items))
	for i, it := range items {
		reqs[i] = GenRequest{Prompt: it.Prompt, N: 1, Sampling: t.cfg.sampling(t.rng.Uint64())}
	}
	res, err := t.generate(ctx, reqs)
	if err != nil {
		return nil, err
	}
	ps := make([]ProposalScore, len(items))
	if err := parallel.For(ctx, len(items), t.cfg.ExecParallelism, func(i int) error {
		var err error
		ps[i], err = t.scorer.ScoreSeedProposal(ctx, typ, items[i].Base, res[i].Samples[0].Text)
		return err
	}); err != nil {
		return nil, err
	}
	var out []Task
	for i := range ps {
		st.add(ps[i], res[i].Samples[0].Finish)
		if ps[i].Valid {
			task := ps[i].Task
			if !t.cfg.KeepThoughts {
				task.Thought = ""
			}
			out = append(out, task)
		}
	}
	return out, nil
}

// Step runs one self-play step (docs/AZR.md §7) and returns its metrics.
func (t *Trainer) Step(ctx context.Context) (StepMetrics, error) {
	start := time.Now()
	step := t.step + 1
	m := StepMetrics{Step: step, Batches: map[string]BatchMetrics{}, Seconds: map[string]float64{}, Buffers: map[string]int{}}
	var types []TaskType
	for _, typ := range AllTaskTypes {
		for _, c := range t.cfg.TaskTypes {
			if c == typ {
				types = append(types, typ)
			}
		}
	}

	// 2. Build the six datasets from the current buffers.
	proposers := map[TaskType][]proposerItem{}
	solvers := map[TaskType][]Task{}
	dropped := map[BatchKey]int{} // prompts over max_prompt_length
	for _, typ := range types {
		proposers[typ], dropped[BatchKey{typ, Propose}] = t.buildProposer(typ, t.bufs.Of, t.cfg.BatchSize)
		if !t.cfg.SolveFresh {
			solvers[typ], dropped[BatchKey{typ, Solve}] = t.solverTasks(typ, step)
		}
	}

	// 3. Propose then solve, per type.
	batches := map[BatchKey][]scored{}
	phases := 2*len(types) + 1
	for _, typ := range types {
		t.progress(Progress{Stage: "step", Step: step, Phase: "propose " + typ.String(), Done: len(batches), Total: phases})
		ts := time.Now()
		ps, err := t.proposeBatch(ctx, step, typ, proposers[typ])
		if err != nil {
			return m, fmt.Errorf("step %d, propose %v: %w", step, typ, err)
		}
		batches[BatchKey{typ, Propose}] = ps
		m.Seconds["propose_"+typ.String()] = time.Since(ts).Seconds()
		t.log.Info("phase done", zap.Int("step", step), zap.String("phase", "propose "+typ.String()),
			zap.Int("responses", len(ps)), zap.Float64("seconds", m.Seconds["propose_"+typ.String()]))

		t.progress(Progress{Stage: "step", Step: step, Phase: "solve " + typ.String(), Done: len(batches), Total: phases})
		ts = time.Now()
		if t.cfg.SolveFresh {
			solvers[typ], dropped[BatchKey{typ, Solve}] = t.solverTasks(typ, step)
		}
		ss, err := t.solveBatch(ctx, step, typ, solvers[typ])
		if err != nil {
			return m, fmt.Errorf("step %d, solve %v: %w", step, typ, err)
		}
		batches[BatchKey{typ, Solve}] = ss
		m.Seconds["solve_"+typ.String()] = time.Since(ts).Seconds()
		t.log.Info("phase done", zap.Int("step", step), zap.String("phase", "solve "+typ.String()),
			zap.Int("responses", len(ss)), zap.Float64("seconds", m.Seconds["solve_"+typ.String()]))
	}

	// Advantages: per (type x role) batch (TRR++), or one global baseline.
	advs := map[BatchKey][]float64{}
	if t.cfg.Advantage == "global" {
		var rs []float64
		var ls, gs []int
		for _, k := range BatchOrder {
			for _, s := range batches[k] {
				rs, ls, gs = append(rs, s.reward), append(ls, len(s.sample.Tokens)), append(gs, len(gs))
			}
		}
		all := Advantages("task_relative", rs, ls, gs, t.cfg.AdvEps)
		for _, k := range BatchOrder {
			n := len(batches[k])
			advs[k], all = all[:n], all[n:]
		}
	} else {
		for k, b := range batches {
			rs, ls, gs := make([]float64, len(b)), make([]int, len(b)), make([]int, len(b))
			for i, s := range b {
				rs[i], ls[i], gs[i] = s.reward, len(s.sample.Tokens), s.group
			}
			advs[k] = Advantages(t.cfg.Advantage, rs, ls, gs, t.cfg.AdvEps)
		}
	}

	// 4. One update over the six batches, in the reference's order.
	var seqs []TrainSequence
	for _, k := range BatchOrder {
		if k.Role == Propose && !t.cfg.TrainPropose {
			continue
		}
		for i, s := range batches[k] {
			seqs = append(seqs, BuildSequence(s.prompt, s.sample, advs[k][i]))
		}
	}
	ts := time.Now()
	t.log.Info("phase start", zap.Int("step", step), zap.String("phase", "train"), zap.Int("sequences", len(seqs)))
	t.progress(Progress{Stage: "step", Step: step, Phase: "train", Done: phases - 1, Total: phases})
	stats, err := t.policy.TrainStep(ctx, seqs)
	if err != nil {
		return m, fmt.Errorf("step %d, train: %w", step, err)
	}
	m.Seconds["train"] = time.Since(ts).Seconds()
	t.progress(Progress{Stage: "step", Step: step, Done: phases, Total: phases})
	m.Train, m.TrainNonFinite = finiteStats(stats)
	t.step = step

	// 6. Metrics.
	for _, k := range BatchOrder {
		if b, ok := batches[k]; ok {
			bm := batchMetrics(k, b, advs[k])
			bm.PromptsDropped = dropped[k]
			m.Batches[k.String()] = bm
			if k.Role == Propose {
				m.ValidProposals += bm.Valid
			}
		}
	}
	m.Sequences = len(seqs)
	for _, typ := range []TaskType{Deduction, Abduction, Induction} {
		m.Buffers[typ.String()] = t.bufs.Of(typ).Len()
	}
	m.UhOh = t.monitor.Count
	m.Signal = signalHealth(batches, t.bufs)
	m.Seconds["total"] = time.Since(start).Seconds()
	if t.metrics != nil {
		if err := json.NewEncoder(t.metrics).Encode(m); err != nil {
			return m, fmt.Errorf("metrics: %w", err)
		}
	}
	if t.samples != nil {
		enc := json.NewEncoder(t.samples)
		for _, r := range sampleRecords(step, batches, t.cfg.SamplesPerBatch) {
			if err := enc.Encode(r); err != nil {
				return m, fmt.Errorf("samples: %w", err)
			}
		}
	}
	if t.OnStep != nil {
		t.OnStep(m)
	}
	return m, nil
}

// solverTasks draws a solver batch (docs/AZR.md §6.7). With a TokenCounter,
// tasks whose solver prompt exceeds MaxPromptLength are dropped and the
// batch is refilled by repeating uniformly chosen kept tasks, as the
// reference does; if none fits, the batch is empty. It returns the batch and
// the number of tasks dropped for length.
func (t *Trainer) solverTasks(typ TaskType, step int) ([]Task, int) {
	tasks := t.bufs.Of(typ).SolverBatch(t.rng, t.cfg.BatchSize, step, t.cfg.PastEpochWindow, t.cfg.PredMix)
	if t.counter == nil || t.cfg.MaxPromptLength <= 0 {
		return tasks, 0
	}
	kept := tasks[:0:0]
	for _, tk := range tasks {
		if t.fits(t.tpl.Render(SolveTextWith(typ, tk, t.popts)), t.cfg.MaxPromptLength) {
			kept = append(kept, tk)
		}
	}
	dropped := len(tasks) - len(kept)
	if len(kept) == 0 {
		t.log.Warn("every solver prompt is over max_prompt_length; the batch is empty", zap.String("type", typ.String()),
			zap.Int("dropped", dropped), zap.Int("max_prompt_length", t.cfg.MaxPromptLength))
		return nil, dropped
	}
	for n := len(kept); len(kept) < len(tasks); {
		kept = append(kept, kept[t.rng.IntN(n)])
	}
	return kept, dropped
}

// proposeBatch is the proposing half of step 2 in docs/AZR.md §7: generate,
// parse and validate, learnability rollouts, rewards, then append the valid
// tasks to the buffer. With RolloutN > 1 each
// prompt gets RolloutN proposals (sequence j = prompt j/n, sample j%n).
func (t *Trainer) proposeBatch(ctx context.Context, step int, typ TaskType, items []proposerItem) ([]scored, error) {
	n := t.cfg.RolloutN
	reqs := make([]GenRequest, len(items))
	for i, it := range items {
		reqs[i] = GenRequest{Prompt: it.Prompt, N: n, Sampling: t.cfg.sampling(t.rng.Uint64())}
	}
	res, err := t.generate(ctx, reqs)
	if err != nil {
		return nil, err
	}
	total := len(items) * n
	ps := make([]ProposalScore, total)
	if err := parallel.For(ctx, total, t.cfg.ExecParallelism, func(j int) error {
		var err error
		ps[j], err = t.scorer.ScoreProposal(ctx, typ, items[j/n].Base, res[j/n].Samples[j%n].Text, step)
		return err
	}); err != nil {
		return nil, err
	}

	// Learnability rollouts: NSamples samples of the solver prompt of each
	// valid, well-formatted proposal (a badly formatted one gets -1 whatever
	// they say).
	var mcIdx []int
	var mcReqs []GenRequest
	for j := range ps {
		if !ps[j].Valid || ps[j].Format <= 0 {
			continue
		}
		prompt := t.tpl.Render(SolveTextWith(typ, ps[j].Task, t.popts))
		if !t.fits(prompt, t.cfg.MaxPromptLength) {
			continue // filtered for length: p̄ forced to 0 (docs/AZR.md §4.3)
		}
		mcIdx = append(mcIdx, j)
		mcReqs = append(mcReqs, GenRequest{Prompt: prompt, N: t.cfg.NSamples, Sampling: t.cfg.mcSampling(t.rng.Uint64())})
	}
	mcRes, err := t.generate(ctx, mcReqs)
	if err != nil {
		return nil, fmt.Errorf("learnability rollouts: %w", err)
	}
	learn := make([]Learnability, total)
	if err := parallel.For(ctx, len(mcIdx), t.cfg.ExecParallelism, func(m int) error {
		j := mcIdx[m]
		texts := make([]string, len(mcRes[m].Samples))
		for k, s := range mcRes[m].Samples {
			texts[k] = s.Text
		}
		var err error
		learn[j], err = t.scorer.Learnability(ctx, typ, ps[j].Task, texts)
		return err
	}); err != nil {
		return nil, err
	}
	for m, j := range mcIdx {
		for k, s := range mcRes[m].Samples {
			t.monitor.Check(step, "mc_"+typ.String(), j*t.cfg.NSamples+k, s.Text)
		}
	}

	out := make([]scored, total)
	buf := t.bufs.Of(typ)
	key := BatchKey{typ, Propose}.String()
	for j := range out {
		s := &res[j/n].Samples[j%n]
		t.monitor.Check(step, key, j, s.Text)
		r := ProposerReward(ps[j].Format, ps[j].Valid, learn[j].R, t.cfg.TrivialReward)
		sc := scored{prompt: res[j/n].PromptTokens, sample: s, group: j / n, reward: r, format: ps[j].Format, valid: ps[j].Valid, pbar: learn[j].PBar, promptChars: len(items[j/n].Prompt)}
		if ps[j].Valid {
			sc.correct = learn[j].R
			sc.program = ps[j].Task.Program
			if typ == Induction {
				sc.answer = fmt.Sprint(ps[j].Task.Outputs)
			} else {
				sc.answer = ps[j].Task.Output
			}
			// Every valid proposal is stored (valid_program_filter=all), whatever its format.
			task := ps[j].Task
			if !t.cfg.KeepThoughts {
				task.Thought = ""
			}
			buf.Add(task, t.rng)
			sc.task = &task
		}
		out[j] = sc
	}
	return out, nil
}

// solveBatch is the solving half of step 2 in docs/AZR.md §7: generate
// answers and reward them (RolloutN per task).
func (t *Trainer) solveBatch(ctx context.Context, step int, typ TaskType, tasks []Task) ([]scored, error) {
	n := t.cfg.RolloutN
	reqs := make([]GenRequest, len(tasks))
	prompts := make([]string, len(tasks))
	for i := range tasks {
		prompts[i] = t.tpl.Render(SolveTextWith(typ, tasks[i], t.popts))
		reqs[i] = GenRequest{Prompt: prompts[i], N: n, Sampling: t.cfg.sampling(t.rng.Uint64())}
	}
	res, err := t.generate(ctx, reqs)
	if err != nil {
		return nil, err
	}
	total := len(tasks) * n
	ss := make([]SolveScore, total)
	if err := parallel.For(ctx, total, t.cfg.ExecParallelism, func(j int) error {
		var err error
		ss[j], err = t.scorer.ScoreSolve(ctx, typ, tasks[j/n], res[j/n].Samples[j%n].Text)
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]scored, total)
	key := BatchKey{typ, Solve}.String()
	for j := range out {
		s := &res[j/n].Samples[j%n]
		t.monitor.Check(step, key, j, s.Text)
		c := 0.0
		if ss[j].Correct {
			c = 1
		}
		out[j] = scored{prompt: res[j/n].PromptTokens, sample: s, group: j / n, reward: ss[j].Reward, format: ss[j].Format,
			correct: c, valid: ss[j].Parsed.OK, answer: ss[j].Parsed.Value, execErr: ss[j].ExecErr != "", promptChars: len(prompts[j/n]),
			task: &tasks[j/n]}
	}
	return out, nil
}
