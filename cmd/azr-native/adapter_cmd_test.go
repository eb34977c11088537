package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/gguf"
)

// readSafetensors is a minimal reader written from the format's description
// (8-byte little-endian header length, a JSON header, raw little-endian
// data), independent of the exporter: F32 tensors by name with their shapes.
func readSafetensors(t *testing.T, path string) (map[string][]float32, map[string][]int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw[:8])
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		t.Fatalf("safetensors header: %v", err)
	}
	data := raw[8+n:]
	values, shapes := map[string][]float32{}, map[string][]int{}
	for name, msg := range header {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			DType   string   `json:"dtype"`
			Shape   []int    `json:"shape"`
			Offsets [2]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &e); err != nil || e.DType != "F32" {
			t.Fatalf("tensor %s: %s (%v)", name, msg, err)
		}
		b := data[e.Offsets[0]:e.Offsets[1]]
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		if len(v) != e.Shape[0]*e.Shape[1] {
			t.Fatalf("tensor %s: %d values for shape %v", name, len(v), e.Shape)
		}
		values[name], shapes[name] = v, e.Shape
	}
	return values, shapes
}

// ggufF32 reads an F32 matrix of a GGUF file: out rows of in values.
func ggufF32(t *testing.T, path, name string) (w []float32, in, out int) {
	t.Helper()
	g, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ti, ok := g.Tensor(name)
	if !ok {
		t.Fatalf("%s has no %s", path, name)
	}
	if w, err = g.ReadF32(ti); err != nil {
		t.Fatal(err)
	}
	return w, int(ti.Dims[0]), int(ti.Dims[1])
}

// The PEFT export's B A alpha/r is the change the adapter makes to each
// matrix, as measured on a model merged in F32 (whose logits the bindings
// tests show equal llama.cpp's with the adapter attached).
func TestAdapterExportMergeInfo(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.gguf")
	tm := bindings.TinyTest
	tm.InitScale = 0.1
	if err := bindings.WriteTinyModel(base, tm); err != nil {
		t.Fatal(err)
	}
	m, err := bindings.LoadModel(base, bindings.ModelOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.NewAdapter(bindings.LoRAOptions{Rank: 4, Alpha: 8, Seed: 2, InitBStd: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	adapter := filepath.Join(dir, "adapter.gguf")
	if err := a.Save(adapter, ""); err != nil {
		t.Fatal(err)
	}
	a.Close()
	m.Close()

	merged := filepath.Join(dir, "merged.gguf")
	if _, err := azr(t, "adapter", "merge", "--adapter", adapter, "--base", base, "--out", merged, "--quant", "f32"); err != nil {
		t.Fatalf("merge: %v", err)
	}
	peft := filepath.Join(dir, "peft")
	if _, err := azr(t, "adapter", "export", "--adapter", adapter, "--base", base, "--peft", peft, "--base-name", "Qwen/Qwen2.5-0.5B"); err != nil {
		t.Fatalf("export: %v", err)
	}

	var cfg struct {
		PEFTType  string   `json:"peft_type"`
		R         int      `json:"r"`
		Alpha     float64  `json:"lora_alpha"`
		Targets   []string `json:"target_modules"`
		BaseModel string   `json:"base_model_name_or_path"`
		TaskType  string   `json:"task_type"`
	}
	cj, err := os.ReadFile(filepath.Join(peft, "adapter_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(cj, &cfg); err != nil {
		t.Fatal(err)
	}
	wantTargets := []string{"down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"}
	if cfg.PEFTType != "LORA" || cfg.R != 4 || cfg.Alpha != 8 || cfg.BaseModel != "Qwen/Qwen2.5-0.5B" || cfg.TaskType != "CAUSAL_LM" ||
		strings.Join(cfg.Targets, ",") != strings.Join(wantTargets, ",") {
		t.Fatalf("adapter_config.json:\n%s", cj)
	}

	values, shapes := readSafetensors(t, filepath.Join(peft, "adapter_model.safetensors"))
	if len(values) != 2*tm.Layers*7 {
		t.Fatalf("%d tensors, want %d", len(values), 2*tm.Layers*7)
	}
	modules := map[string]string{"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
		"gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}
	ggufNames := map[string]string{"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
		"gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
	scale := cfg.Alpha / float64(cfg.R)
	names := make([]string, 0, len(modules))
	for k := range modules {
		names = append(names, k)
	}
	sort.Strings(names)
	for layer := 0; layer < tm.Layers; layer++ {
		for _, mod := range names {
			prefix := fmt.Sprintf("base_model.model.model.layers.%d.%s.%s", layer, modules[mod], mod)
			A, B := values[prefix+".lora_A.weight"], values[prefix+".lora_B.weight"]
			wName := fmt.Sprintf("blk.%d.%s.weight", layer, ggufNames[mod])
			w0, in, out := ggufF32(t, base, wName)
			w1, _, _ := ggufF32(t, merged, wName)
			if sa, sb := shapes[prefix+".lora_A.weight"], shapes[prefix+".lora_B.weight"]; sa == nil || sb == nil ||
				sa[0] != 4 || sa[1] != in || sb[0] != out || sb[1] != 4 {
				t.Fatalf("%s: shapes A %v B %v, want (4, %d) and (%d, 4)", prefix, sa, sb, in, out)
			}
			var num, den float64
			for o := 0; o < out; o++ {
				for i := 0; i < in; i++ {
					var ba float64
					for k := 0; k < 4; k++ {
						ba += float64(B[o*4+k]) * float64(A[k*in+i])
					}
					delta := float64(w1[o*in+i]) - float64(w0[o*in+i])
					num += (scale*ba - delta) * (scale*ba - delta)
					den += delta * delta
				}
			}
			if den == 0 || math.Sqrt(num/den) > 1e-4 {
				t.Errorf("%s: B A alpha/r differs from the merged change by %.3g (relative; |delta|^2 = %g)", prefix, math.Sqrt(num/den), den)
			}
		}
	}

	out, err := azr(t, "adapter", "info", "--json", "--base", base, adapter)
	if err != nil {
		t.Fatal(err)
	}
	var info adapterSummary
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	if info.Rank != 4 || info.Alpha != 8 || len(info.Targets) != 7 || info.Layers != tm.Layers || info.Base.Arch != "qwen2" ||
		info.Base.Layers != int64(tm.Layers) || info.Base.Vocab != int64(tm.Vocab) || info.Fits == nil || !*info.Fits || info.Base.Fingerprint == "" {
		t.Fatalf("adapter info: %s", out)
	}

	other := filepath.Join(dir, "other.gguf")
	om := tm
	om.Seed = 99 // same shapes, other weights
	if err := bindings.WriteTinyModel(other, om); err != nil {
		t.Fatal(err)
	}
	out, err = azr(t, "adapter", "info", "--json", "--base", other, adapter)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Fits == nil || *info.Fits || !strings.Contains(info.FitsProblem, "another base model") {
		t.Fatalf("adapter info on another base: %s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"adapter", "export", "--adapter", adapter, "--base", other, "--peft", filepath.Join(dir, "x")}, "another base model"},
		{[]string{"adapter", "merge", "--adapter", adapter, "--base", base, "--out", filepath.Join(dir, "y.gguf"), "--quant", "q3"}, "--quant"},
		{[]string{"adapter", "info", base}, "not a LoRA adapter"},
		{[]string{"adapter", "info", filepath.Join(dir, "missing.gguf")}, "no such file"},
	} {
		if _, err := azr(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}
