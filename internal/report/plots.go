package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/azr-native/azr-native/rl"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart is one plot of the report: named series over the steps.
type Chart struct {
	ID     string // HTML anchor
	Title  string
	YLabel string
	Note   string // one line under the plot: what the numbers mean
	// Bounds, when set, is the range the values live in (rates: [0, 1]); the
	// axis always shows all of it, so charts compare at a glance.
	Bounds *[2]float64
	Series []Series
}

// Series is one curve: (step, value) points in step order.
type Series struct {
	Name   string
	Points plotter.XYs
}

// batchOrder lists the six batches as metrics.jsonl names them, in the
// order a step runs them.
func batchOrder() []string {
	names := make([]string, len(rl.BatchOrder))
	for i, k := range rl.BatchOrder {
		names[i] = k.String()
	}
	return names
}

// perBatch builds one series per (task type x role) batch from f, skipping
// steps where the batch did not run (a task type switched off).
func perBatch(steps []rl.StepMetrics, f func(rl.BatchMetrics) float64) []Series {
	var out []Series
	for _, name := range batchOrder() {
		s := Series{Name: strings.ReplaceAll(name, "_", " ")}
		for _, m := range steps {
			if b, ok := m.Batches[name]; ok && b.N > 0 {
				s.add(m.Step, f(b))
			}
		}
		if len(s.Points) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// perStep builds one series from a step-level value; ok false leaves the step out.
func perStep(name string, steps []rl.StepMetrics, f func(rl.StepMetrics) (float64, bool)) Series {
	s := Series{Name: name}
	for _, m := range steps {
		if v, ok := f(m); ok {
			s.add(m.Step, v)
		}
	}
	return s
}

// add appends a finite point (NaN and infinities cannot be drawn).
func (s *Series) add(step int, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	s.Points = append(s.Points, plotter.XY{X: float64(step), Y: v})
}

func always(v float64) (float64, bool) { return v, true }

// unit is the range of shares and rates.
var unit = &[2]float64{0, 1}

// Charts derives every chart of the report from a run.
func Charts(r *Run) []Chart {
	st := r.Steps
	ratio := func(a, b float64) (float64, bool) { return a / b, b > 0 }
	charts := []Chart{
		{ID: "rewards", Bounds: &[2]float64{-1, 1}, Title: "Reward (mean per batch)", YLabel: "reward",
			Note:   "Proposer: −1 invalid or malformed, r = 1 − p̄ when solved sometimes (0 < p̄ < 1), else the trivial reward (−0.5 by default). Solver: +1 correct, −0.5 wrong, −1 malformed.",
			Series: perBatch(st, func(b rl.BatchMetrics) float64 { return b.RewardMean })},
		{ID: "accuracy", Bounds: unit, Title: "Accuracy per task type and role", YLabel: "accuracy",
			Note:   "Solver: share answered correctly. Proposer: mean learnability r = 1 − p̄ for 0 < p̄ < 1, else 0 (invalid proposals count 0).",
			Series: perBatch(st, func(b rl.BatchMetrics) float64 { return b.Accuracy })},
		{ID: "format", Bounds: unit, Title: "Format rate", YLabel: "share",
			Note:   "Share of responses in the expected format (<think>…</think><answer>…</answer> with the right blocks).",
			Series: perBatch(st, func(b rl.BatchMetrics) float64 { return b.FormatRate })},
		{ID: "valid", Bounds: unit, Title: "Valid proposals and extractable answers", YLabel: "share",
			Note:   "Proposer: share of proposals that are valid tasks (the sandbox ran them deterministically). Solver: share of answers that could be extracted.",
			Series: perBatch(st, func(b rl.BatchMetrics) float64 { return float64(b.Valid) / float64(b.N) })},
		{ID: "signal", Bounds: unit, Title: "Signal health", YLabel: "share",
			Note: "Is there anything to learn from? Learnable: proposals solved sometimes but not always (0 < p̄ < 1), the only ones with a non-zero learnability reward. Diversity: distinct programs / valid deduction and abduction proposals.",
			Series: []Series{
				perStep("valid proposal rate", st, func(m rl.StepMetrics) (float64, bool) { return always(m.Signal.ValidProposalRate) }),
				perStep("learnable share (0 < p̄ < 1)", st, func(m rl.StepMetrics) (float64, bool) { return always(m.Signal.LearnableShare) }),
				perStep("program diversity (step)", st, func(m rl.StepMetrics) (float64, bool) {
					return m.Signal.ProgramDiversity, m.Signal.ValidPrograms > 0
				}),
			}},
		{ID: "lengths", Title: "Response length (mean tokens)", YLabel: "tokens",
			Note:   "Mean response length per batch; responses that hit --max-response-length are clipped (clip ratio in the table).",
			Series: perBatch(st, func(b rl.BatchMetrics) float64 { return b.RespLenMean })},
		{ID: "buffers", Title: "Task buffers", YLabel: "tasks",
			Note:   "Tasks in each buffer after the step (valid proposals are added; the zero triplet and seeds are included).",
			Series: bufferSeries(st)},
		{ID: "time", Title: "Time per step and phase", YLabel: "seconds",
			Note:   "Propose and solve phases include generation (with learnability rollouts) and the sandbox; train is the policy update.",
			Series: secondsSeries(st)},
		{ID: "throughput", Title: "Throughput", YLabel: "tokens / s",
			Note: "Trained: tokens in the update / train seconds. Sampled: response tokens of the six batches (learnability rollouts not counted) / seconds outside training.",
			Series: []Series{
				perStep("trained tokens / s", st, func(m rl.StepMetrics) (float64, bool) {
					return ratio(float64(m.Train.Tokens), m.Seconds["train"])
				}),
				perStep("sampled tokens / s", st, func(m rl.StepMetrics) (float64, bool) {
					var toks float64
					for _, b := range m.Batches {
						toks += float64(b.N) * b.RespLenMean
					}
					return ratio(toks, m.Seconds["total"]-m.Seconds["train"])
				}),
			}},
		{ID: "update", Title: "Policy update", YLabel: "value",
			Note: "Loss, gradient norm (before clipping), mean token entropy and the PPO clip fraction of each step's single update.",
			Series: []Series{
				perStep("loss", st, func(m rl.StepMetrics) (float64, bool) { return always(m.Train.Loss) }),
				perStep("grad norm", st, func(m rl.StepMetrics) (float64, bool) { return always(m.Train.GradNorm) }),
				perStep("entropy", st, func(m rl.StepMetrics) (float64, bool) { return always(m.Train.Entropy) }),
				perStep("clip fraction", st, func(m rl.StepMetrics) (float64, bool) { return always(m.Train.ClipFrac) }),
			}},
	}
	if ev := evalSeries(r.Evals); len(ev) > 0 {
		charts = append(charts, Chart{ID: "eval", Title: "Evaluation", YLabel: "score", Bounds: unit,
			Note: "Scores of --eval-data evaluations (pass@1 on held-out tasks), step 0 being the base model.", Series: ev})
	}
	return charts
}

func bufferSeries(steps []rl.StepMetrics) []Series {
	var out []Series
	for _, typ := range rl.AllTaskTypes {
		name := typ.String()
		s := perStep(name, steps, func(m rl.StepMetrics) (float64, bool) {
			n, ok := m.Buffers[name]
			return float64(n), ok
		})
		if len(s.Points) > 0 {
			out = append(out, s)
		}
	}
	return out
}

func secondsSeries(steps []rl.StepMetrics) []Series {
	var names []string
	for _, b := range batchOrder() {
		names = append(names, b)
	}
	names = append(names, "train", "total")
	var out []Series
	for _, name := range names {
		s := perStep(strings.ReplaceAll(name, "_", " "), steps, func(m rl.StepMetrics) (float64, bool) {
			v, ok := m.Seconds[name]
			return v, ok
		})
		if len(s.Points) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// isRateKey reports whether an evaluation score is a rate (pass@k, a format rate).
func isRateKey(k string) bool {
	last := k[strings.LastIndex(k, "/")+1:]
	return strings.HasPrefix(last, "pass_at") || strings.HasSuffix(last, "rate")
}

// evalSeries makes one series per evaluation rate, sorted by name.
func evalSeries(evals []EvalPoint) []Series {
	byKey := map[string]*Series{}
	for _, e := range evals {
		for k, v := range e.Scores {
			if !isRateKey(k) {
				continue // counts such as eval/output/items belong in the table, not on a 0–1 axis
			}
			s := byKey[k]
			if s == nil {
				s = &Series{Name: k}
				byKey[k] = s
			}
			s.add(e.Step, v)
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Series, 0, len(keys))
	for _, k := range keys {
		out = append(out, *byKey[k])
	}
	return out
}

// palette: distinguishable colours (the Okabe-Ito set, readable by most
// colour-blind readers, with wine for its yellow, which is too faint on
// white), repeated with dashes when there are more series.
var palette = []color.RGBA{
	{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
	{86, 180, 233, 255}, {230, 159, 0, 255}, {0, 0, 0, 255}, {136, 34, 85, 255},
}

// sans is the plots' typeface (gonum/plot's default is a serif).
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// legendWidth is the strip right of the plot that holds the legend, so the
// legend never hides a curve.
const legendWidth = 2.1 * vg.Inch

// PNG draws the chart at the given size (inches), the legend to the right.
func (c Chart) PNG(width, height float64) (data []byte, err error) {
	// gonum/plot panics on some degenerate inputs; a report must not crash.
	defer func() {
		if r := recover(); r != nil {
			data, err = nil, fmt.Errorf("chart %q: plotting failed: %v", c.Title, r)
		}
	}()
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = "step"
	p.Y.Label.Text = c.YLabel
	p.X.Tick.Marker = integerTicks{}
	p.Add(plotter.NewGrid())
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	for _, t := range []struct {
		style *text.Style
		size  float64
	}{{&p.Title.TextStyle, 13}, {&p.X.Label.TextStyle, 11}, {&p.Y.Label.TextStyle, 11},
		{&p.X.Tick.Label, 10}, {&p.Y.Tick.Label, 10}, {&legend.TextStyle, 10}} {
		t.style.Font = font.From(sans, vg.Points(t.size))
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, s := range c.Series {
		if len(s.Points) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(s.Points)
		if err != nil {
			return nil, fmt.Errorf("chart %q, series %q: %w", c.Title, s.Name, err)
		}
		col := palette[i%len(palette)]
		line.Color, points.Color = col, col
		line.Width = vg.Points(1.5)
		if i >= len(palette) {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		points.Shape = draw.CircleGlyph{}
		points.Radius = vg.Points(2.5)
		p.Add(line, points)
		legend.Add(s.Name, line, points)
		for _, pt := range s.Points {
			lo, hi = math.Min(lo, pt.Y), math.Max(hi, pt.Y)
		}
	}
	if c.Bounds != nil {
		lo, hi = math.Min(lo, c.Bounds[0]), math.Max(hi, c.Bounds[1])
	}
	if !math.IsInf(lo, 1) {
		if hi == lo { // a flat line: show it in the middle
			d := math.Max(math.Abs(hi)/2, 0.5)
			lo, hi = lo-d, hi+d
		}
		span := hi - lo
		p.Y.Min, p.Y.Max = lo-0.04*span, hi+0.04*span
	}
	img := vgimg.New(vg.Length(width)*vg.Inch, vg.Length(height)*vg.Inch)
	canvas := draw.New(img)
	p.Draw(draw.Crop(canvas, 0, -legendWidth, 0, 0))
	// Legend entries start level with the top of the plot area, below the title.
	legend.YOffs = -vg.Points(24)
	legend.Draw(draw.Crop(canvas, canvas.Max.X-legendWidth+vg.Points(8), 0, 0, 0))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// integerTicks marks whole steps only, at most about ten of them.
type integerTicks struct{}

func (integerTicks) Ticks(min, max float64) []plot.Tick {
	lo, hi := math.Ceil(min), math.Floor(max)
	if hi < lo {
		return nil
	}
	every := math.Max(1, niceStep((hi-lo)/10))
	var ticks []plot.Tick
	for v := math.Ceil(lo/every) * every; v <= hi; v += every {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	return ticks
}

// niceStep rounds up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}
