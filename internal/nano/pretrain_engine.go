package nano

import (
	"github.com/azr-native/azr-native/bindings"
)

// The native full-parameter trainer behind the driver.

func trainOptions(cfg PretrainConfig, threads int) bindings.NanoTrainOptions {
	return bindings.NanoTrainOptions{
		Threads: threads, Seed: cfg.Seed,
		Beta1: float32(cfg.Beta1), Beta2: float32(cfg.Beta2), Eps: float32(cfg.Eps),
		WeightDecay: float32(cfg.WeightDecay), GradClip: float32(cfg.GradClip),
	}
}

// BindingsVocab converts the tokenizer's GGUF vocabulary for the model writer.
func BindingsVocab(t *Tokenizer) bindings.Vocab {
	v := t.GGUFVocab()
	return bindings.Vocab{Tokens: v.Tokens, Types: v.Types, Merges: v.Merges, BOS: v.BOS, EOS: v.EOS, EOT: v.EOT, PAD: v.PAD}
}

func newEngine(cfg PretrainConfig, tok *Tokenizer, threads int) (engine, error) {
	s := cfg.Shape
	shape := bindings.NanoShape{Layers: s.Layers, Embd: s.Embd, Heads: s.Heads, KVHeads: s.KVHeads, FF: s.FF,
		Context: cfg.SeqLen, RopeTheta: 10000}
	return bindings.NewNanoTrainer(shape, BindingsVocab(tok), trainOptions(cfg, threads))
}

func openEngine(cfg PretrainConfig, f32GGUF string, threads int) (engine, error) {
	return bindings.OpenNanoTrainer(f32GGUF, trainOptions(cfg, threads))
}
