package report

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/policy"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
	"gonum.org/v1/plot/plotter"
)

// realRun runs two self-play steps of a tiny random model with the real
// engine and the real sandbox into a directory shared by the tests that
// need one (a step takes seconds, so it is made once).
var realRun = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "azr-report-test-")
	if err != nil {
		return "", err
	}
	realRunTemp = dir
	model := filepath.Join(dir, "tiny.gguf")
	if err := bindings.WriteTinyModel(model, bindings.TinyTest); err != nil {
		return "", err
	}
	cfg := rl.DefaultConfig()
	cfg.BatchSize, cfg.NSamples, cfg.MaxResponseLength = 1, 2, 16
	cfg.SeedBatchFactor, cfg.SaveEvery, cfg.Steps = 0, 0, 2
	cfg.PromptStyle, cfg.References = rl.PromptStyleCompact, 2 // short prompts: the byte-level tiny vocabulary makes long ones slow
	cfg.ExecTimeout = time.Second
	eng, err := policy.New(model, policy.Options{Threads: 1, ContextSize: 4096, Slots: 4, SamplingTemperature: cfg.Temperature,
		LoRA: bindings.LoRAOptions{Rank: cfg.Optim.LoRARank, Alpha: float32(cfg.Optim.LoRAAlpha), Seed: cfg.Seed}})
	if err != nil {
		return "", err
	}
	defer eng.Close()
	pool, err := sandbox.New(context.Background(), sandbox.Config{Workers: 2, Timeout: cfg.ExecTimeout, BannedModules: cfg.BannedModules,
		Isolation: sandbox.IsolationBestEffort})
	if err != nil {
		return "", err
	}
	defer pool.Close()
	tr, err := rl.NewTrainer(cfg, eng, pool, nil)
	if err != nil {
		return "", err
	}
	run := filepath.Join(dir, "run")
	if err := tr.SetDir(run); err != nil {
		return "", err
	}
	defer tr.Close()
	if err := tr.Run(context.Background(), cfg.Steps); err != nil {
		return "", err
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	return run, os.WriteFile(filepath.Join(run, ConfigFile), data, 0o644)
})

// realRunTemp is the temporary directory of the real run, once made.
var realRunTemp string

func TestMain(m *testing.M) {
	code := m.Run()
	if realRunTemp != "" {
		os.RemoveAll(realRunTemp)
	}
	os.Exit(code)
}

// copyRun copies the shared run so a test can change it.
func copyRun(t *testing.T) string {
	t.Helper()
	src, err := realRun()
	if err != nil {
		t.Fatalf("real tiny-model run: %v", err)
	}
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

var (
	imgRe = regexp.MustCompile(`<img [^>]*src="([^"]*)"`)
	// Anything a browser would fetch: src/href/action attributes, CSS url()
	// and @import, scripts, stylesheets, frames.
	fetchRe  = regexp.MustCompile(`(?i)(?:\b(?:src|href|action|poster|data)\s*=\s*"([^"]*)")|url\(|@import|<script|<link|<iframe|<object|<embed`)
	idRe     = regexp.MustCompile(`id="([^"]+)"`)
	sampleRe = regexp.MustCompile(`class="tag (propose|solve)">(\w+ \w+) #\d+<`)
)

// The report of a real run is one self-contained page: every plot is an
// embedded PNG that decodes, nothing is fetched, and every section is there.
func TestReportOfARealRun(t *testing.T) {
	dir := copyRun(t)
	path, err := Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, ReportFile) {
		t.Errorf("report written to %s", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)

	for _, m := range fetchRe.FindAllStringSubmatch(page, -1) {
		if v := m[1]; m[0] != "" && (strings.HasPrefix(v, "data:image/png;base64,") || strings.HasPrefix(v, "#")) {
			continue // an embedded image or a link within the page
		}
		t.Errorf("the page would fetch something: %.120q", m[0])
	}

	imgs := imgRe.FindAllStringSubmatch(page, -1)
	if len(imgs) < 10 {
		t.Errorf("%d plots, want at least 10", len(imgs))
	}
	for i, m := range imgs {
		src := html.UnescapeString(m[1]) // what the browser reads from the attribute
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:image/png;base64,"))
		if err != nil {
			t.Errorf("image %d: base64: %v", i, err)
			continue
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Errorf("image %d: not a PNG: %v", i, err)
			continue
		}
		if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
			t.Errorf("image %d is %dx%d, too small to read", i, b.Dx(), b.Dy())
		}
	}

	ids := map[string]bool{}
	for _, m := range idRe.FindAllStringSubmatch(page, -1) {
		ids[m[1]] = true
	}
	for _, id := range []string{"summary", "curves", "samples", "uhoh", "settings",
		"chart-rewards", "chart-accuracy", "chart-format", "chart-valid", "chart-signal", "chart-lengths",
		"chart-buffers", "chart-time", "chart-throughput", "chart-update"} {
		if !ids[id] {
			t.Errorf("no section or chart with id %q", id)
		}
	}
	// Samples of both roles and all three task types, from samples.jsonl.
	seen := map[string]bool{}
	for _, m := range sampleRe.FindAllStringSubmatch(page, -1) {
		seen[m[2]] = true
	}
	for _, k := range rl.BatchOrder {
		if name := strings.ReplaceAll(k.String(), "_", " "); !seen[name] {
			t.Errorf("no sample of %s on the page", name)
		}
	}
	for _, want := range []string{"Summary at step 2", "batch_size", "valid proposals", "learnable (0 &lt; p̄ &lt; 1)"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// The signal-health block of a real run's metrics is present and sane.
func TestSignalHealthOfARealRun(t *testing.T) {
	r, err := Load(copyRun(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != 2 {
		t.Fatalf("%d steps, want 2", len(r.Steps))
	}
	for _, m := range r.Steps {
		h := m.Signal
		for name, v := range map[string]float64{"valid_proposal_rate": h.ValidProposalRate, "learnable_share": h.LearnableShare,
			"program_diversity": h.ProgramDiversity} {
			if v < 0 || v > 1 {
				t.Errorf("step %d: %s = %v, outside [0, 1]", m.Step, name, v)
			}
		}
		if h.LearnableShare > h.ValidProposalRate {
			t.Errorf("step %d: learnable share %v above the valid rate %v", m.Step, h.LearnableShare, h.ValidProposalRate)
		}
		if len(h.SolveRate) != 3 || len(h.BufferProgramDiversity) != 3 {
			t.Errorf("step %d: solve rates %v and buffer diversity %v: want all three task types", m.Step, h.SolveRate, h.BufferProgramDiversity)
		}
		if h.ProposerResponseLen <= 0 || h.ProposerResponseLen > 16 || h.SolverResponseLen <= 0 || h.SolverResponseLen > 16 {
			t.Errorf("step %d: response lengths %v / %v, want within 1..16 tokens", m.Step, h.ProposerResponseLen, h.SolverResponseLen)
		}
		var valid, n int
		for name, b := range m.Batches {
			if strings.HasPrefix(name, "propose_") {
				valid, n = valid+b.Valid, n+b.N
			}
		}
		if want := float64(valid) / float64(n); math.Abs(h.ValidProposalRate-want) > 1e-12 {
			t.Errorf("step %d: valid proposal rate %v, batches say %d/%d", m.Step, h.ValidProposalRate, valid, n)
		}
	}
}

// writeFiles makes a run directory from file contents.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	step1 = `{"step":1,"batches":{"propose_deduction":{"n":2,"valid":1}},"buffers":{"deduction":2},"seconds":{"total":3,"train":1}}`
	step2 = `{"step":2,"batches":{"propose_deduction":{"n":2,"valid":2}},"buffers":{"deduction":4},"seconds":{"total":3,"train":1}}`
)

func TestLoadErrorsNameTheFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no metrics file", map[string]string{}, "no metrics.jsonl: is this a run directory"},
		{"no step yet", map[string]string{MetricsFile: "\n"}, "holds no step yet"},
		{"corrupt line", map[string]string{MetricsFile: step1 + "\n{\"step\": 2, \"batc\n" + step2 + "\n"}, "metrics.jsonl:2: unexpected end of JSON input"},
		{"corrupt last line (with its newline)", map[string]string{MetricsFile: step1 + "\n{\"step\": 2, \"batc\n"}, "metrics.jsonl:2: unexpected end of JSON input"},
		{"not JSON at all", map[string]string{MetricsFile: "hello\n"}, "metrics.jsonl:1: invalid character 'h'"},
		{"no step field", map[string]string{MetricsFile: `{"batches":{}}` + "\n"}, `metrics.jsonl:1: no "step" field`},
		{"neither step nor eval", map[string]string{MetricsFile: `{"step":1}` + "\n"}, `metrics.jsonl:1: neither a step record`},
		{"wrong type in a step", map[string]string{MetricsFile: `{"step":1,"batches":{"propose_deduction":{"n":"two"}}}` + "\n"}, "metrics.jsonl:1: json: cannot unmarshal string"},
		{"corrupt samples", map[string]string{MetricsFile: step1, SamplesFile: "{\n"}, "samples.jsonl:1:"},
		{"sample without a batch", map[string]string{MetricsFile: step1, SamplesFile: `{"step":1}`}, `samples.jsonl:1: no "batch" field`},
		{"corrupt uh-oh", map[string]string{MetricsFile: step1, UhOhFile: "\n\n[1]\n"}, "uhoh.jsonl:3: json: cannot unmarshal array"},
		{"corrupt config", map[string]string{MetricsFile: step1, ConfigFile: "{"}, "config.json: unexpected end of JSON input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFiles(t, tc.files))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// A report made while the run writes a line reads the lines before it.
func TestLoadLeavesALineBeingWritten(t *testing.T) {
	r, err := Load(writeFiles(t, map[string]string{MetricsFile: step1 + "\n" + step2[:40]}))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != 1 || r.Steps[0].Step != 1 {
		t.Errorf("steps %+v: want step 1 only", r.Steps)
	}
}

// A resumed run redoes the steps after its last checkpoint: the last write
// of a step wins, for metrics and for samples.
func TestLoadKeepsTheLastWriteOfAStep(t *testing.T) {
	redo2 := strings.Replace(step2, `"valid":2`, `"valid":0`, 1)
	sample := func(step int, batch, resp string) string {
		b, _ := json.Marshal(rl.SampleRecord{Step: step, Batch: batch, Response: resp})
		return string(b)
	}
	dir := writeFiles(t, map[string]string{
		MetricsFile: strings.Join([]string{step1, `{"step":0,"eval":{"eval/output/pass_at_1":0.25}}`, step2, redo2,
			`{"step":2,"eval":{"eval/output/pass_at_1":0.5,"eval/output/items":4}}`}, "\n"),
		SamplesFile: strings.Join([]string{sample(1, "propose_deduction", "a"), sample(2, "propose_deduction", "old"),
			sample(2, "solve_deduction", "old"), sample(2, "propose_deduction", "new"), sample(2, "solve_deduction", "new too")}, "\n"),
		UhOhFile: `{"step":1,"batch":"solve_deduction","pattern":"(?i)kill","match":"kill","context":"kill all"}`,
	})
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != 2 || r.Steps[0].Step != 1 || r.Steps[1].Batches["propose_deduction"].Valid != 0 {
		t.Errorf("steps %+v: want 1 and the rewritten 2", r.Steps)
	}
	if len(r.Evals) != 2 || r.Evals[0].Step != 0 || r.Evals[1].Scores["eval/output/pass_at_1"] != 0.5 {
		t.Errorf("evals %+v", r.Evals)
	}
	var resp []string
	for _, s := range r.Samples {
		resp = append(resp, s.Response)
	}
	if got := strings.Join(resp, ","); got != "a,new,new too" {
		t.Errorf("samples %s, want a,new,new too", got)
	}
	if len(r.UhOh) != 1 {
		t.Errorf("uh-oh flags %d, want 1", len(r.UhOh))
	}
	// Evaluations get a chart of the rates (items counts stay in the table).
	var eval *Chart
	for _, c := range Charts(r) {
		if c.ID == "eval" {
			eval = &c
		}
	}
	if eval == nil || len(eval.Series) != 1 || eval.Series[0].Name != "eval/output/pass_at_1" || len(eval.Series[0].Points) != 2 {
		t.Fatalf("eval chart %+v: want one pass@1 series of two points", eval)
	}
	var page bytes.Buffer
	if err := Render(&page, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="chart-eval"`, `<th>eval/output/items</th>`, "kill all", "No config.json"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// Degenerate data still gives a readable PNG: one point, a flat line, NaN.
func TestChartPNGOfDegenerateSeries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		series []Series
	}{
		{"one point", []Series{{Name: "a", Points: plotter.XYs{{X: 1, Y: 0.5}}}}},
		{"flat at zero", []Series{{Name: "a", Points: plotter.XYs{{X: 1, Y: 0}, {X: 2, Y: 0}}}}},
		{"empty series beside a real one", []Series{{Name: "a"}, {Name: "b", Points: plotter.XYs{{X: 1, Y: 1}, {X: 5, Y: 3}}}}},
		{"more series than colours", func() []Series {
			var s []Series
			for i := 0; i < 10; i++ {
				s = append(s, Series{Name: string(rune('a' + i)), Points: plotter.XYs{{X: 1, Y: float64(i)}, {X: 2, Y: float64(i + 1)}}})
			}
			return s
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := Chart{Title: tc.name, Series: tc.series}.PNG(5, 3)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := png.Decode(bytes.NewReader(data)); err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
		})
	}
	var s Series
	s.add(1, math.NaN())
	s.add(2, math.Inf(1))
	if len(s.Points) != 0 {
		t.Errorf("non-finite values became points: %v", s.Points)
	}
}

func TestIntegerTicks(t *testing.T) {
	for _, tc := range []struct {
		min, max float64
		want     string
	}{
		{0.8, 2.2, "1 2"},
		{0, 10, "0 1 2 3 4 5 6 7 8 9 10"},
		{1, 50, "5 10 15 20 25 30 35 40 45 50"},
		{0, 500, "0 50 100 150 200 250 300 350 400 450 500"},
		{1.2, 1.8, ""},
	} {
		var labels []string
		for _, tk := range (integerTicks{}).Ticks(tc.min, tc.max) {
			labels = append(labels, tk.Label)
		}
		if got := strings.Join(labels, " "); got != tc.want {
			t.Errorf("Ticks(%v, %v) = %q, want %q", tc.min, tc.max, got, tc.want)
		}
	}
}

func TestSampleStepsAreThinnedEvenly(t *testing.T) {
	var recs []rl.SampleRecord
	for step := 1; step <= 100; step++ {
		recs = append(recs, rl.SampleRecord{Step: step, Batch: "propose_deduction"}, rl.SampleRecord{Step: step, Batch: "solve_deduction"})
	}
	groups, note := pickSampleSteps(recs)
	if len(groups) != MaxSampleSteps || groups[0].Step != 1 || groups[len(groups)-1].Step != 100 || note == "" {
		t.Fatalf("%d groups from step %d to %d (note %q): want %d from 1 to 100", len(groups), groups[0].Step, groups[len(groups)-1].Step, note, MaxSampleSteps)
	}
	if !groups[len(groups)-1].Open || groups[0].Open {
		t.Errorf("only the last step's samples start open")
	}
	if len(groups[3].Records) != 2 {
		t.Errorf("a kept step keeps all its records, got %d", len(groups[3].Records))
	}
}
