package report

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/azr-native/azr-native/rl"
)

// Limits that keep a report of a long run readable and small.
const (
	// MaxSampleSteps is how many steps' samples the page shows (the first,
	// the last and evenly spaced ones between).
	MaxSampleSteps = 12
	// MaxUhOh is how many uh-oh flags the page lists (the most recent).
	MaxUhOh = 50
)

// ReportFile is the page Write creates in the run directory.
const ReportFile = "report.html"

// Write renders dir's run into dir/report.html and returns its path.
func Write(dir string) (string, error) {
	r, err := Load(dir)
	if err != nil {
		return "", err
	}
	return r.WriteHTML()
}

// WriteHTML renders the run into its directory's report.html (replaced
// whole, so a browser never sees half a page) and returns the path.
func (r *Run) WriteHTML() (string, error) {
	path := filepath.Join(r.Dir, ReportFile)
	tmp, err := os.CreateTemp(r.Dir, ".report-*.html")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if err := Render(tmp, r); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	// 0644: CreateTemp makes 0600, and a report is meant to be shared.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}

// page is what the template sees.
type page struct {
	Dir        string
	FirstStep  int
	LastStep   int
	NumSteps   int
	Settings   [][2]string
	ConfigJSON string
	Last       rl.StepMetrics
	LastRows   []batchRow
	Signal     rl.SignalHealth
	Charts     []chartView
	EvalKeys   []string
	EvalRows   []evalRow
	Samples    []stepSamples
	SampleNote string
	UhOhTotal  int
	UhOh       []rl.Flag
}

type batchRow struct {
	Name string
	rl.BatchMetrics
}

type chartView struct {
	Chart
	Src template.URL // data:image/png;base64,...
}

type evalRow struct {
	Step   int
	Scores []string // formatted, in EvalKeys order
}

type stepSamples struct {
	Step    int
	Open    bool
	Records []rl.SampleRecord
}

// settingsShown are the config keys worth a glance, in this order.
var settingsShown = []string{"model", "task_types", "steps", "batch_size", "n_samples", "rollout_n",
	"max_response_length", "template", "prompt_style", "references", "seed", "seed_batch_factor",
	"trivial_reward", "advantage", "train_propose", "threads"}

// Render writes the report page for r.
func Render(w io.Writer, r *Run) error {
	if len(r.Steps) == 0 {
		return fmt.Errorf("report: the run has no steps")
	}
	last := r.Steps[len(r.Steps)-1]
	p := page{Dir: r.Dir, FirstStep: r.Steps[0].Step, LastStep: last.Step, NumSteps: len(r.Steps), Last: last, Signal: last.Signal}
	for _, k := range settingsShown {
		if v, ok := r.Config[k]; ok {
			p.Settings = append(p.Settings, [2]string{k, formatSetting(v)})
		}
	}
	if r.Config != nil {
		b, _ := json.MarshalIndent(r.Config, "", "  ")
		p.ConfigJSON = string(b)
	}
	for _, name := range batchOrder() {
		if b, ok := last.Batches[name]; ok {
			p.LastRows = append(p.LastRows, batchRow{Name: strings.ReplaceAll(name, "_", " "), BatchMetrics: b})
		}
	}
	for _, c := range Charts(r) {
		if len(c.Series) == 0 {
			continue
		}
		png, err := c.PNG(7, 3.4)
		if err != nil {
			return err
		}
		p.Charts = append(p.Charts, chartView{Chart: c, Src: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))})
	}
	p.EvalKeys, p.EvalRows = EvalKeys(r.Evals), evalRows(r.Evals)
	p.Samples, p.SampleNote = pickSampleSteps(r.Samples)
	p.UhOhTotal = len(r.UhOh)
	p.UhOh = r.UhOh[max(0, len(r.UhOh)-MaxUhOh):]
	return pageTemplate.Execute(w, p)
}

func formatSetting(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ", ")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// EvalKeys lists the score names of the evaluations, sorted.
func EvalKeys(evals []EvalPoint) []string {
	seen := map[string]bool{}
	for _, e := range evals {
		for k := range e.Scores {
			seen[k] = true
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func evalRows(evals []EvalPoint) []evalRow {
	keys := EvalKeys(evals)
	rows := make([]evalRow, len(evals))
	for i, e := range evals {
		rows[i].Step = e.Step
		for _, k := range keys {
			if v, ok := e.Scores[k]; ok && v == math.Trunc(v) && !isRateKey(k) {
				rows[i].Scores = append(rows[i].Scores, fmt.Sprintf("%.0f", v)) // a count (items)
			} else if ok {
				rows[i].Scores = append(rows[i].Scores, fmt.Sprintf("%.3f", v))
			} else {
				rows[i].Scores = append(rows[i].Scores, "–")
			}
		}
	}
	return rows
}

// pickSampleSteps groups samples by step and keeps at most MaxSampleSteps
// steps: the first, the last and evenly spaced ones between.
func pickSampleSteps(recs []rl.SampleRecord) ([]stepSamples, string) {
	var groups []stepSamples
	for _, s := range recs {
		if len(groups) == 0 || groups[len(groups)-1].Step != s.Step {
			groups = append(groups, stepSamples{Step: s.Step})
		}
		g := &groups[len(groups)-1]
		g.Records = append(g.Records, s)
	}
	note := ""
	if n := len(groups); n > MaxSampleSteps {
		var kept []stepSamples
		for i := 0; i < MaxSampleSteps; i++ {
			kept = append(kept, groups[i*(n-1)/(MaxSampleSteps-1)])
		}
		groups = kept
		note = fmt.Sprintf("Samples of %d of the %d steps that have them (first, last and evenly spaced).", MaxSampleSteps, n)
	}
	if len(groups) > 0 {
		groups[len(groups)-1].Open = true
	}
	return groups, note
}

// inductionPairs shows an induction task's examples as f(input) == output.
func inductionPairs(t *rl.Task) []string {
	out := make([]string, len(t.Inputs))
	for i, in := range t.Inputs {
		out[i] = "f(" + in + ")"
		if i < len(t.Outputs) {
			out[i] += " == " + t.Outputs[i]
		}
	}
	return out
}

var funcs = template.FuncMap{
	"f3":  func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"f1":  func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"pct": func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) },
	"role": func(batch string) string {
		if strings.HasPrefix(batch, "propose") {
			return "propose"
		}
		return "solve"
	},
	"label": func(batch string) string { return strings.ReplaceAll(batch, "_", " ") },
	"pairs": inductionPairs,
}

var pageTemplate = template.Must(template.New("report").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>azr-native report: {{.Dir}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1400px; padding: 0 24px 48px; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.6em; margin: 24px 0 4px; }
h2 { font-size: 1.25em; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 16px 0 6px; }
.sub { color: #555; margin: 0 0 16px; }
nav a { margin-right: 14px; color: #0060a8; text-decoration: none; }
table { border-collapse: collapse; font-size: 0.9em; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th { background: #f4f5f7; }
td.l, th.l { text-align: left; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(640px, 1fr)); gap: 18px; }
figure { margin: 0; border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px; }
figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: 0.85em; color: #444; margin-top: 4px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
.card { border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px 14px; min-width: 150px; }
.card b { display: block; font-size: 1.4em; }
.card span { color: #555; font-size: 0.85em; }
details { border: 1px solid #e3e3e3; border-radius: 6px; padding: 6px 10px; margin: 8px 0; }
summary { cursor: pointer; font-weight: 600; }
.sample { border-top: 1px solid #eee; padding: 8px 0; }
.tag { display: inline-block; border-radius: 4px; padding: 0 6px; font-size: 0.8em; margin-right: 4px; background: #eef; }
.tag.propose { background: #e6f0fa; } .tag.solve { background: #e8f6ee; }
.tag.ok { background: #d8f3dc; } .tag.bad { background: #fde2e1; }
pre { background: #f7f7f8; border: 1px solid #eee; border-radius: 4px; padding: 6px 8px; white-space: pre-wrap; word-break: break-word; font-size: 0.82em; max-height: 320px; overflow: auto; margin: 4px 0; }
.muted { color: #666; font-size: 0.9em; }
</style>
</head>
<body>
<h1>azr-native self-play report</h1>
<p class="sub">Run <code>{{.Dir}}</code>: {{.NumSteps}} step{{if ne .NumSteps 1}}s{{end}} ({{.FirstStep}}–{{.LastStep}}).</p>
<nav><a href="#summary">Summary</a><a href="#curves">Curves</a>{{if .EvalRows}}<a href="#evaluation">Evaluation</a>{{end}}<a href="#samples">Samples</a><a href="#uhoh">Uh-oh</a><a href="#settings">Settings</a></nav>

<h2 id="summary">Summary at step {{.LastStep}}</h2>
<div class="cards">
<div class="card"><b>{{pct .Signal.ValidProposalRate}}</b><span>valid proposals</span></div>
<div class="card"><b>{{pct .Signal.LearnableShare}}</b><span>learnable (0 &lt; p̄ &lt; 1)</span></div>
{{range $t, $v := .Signal.SolveRate}}<div class="card"><b>{{pct $v}}</b><span>solved: {{$t}}</span></div>
{{end}}<div class="card"><b>{{if .Signal.ValidPrograms}}{{f3 .Signal.ProgramDiversity}}{{else}}–{{end}}</b><span>program diversity (step)</span></div>
<div class="card"><b>{{f1 .Signal.ProposerResponseLen}} / {{f1 .Signal.SolverResponseLen}}</b><span>response tokens: proposer / solver</span></div>
<div class="card"><b>{{f1 (index .Last.Seconds "total")}} s</b><span>step time (train {{f1 (index .Last.Seconds "train")}} s)</span></div>
<div class="card"><b>{{.Last.UhOh}}</b><span>uh-oh flags so far</span></div>
</div>
<table>
<tr><th class="l">batch</th><th>n</th><th>reward</th><th>accuracy</th><th>format</th><th>valid</th><th>learnable</th><th>p̄ mean</th><th>resp. tokens</th><th>clipped</th><th>prompt tokens</th><th>answer diversity</th></tr>
{{range .LastRows}}<tr><td class="l">{{.Name}}</td><td>{{.N}}</td><td>{{f3 .RewardMean}}</td><td>{{f3 .Accuracy}}</td><td>{{pct .FormatRate}}</td><td>{{.Valid}}/{{.N}}</td><td>{{if eq (role .Name) "propose"}}{{pct .Learnable}}{{else}}–{{end}}</td><td>{{if eq (role .Name) "propose"}}{{f3 .PBarMean}}{{else}}–{{end}}</td><td>{{f1 .RespLenMean}}</td><td>{{pct .ClipRatio}}</td><td>{{f1 .PromptLen}}</td><td>{{f3 .AnswerDiversity}}</td></tr>
{{end}}</table>

<h2 id="curves">Curves over the steps</h2>
<div class="grid">
{{range .Charts}}<figure id="chart-{{.ID}}"><img alt="{{.Title}}" src="{{.Src}}"><figcaption>{{.Note}}</figcaption></figure>
{{end}}</div>

{{if .EvalRows}}<h2 id="evaluation">Evaluation</h2>
<table>
<tr><th>step</th>{{range .EvalKeys}}<th>{{.}}</th>{{end}}</tr>
{{range .EvalRows}}<tr><td>{{.Step}}</td>{{range .Scores}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{end}}

<h2 id="samples">Sample proposals and solutions</h2>
{{if .SampleNote}}<p class="muted">{{.SampleNote}}</p>{{end}}
{{if not .Samples}}<p class="muted">No samples.jsonl in this run (runs write it from this version on; --samples-per-batch 0 turns it off).</p>{{end}}
{{range .Samples}}<details{{if .Open}} open{{end}}><summary>Step {{.Step}} ({{len .Records}} responses)</summary>
{{range .Records}}<div class="sample">
<span class="tag {{role .Batch}}">{{label .Batch}} #{{.Index}}</span>
{{if .Valid}}<span class="tag ok">valid</span>{{else}}<span class="tag bad">{{if eq (role .Batch) "propose"}}invalid{{else}}no answer{{end}}</span>{{end}}
{{if eq (role .Batch) "solve"}}{{if eq .Correct 1.0}}<span class="tag ok">correct</span>{{else}}<span class="tag bad">wrong</span>{{end}}{{else}}<span class="tag">p̄ {{f3 .PBar}}</span>{{end}}
<span class="tag">reward {{f3 .Reward}}</span><span class="tag">{{.Tokens}} tokens, {{.Finish}}</span>
{{with .Task}}<div class="muted">Task:</div><pre>{{.Program}}{{if .Input}}
# input: {{.Input}}{{end}}{{if .Output}}
# output: {{.Output}}{{end}}{{range pairs .}}
# {{.}}{{end}}{{if .Message}}
# message: {{.Message}}{{end}}</pre>{{end}}
{{if .Answer}}<div class="muted">Extracted answer:</div><pre>{{.Answer}}</pre>{{end}}
<div class="muted">Response{{if .Truncated}} (cut){{end}}:</div><pre>{{.Response}}</pre>
</div>
{{end}}</details>
{{end}}

<h2 id="uhoh">Uh-oh responses</h2>
{{if .UhOh}}<p class="muted">{{.UhOhTotal}} flagged response{{if ne .UhOhTotal 1}}s{{end}}{{if gt .UhOhTotal (len .UhOh)}}; the latest {{len .UhOh}} are shown{{end}}. A flag is a match of a concerning pattern (uhoh_patterns), for a person to read.</p>
<table>
<tr><th>step</th><th class="l">batch</th><th class="l">pattern</th><th class="l">context</th></tr>
{{range .UhOh}}<tr><td>{{.Step}}</td><td class="l">{{label .Batch}} #{{.Index}}</td><td class="l"><code>{{.Pattern}}</code></td><td class="l"><pre>{{.Context}}</pre></td></tr>
{{end}}</table>
{{else}}<p class="muted">No response was flagged.</p>{{end}}

<h2 id="settings">Settings</h2>
{{if .Settings}}<table>
{{range .Settings}}<tr><th class="l">{{index . 0}}</th><td class="l">{{index . 1}}</td></tr>
{{end}}</table>
<details><summary>config.json</summary><pre>{{.ConfigJSON}}</pre></details>
{{else}}<p class="muted">No config.json in this run directory.</p>{{end}}
</body>
</html>
`))
