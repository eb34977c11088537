package lorafile

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// PEFT file names.
const (
	PEFTWeightsFile = "adapter_model.safetensors"
	PEFTConfigFile  = "adapter_config.json"
)

// PEFTConfig is adapter_config.json: what PEFT's LoraConfig and vLLM read.
type PEFTConfig struct {
	PEFTType          string   `json:"peft_type"`
	TaskType          string   `json:"task_type"`
	BaseModel         string   `json:"base_model_name_or_path"`
	R                 int      `json:"r"`
	LoRAAlpha         float64  `json:"lora_alpha"`
	TargetModules     []string `json:"target_modules"`
	LoRADropout       float64  `json:"lora_dropout"`
	Bias              string   `json:"bias"`
	FanInFanOut       bool     `json:"fan_in_fan_out"`
	InferenceMode     bool     `json:"inference_mode"`
	InitLoRAWeights   bool     `json:"init_lora_weights"`
	UseRSLoRA         bool     `json:"use_rslora"`
	UseDoRA           bool     `json:"use_dora"`
	ModulesToSave     []string `json:"modules_to_save"`
	LayersToTransform []int    `json:"layers_to_transform"`
	Revision          *string  `json:"revision"`
}

// PEFTTensorName is the safetensors key of a pair's A (half "A") or B ("B").
func PEFTTensorName(p Pair, half string) string {
	return fmt.Sprintf("base_model.model.model.layers.%d.%s.lora_%s.weight", p.Layer, p.Proj.HF, half)
}

// safetensorsEntry is one tensor of a safetensors header.
type safetensorsEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// WritePEFT writes the adapter to dir as adapter_model.safetensors (F32;
// lora_A.weight of shape (r, in), lora_B.weight of shape (out, r)) and
// adapter_config.json naming baseModel. Each file is written to a temporary
// name and renamed.
func (a *Adapter) WritePEFT(dir, baseModel string) (PEFTConfig, error) {
	cfg := PEFTConfig{
		PEFTType: "LORA", TaskType: "CAUSAL_LM", BaseModel: baseModel, R: a.Rank, LoRAAlpha: a.Alpha,
		Bias: "none", InferenceMode: true, InitLoRAWeights: true,
	}
	for _, t := range a.Targets { // the module name is the last path element
		cfg.TargetModules = append(cfg.TargetModules, t.HF[strings.LastIndex(t.HF, ".")+1:])
	}
	sort.Strings(cfg.TargetModules)

	type item struct {
		name  string
		shape []int
		data  []float32
	}
	var items []item
	for _, p := range a.Pairs {
		A, B, err := a.Matrices(p)
		if err != nil {
			return cfg, err
		}
		items = append(items, item{PEFTTensorName(p, "A"), []int{a.Rank, p.In}, A}, item{PEFTTensorName(p, "B"), []int{p.Out, a.Rank}, B})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var off int64
	for _, it := range items {
		n := int64(len(it.data)) * 4
		header[it.name] = safetensorsEntry{DType: "F32", Shape: it.shape, DataOffsets: [2]int64{off, off + n}}
		off += n
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return cfg, err
	}
	for len(hj)%8 != 0 { // keep the data 8-byte aligned
		hj = append(hj, ' ')
	}
	var buf bytes.Buffer
	buf.Grow(8 + len(hj) + int(off))
	binary.Write(&buf, binary.LittleEndian, uint64(len(hj)))
	buf.Write(hj)
	var w [4]byte
	for _, it := range items {
		for _, v := range it.data {
			binary.LittleEndian.PutUint32(w[:], math.Float32bits(v))
			buf.Write(w[:])
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return cfg, err
	}
	if err := writeAtomic(filepath.Join(dir, PEFTWeightsFile), buf.Bytes()); err != nil {
		return cfg, err
	}
	cj, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return cfg, err
	}
	return cfg, writeAtomic(filepath.Join(dir, PEFTConfigFile), append(cj, '\n'))
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
