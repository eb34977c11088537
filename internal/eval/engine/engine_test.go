package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/eval"
	"github.com/azr-native/azr-native/internal/sandboxtest"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
)

func realSandbox(t *testing.T) *sandbox.Pool {
	t.Helper()
	pool := sandboxtest.Pool(t, 3*time.Second)
	return pool
}

// tinyModel writes a tiny random Qwen2 model (and an adapter with non-zero
// weights for it) into a temporary directory.
func tinyModel(t *testing.T) (model, adapter string) {
	t.Helper()
	dir := t.TempDir()
	model = filepath.Join(dir, "tiny.gguf")
	spec := bindings.TinyTest
	spec.InitScale = 0.3 // peaked enough that greedy text is not one repeated token
	if err := bindings.WriteTinyModel(model, spec); err != nil {
		t.Fatal(err)
	}
	m, err := bindings.LoadModel(model, bindings.ModelOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a, err := m.NewAdapter(bindings.LoRAOptions{Rank: 4, Seed: 3, InitBStd: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	adapter = filepath.Join(dir, "adapter.gguf")
	if err := a.Save(adapter, ""); err != nil {
		t.Fatal(err)
	}
	return model, adapter
}

func responses(items []eval.ItemResult) [][]string {
	var out [][]string
	for _, it := range items {
		var rs []string
		for _, s := range it.Samples {
			rs = append(rs, s.Response)
		}
		out = append(out, rs)
	}
	return out
}

// A real-engine evaluation runs end to end; its score is whatever a random
// model earns, but the same seed gives the same samples and verdicts, from a
// fresh engine too, and the seed and the adapter change them.
func TestEvalOnTinyModelIsDeterministic(t *testing.T) {
	ctx := context.Background()
	model, adapter := tinyModel(t)
	ds, err := eval.ReadFile("../testdata/crux.jsonl", eval.TaskOutput, true)
	if err != nil {
		t.Fatal(err)
	}
	evaluate := func(adapterPath string, seed uint64, temperature float32) (eval.Summary, []eval.ItemResult) {
		t.Helper()
		g, err := Open(model, Options{Adapter: adapterPath, Threads: 1, ContextSize: 4096, Slots: 4})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		sum, items, err := eval.Run(ctx, eval.Options{Data: ds, Exec: realSandbox(t), Generator: g,
			Template: rl.TemplateR1, Samples: 2, Temperature: temperature, MaxTokens: 24, Seed: seed, Batch: 2})
		if err != nil {
			t.Fatal(err)
		}
		return sum, items
	}
	sum, items := evaluate("", 7, 0.8)
	if sum.Items != 3 || sum.Samples != 2 || sum.Source != "model" || len(sum.PassAtK) != 2 {
		t.Fatalf("summary %+v", sum)
	}
	for _, it := range items {
		for _, s := range it.Samples {
			if s.Tokens == 0 || s.Tokens > 24 || s.PromptTokens == 0 || s.Finish == "" {
				t.Fatalf("item %s sample %+v", it.ID, s)
			}
		}
	}
	_, again := evaluate("", 7, 0.8)
	if !reflect.DeepEqual(items, again) {
		t.Errorf("same seed, different results:\n%v\n%v", responses(items), responses(again))
	}
	if _, other := evaluate("", 8, 0.8); reflect.DeepEqual(responses(items), responses(other)) {
		t.Errorf("seeds 7 and 8 gave the same samples: %q", responses(items))
	}

	_, greedy := evaluate("", 7, 0)
	for _, it := range greedy {
		if it.Samples[0].Response != it.Samples[1].Response {
			t.Errorf("greedy samples of item %s differ: %q", it.ID, []string{it.Samples[0].Response, it.Samples[1].Response})
		}
	}
	_, withAdapter := evaluate(adapter, 7, 0)
	if reflect.DeepEqual(responses(greedy), responses(withAdapter)) {
		t.Errorf("the adapter changed no greedy sample: %q", responses(greedy))
	}
}

func TestOpenErrorsAreClear(t *testing.T) {
	model, _ := tinyModel(t)
	if _, err := Open(filepath.Join(t.TempDir(), "none.gguf"), Options{}); err == nil {
		t.Error("a missing model loaded")
	}
	if _, err := Open(model, Options{Adapter: filepath.Join(t.TempDir(), "none.gguf")}); err == nil {
		t.Error("a missing adapter loaded")
	}
}

// BenchmarkEvalGeneration: eval's batched generation (8 items per engine
// call, the items' prompts decoded together) against the obvious baseline of
// one call per item, on the tiny model: 8 CRUXEval-layout items, greedy, 32
// tokens each, scoring in the real sandbox included.
func BenchmarkEvalGeneration(b *testing.B) {
	// AZR_BENCH_MODEL names another model (e.g. one from `model tiny --size 0.5b`).
	model := os.Getenv("AZR_BENCH_MODEL")
	if model == "" {
		model = filepath.Join(b.TempDir(), "tiny.gguf")
		spec := bindings.TinyTest
		spec.InitScale = 0.3
		if err := bindings.WriteTinyModel(model, spec); err != nil {
			b.Fatal(err)
		}
	}
	var rows strings.Builder
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&rows, `{"id": "b%d", "code": "def f(x):\n    return x * %d", "input": "%d", "output": "%d"}`+"\n", i, i+2, i, i*(i+2))
	}
	ds, err := eval.Read(strings.NewReader(rows.String()), "bench", eval.TaskOutput, true)
	if err != nil {
		b.Fatal(err)
	}
	g, err := Open(model, Options{Threads: 1, ContextSize: 8192, Slots: 8})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	exec, err := sandbox.New(context.Background(), sandbox.Config{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer exec.Close()
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("items_per_call=%d", batch), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, _, err := eval.Run(context.Background(), eval.Options{Data: ds, Exec: exec, Generator: g,
					MaxTokens: 32, Batch: batch, Parallel: 1}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(ds.Items))/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// Items whose prompt is over the limit are not sampled: each counts as
// failed, says why, and the summary counts them.
func TestPromptsOverTheLimitAreCountedAndSaid(t *testing.T) {
	model, _ := tinyModel(t)
	ds, err := eval.ReadFile("../testdata/crux.jsonl", eval.TaskOutput, true)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Open(model, Options{Threads: 1, ContextSize: 4096, Slots: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	prompt := rl.TemplateR1.Render(eval.PromptText(eval.TaskOutput, &ds.Items[1], ""))
	n, err := g.CountTokens(prompt)
	if err != nil {
		t.Fatal(err)
	}
	// Item 1's prompt fits exactly; the others are longer or shorter.
	sum, items, err := eval.Run(context.Background(), eval.Options{Data: ds, Exec: realSandbox(t), Generator: g,
		Samples: 2, MaxTokens: 4, MaxPromptTokens: n})
	if err != nil {
		t.Fatal(err)
	}
	var skipped []string
	for _, it := range items {
		if it.Skipped != "" {
			skipped = append(skipped, it.ID+": "+it.Skipped)
			if it.N != 2 || it.Correct != 0 || len(it.Samples) != 0 {
				t.Errorf("skipped item %+v", it)
			}
		}
	}
	if len(skipped) == 0 || sum.TooLong != len(skipped) || items[1].Skipped != "" || len(items[1].Samples) != 2 {
		t.Errorf("too long %d, skipped %q; item 1 (%d tokens, the limit) must be sampled", sum.TooLong, skipped, n)
	}
	for _, s := range skipped {
		if !strings.Contains(s, fmt.Sprintf("over the %d-token limit", n)) {
			t.Errorf("reason %q", s)
		}
	}
}
