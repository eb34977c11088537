package bindings

import (
	"context"
	"fmt"
	"math/rand"
	"syscall"
	"time"
)

// BenchTrainOptions configure BenchTrain. Zero values take the defaults noted.
type BenchTrainOptions struct {
	Seqs          int      // sequences per step; default 8
	Tokens        int      // tokens per sequence; default 128
	ResponseStart int      // first trained token; default Tokens/4
	Rank          int      // LoRA rank; default 16
	Projections   []string // default all
	Threads       int      // default: the model's
	Steps         int      // measured train steps; default 2
	MicroBatch    int      // default: whole batch
	WTType        string   // see TrainOptions.WTType
	HeadChunk     int      // see TrainOptions.HeadChunk
	// ForceScheduler times the backend-scheduler path (the GPU path's
	// graph) even when every weight is on the CPU; see TrainOptions.
	ForceScheduler bool
	Seed           int64
}

// BenchTrainResult reports BenchTrain's measurements.
type BenchTrainResult struct {
	Seqs             int     `json:"seqs"`
	Tokens           int     `json:"tokens_per_seq"`
	TrainedTokens    int64   `json:"trained_tokens_per_step"`
	Threads          int     `json:"threads"`
	Rank             int     `json:"rank"`
	AdapterParams    int64   `json:"adapter_params"`
	SetupSeconds     float64 `json:"setup_seconds"`   // trainer creation (transposed weights)
	ForwardSeconds   float64 `json:"forward_seconds"` // forward-only log-probs of the batch (best of runs)
	StepSeconds      float64 `json:"step_seconds"`    // one train step (best of runs)
	StepOverForward  float64 `json:"step_over_forward"`
	StepTokensPerSec float64 `json:"step_tokens_per_sec"` // rows (seqs x tokens) per second of a train step
	FwdTokensPerSec  float64 `json:"forward_tokens_per_sec"`
	PeakRSSMiB       float64 `json:"peak_rss_mib"` // of the whole process (getrusage)
	Loss             float64 `json:"loss"`
	GradNorm         float64 `json:"grad_norm"`
}

// BenchTrain measures a train step against a forward-only pass of the same
// batch on m (random tokens, a fresh adapter, random advantages).
func BenchTrain(m *Model, o BenchTrainOptions) (BenchTrainResult, error) {
	if o.Seqs == 0 {
		o.Seqs = 8
	}
	if o.Tokens == 0 {
		o.Tokens = 128
	}
	if o.ResponseStart == 0 {
		o.ResponseStart = o.Tokens / 4
	}
	if o.Rank == 0 {
		o.Rank = 16
	}
	if o.Steps == 0 {
		o.Steps = 2
	}
	if o.Seqs < 1 || o.Tokens < 2 || o.Steps < 1 || o.ResponseStart < 1 || o.ResponseStart >= o.Tokens {
		return BenchTrainResult{}, &Error{Code: CodeInvalidArg, Msg: fmt.Sprintf("bench train: bad options %+v", o)}
	}
	a, err := m.NewAdapter(LoRAOptions{Rank: o.Rank, Projections: o.Projections, Seed: uint64(o.Seed) + 1})
	if err != nil {
		return BenchTrainResult{}, err
	}
	defer a.Close()
	t0 := time.Now()
	tr, err := a.NewTrainer(TrainOptions{Threads: o.Threads, LR: 1e-5, MicroBatch: o.MicroBatch, WTType: o.WTType, HeadChunk: o.HeadChunk,
		ForceScheduler: o.ForceScheduler})
	if err != nil {
		return BenchTrainResult{}, err
	}
	defer tr.Close()
	res := BenchTrainResult{Seqs: o.Seqs, Tokens: o.Tokens, Threads: o.Threads, Rank: o.Rank, AdapterParams: a.Info().Params,
		SetupSeconds: time.Since(t0).Seconds()}
	if res.Threads == 0 {
		res.Threads = -1 // the model's
	}
	rng := rand.New(rand.NewSource(o.Seed))
	vocab := m.Info().Vocab
	batch := make([]TrainSeq, o.Seqs)
	seqs := make([][]int32, o.Seqs)
	for i := range batch {
		toks := make([]int32, o.Tokens)
		for j := range toks {
			toks[j] = int32(rng.Intn(vocab))
		}
		adv := make([]float32, o.Tokens)
		for j := range adv {
			adv[j] = float32(rng.NormFloat64())
		}
		batch[i] = TrainSeq{Tokens: toks, ResponseStart: o.ResponseStart, Advantages: adv}
		seqs[i] = toks
	}
	best := func(f func() error) (float64, error) {
		b := 0.0
		for i := 0; i < o.Steps; i++ {
			s := time.Now()
			if err := f(); err != nil {
				return 0, err
			}
			if d := time.Since(s).Seconds(); i == 0 || d < b {
				b = d
			}
		}
		return b, nil
	}
	if res.ForwardSeconds, err = best(func() error { _, err := tr.LogProbs(seqs); return err }); err != nil {
		return res, err
	}
	if res.StepSeconds, err = best(func() error {
		r, err := tr.Step(context.Background(), batch)
		res.Loss, res.GradNorm, res.TrainedTokens = r.Loss, r.GradNorm, r.Tokens
		return err
	}); err != nil {
		return res, err
	}
	rows := float64(o.Seqs * o.Tokens)
	res.StepOverForward = res.StepSeconds / res.ForwardSeconds
	res.StepTokensPerSec = rows / res.StepSeconds
	res.FwdTokensPerSec = rows / res.ForwardSeconds
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.PeakRSSMiB = float64(ru.Maxrss) / 1024
	}
	return res, nil
}
