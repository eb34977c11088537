// Package lorafile reads azr-native's LoRA adapter files (llama.cpp's LoRA
// GGUF format) in plain Go and writes them in the Hugging Face PEFT format
// (adapter_model.safetensors + adapter_config.json) that PEFT and vLLM load.
//
// In the GGUF file, the adapter of matrix W (ggml shape [in, out]: out rows
// of in values) is blk.N.<proj>.weight.lora_a, ggml shape [in, r], and
// .lora_b, ggml shape [r, out]; llama.cpp adds (alpha/r) * B (A x) to W x.
// Read as row-major matrices, A is (r, in) and B is (out, r), which are
// exactly PEFT's lora_A.weight and lora_B.weight (PEFT adds
// (lora_alpha/r) * B A x), so the values are copied unchanged. Qwen2/Qwen3
// GGUF files keep the Hugging Face row order of every projection (their
// rotary embedding needs no permutation of q/k), so the matrices line up.
package lorafile

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/azr-native/azr-native/internal/gguf"
)

// Projection is one adaptable matrix of a transformer layer.
type Projection struct {
	GGUF string // name in GGUF tensors: attn_q
	HF   string // Hugging Face module path inside a layer: self_attn.q_proj
	Flag string // azr-native's name: q
}

// Projections in layer order.
var Projections = []Projection{
	{"attn_q", "self_attn.q_proj", "q"},
	{"attn_k", "self_attn.k_proj", "k"},
	{"attn_v", "self_attn.v_proj", "v"},
	{"attn_output", "self_attn.o_proj", "o"},
	{"ffn_gate", "mlp.gate_proj", "gate"},
	{"ffn_up", "mlp.up_proj", "up"},
	{"ffn_down", "mlp.down_proj", "down"},
}

// Pair is the adapter of one matrix.
type Pair struct {
	Layer   int
	Proj    Projection
	In, Out int
	A, B    gguf.Tensor // A: ggml [In, Rank]; B: ggml [Rank, Out]
}

// Base describes the model an adapter was made for, as recorded in the file.
type Base struct {
	Arch                                         string
	Layers, Embedding, Heads, KVHeads, FF, Vocab int64
	// Probe holds a few dequantized token-embedding values; the engine
	// compares them with a model's before attaching the adapter.
	Probe []float32
}

// Adapter is a LoRA adapter file.
type Adapter struct {
	Path    string
	Rank    int
	Alpha   float64 // as stored; 0 in the file means Rank
	Step    int64   // optimizer steps taken (azr-native adapters)
	Targets []Projection
	Layers  int
	Pairs   []Pair
	Base    Base
	file    *gguf.File
}

// Scale is alpha / rank, the factor of B A.
func (a *Adapter) Scale() float64 { return a.Alpha / float64(a.Rank) }

var pairName = regexp.MustCompile(`^blk\.(\d+)\.([a-z_]+)\.weight\.lora_(a|b)$`)

// Open reads an adapter file's metadata and tensor directory.
func Open(path string) (*Adapter, error) {
	g, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	a, err := read(g, path)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Close closes the file.
func (a *Adapter) Close() error { return a.file.Close() }

func read(g *gguf.File, path string) (*Adapter, error) {
	if g.String("general.type") != "adapter" || g.String("adapter.type") != "lora" {
		return nil, fmt.Errorf("not a LoRA adapter (general.type %q, adapter.type %q)", g.String("general.type"), g.String("adapter.type"))
	}
	a := &Adapter{Path: path, file: g, Rank: -1}
	a.Alpha, _ = g.Float("adapter.lora.alpha")
	a.Step, _ = g.Int("azr.lora.step")
	a.Base.Arch = g.String("general.architecture")
	for key, dst := range map[string]*int64{"azr.base.n_layer": &a.Base.Layers, "azr.base.n_embd": &a.Base.Embedding,
		"azr.base.n_head": &a.Base.Heads, "azr.base.n_head_kv": &a.Base.KVHeads, "azr.base.n_ff": &a.Base.FF, "azr.base.n_vocab": &a.Base.Vocab} {
		*dst, _ = g.Int(key)
	}
	if probe, ok := g.KV["azr.base.probe"].([]any); ok {
		for _, v := range probe {
			if f, ok := v.(float32); ok {
				a.Base.Probe = append(a.Base.Probe, f)
			}
		}
	}
	byName := map[string]Projection{}
	for _, p := range Projections {
		byName[p.GGUF] = p
	}
	type key struct {
		layer int
		proj  string
	}
	halves := map[key]*Pair{}
	used := map[string]bool{}
	for _, t := range g.Tensors {
		m := pairName.FindStringSubmatch(t.Name)
		if m == nil {
			return nil, fmt.Errorf("tensor %s is not a LoRA matrix of a layer projection", t.Name)
		}
		proj, ok := byName[m[2]]
		if !ok {
			return nil, fmt.Errorf("tensor %s adapts %s, which is not one of q/k/v/o/gate/up/down", t.Name, m[2])
		}
		if t.Type != gguf.TypeF32 || len(t.Dims) != 2 {
			return nil, fmt.Errorf("tensor %s: want a 2-D F32 matrix", t.Name)
		}
		layer, _ := strconv.Atoi(m[1])
		k := key{layer, proj.GGUF}
		p := halves[k]
		if p == nil {
			p = &Pair{Layer: layer, Proj: proj}
			halves[k] = p
		}
		if m[3] == "a" {
			p.A, p.In = t, int(t.Dims[0])
		} else {
			p.B, p.Out = t, int(t.Dims[1])
		}
		used[proj.GGUF] = true
	}
	for k, p := range halves {
		if p.A.Name == "" || p.B.Name == "" {
			return nil, fmt.Errorf("layer %d %s has only one of lora_a and lora_b", k.layer, k.proj)
		}
		r, rb := int(p.A.Dims[1]), int(p.B.Dims[0])
		if r != rb {
			return nil, fmt.Errorf("layer %d %s: lora_a has rank %d, lora_b %d", k.layer, k.proj, r, rb)
		}
		if a.Rank >= 0 && r != a.Rank {
			return nil, fmt.Errorf("mixed ranks (%d and %d) are not supported", a.Rank, r)
		}
		a.Rank = r
		a.Pairs = append(a.Pairs, *p)
		a.Layers = max(a.Layers, p.Layer+1)
	}
	if len(a.Pairs) == 0 {
		return nil, fmt.Errorf("no LoRA matrices")
	}
	order := map[string]int{}
	for i, p := range Projections {
		order[p.GGUF] = i
		if used[p.GGUF] {
			a.Targets = append(a.Targets, p)
		}
	}
	sort.Slice(a.Pairs, func(i, j int) bool {
		if a.Pairs[i].Layer != a.Pairs[j].Layer {
			return a.Pairs[i].Layer < a.Pairs[j].Layer
		}
		return order[a.Pairs[i].Proj.GGUF] < order[a.Pairs[j].Proj.GGUF]
	})
	if len(a.Pairs) != a.Layers*len(a.Targets) {
		return nil, fmt.Errorf("%d matrices for %d layers x %d projections: every layer must adapt the same projections", len(a.Pairs), a.Layers, len(a.Targets))
	}
	if a.Alpha == 0 {
		a.Alpha = float64(a.Rank) // llama.cpp's reading of a missing alpha
	}
	return a, nil
}

// Matrices returns a pair's A as rank rows of In values and B as Out rows
// of rank values.
func (a *Adapter) Matrices(p Pair) (A, B []float32, err error) {
	if A, err = a.file.ReadF32(p.A); err != nil {
		return nil, nil, err
	}
	if B, err = a.file.ReadF32(p.B); err != nil {
		return nil, nil, err
	}
	return A, B, nil
}
