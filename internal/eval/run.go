package eval

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"github.com/azr-native/azr-native/internal/parallel"
	"github.com/azr-native/azr-native/internal/progress"
	"github.com/azr-native/azr-native/rl"
	"go.uber.org/zap"
)

// Generator samples continuations of prompts. rl.Policy (the live policy of
// a run) and engine.Generator (a model with an optional adapter) implement it.
type Generator interface {
	Generate(ctx context.Context, reqs []rl.GenRequest) ([]rl.GenResult, error)
}

// Options configure Run. Exactly one of Generator and Responses is set.
type Options struct {
	Data *Dataset
	Exec Executor

	// Generator samples Samples responses per item...
	Generator Generator
	// ...or Responses gives them, by item id (every item needs at least one;
	// a leading template prefill such as "<think>" is accepted and dropped).
	Responses Responses

	// Template, PromptStyle and Parse are the run's (rl.Config.PromptTemplate,
	// PromptStyle and Parse): the prompts and parsing self-play used. Zero
	// values mean r1, full and rl.DefaultParseOptions.
	Template    rl.Template
	PromptStyle string
	Parse       rl.ParseOptions

	Samples     int     // responses sampled per item; 0 = 1
	Temperature float32 // 0 = greedy
	TopP        float32 // 0 or 1 = off
	TopK        int     // <= 0 = off
	MaxTokens   int     // response length cap; 0 = 1024
	Stop        []string
	Seed        uint64 // with the item id, sets each item's sampling streams
	// MaxPromptTokens skips (and counts as failed, with a reason) items whose
	// prompt is longer, when the generator can count tokens; 0 = no limit.
	MaxPromptTokens int

	Ks       []int // pass@k to report; nil = DefaultKs(samples)
	Batch    int   // items per Generate call; 0 = 8
	Parallel int   // concurrent sandbox checks; 0 = 4
	Retries  int   // executor retries (not program retries)
	Logger   *zap.Logger
}

// ItemResult is the verdict on one item.
type ItemResult struct {
	ID      string         `json:"id"`
	Line    int            `json:"line"`
	N       int            `json:"n"`       // responses judged
	Correct int            `json:"correct"` // of them, correct
	PassAt1 float64        `json:"pass_at_1"`
	Skipped string         `json:"skipped,omitempty"` // why no response was judged (counted as failed)
	Samples []SampleResult `json:"samples"`
}

// Summary is the score of a dataset.
type Summary struct {
	Task        Task               `json:"task"`
	Data        string             `json:"data"`
	Source      string             `json:"source"` // "model" or "responses"
	Items       int                `json:"items"`  // items scored (every usable row)
	BadRows     []RowError         `json:"bad_rows,omitempty"`
	Samples     int                `json:"samples"` // responses per item (the fewest, when given responses vary)
	PassAt1     float64            `json:"pass_at_1"`
	PassAtK     map[string]float64 `json:"pass_at_k"` // k -> mean unbiased pass@k
	FormatRate  float64            `json:"format_rate"`
	AnswerRate  float64            `json:"answer_rate"` // responses with an extractable answer
	ExecErrors  int                `json:"exec_errors"` // responses the executor could not judge (counted wrong)
	TooLong     int                `json:"prompt_too_long,omitempty"`
	Temperature float32            `json:"temperature"`
	Seconds     float64            `json:"seconds"`
}

func (o *Options) withDefaults() (Options, error) {
	c := *o
	switch {
	case c.Data == nil || len(c.Data.Items) == 0:
		return c, errors.New("eval: no items to evaluate")
	case c.Exec == nil:
		return c, errors.New("eval: no executor (sandbox)")
	case c.Generator == nil && c.Responses == nil:
		return c, errors.New("eval: give a generator (model) or responses")
	case c.Generator != nil && c.Responses != nil:
		return c, errors.New("eval: give a generator (model) or responses, not both")
	case c.Samples < 0 || c.MaxTokens < 0 || c.Batch < 0 || c.Parallel < 0:
		return c, fmt.Errorf("eval: negative setting (samples %d, max tokens %d, batch %d, parallel %d)", c.Samples, c.MaxTokens, c.Batch, c.Parallel)
	case c.Temperature < 0:
		return c, fmt.Errorf("eval: temperature %g < 0", c.Temperature)
	}
	if c.Template.Name == "" {
		c.Template = rl.TemplateR1
	}
	if c.Parse.CodeFence == "" {
		c.Parse = rl.DefaultParseOptions()
	}
	if c.Samples == 0 {
		c.Samples = 1
	}
	if c.MaxTokens == 0 {
		c.MaxTokens = 1024
	}
	if c.Batch == 0 {
		c.Batch = 8
	}
	if c.Parallel == 0 {
		c.Parallel = 4
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c, nil
}

// ItemSeed is the sampling seed of an item: the run's seed mixed with the
// item's id, so an item's samples do not depend on which other items are
// evaluated or in what order. Never 0.
func ItemSeed(seed uint64, id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	x := seed ^ h.Sum64()
	// splitmix64 finalizer
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	if x == 0 {
		x = 1
	}
	return x
}

// Run evaluates every item of o.Data: it samples responses (or takes the
// given ones), judges each in the sandbox and summarizes. The results are in
// item order and depend only on the inputs and the seed.
func Run(ctx context.Context, o Options) (Summary, []ItemResult, error) {
	opts, err := o.withDefaults()
	if err != nil {
		return Summary{}, nil, err
	}
	ds := opts.Data
	start := time.Now()
	sum := Summary{Task: ds.Task, Data: ds.Name, Items: len(ds.Items), BadRows: ds.Bad, Temperature: opts.Temperature, Source: "model"}
	results := make([]ItemResult, len(ds.Items))
	for i := range ds.Items {
		results[i] = ItemResult{ID: ds.Items[i].ID, Line: ds.Items[i].Line}
	}
	if opts.Responses != nil {
		sum.Source = "responses"
		if err := opts.takeResponses(results); err != nil {
			return sum, nil, err
		}
	}
	scorer := &Scorer{Exec: opts.Exec, Template: opts.Template, Parse: opts.Parse, Retries: opts.Retries}
	bar := progress.New(opts.Logger, "eval "+string(ds.Task), int64(len(ds.Items)), progress.Unit("items"))
	defer bar.Finish()
	for lo := 0; lo < len(ds.Items); lo += opts.Batch {
		hi := min(lo+opts.Batch, len(ds.Items))
		if opts.Generator != nil {
			if err := opts.generate(ctx, results, lo, hi, &sum); err != nil {
				return sum, nil, err
			}
		}
		if err := opts.score(ctx, scorer, results, lo, hi); err != nil {
			return sum, nil, err
		}
		bar.Set(int64(hi))
	}
	summarize(&sum, results, opts.Ks)
	sum.Seconds = time.Since(start).Seconds()
	opts.Logger.Info("eval done", zap.String("task", string(ds.Task)), zap.String("data", ds.Name),
		zap.Int("items", sum.Items), zap.Int("samples", sum.Samples), zap.Float64("pass_at_1", sum.PassAt1),
		zap.Int("bad_rows", len(ds.Bad)), zap.Int("exec_errors", sum.ExecErrors), zap.Float64("seconds", sum.Seconds))
	return sum, results, nil
}

// takeResponses fills results from the given responses; an item without one
// is an error naming it (a missing response is never scored as a silent zero).
func (o *Options) takeResponses(results []ItemResult) error {
	var missing []string
	known := map[string]bool{}
	for i := range results {
		id := results[i].ID
		known[id] = true
		rs := o.Responses[id]
		if len(rs) == 0 {
			missing = append(missing, id)
			continue
		}
		for _, r := range rs {
			if t := strings.TrimSpace(r); o.Template.Prefill != "" && strings.HasPrefix(t, o.Template.Prefill) {
				r = strings.TrimPrefix(t, o.Template.Prefill)
			}
			results[i].Samples = append(results[i].Samples, SampleResult{Response: r})
		}
	}
	if len(missing) > 0 {
		show := missing
		if len(show) > 10 {
			show = show[:10]
		}
		return fmt.Errorf("responses: no response for %d of %d items: %s%s", len(missing), len(results),
			strings.Join(show, ", "), map[bool]string{true: ", ...", false: ""}[len(missing) > len(show)])
	}
	var extra []string
	for id := range o.Responses {
		if !known[id] {
			extra = append(extra, id)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		o.Logger.Warn("responses for ids that are not items of the data (unknown, or rows skipped as bad)",
			zap.Int("count", len(extra)), zap.Strings("first", extra[:min(len(extra), 10)]))
	}
	return nil
}

// generate samples the responses of items lo..hi-1.
func (o *Options) generate(ctx context.Context, results []ItemResult, lo, hi int, sum *Summary) error {
	ds := o.Data
	counter, _ := o.Generator.(rl.TokenCounter)
	var reqs []rl.GenRequest
	var idx []int
	for i := lo; i < hi; i++ {
		prompt := o.Template.Render(PromptText(ds.Task, &ds.Items[i], o.PromptStyle))
		if counter != nil && o.MaxPromptTokens > 0 {
			n, err := counter.CountTokens(prompt)
			if err != nil {
				return fmt.Errorf("eval: counting prompt tokens of item %s: %w", ds.Items[i].ID, err)
			}
			if n > o.MaxPromptTokens {
				results[i].Skipped = fmt.Sprintf("prompt has %d tokens, over the %d-token limit", n, o.MaxPromptTokens)
				results[i].N = o.Samples // counted as failed samples
				sum.TooLong++
				o.Logger.Warn("eval item skipped: prompt too long", zap.String("id", ds.Items[i].ID), zap.Int("tokens", n), zap.Int("limit", o.MaxPromptTokens))
				continue
			}
		}
		reqs = append(reqs, rl.GenRequest{Prompt: prompt, N: o.Samples, Sampling: rl.Sampling{
			Temperature: o.Temperature, TopP: o.TopP, TopK: o.TopK, MaxTokens: o.MaxTokens,
			Seed: ItemSeed(o.Seed, ds.Items[i].ID), Stop: o.Stop,
		}})
		idx = append(idx, i)
	}
	if len(reqs) == 0 {
		return nil
	}
	out, err := o.Generator.Generate(ctx, reqs)
	if err != nil {
		return fmt.Errorf("eval: generate: %w", err)
	}
	if len(out) != len(reqs) {
		return fmt.Errorf("eval: generate returned %d results for %d prompts", len(out), len(reqs))
	}
	for j, i := range idx {
		if len(out[j].Samples) != o.Samples {
			return fmt.Errorf("eval: generate returned %d samples for item %s, want %d", len(out[j].Samples), ds.Items[i].ID, o.Samples)
		}
		for _, s := range out[j].Samples {
			results[i].Samples = append(results[i].Samples, SampleResult{
				Response: s.Text, Tokens: len(s.Tokens), PromptTokens: len(out[j].PromptTokens), Finish: s.Finish,
			})
		}
	}
	return nil
}

// score judges the samples of items lo..hi-1 in the sandbox; identical
// responses to one item are judged once.
func (o *Options) score(ctx context.Context, s *Scorer, results []ItemResult, lo, hi int) error {
	type job struct{ item, sample int }
	var jobs []job
	type sameAs struct{ item, sample, first int }
	var dups []sameAs
	for i := lo; i < hi; i++ {
		first := map[string]int{}
		for j, smp := range results[i].Samples {
			if f, ok := first[smp.Response]; ok {
				dups = append(dups, sameAs{i, j, f})
				continue
			}
			first[smp.Response] = j
			jobs = append(jobs, job{i, j})
		}
	}
	err := parallel.For(ctx, len(jobs), o.Parallel, func(k int) error {
		jb := jobs[k]
		smp := &results[jb.item].Samples[jb.sample]
		v, err := s.Score(ctx, o.Data.Task, &o.Data.Items[jb.item], smp.Response)
		if err != nil {
			return err
		}
		v.Tokens, v.PromptTokens, v.Finish = smp.Tokens, smp.PromptTokens, smp.Finish
		*smp = v
		return nil
	})
	if err != nil {
		return fmt.Errorf("eval: scoring: %w", err)
	}
	for _, d := range dups {
		smp := &results[d.item].Samples[d.sample]
		v := results[d.item].Samples[d.first]
		v.Tokens, v.PromptTokens, v.Finish = smp.Tokens, smp.PromptTokens, smp.Finish
		*smp = v
	}
	for i := lo; i < hi; i++ {
		r := &results[i]
		if r.Skipped != "" {
			continue
		}
		r.N, r.Correct = len(r.Samples), 0
		for _, smp := range r.Samples {
			if smp.Correct {
				r.Correct++
			}
		}
		r.PassAt1 = float64(r.Correct) / float64(r.N)
	}
	return nil
}

// summarize fills the scores of sum from the item results.
func summarize(sum *Summary, results []ItemResult, ks []int) {
	counts := make([][2]int, 0, len(results))
	minN, samples, formatted, parsed := 0, 0, 0.0, 0
	for i, r := range results {
		counts = append(counts, [2]int{r.N, r.Correct})
		if i == 0 || r.N < minN {
			minN = r.N
		}
		for _, smp := range r.Samples {
			samples++
			formatted += smp.Format
			if smp.Parsed {
				parsed++
			}
			if smp.ExecError != "" {
				sum.ExecErrors++
			}
		}
	}
	sum.Samples = minN
	if ks == nil {
		ks = DefaultKs(minN)
	}
	sum.PassAtK = map[string]float64{}
	for _, k := range sortedKs(ks, minN) {
		sum.PassAtK[kKey(k)] = passAtKMean(counts, k)
	}
	sum.PassAt1 = passAtKMean(counts, 1)
	if samples > 0 {
		sum.FormatRate = formatted / float64(samples)
		sum.AnswerRate = float64(parsed) / float64(samples)
	}
}
