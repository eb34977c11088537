// Package nano is the built-in nano coder base model: its training data, its
// tokenizer and pretraining driver, and the held-out sets that measure it.
// docs/NANO.md is the user-level description.
//
// # Data (corpus*.go, evalsets*.go)
//
// BuildCorpus generates small Python programs with internal/synth, realizes
// each in the sandbox through exactly the checks a self-play proposal must
// pass (rl.Scorer: parse as one function f, module policy, runs on every
// input, deterministic across two separate executions, output size cap), and
// keeps those whose outputs vary with their input. From each kept program it
// writes documents according to a Mixture:
//
//   - "program": the code followed by a few `assert f(input) == output` lines
//     with the sandbox's outputs, so the model learns Python and what programs
//     compute;
//   - six transcripts, one per (task type x role): the prompt rendered exactly
//     as `azr-native run` renders it (rl templates and task texts; r1 template,
//     compact prompt style and K = 2 references by default), then a short
//     think and the correct answer in the fences rl's parsers read. Proposer
//     references are drawn from the programs before it (starting from the
//     zero triplet, like a self-play buffer); every transcript is parsed back
//     with rl's parser when it is written.
//
// BuildEvalSets makes the dev and test splits from another seed, excluding
// the corpus's programs (and test excludes dev) on NormalizeProgram text:
// deduction and abduction rows in the CRUXEval layout and induction rows,
// written by WriteEvalSets as eval/{dev,test}/{deduction,abduction,induction}.jsonl.
//
// Same options and the same sandbox give the same corpus and sets: the
// generator is seeded, the sandbox's results are deterministic by
// construction (that is a validity check), and parallel validation returns
// results in program order. Progress is reported through internal/progress.
package nano
