package rl

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// OptimConfig holds the optimizer and loss settings the Policy applies in
// TrainStep (docs/TRAINING.md). They are passed through unchanged.
type OptimConfig struct {
	// LearningRate defaults to 1e-5, ten times the reference's 1e-6: the
	// reference trains all weights, azr-native trains a LoRA adapter, and the
	// best LoRA learning rate is consistently about 10x the full fine-tuning
	// one (Schulman et al., "LoRA Without Regret", 2025, incl. for RL).
	LearningRate float64 `json:"lr"`
	WarmupSteps  int     `json:"warmup_steps"`   // reference: 0 (constant schedule)
	WeightDecay  float64 `json:"weight_decay"`   // reference (paper branch): 0.01
	Beta1        float64 `json:"beta1"`          // 0.9
	Beta2        float64 `json:"beta2"`          // 0.999
	Eps          float64 `json:"eps"`            // 1e-8
	GradClip     float64 `json:"grad_clip"`      // 1.0 (global norm); <= 0 = off
	ClipRatioLow float64 `json:"clip_ratio_low"` // 0.2: the PPO ratio is clipped below at 1 - this
	// ClipRatioHigh is the upper clip, 1 + this: 0.2 (the reference's
	// symmetric clip); larger values are the "clip-higher" variant.
	ClipRatioHigh float64 `json:"clip_ratio_high"`
	EntropyCoeff  float64 `json:"entropy_coeff"` // 0.001 (paper branch)
	KLCoeff       float64 `json:"kl_coeff"`      // 0: no KL at all
	PPOEpochs     int     `json:"ppo_epochs"`    // 1: one update per step
	MicroBatch    int     `json:"micro_batch"`   // 16 sequences per forward/backward
	LossAggMode   string  `json:"loss_agg_mode"` // "token-mean": over all response tokens of the update (see docs/DEVIATIONS.md)
	// OldLogProbs is where the PPO ratio's old log-probs come from. "train"
	// (default): the training forward's own log-probs, detached, so with one
	// update per step the ratio is exactly 1 and the clip never binds — as in
	// the reference, which recomputes them with the training model. "sampler":
	// the log-probs the sampler reported, so the ratio also carries the
	// numerical gap between the inference and training paths (quantized
	// kernels, F16 K/V cache) and the clip zeroes tokens where it is large;
	// kept to measure that gap (clip_frac).
	OldLogProbs string  `json:"old_logprobs"`
	LoRARank    int     `json:"lora_rank"`  // 16; the engine takes it as given
	LoRAAlpha   float64 `json:"lora_alpha"` // 32 (scale alpha/rank = 2); 0 = rank (scale 1)
}

// Config holds every hyperparameter of a self-play run (docs/AZR.md §5.4). The
// zero value is not useful: start from DefaultConfig, the one place each
// default is set (the layers below take the values as given).
//
// Each field (by its json tag) is also a key of `run --config`, a flag of
// `run` and an AZR_* variable, derived in cmd/azr-native/config.go: a new
// field needs only its default here and a help line in configHelp there.
type Config struct {
	Seed      uint64     `json:"seed"`       // reference data.seed: 1
	TaskTypes []TaskType `json:"task_types"` // azr.problem_types: all three
	BatchSize int        `json:"batch_size"` // data.train_batch_size: 64 per (type x role)
	Steps     int        `json:"steps"`      // 500 (paper: never past 500; the yaml's 960 is an artifact of the val set size)
	SaveEvery int        `json:"save_every"` // save_freq: 10
	EvalEvery int        `json:"eval_every"` // test_freq: 10 (evaluation is wired by the caller)

	// Sampling (docs/AZR.md §5.3): the same for proposer and solver.
	Temperature        float32  `json:"temperature"`         // 1.0
	TopP               float32  `json:"top_p"`               // 1.0
	TopK               int      `json:"top_k"`               // -1 (off)
	MaxPromptLength    int      `json:"max_prompt_length"`   // 6144 tokens
	MaxResponseLength  int      `json:"max_response_length"` // 8096 tokens
	ContentMaxLength   int      `json:"content_max_length"`  // 8096 tokens (proposer prompt redraw limit)
	Stop               []string `json:"stop,omitempty"`      // none
	PromptRedrawTries  int      `json:"prompt_redraw_tries"` // redraws of an over-long proposer prompt: 10
	LearnabilityGreedy bool     `json:"learnability_greedy"` // false; true reproduces master's greedy MC rollouts (Q1)

	// Learnability reward (docs/AZR.md §4.3).
	NSamples int `json:"n_samples"` // MC solver rollouts per valid proposal: 8
	// TrivialReward is the proposer reward of a valid, well-formatted task
	// with r = 0 (always or never solved). Default -0.5, what the reference
	// code gives and what trained the published models; 0 is the paper's formula.
	TrivialReward float64 `json:"trivial_reward"`

	// Task construction.
	References               int      `json:"references"`                  // io_n (K): 6
	NumInputs                int      `json:"num_inputs"`                  // induction inputs: 10 (5 shown, 5 hidden)
	BannedModules            []string `json:"banned_modules"`              // banned_words; the sandbox enforces them
	Template                 string   `json:"template"`                    // "r1" (base models) or "chatml"
	SwapDifficulty           bool     `json:"swap_difficulty"`             // false; true reproduces Q8 (swapped criteria)
	InductionProgramFromBoth bool     `json:"induction_program_from_both"` // true: programs from abduction ∪ deduction (duplicates count twice)

	// PromptStyle is "full" (default: every instruction, the reference's
	// content) or "compact" (terse instructions, references in two lines,
	// the same answer formats; for small-context models, with References
	// about 2). "" (checkpoints from before the option) means full.
	PromptStyle string `json:"prompt_style"`

	// Parsing (docs/AZR.md §2.4, §4.1).
	Parse ParseOptions `json:"parse"`

	// Buffers (docs/AZR.md §6).
	MaxPrograms     int    `json:"max_programs"`      // 16384 per buffer
	Eviction        string `json:"eviction"`          // "oldest" (default), "uniform", or "drop_new" (reference Q10)
	Dedup           bool   `json:"dedup"`             // false (reference: no dedup during self-play)
	KeepThoughts    bool   `json:"keep_thoughts"`     // false: buffer entries drop the proposer's <think> text (it bloats checkpoints; only kept for inspection)
	RefStrategy     string `json:"ref_strategy"`      // gen_data_probabilities_strategy: "uniform" or "step"
	PredMix         string `json:"pred_mix"`          // pred_data_mix_strategy: "max_new" or "uniform"
	PastEpochWindow int    `json:"past_epoch_window"` // 1: "recent" = added at steps >= t-1
	SolveFresh      bool   `json:"solve_fresh"`       // false (reference: solver batches are built before the step's proposals, Q11)
	// SeedBatchFactor sets the seeding phase's target, BatchSize x
	// SeedBatchFactor distinct valid tasks per buffer (reference: 4, so 256).
	// 0 skips seeding: self-play starts from the zero triplet alone (or from
	// seeds given to Trainer.SetSeeds).
	SeedBatchFactor int `json:"seed_batch_factor"`
	SeedMaxRounds   int `json:"seed_max_rounds"` // give up seeding after this many proposer batches: 100
	// SeedPatience stops seeding after this many rounds in a row without a
	// new task: with an error that says what to try when nothing was found,
	// else keeping what was found. 3; 0 never stops early (the reference).
	SeedPatience int `json:"seed_patience"`

	// Advantages (docs/AZR.md §5.1).
	// Advantage is the estimator: "task_relative" (TRR++, default), "global"
	// (one whitening over all six batches: plain REINFORCE++), and the
	// per-prompt baselines "per_prompt" and "grpo" (see Advantages), which
	// need RolloutN > 1 to differ from a zero advantage.
	Advantage string `json:"advantage"`
	RolloutN  int    `json:"rollout_n"` // samples per trained prompt (rollout.n): 1; batches then hold BatchSize x RolloutN sequences
	// TrainPropose trains on the proposer batches (reference train_propose:
	// true). false trains the solver only, the paper's "proposer not trained"
	// ablation; proposals are still made, rewarded and stored.
	TrainPropose bool    `json:"train_propose"`
	AdvEps       float64 `json:"adv_eps"` // 1e-8 in (σ² + eps)^-1/2

	// Executor (docs/AZR.md §3). The trainer passes these to nobody: whoever
	// builds the sandbox pool reads them.
	// ExecTimeout is the wall-clock limit of one program run. Default 500 ms,
	// not the reference's 10 s: AZR programs finish in milliseconds, and each
	// proposal that loops forever would otherwise hold a worker for 10 s.
	ExecTimeout     time.Duration `json:"exec_timeout"`
	ExecParallelism int           `json:"exec_parallelism"` // concurrent executor calls: 8 (results do not depend on it)
	ExecRetries     int           `json:"exec_retries"`     // retries on executor (not program) errors: 3

	// SamplesPerBatch is how many responses of each (task type x role) batch
	// a step writes to samples.jsonl for people to read (reports); 0: none.
	SamplesPerBatch int `json:"samples_per_batch"`

	// KeepCheckpoints is how many checkpoints Save keeps (the newest); 0 keeps all.
	KeepCheckpoints int `json:"keep_checkpoints"`

	Optim OptimConfig `json:"optim"`

	// Monitoring.
	UhOhPatterns []string `json:"uhoh_patterns"` // regexes flagged in any response
}

// ReferenceBannedModules is the reference's banned_words list, de-duplicated.
var ReferenceBannedModules = []string{
	"logging", "random", "multiprocessing", "pebble", "subprocess", "threading",
	"datetime", "time", "hashlib", "hmac", "bcrypt", "os.sys", "os.path", "sys.exit",
	"os.environ", "calendar",
}

// DefaultUhOhPatterns flag the kind of chain of thought the AZR paper noticed
// by hand ("outsmart ... less intelligent humans") and talk of escaping checks.
var DefaultUhOhPatterns = []string{
	`(?i)\boutsmart`,
	`(?i)less intelligent (humans|beings|people)`,
	`(?i)\b(escape|evade|disable|bypass|tamper with|fool)\b.{0,30}\b(sandbox|monitor|oversight|grader|checker|reward)`,
	`(?i)\breward hack`,
	`(?i)\b(take over|dominate) (the world|humanity|humans)`,
}

// DefaultConfig returns the reference's defaults (paper branch, §5.4) with
// azr-native's documented deviations.
func DefaultConfig() Config {
	return Config{
		Seed:                     1,
		TaskTypes:                []TaskType{Abduction, Deduction, Induction},
		BatchSize:                64,
		Steps:                    500,
		SaveEvery:                10,
		EvalEvery:                10,
		Temperature:              1.0,
		TopP:                     1.0,
		TopK:                     -1,
		MaxPromptLength:          6144,
		MaxResponseLength:        8096,
		ContentMaxLength:         8096,
		PromptRedrawTries:        10,
		NSamples:                 8,
		TrivialReward:            -0.5,
		References:               6,
		NumInputs:                10,
		BannedModules:            append([]string(nil), ReferenceBannedModules...),
		Template:                 "r1",
		PromptStyle:              PromptStyleFull,
		InductionProgramFromBoth: true,
		Parse:                    DefaultParseOptions(),
		MaxPrograms:              16384,
		Eviction:                 "oldest",
		RefStrategy:              "uniform",
		PredMix:                  "max_new",
		PastEpochWindow:          1,
		SeedBatchFactor:          4,
		SeedMaxRounds:            100,
		SeedPatience:             3,
		TrainPropose:             true,
		Advantage:                "task_relative",
		RolloutN:                 1,
		AdvEps:                   1e-8,
		ExecTimeout:              500 * time.Millisecond,
		ExecParallelism:          8,
		ExecRetries:              3,
		SamplesPerBatch:          2,
		Optim: OptimConfig{
			LearningRate: 1e-5, WeightDecay: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
			GradClip: 1.0, ClipRatioLow: 0.2, ClipRatioHigh: 0.2, EntropyCoeff: 0.001,
			PPOEpochs: 1, MicroBatch: 16, LossAggMode: "token-mean", OldLogProbs: "train", LoRARank: 16, LoRAAlpha: 32,
		},
		UhOhPatterns: append([]string(nil), DefaultUhOhPatterns...),
	}
}

// Validate reports the first inconsistent setting.
func (c *Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(len(c.TaskTypes) > 0, "task_types is empty")
	seen := map[TaskType]bool{}
	for _, t := range c.TaskTypes {
		check(t >= Deduction && t <= Induction, "task_types: unknown %v", t)
		check(!seen[t], "task_types: %v twice", t)
		seen[t] = true
	}
	check(c.BatchSize > 0, "batch_size must be > 0")
	check(c.NSamples > 0, "n_samples must be > 0")
	check(c.References >= 0, "references must be >= 0")
	check(c.NumInputs >= 2, "num_inputs must be >= 2")
	check(c.MaxPrograms > 0, "max_programs must be > 0")
	check(c.SamplesPerBatch >= 0, "samples_per_batch must be >= 0")
	check(c.SaveEvery >= 0, "save_every must be >= 0")
	check(c.PastEpochWindow >= 0, "past_epoch_window must be >= 0")
	check(c.SeedBatchFactor >= 0, "seed_batch_factor must be >= 0")
	check(c.SeedPatience >= 0, "seed_patience must be >= 0")
	check(c.KeepCheckpoints >= 0, "keep_checkpoints must be >= 0")
	check(c.ExecParallelism > 0, "exec_parallelism must be > 0")
	check(c.ExecTimeout >= time.Millisecond, "exec_timeout %v is under 1ms (write a duration such as \"500ms\"; a bare number counts nanoseconds)", c.ExecTimeout)
	check(c.ExecRetries >= 0, "exec_retries must be >= 0")
	check(c.MaxResponseLength > 0, "max_response_length must be > 0")
	check(oneOf(c.Eviction, "oldest", "uniform", "drop_new"), "eviction must be oldest, uniform or drop_new, not %q", c.Eviction)
	check(oneOf(c.RefStrategy, "uniform", "step"), "ref_strategy must be uniform or step, not %q", c.RefStrategy)
	check(oneOf(c.PredMix, "max_new", "uniform"), "pred_mix must be max_new or uniform, not %q", c.PredMix)
	check(oneOf(c.Advantage, "task_relative", "global", "per_prompt", "grpo"), "advantage must be task_relative, global, per_prompt or grpo, not %q", c.Advantage)
	check(c.RolloutN > 0, "rollout_n must be > 0")
	check(oneOf(c.Optim.OldLogProbs, "", "train", "sampler"), "optim.old_logprobs must be train or sampler, not %q", c.Optim.OldLogProbs)
	check(c.Optim.LoRARank >= 1, "optim.lora_rank must be >= 1")
	check(c.Optim.LoRAAlpha >= 0, "optim.lora_alpha must be >= 0 (0 = rank)")
	check(c.Optim.ClipRatioLow >= 0 && c.Optim.ClipRatioLow < 1, "optim.clip_ratio_low must be in [0, 1)")
	check(c.Optim.ClipRatioHigh >= 0, "optim.clip_ratio_high must be >= 0")
	if _, err := TemplateByName(c.Template); err != nil {
		errs = append(errs, err)
	}
	if err := checkPromptStyle(c.PromptStyle); err != nil {
		errs = append(errs, err)
	}
	if err := c.Parse.validate(); err != nil {
		errs = append(errs, err)
	}
	for _, p := range c.UhOhPatterns {
		if _, err := regexp.Compile(p); err != nil {
			errs = append(errs, fmt.Errorf("uhoh_patterns: %w", err))
		}
	}
	return errors.Join(errs...)
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

// SeedTarget is the number of distinct tasks the seeding phase collects per buffer (0: no seeding).
func (c *Config) SeedTarget() int { return c.BatchSize * c.SeedBatchFactor }

// sampling returns the decoding settings of trained rollouts.
func (c *Config) sampling(seed uint64) Sampling {
	return Sampling{Temperature: c.Temperature, TopP: c.TopP, TopK: c.TopK, MaxTokens: c.MaxResponseLength, Seed: seed, Stop: c.Stop}
}

// mcSampling returns the decoding settings of learnability rollouts: the
// training temperature (the paper branch), or greedy (master, Q1).
func (c *Config) mcSampling(seed uint64) Sampling {
	s := c.sampling(seed)
	if c.LearnabilityGreedy {
		s.Temperature, s.TopP, s.TopK = 0, 1, -1
	}
	return s
}
