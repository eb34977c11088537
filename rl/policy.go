package rl

import (
	"context"

	"github.com/azr-native/azr-native/sandbox"
)

// Sampling holds the decoding settings of one generation request.
type Sampling struct {
	Temperature float32  `json:"temperature"` // 0 means greedy
	TopP        float32  `json:"top_p"`       // 1 means off
	TopK        int      `json:"top_k"`       // <= 0 means off
	MaxTokens   int      `json:"max_tokens"`  // response length cap
	Seed        uint64   `json:"seed"`        // drawn from the trainer's RNG, so runs repeat; the N samples of a request derive distinct streams from it
	Stop        []string `json:"stop,omitempty"`
}

// GenRequest asks for N samples continuing one prompt. N samples of one prompt
// share the prompt's prefix, which a batched engine computes once; the
// learnability rollouts are requested this way.
type GenRequest struct {
	Prompt   string
	N        int
	Sampling Sampling
}

// Sample is one generated continuation.
type Sample struct {
	Tokens   []int32   // response tokens only
	LogProbs []float32 // log π(token) under the sampling policy, one per response token
	Text     string    // the decoded response, without special tokens
	Finish   string    // "stop", "length", ...
}

// GenResult answers one GenRequest.
type GenResult struct {
	PromptTokens []int32
	Samples      []Sample // N of them
}

// TrainSequence is one trained sequence. Tokens is prompt followed by
// response; Tokens[ResponseStart:] is the response. Advantages and
// OldLogProbs have one entry per token of Tokens and are 0 on the prompt.
type TrainSequence struct {
	Tokens        []int32
	ResponseStart int
	Advantages    []float32
	OldLogProbs   []float32
}

// TrainStats reports one optimizer update.
type TrainStats struct {
	Loss        float64 `json:"loss"`
	GradNorm    float64 `json:"grad_norm"`
	Entropy     float64 `json:"entropy"`
	ClipFrac    float64 `json:"clip_frac"`
	Tokens      int     `json:"tokens"`
	Skipped     bool    `json:"skipped"` // the engine skipped a non-finite update
	LearnRate   float64 `json:"lr"`
	DurationSec float64 `json:"duration_s"`
}

// Policy is the model as the self-play loop sees it. The native engine
// implements it; tests use scripted doubles.
type Policy interface {
	// Generate answers every request (len(result) == len(reqs), each with N samples).
	Generate(ctx context.Context, reqs []GenRequest) ([]GenResult, error)
	// TrainStep makes ONE optimizer update over the whole batch (docs/TRAINING.md).
	TrainStep(ctx context.Context, batch []TrainSequence) (TrainStats, error)
	// SaveState writes the adapter and optimizer state into dir (which exists and is empty);
	// LoadState restores them.
	SaveState(dir string) error
	LoadState(dir string) error
}

// OptimConfigurable is implemented by policies that accept the optimizer
// settings from the trainer's Config. NewTrainer calls SetOptim once, so the
// Config is the single source of truth for learning rate, betas, clipping, ...
type OptimConfigurable interface {
	SetOptim(OptimConfig) error
}

// TokenCounter is implemented by policies that can count prompt tokens
// without generating. When present, proposer prompts longer than
// Config.ContentMaxLength are redrawn and solver/MC prompts over
// Config.MaxPromptLength are skipped (docs/AZR.md §2.1, §4.3).
type TokenCounter interface {
	CountTokens(text string) (int, error)
}

// Executor is what the loop needs from the Python sandbox. *sandbox.Pool
// implements it; arithmetic tests use doubles. Model output is never
// evaluated in Go: every correctness verdict comes from these calls.
type Executor interface {
	// Validate checks a proposed program on its inputs (syntax, banned modules,
	// determinism, output size, one line) and returns the outputs and imports.
	Validate(ctx context.Context, program string, inputs []string) (sandbox.Validation, error)
	// ValidateInputs is Validate without the module policy, for inputs to a
	// program that comes from the buffers (an induction proposal): the
	// reference validates those runs with an empty banned list.
	ValidateInputs(ctx context.Context, program string, inputs []string) (sandbox.Validation, error)
	// CheckOutput: deduction, predicted == gold as Python values.
	CheckOutput(ctx context.Context, gold, predicted string) (bool, error)
	// CheckInput: abduction, gold == f(predictedInput).
	CheckInput(ctx context.Context, program string, imports []string, gold, predictedInput string) (bool, error)
	// CheckProgram: induction, outputs[n] == f(inputs[n]) for every n.
	CheckProgram(ctx context.Context, program string, imports []string, inputs, outputs []string) (bool, error)
}
