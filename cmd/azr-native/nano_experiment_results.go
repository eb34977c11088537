package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot/plotter"

	"github.com/azr-native/azr-native/internal/report"
)

// experimentResults is everything the experiment measured (OUT/results.json).
type experimentResults struct {
	Steps     int                `json:"steps"`
	EvalEvery int                `json:"eval_every"`
	EvalLimit int                `json:"eval_limit"`
	Seed      uint64             `json:"seed"`
	BaseRun   string             `json:"base_run"`
	Evals     string             `json:"evals"`
	RunArgs   []string           `json:"run_args"`
	Base      map[string]float64 `json:"base"`
	Arms      []armResult        `json:"arms"`
	Control   *controlResult     `json:"control,omitempty"`
	Commands  []string           `json:"commands"`
}

// meanScore is the unweighted mean over the three task types.
func meanScore(s map[string]float64) float64 {
	var sum float64
	for _, t := range experimentTasks {
		sum += s[t]
	}
	return sum / float64(len(experimentTasks))
}

func (a armResult) final() map[string]float64 {
	last := -1
	for s := range a.Evals {
		last = max(last, s)
	}
	return a.Evals[last]
}

// verdict states the goal and the ablations' order against the numbers.
func (r *experimentResults) verdict() []string {
	finals := map[string]float64{}
	for _, a := range r.Arms {
		finals[a.Name] = meanScore(a.final())
	}
	base := meanScore(r.Base)
	var out []string
	if full, ok := finals["full"]; ok {
		d := 100 * (full - base)
		met := "met"
		if d < 10 {
			met = fmt.Sprintf("missed by %.1f points", 10-d)
		}
		out = append(out, fmt.Sprintf("Self-play (full) changed the mean held-out pass@1 by %+.1f points (%.1f%% -> %.1f%%); the goal of +10 points is %s.", d, 100*base, 100*full, met))
		for _, ab := range []string{"no-induction", "frozen-proposer"} {
			if v, ok := finals[ab]; ok {
				rel := "equal to"
				if full > v {
					rel = "above"
				} else if full < v {
					rel = "below"
				}
				out = append(out, fmt.Sprintf("full (%.1f%%) is %s %s (%.1f%%).", 100*full, rel, ab, 100*v))
			}
		}
		if r.Control != nil {
			c := meanScore(r.Control.Eval)
			rel := "beats"
			if full < c {
				rel = "trails"
			} else if full == c {
				rel = "ties"
			}
			out = append(out, fmt.Sprintf("The pretraining control (%.1f minutes of training, %d more supervised steps) reached %.1f%% (%+.1f points over the base); full self-play %s it (%+.1f points).",
				r.Control.Minutes, r.Control.Steps, 100*c, 100*(c-base), rel, 100*(full-c)))
		}
	}
	return out
}

// writeExperimentResults writes results.json, EXPERIMENT.md and the plots
// into out and returns the document's path.
func writeExperimentResults(out string, r *experimentResults) (string, error) {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return "", err
	}
	plots, err := writeExperimentPlots(out, r)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	pct := func(v float64) string { return fmt.Sprintf("%.1f", 100*v) }
	row := func(name string, s map[string]float64, extra string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | **%s** | %s |\n", name, pct(s["deduction"]), pct(s["abduction"]), pct(s["induction"]), pct(meanScore(s)), extra)
	}
	base := meanScore(r.Base)
	fmt.Fprintf(&b, "# Results: does self-play improve the nano base?\n\n")
	for _, v := range r.verdict() {
		fmt.Fprintf(&b, "- %s\n", v)
	}
	fmt.Fprintf(&b, "\nHeld-out pass@1 (%%, greedy) on %s", r.Evals)
	if r.EvalLimit > 0 {
		fmt.Fprintf(&b, " (first %d items of each file)", r.EvalLimit)
	}
	fmt.Fprintf(&b, ", after %d self-play steps:\n\n", r.Steps)
	fmt.Fprintf(&b, "| model | deduction | abduction | induction | mean | vs base |\n|---|---|---|---|---|---|\n")
	row("base", r.Base, "")
	for _, a := range r.Arms {
		f := a.final()
		row(a.Name, f, fmt.Sprintf("%+.1f", 100*(meanScore(f)-base)))
	}
	if r.Control != nil {
		row(controlArm, r.Control.Eval, fmt.Sprintf("%+.1f", 100*(meanScore(r.Control.Eval)-base)))
	}
	fmt.Fprintf(&b, "\nArms: ")
	for i, a := range r.Arms {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "**%s**: %s", a.Name, a.What)
	}
	if r.Control != nil {
		fmt.Fprintf(&b, "; **%s**: supervised pretraining continued from the base (budget %s, %.1f minutes of training): %d steps, %d tokens, lr %g, held-out loss %.3f -> %.3f",
			controlArm, r.Control.Budget, r.Control.Minutes, r.Control.Steps, r.Control.Tokens, r.Control.LR, r.Control.HeldOutLoss[0], r.Control.HeldOutLoss[1])
	}
	b.WriteString(".\n\nThe share of answers in the expected form (`<think>…</think><answer>…</answer>`), same evaluations:\n\n")
	fmt.Fprintf(&b, "| model | deduction | abduction | induction |\n|---|---|---|---|\n")
	frow := func(name string, s map[string]float64) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, pct(s[formatKey("deduction")]), pct(s[formatKey("abduction")]), pct(s[formatKey("induction")]))
	}
	frow("base", r.Base)
	for _, a := range r.Arms {
		frow(a.Name, a.final())
	}
	if r.Control != nil {
		frow(controlArm, r.Control.Eval)
	}
	b.WriteString("\n## Over the steps\n\n")
	fmt.Fprintf(&b, "| arm | step | deduction | abduction | induction | mean |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| base | 0 | %s | %s | %s | %s |\n", pct(r.Base["deduction"]), pct(r.Base["abduction"]), pct(r.Base["induction"]), pct(base))
	for _, a := range r.Arms {
		for _, s := range sortedSteps(a.Evals) {
			e := a.Evals[s]
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", a.Name, s, pct(e["deduction"]), pct(e["abduction"]), pct(e["induction"]), pct(meanScore(e)))
		}
	}
	b.WriteString("\n")
	for _, p := range plots {
		fmt.Fprintf(&b, "![%s](%s)\n", strings.TrimSuffix(p, ".png"), p)
	}
	b.WriteString("\n## Signal health (means over the steps)\n\n| arm | self-play time (min) | valid proposals | 0 < p̄ < 1 share | program diversity | solve deduction | solve abduction | solve induction |\n|---|---|---|---|---|---|---|---|\n")
	for _, a := range r.Arms {
		s := a.Signal
		fmt.Fprintf(&b, "| %s | %.1f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", a.Name, a.SelfPlaySeconds/60, s["valid_proposal_rate"], s["learnable_share"],
			s["program_diversity"], s["solve_rate_deduction"], s["solve_rate_abduction"], s["solve_rate_induction"])
	}
	b.WriteString("\nThe proposer's side over the run: means over the first and the last quarter of the steps.\n\n| arm | valid proposals, first | valid proposals, last | 0 < p̄ < 1 share, first | 0 < p̄ < 1 share, last |\n|---|---|---|---|---|\n")
	for _, a := range r.Arms {
		vf, vl := quarterMeans(a.SignalSteps, func(s stepSignal) float64 { return s.ValidProposalRate })
		lf, ll := quarterMeans(a.SignalSteps, func(s stepSignal) float64 { return s.LearnableShare })
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %.3f | %.3f |\n", a.Name, vf, vl, lf, ll)
	}
	b.WriteString("\n![experiment-signal](experiment-signal.png)\n")
	fmt.Fprintf(&b, "\n## Commands\n\nThe commands that made the parts, in the order they were first started (a rerun reuses finished parts and keeps the commands that made them; seed %d; `run` settings: `%s`). Each checkpoint's adapter was evaluated by the base's eval commands with `--adapter` added; results.json lists every command.\n\n```sh\n", r.Seed, shellJoin(r.RunArgs))
	for _, c := range r.Commands {
		if !strings.Contains(c, " --adapter ") {
			b.WriteString(c + "\n")
		}
	}
	b.WriteString("```\n")
	doc := filepath.Join(out, "EXPERIMENT.md")
	return doc, os.WriteFile(doc, []byte(b.String()), 0o644)
}

// quarterMeans averages v over the first and the last quarter of the steps
// (at least one step each).
func quarterMeans(steps []stepSignal, v func(stepSignal) float64) (first, last float64) {
	n := len(steps)
	if n == 0 {
		return 0, 0
	}
	q := max(1, n/4)
	for i := range q {
		first += v(steps[i]) / float64(q)
		last += v(steps[n-q+i]) / float64(q)
	}
	return first, last
}

func sortedSteps(m map[int]map[string]float64) []int {
	steps := make([]int, 0, len(m))
	for s := range m {
		steps = append(steps, s)
	}
	sort.Ints(steps)
	return steps
}

// writeExperimentPlots draws held-out pass@1 over the steps, one chart per
// task type and one of the mean, a curve per arm; the control is a point at
// the last step.
func writeExperimentPlots(out string, r *experimentResults) ([]string, error) {
	// The y axis fits the values (no fixed [0, 1]): at a few percent, a
	// unit axis would draw every arm as the same flat line.
	var files []string
	for _, t := range append([]string{"mean"}, experimentTasks...) {
		score := func(s map[string]float64) float64 {
			if t == "mean" {
				return meanScore(s)
			}
			return s[t]
		}
		ch := report.Chart{Title: "held-out pass@1: " + t, YLabel: "pass@1"}
		for _, a := range r.Arms {
			pts := plotter.XYs{{X: 0, Y: score(r.Base)}}
			for _, s := range sortedSteps(a.Evals) {
				pts = append(pts, plotter.XY{X: float64(s), Y: score(a.Evals[s])})
			}
			ch.Series = append(ch.Series, report.Series{Name: a.Name, Points: pts})
		}
		if r.Control != nil {
			ch.Series = append(ch.Series, report.Series{Name: controlArm, Points: plotter.XYs{{X: 0, Y: score(r.Base)}, {X: float64(r.Steps), Y: score(r.Control.Eval)}}})
		}
		png, err := ch.PNG(6, 3.2)
		if err != nil {
			return nil, err
		}
		name := "experiment-" + t + ".png"
		if err := os.WriteFile(filepath.Join(out, name), png, 0o644); err != nil {
			return nil, err
		}
		files = append(files, name)
	}
	// The proposer's signal per step: valid proposals (solid) and the
	// learnable share (one more series per arm).
	ch := report.Chart{Title: "self-play signal per step", YLabel: "share of proposals"}
	for _, a := range r.Arms {
		var valid, learnable plotter.XYs
		for _, s := range a.SignalSteps {
			valid = append(valid, plotter.XY{X: float64(s.Step), Y: s.ValidProposalRate})
			learnable = append(learnable, plotter.XY{X: float64(s.Step), Y: s.LearnableShare})
		}
		ch.Series = append(ch.Series, report.Series{Name: a.Name + ": valid", Points: valid}, report.Series{Name: a.Name + ": 0<p̄<1", Points: learnable})
	}
	png, err := ch.PNG(7, 3.6)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(out, "experiment-signal.png"), png, 0o644); err != nil {
		return nil, err
	}
	return files, nil
}
