package nano

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ModelSize is a preset shape for the nano base. Width and depth set the
// speed: a training step costs about three forward passes, and NANO-sized
// models forward ~10k tokens/s on two quiet CPU cores.
type ModelSize struct {
	Layers  int `json:"layers"`
	Embd    int `json:"embd"`
	Heads   int `json:"heads"`
	KVHeads int `json:"kv_heads"`
	FF      int `json:"ff"`
}

// Sizes are the presets of --size.
var Sizes = map[string]ModelSize{
	// test: for unit tests and smoke runs; trains at thousands of tokens/s.
	"test": {Layers: 2, Embd: 64, Heads: 4, KVHeads: 4, FF: 192},
	// micro: 1.1M weights with a 2048 vocabulary, about 3x faster per token
	// than nano: for a budget of minutes on a busy machine.
	"micro": {Layers: 4, Embd: 128, Heads: 4, KVHeads: 4, FF: 384},
	// nano: 3.9M weights with a 2048 vocabulary (3.3M of them outside the
	// embedding); a user or CI can pretrain it on two cores in about 20 minutes.
	"nano": {Layers: 4, Embd: 256, Heads: 4, KVHeads: 4, FF: 768},
	// small: 11M weights; about 3-4x slower per token than nano.
	"small": {Layers: 6, Embd: 384, Heads: 6, KVHeads: 6, FF: 1152},
}

// SizeNames lists the presets in a stable order.
func SizeNames() []string {
	names := make([]string, 0, len(Sizes))
	for n := range Sizes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PretrainConfig is everything that decides a pretraining run's result. It is
// saved in the run directory; resuming uses the saved copy.
type PretrainConfig struct {
	Size      string    `json:"size"`
	Shape     ModelSize `json:"shape"`
	VocabSize int       `json:"vocab_size"`
	// SeqLen is the length of each training row and the model's context.
	SeqLen int `json:"seq_len"`
	// BatchRows is the number of rows of SeqLen tokens in one optimizer step.
	BatchRows int `json:"batch_rows"`
	// Tokens is the training budget in tokens (rounded up to whole steps). When
	// it is 0, Minutes sets the budget: the first steps are timed and the step
	// count is fixed from them and saved, so a resumed run keeps it.
	Tokens  int64   `json:"tokens"`
	Minutes float64 `json:"minutes"`

	LR          float64 `json:"lr"`           // peak learning rate
	MinLR       float64 `json:"min_lr"`       // floor of the cosine decay
	WarmupSteps int     `json:"warmup_steps"` // linear warmup from 0
	WeightDecay float64 `json:"weight_decay"`
	Beta1       float64 `json:"beta1"`
	Beta2       float64 `json:"beta2"`
	Eps         float64 `json:"eps"`
	GradClip    float64 `json:"grad_clip"`

	// HeldOutPercent of the documents (chosen by a hash of their text and the
	// seed) never train; HeldOutRows of them measure the held-out loss every
	// EvalEvery steps.
	HeldOutPercent float64 `json:"held_out_percent"`
	HeldOutRows    int     `json:"held_out_rows"`
	EvalEvery      int     `json:"eval_every"`

	// TokenizerBytes bounds the text the tokenizer is trained on.
	TokenizerBytes int `json:"tokenizer_bytes"`

	Seed  uint64 `json:"seed"`
	Quant string `json:"quant"` // the quantized copy written beside the F32 model

	// Init, when set, is a finished pretraining run directory to continue
	// from: its F32 weights, tokenizer and token streams (so the same
	// documents and held-out rows), with a fresh optimizer and a new
	// schedule over this run's budget. Its shape, vocabulary and row length
	// are taken over (InitFrom fills them in).
	Init string `json:"init,omitempty"`
}

// InitFrom takes the model settings of the finished run in dir (its
// config.json): shape, vocabulary, row length and held-out share must be the
// same for its weights and token streams to be reused.
func (c PretrainConfig) InitFrom(dir string) (PretrainConfig, error) {
	data, err := os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		return c, fmt.Errorf("--init %s: not a pretraining run: %w", dir, err)
	}
	var base PretrainConfig
	if err := json.Unmarshal(data, &base); err != nil {
		return c, fmt.Errorf("--init %s: %w", filepath.Join(dir, configFile), err)
	}
	if _, err := os.Stat(filepath.Join(dir, finalModelF32)); err != nil {
		return c, fmt.Errorf("--init %s: the run has not finished (no %s): %w", dir, finalModelF32, err)
	}
	c.Size, c.Shape, c.VocabSize, c.SeqLen = base.Size, base.Shape, base.VocabSize, base.SeqLen
	c.HeldOutPercent, c.TokenizerBytes = base.HeldOutPercent, base.TokenizerBytes
	c.Init = dir
	return c, nil
}

// DefaultPretrainConfig is the nano preset with a 20-minute budget.
func DefaultPretrainConfig() PretrainConfig {
	return PretrainConfig{
		Size: "nano", Shape: Sizes["nano"], VocabSize: 2048, SeqLen: 768, BatchRows: 4,
		Minutes: 20,
		LR:      2e-3, MinLR: 1e-4, WarmupSteps: 20, WeightDecay: 0.1, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, GradClip: 1,
		HeldOutPercent: 2, HeldOutRows: 16, EvalEvery: 25,
		TokenizerBytes: 16 << 20,
		Seed:           1, Quant: "q8_0",
	}
}

// Validate reports the first setting that cannot work.
func (c PretrainConfig) Validate() error {
	checks := []struct {
		bad bool
		msg string
	}{
		{c.Shape.Layers < 1 || c.Shape.Embd < 8 || c.Shape.Heads < 1 || c.Shape.KVHeads < 1 || c.Shape.FF < 1,
			fmt.Sprintf("shape %+v: every dimension must be positive", c.Shape)},
		{c.Shape.Embd%max(c.Shape.Heads, 1) != 0, fmt.Sprintf("width %d is not a multiple of %d heads", c.Shape.Embd, c.Shape.Heads)},
		{c.Shape.Heads%max(c.Shape.KVHeads, 1) != 0, fmt.Sprintf("%d heads are not a multiple of %d KV heads", c.Shape.Heads, c.Shape.KVHeads)},
		{c.VocabSize < 260 || c.VocabSize > 65535, fmt.Sprintf("vocab size %d must be in 260..65535", c.VocabSize)},
		{c.SeqLen < 8, fmt.Sprintf("sequence length %d is below 8", c.SeqLen)},
		{c.BatchRows < 1, fmt.Sprintf("batch rows %d must be at least 1", c.BatchRows)},
		{c.Tokens < 0 || c.Minutes < 0, "the budget (--tokens, --minutes) cannot be negative"},
		{c.Tokens == 0 && c.Minutes == 0, "no budget: give --tokens or --minutes"},
		{!(c.LR > 0) || c.MinLR < 0 || c.MinLR > c.LR, fmt.Sprintf("learning rates lr=%g min_lr=%g: need 0 <= min_lr <= lr, lr > 0", c.LR, c.MinLR)},
		{c.WarmupSteps < 0, "warmup steps cannot be negative"},
		{c.HeldOutPercent <= 0 || c.HeldOutPercent >= 50, fmt.Sprintf("held-out percent %g must be in (0, 50)", c.HeldOutPercent)},
		{c.HeldOutRows < 1 || c.EvalEvery < 1, "held-out rows and eval interval must be at least 1"},
		{c.Quant == "" || strings.EqualFold(c.Quant, "f32"), fmt.Sprintf("quantized copy type %q: name one such as q8_0", c.Quant)},
	}
	for _, ch := range checks {
		if ch.bad {
			return fmt.Errorf("pretrain config: %s", ch.msg)
		}
	}
	return nil
}

// TokensPerStep is the number of predicted tokens in one optimizer step.
func (c PretrainConfig) TokensPerStep() int64 { return int64(c.BatchRows) * int64(c.SeqLen) }

// StepsForTokens is the number of steps that covers n tokens.
func (c PretrainConfig) StepsForTokens(n int64) int {
	per := c.TokensPerStep()
	return int((n + per - 1) / per)
}

// LearningRate is the rate of step s (0-based) of total: linear warmup from
// zero, then cosine decay to MinLR at the last step.
func (c PretrainConfig) LearningRate(step, total int) float64 {
	if step < c.WarmupSteps {
		return c.LR * float64(step+1) / float64(c.WarmupSteps)
	}
	span := total - c.WarmupSteps
	if span <= 1 {
		return c.LR
	}
	progress := float64(step-c.WarmupSteps) / float64(span-1)
	if progress > 1 {
		progress = 1
	}
	return c.MinLR + 0.5*(c.LR-c.MinLR)*(1+math.Cos(math.Pi*progress))
}
