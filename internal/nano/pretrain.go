package nano

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/azr-native/azr-native/internal/progress"
	"go.uber.org/zap"
)

// Pretraining from scratch: corpus -> tokenizer -> packed rows -> AdamW steps
// with warmup and cosine decay -> held-out loss -> checkpoints -> GGUF files.
//
// Layout of a run directory (--out):
//
//	config.json              the PretrainConfig (a rerun must match it)
//	tokenizer.json           the trained tokenizer (GGUF vocabulary form)
//	data/train.u16           training token stream (little-endian uint16 ids)
//	data/heldout.u16         held-out token stream
//	checkpoint/              model-f32.gguf, optimizer.state, state.json
//	metrics.jsonl            one line per logged step: loss, lr, held-out loss, speed
//	nano-f32.gguf            the final model, and a quantized copy
//	nano-<quant>.gguf
//	summary.json             what was trained, how long, final held-out loss
//
// Running the same command again resumes from checkpoint/ and gives the same
// final weights as a run that never stopped (same threads, CPU).

// Run directory file names.
const (
	configFile     = "config.json"
	tokenizerFile  = "tokenizer.json"
	trainTokens    = "data/train.u16"
	heldOutTokens  = "data/heldout.u16"
	checkpointDir  = "checkpoint"
	checkpointNew  = "checkpoint.new"
	checkpointOld  = "checkpoint.old"
	ckptModel      = "model-f32.gguf"
	ckptOptimizer  = "optimizer.state"
	ckptState      = "state.json"
	metricsFile    = "metrics.jsonl"
	summaryFile    = "summary.json"
	finalModelF32  = "nano-f32.gguf"
	finalModelStem = "nano-"
)

// engine is the full-parameter trainer as the driver uses it (bindings.NanoTrainer).
type engine interface {
	Step(ctx context.Context, tokens []int32, nSeq, seqLen int, weights []float32, lr float32) (float64, error)
	Loss(ctx context.Context, tokens []int32, nSeq, seqLen int, weights []float32) (float64, error)
	Save(path, quant string) error
	SaveState(path string) error
	LoadState(path string) error
	Close() error
}

// PretrainOptions name the inputs and outputs of Pretrain.
type PretrainOptions struct {
	DataDir string // holds corpus.jsonl (from `nano data`)
	OutDir  string
	Config  PretrainConfig
	Logger  *zap.Logger
	// Threads for the engine and tokenization (0: all cores). The result does
	// not depend on it: the engine's sums do not change with the split.
	Threads int
	// CheckpointEvery is the wall time between checkpoints (0: 5 minutes).
	CheckpointEvery time.Duration
	// StopAfterSteps, when > 0, stops (with a checkpoint) once this many steps
	// are done in total, as an interruption would; for tests of resume.
	StopAfterSteps int
}

// PretrainSummary is written to summary.json when a run completes.
type PretrainSummary struct {
	Config         PretrainConfig `json:"config"`
	Steps          int            `json:"steps"`
	TrainedTokens  int64          `json:"trained_tokens"`
	TrainStream    int            `json:"train_stream_tokens"`
	HeldOutStream  int            `json:"heldout_stream_tokens"`
	FirstHeldOut   float64        `json:"first_heldout_loss"`
	FinalHeldOut   float64        `json:"final_heldout_loss"`
	FinalTrainLoss float64        `json:"final_train_loss"`
	Seconds        float64        `json:"train_seconds"`
	Params         int64          `json:"params"`
	ModelF32       string         `json:"model_f32"`
	ModelQuant     string         `json:"model_quant"`
	// ReproduceTokens is the --tokens budget that repeats this run exactly
	// (a --minutes run fixes its step count from timing).
	ReproduceTokens int64 `json:"reproduce_tokens"`
}

// pretrainState is saved with every checkpoint.
type pretrainState struct {
	Step         int     `json:"step"`        // optimizer steps done
	TotalSteps   int     `json:"total_steps"` // 0 until a --minutes budget is timed
	Seconds      float64 `json:"seconds"`     // training wall time so far
	TrainLoss    float64 `json:"train_loss"`  // smoothed
	FirstHeldOut float64 `json:"first_heldout_loss"`
	LastHeldOut  float64 `json:"last_heldout_loss"`
}

// ErrStopped is returned when a run stops early (cancelled or StopAfterSteps)
// after saving a checkpoint; running again resumes.
var ErrStopped = errors.New("pretraining stopped; run the same command again to resume")

type metricLine struct {
	Step        int      `json:"step"`
	Tokens      int64    `json:"tokens"`
	LR          float64  `json:"lr"`
	Loss        float64  `json:"loss"`
	HeldOutLoss *float64 `json:"heldout_loss,omitempty"`
	TokPerSec   float64  `json:"tok_per_s"`
	Seconds     float64  `json:"seconds"`
}

// Pretrain trains (or resumes) a nano base model as described by opts.
func Pretrain(ctx context.Context, opts PretrainOptions) (*PretrainSummary, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	out := opts.OutDir
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	if err := checkOrWriteConfig(filepath.Join(out, configFile), cfg); err != nil {
		return nil, err
	}
	if sum, err := readSummary(out); err == nil {
		log.Info("pretraining already complete", zap.String("out", out), zap.Int("steps", sum.Steps),
			zap.Float64("heldout_loss", sum.FinalHeldOut), zap.String("model", sum.ModelQuant))
		return sum, nil
	}

	tok, train, heldOut, err := prepareData(ctx, opts, log)
	if err != nil {
		return nil, err
	}
	nTrainRows, nHeldRows := rowCount(train, cfg.SeqLen), rowCount(heldOut, cfg.SeqLen)
	if nTrainRows < 1 || nHeldRows < 1 {
		return nil, fmt.Errorf("pretrain: the corpus is too small for %d-token rows: %d training and %d held-out tokens (need %d of each); use more documents or a shorter --seq-len",
			cfg.SeqLen, len(train), len(heldOut), cfg.SeqLen+1)
	}
	heldRows := min(cfg.HeldOutRows, nHeldRows)
	heldBatch := make([]int32, 0, heldRows*(cfg.SeqLen+1))
	for r := 0; r < heldRows; r++ {
		heldBatch = appendRow(heldBatch, heldOut, cfg.SeqLen, r)
	}

	eng, st, err := openOrResume(ctx, opts, tok, log)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	if err := trimMetrics(filepath.Join(out, metricsFile), st.Step); err != nil {
		return nil, err
	}

	d := &driver{cfg: cfg, opts: opts, log: log, eng: eng, st: st, train: train, nRows: nTrainRows,
		heldBatch: heldBatch, heldRows: heldRows, vocabSize: tok.VocabSize()}
	if st.TotalSteps == 0 && cfg.Tokens > 0 {
		st.TotalSteps = cfg.StepsForTokens(cfg.Tokens)
	}
	log.Info("pretraining", zap.String("out", out), zap.String("size", cfg.Size), zap.Int("vocab", tok.VocabSize()),
		zap.Int("seq_len", cfg.SeqLen), zap.Int("batch_rows", cfg.BatchRows), zap.Int("train_rows", nTrainRows),
		zap.Int("heldout_rows", heldRows), zap.Int("from_step", st.Step), zap.Int("total_steps", st.TotalSteps),
		zap.Float64("minutes", cfg.Minutes))
	if err := d.loop(ctx); err != nil {
		return nil, err
	}
	return d.finish(ctx, tok, len(train), len(heldOut))
}

// checkOrWriteConfig records cfg for a new run, or insists that a rerun uses
// the same settings (a different config would not continue the same run).
func checkOrWriteConfig(path string, cfg PretrainConfig) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		js, _ := json.MarshalIndent(cfg, "", "  ")
		return writeBytesAtomic(path, append(js, '\n'))
	}
	if err != nil {
		return err
	}
	var saved PretrainConfig
	if err := json.Unmarshal(data, &saved); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !reflect.DeepEqual(saved, cfg) {
		return fmt.Errorf("%s was started with different settings (%s); rerun with the same flags to resume, or choose a new --out", filepath.Dir(path), configDiff(saved, cfg))
	}
	return nil
}

// configDiff names the JSON fields that differ.
func configDiff(a, b PretrainConfig) string {
	var ma, mb map[string]any
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	_ = json.Unmarshal(ja, &ma)
	_ = json.Unmarshal(jb, &mb)
	diff := ""
	for k, va := range ma {
		if !reflect.DeepEqual(va, mb[k]) {
			if diff != "" {
				diff += ", "
			}
			diff += fmt.Sprintf("%s: saved %v, now %v", k, va, mb[k])
		}
	}
	return diff
}

// prepareData trains the tokenizer and tokenizes the corpus once; reruns read
// the saved tokenizer and token streams.
func prepareData(ctx context.Context, opts PretrainOptions, log *zap.Logger) (*Tokenizer, []uint16, []uint16, error) {
	out, cfg := opts.OutDir, opts.Config
	tokPath := filepath.Join(out, tokenizerFile)
	trainPath, heldPath := filepath.Join(out, trainTokens), filepath.Join(out, heldOutTokens)
	if tok, err := LoadTokenizer(tokPath); err == nil {
		train, err1 := readTokens(trainPath)
		held, err2 := readTokens(heldPath)
		if err1 == nil && err2 == nil {
			return tok, train, held, nil
		}
	}
	if cfg.Init != "" {
		return reuseData(cfg.Init, out, log)
	}
	start := time.Now()
	docs, err := ReadCorpusFile(filepath.Join(opts.DataDir, CorpusFile))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pretrain data: %w (make one with `azr-native nano data --out DIR`)", err)
	}
	trainDocs, heldDocs := splitHeldOut(docs, cfg.Seed, cfg.HeldOutPercent)
	log.Info("corpus read", zap.Int("documents", len(docs)), zap.Int("train_docs", len(trainDocs)), zap.Int("heldout_docs", len(heldDocs)))
	topts := DefaultTokenizerOptions()
	topts.VocabSize, topts.MaxBytes = cfg.VocabSize, cfg.TokenizerBytes
	texts := make([]string, len(trainDocs))
	for i, d := range trainDocs {
		texts[i] = d.Text
	}
	tok, err := TrainTokenizer(ctx, texts, topts, log)
	if err != nil {
		return nil, nil, nil, err
	}
	if tok.VocabSize() < cfg.VocabSize {
		log.Warn("the corpus has too few repeated pairs for the vocabulary size asked for; the model gets the smaller vocabulary",
			zap.Int("vocab", tok.VocabSize()), zap.Int("asked", cfg.VocabSize))
	}
	train, err := tokenStream(ctx, tok, trainDocs, cfg.Seed, opts.Threads)
	if err != nil {
		return nil, nil, nil, err
	}
	held, err := tokenStream(ctx, tok, heldDocs, cfg.Seed+1, opts.Threads)
	if err != nil {
		return nil, nil, nil, err
	}
	// The tokenizer is written last: its presence marks the data as complete.
	if err := writeTokens(trainPath, train); err != nil {
		return nil, nil, nil, err
	}
	if err := writeTokens(heldPath, held); err != nil {
		return nil, nil, nil, err
	}
	if err := tok.WriteFile(tokPath); err != nil {
		return nil, nil, nil, err
	}
	var bytes int
	for _, d := range trainDocs {
		bytes += len(d.Text)
	}
	log.Info("corpus tokenized", zap.Int("train_tokens", len(train)), zap.Int("heldout_tokens", len(held)),
		zap.Float64("bytes_per_token", float64(bytes)/float64(max(len(train), 1))), zap.Duration("took", time.Since(start)))
	return tok, train, held, nil
}

// reuseData copies the tokenizer and token streams of the run being
// continued (--init), so the continuation trains on the same documents and
// measures the same held-out rows.
func reuseData(init, out string, log *zap.Logger) (*Tokenizer, []uint16, []uint16, error) {
	tok, err := LoadTokenizer(filepath.Join(init, tokenizerFile))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--init: %w", err)
	}
	train, err := readTokens(filepath.Join(init, trainTokens))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--init: %w", err)
	}
	held, err := readTokens(filepath.Join(init, heldOutTokens))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--init: %w", err)
	}
	if err := writeTokens(filepath.Join(out, trainTokens), train); err != nil {
		return nil, nil, nil, err
	}
	if err := writeTokens(filepath.Join(out, heldOutTokens), held); err != nil {
		return nil, nil, nil, err
	}
	if err := tok.WriteFile(filepath.Join(out, tokenizerFile)); err != nil {
		return nil, nil, nil, err
	}
	log.Info("reusing the tokenizer and token streams", zap.String("init", init),
		zap.Int("train_tokens", len(train)), zap.Int("heldout_tokens", len(held)))
	return tok, train, held, nil
}

// openOrResume starts a fresh model or loads the latest checkpoint.
func openOrResume(ctx context.Context, opts PretrainOptions, tok *Tokenizer, log *zap.Logger) (engine, *pretrainState, error) {
	dir, err := latestCheckpoint(opts.OutDir)
	if err != nil {
		return nil, nil, err
	}
	if dir == "" && opts.Config.Init != "" {
		eng, err := openEngine(opts.Config, filepath.Join(opts.Config.Init, finalModelF32), opts.Threads)
		if err != nil {
			return nil, nil, fmt.Errorf("--init: %w", err)
		}
		log.Info("continuing from a finished run", zap.String("init", opts.Config.Init))
		return eng, &pretrainState{}, nil
	}
	if dir == "" {
		eng, err := newEngine(opts.Config, tok, opts.Threads)
		if err != nil {
			return nil, nil, err
		}
		return eng, &pretrainState{}, nil
	}
	var st pretrainState
	data, err := os.ReadFile(filepath.Join(dir, ckptState))
	if err != nil {
		return nil, nil, fmt.Errorf("resume: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, nil, fmt.Errorf("resume: %s: %w", filepath.Join(dir, ckptState), err)
	}
	eng, err := openEngine(opts.Config, filepath.Join(dir, ckptModel), opts.Threads)
	if err != nil {
		return nil, nil, fmt.Errorf("resume: %w", err)
	}
	if err := eng.LoadState(filepath.Join(dir, ckptOptimizer)); err != nil {
		eng.Close()
		return nil, nil, fmt.Errorf("resume: %w", err)
	}
	log.Info("resuming", zap.String("checkpoint", dir), zap.Int("step", st.Step), zap.Int("total_steps", st.TotalSteps))
	return eng, &st, nil
}

// latestCheckpoint returns the checkpoint directory to resume from, "" if none.
// A crash between the two renames of saveCheckpoint leaves checkpoint.old.
func latestCheckpoint(out string) (string, error) {
	for _, name := range []string{checkpointDir, checkpointOld} {
		dir := filepath.Join(out, name)
		if _, err := os.Stat(filepath.Join(dir, ckptState)); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	return "", nil
}

type driver struct {
	cfg       PretrainConfig
	opts      PretrainOptions
	log       *zap.Logger
	eng       engine
	st        *pretrainState
	train     []uint16
	nRows     int
	heldBatch []int32
	heldRows  int
	vocabSize int
}

// loop runs optimizer steps until the budget is spent.
func (d *driver) loop(ctx context.Context) error {
	cfg, st := d.cfg, d.st
	ckptEvery := d.opts.CheckpointEvery
	if ckptEvery <= 0 {
		ckptEvery = 5 * time.Minute
	}
	lastCkpt := time.Now()
	const calibrationSteps = 4
	var calibStart time.Time
	calibFrom := -1

	var bar *progress.Tracker
	startBar := func() {
		if bar == nil && st.TotalSteps > 0 {
			bar = progress.New(d.log, "pretraining", int64(st.TotalSteps), progress.Unit("steps"))
			bar.Set(int64(st.Step))
		}
	}
	startBar()
	defer func() {
		if bar != nil {
			bar.Finish()
		}
	}()

	rows := make([]int32, 0, cfg.BatchRows*(cfg.SeqLen+1))
	if st.Step == 0 {
		loss, err := d.heldOutLoss(ctx)
		if err != nil {
			return d.stop(ctx, err)
		}
		st.FirstHeldOut, st.LastHeldOut = loss, loss
		d.log.Info("held-out loss before training", zap.Float64("loss", loss), zap.Float64("uniform", math.Log(float64(d.vocabSize))))
		if err := d.writeMetric(metricLine{Step: 0, HeldOutLoss: &loss}); err != nil {
			return err
		}
	}
	for st.TotalSteps == 0 || st.Step < st.TotalSteps {
		if d.opts.StopAfterSteps > 0 && st.Step >= d.opts.StopAfterSteps {
			return d.stop(ctx, ErrStopped)
		}
		total := st.TotalSteps
		if total == 0 {
			total = math.MaxInt32 // only warmup steps run before the budget is timed
		}
		lr := cfg.LearningRate(st.Step, total)
		rows = rows[:0]
		for _, r := range batchRows(cfg.Seed, d.nRows, cfg.BatchRows, st.Step) {
			rows = appendRow(rows, d.train, cfg.SeqLen, r)
		}
		t0 := time.Now()
		loss, err := d.eng.Step(ctx, rows, cfg.BatchRows, cfg.SeqLen, nil, float32(lr))
		if err != nil {
			return d.stop(ctx, fmt.Errorf("step %d: %w", st.Step+1, err))
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("step %d: the loss is %v; lower --lr (the last checkpoint is kept)", st.Step+1, loss)
		}
		took := time.Since(t0)
		st.Step++
		st.Seconds += took.Seconds()
		if st.Step == 1 {
			st.TrainLoss = loss
		} else {
			st.TrainLoss = 0.95*st.TrainLoss + 0.05*loss
		}

		// A --minutes budget: time a few steps after the first (which sets up
		// the graph), then fix the step count for good.
		if st.TotalSteps == 0 {
			if calibFrom < 0 {
				calibFrom, calibStart = st.Step, time.Now()
			} else if st.Step-calibFrom >= calibrationSteps {
				perStep := time.Since(calibStart).Seconds() / float64(st.Step-calibFrom)
				evalShare := float64(d.heldRows) / float64(cfg.BatchRows) / 3 / float64(cfg.EvalEvery)
				st.TotalSteps = max(st.Step+1, int(cfg.Minutes*60/(perStep*(1+evalShare))))
				d.log.Info("budget timed", zap.Float64("seconds_per_step", perStep), zap.Int("total_steps", st.TotalSteps),
					zap.Int64("equivalent_tokens", int64(st.TotalSteps)*cfg.TokensPerStep()))
				startBar()
			}
		}

		m := metricLine{Step: st.Step, Tokens: int64(st.Step) * cfg.TokensPerStep(), LR: lr, Loss: loss,
			TokPerSec: float64(cfg.TokensPerStep()) / took.Seconds(), Seconds: st.Seconds}
		if st.Step%cfg.EvalEvery == 0 || st.Step == st.TotalSteps {
			// Not cancellable: the step's update is applied already, and an
			// evaluation costs less than a step, so Ctrl-C waits for it.
			held, err := d.heldOutLoss(context.WithoutCancel(ctx))
			if err != nil {
				return err
			}
			st.LastHeldOut = held
			m.HeldOutLoss = &held
			d.log.Info("held-out loss", zap.Int("step", st.Step), zap.Float64("heldout_loss", held), zap.Float64("train_loss", st.TrainLoss))
		}
		if err := d.writeMetric(m); err != nil {
			return err
		}
		if bar != nil {
			bar.Note(fmt.Sprintf("loss %.3f", st.TrainLoss))
			bar.Set(int64(st.Step))
		}
		if time.Since(lastCkpt) >= ckptEvery {
			if err := d.saveCheckpoint(); err != nil {
				return err
			}
			lastCkpt = time.Now()
		}
	}
	return nil
}

// heldOutLoss is the mean next-token loss over the fixed held-out rows.
func (d *driver) heldOutLoss(ctx context.Context) (float64, error) {
	seq := d.cfg.SeqLen
	var sum float64
	var n int
	for r := 0; r < d.heldRows; r += d.cfg.BatchRows {
		k := min(d.cfg.BatchRows, d.heldRows-r)
		loss, err := d.eng.Loss(ctx, d.heldBatch[r*(seq+1):(r+k)*(seq+1)], k, seq, nil)
		if err != nil {
			return 0, fmt.Errorf("held-out loss: %w", err)
		}
		sum += loss * float64(k)
		n += k
	}
	return sum / float64(n), nil
}

// stop saves a checkpoint of the steps done so far, then returns why it stopped.
func (d *driver) stop(ctx context.Context, cause error) error {
	if ctx.Err() != nil || errors.Is(cause, ErrStopped) {
		if err := d.saveCheckpoint(); err != nil {
			return fmt.Errorf("%v; and the checkpoint failed: %w", cause, err)
		}
		d.log.Warn("pretraining stopped; run the same command to resume", zap.Int("step", d.st.Step),
			zap.String("checkpoint", filepath.Join(d.opts.OutDir, checkpointDir)))
		return ErrStopped
	}
	return cause
}

// saveCheckpoint writes the model, optimizer and driver state into a fresh
// directory and swaps it in, so a crash leaves the previous checkpoint whole.
func (d *driver) saveCheckpoint() error {
	out := d.opts.OutDir
	tmp := filepath.Join(out, checkpointNew)
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	if err := d.eng.Save(filepath.Join(tmp, ckptModel), "f32"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := d.eng.SaveState(filepath.Join(tmp, ckptOptimizer)); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	js, _ := json.MarshalIndent(d.st, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, ckptState), append(js, '\n'), 0o644); err != nil {
		return err
	}
	cur, old := filepath.Join(out, checkpointDir), filepath.Join(out, checkpointOld)
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if err := os.Rename(cur, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp, cur); err != nil {
		return err
	}
	d.log.Debug("checkpoint saved", zap.Int("step", d.st.Step))
	return os.RemoveAll(old)
}

func (d *driver) writeMetric(m metricLine) error {
	f, err := os.OpenFile(filepath.Join(d.opts.OutDir, metricsFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	js, _ := json.Marshal(m)
	_, err = f.Write(append(js, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// trimMetrics drops metric lines past the checkpoint a run resumes from, so
// the file reads as if the run had never stopped.
func trimMetrics(path string, step int) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var keep []byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var m metricLine
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Step <= step {
			keep = append(append(keep, sc.Bytes()...), '\n')
		}
	}
	f.Close()
	if err := sc.Err(); err != nil {
		return err
	}
	return writeBytesAtomic(path, keep)
}

// finish writes the final models and the summary, after a last checkpoint so
// a rerun knows the run is complete.
func (d *driver) finish(ctx context.Context, tok *Tokenizer, trainLen, heldLen int) (*PretrainSummary, error) {
	if err := d.saveCheckpoint(); err != nil {
		return nil, err
	}
	out, cfg := d.opts.OutDir, d.cfg
	f32 := filepath.Join(out, finalModelF32)
	quant := filepath.Join(out, finalModelStem+cfg.Quant+".gguf")
	if err := d.eng.Save(f32, "f32"); err != nil {
		return nil, err
	}
	if err := d.eng.Save(quant, cfg.Quant); err != nil {
		return nil, err
	}
	sum := &PretrainSummary{
		Config: cfg, Steps: d.st.Step, TrainedTokens: int64(d.st.Step) * cfg.TokensPerStep(),
		TrainStream: trainLen, HeldOutStream: heldLen,
		FirstHeldOut: d.st.FirstHeldOut, FinalHeldOut: d.st.LastHeldOut, FinalTrainLoss: d.st.TrainLoss,
		Seconds: d.st.Seconds, Params: paramCount(cfg.Shape, tok.VocabSize()),
		ModelF32: f32, ModelQuant: quant, ReproduceTokens: int64(d.st.Step) * cfg.TokensPerStep(),
	}
	js, _ := json.MarshalIndent(sum, "", "  ")
	if err := writeBytesAtomic(filepath.Join(out, summaryFile), append(js, '\n')); err != nil {
		return nil, err
	}
	d.log.Info("pretraining complete", zap.Int("steps", sum.Steps), zap.Int64("tokens", sum.TrainedTokens),
		zap.Float64("first_heldout_loss", sum.FirstHeldOut), zap.Float64("final_heldout_loss", sum.FinalHeldOut),
		zap.String("model", quant), zap.Duration("train_time", time.Duration(sum.Seconds*float64(time.Second))))
	return sum, nil
}

func readSummary(out string) (*PretrainSummary, error) {
	data, err := os.ReadFile(filepath.Join(out, summaryFile))
	if err != nil {
		return nil, err
	}
	var s PretrainSummary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	for _, p := range []string{s.ModelF32, s.ModelQuant} {
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

// paramCount is the number of weights of a tied-embedding Qwen2 model.
func paramCount(s ModelSize, vocab int) int64 {
	hd := s.Embd / s.Heads
	kv := s.KVHeads * hd
	perLayer := 2*s.Embd + // norms
		s.Embd*s.Embd + s.Embd + // q
		2*(s.Embd*kv+kv) + // k, v
		s.Embd*s.Embd + // o
		3*s.Embd*s.FF // gate, up, down
	return int64(vocab*s.Embd + s.Layers*perLayer + s.Embd)
}
