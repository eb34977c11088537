// Package rl is the Absolute Zero Reasoner's self-play core in pure Go: task
// types and roles, prompt builders, parsers for proposals and answers,
// buffers, rewards, Task-Relative REINFORCE++ advantages, one self-play step,
// checkpoints, metrics and an "uh-oh" monitor. docs/AZR.md
// describes the reference it follows; the deviations are listed below.
//
// It talks to the model only through [Policy] (generate with sampling; one
// training update on tokens + per-token advantages) and to the Python
// executor only through [Executor], which *sandbox.Pool implements. It never
// evaluates model output in Go: every verdict comes from the sandbox.
//
// # Using it
//
//	cfg := rl.DefaultConfig()
//	tr, err := rl.NewTrainer(cfg, policy, pool, logger) // or rl.Resume(ckpt, policy, pool, logger)
//	tr.SetDir("runs/x")                                 // checkpoints/, metrics.jsonl, uhoh.jsonl
//	err = tr.Run(ctx, cfg.Steps)                        // seeding phase (unless done), then steps
//
// Before the first step, Run performs the seeding phase (docs/AZR.md §6.3):
// the policy, not yet trained, proposes until BatchSize x SeedBatchFactor
// (64 x 4 = 256) distinct valid triplets and induction tasks exist, which
// then fill the buffers at step 0. As in the reference, seeding parses the
// raw response (no <answer> needed) and draws induction programs at random;
// unlike it, seeding stops after Config.SeedPatience rounds without a new
// task (an error with advice when nothing was found). SeedBatchFactor = 0
// starts from the zero triplet alone; Trainer.SetSeeds installs seeds read
// from files (ReadSeedFiles, the reference's seed JSONL layout).
//
// # One step (docs/AZR.md §7)
//
//  1. Build the six prompt sets from the current buffers: for abduction,
//     deduction and induction, BatchSize proposer prompts (K = 6 distinct
//     references drawn uniformly from the type's buffer; induction: one
//     program drawn from the abduction and deduction buffers) and BatchSize
//     solver tasks (the recent tasks first, then filled from the buffer).
//  2. For abduction, then deduction, then induction: generate the proposals
//     (n = 1 each), parse and validate them in the sandbox, sample NSamples
//     (8) solver rollouts of every valid, well-formatted proposal as N samples
//     of one prompt at the training temperature, reward (1 - p̄ if 0 < p̄ < 1,
//     TrivialReward otherwise, -1 if invalid or badly formatted), store every
//     valid task in the buffer; then generate the solver answers and reward
//     them (+1 correct, -0.5 wrong, -1 bad format).
//  3. Whiten the rewards within each of the six batches over their response
//     tokens (token-weighted mean, Bessel-corrected variance): TRR++.
//     Options: Config.Advantage "global" (one whitening for all six) and,
//     with Config.RolloutN > 1 samples per prompt, the per-prompt baselines
//     "per_prompt" and "grpo".
//  4. One Policy.TrainStep over the 6 x BatchSize sequences in the order
//     propose/solve abduction, propose/solve deduction, propose/solve induction.
//  5. Write a StepMetrics JSON line; Run checkpoints every SaveEvery steps.
//
// All randomness (references, solver batches, eviction, the per-request
// sampling seeds) comes from one PCG generator seeded by Config.Seed whose
// state is checkpointed, so a resumed run repeats an uninterrupted one.
//
// # Prompts
//
// Every prompt is a task text wrapped by a [Template]: "r1" (the default,
// for base models: an instruction to reason in <think> and answer in
// <answer>, then "User: <task>" and "Assistant: <think>") or "chatml" (the
// <|im_start|> format). The task texts are our own wording of what
// docs/AZR.md §2.2-2.3 and §4.3 say each must carry: the requirements on the
// code and the input, the answer format, the judging criteria with the
// banned-module list, the plan-first instruction, the K reference triplets;
// for induction the N-input / message contract and the program.
//
// Config.PromptStyle "compact" (PromptOptions.Style, TemplateFor) is for
// small-context models: the same six task texts with terse instructions, each
// reference written as a python block plus one "f(input) == output" line, the
// induction examples as such lines too, and a one-sentence think/answer
// instruction in the template. The answer formats and parsers are unchanged.
// It omits the judging criteria, the banned-module list (the sandbox still
// enforces it) and the swapped difficulty sentence; pair it with fewer
// references (Config.References 2). With K = 2 its proposer prompts are about
// a third of the full ones with K = 6, and its solver prompts about half.
//
// # Parsing and its fixed quirks
//
// Generation text = Template.Prefill ("<think>") + response, trimmed. Format
// score 1 iff it starts with <think>...</think>, optional whitespace, then
// <answer>...</answer>. The answer is the text after the last <answer>.
// Proposals: the code block and the first ```input block (fallback "# Input:");
// at least NumInputs ```input blocks (the last NumInputs are used) and a
// ```message block (fallbacks <message> tags, "# Message:") for induction;
// the entry function is renamed to f. Solver answers: the last ```output /
// ```input block, then the reference's fallbacks ("# Output:" block,
// output(...) call, <output> tag closed or not, "the output is ...", the
// whole answer; ParseOptions.SolverFallbacks "strict" keeps fewer);
// induction the last python block. Fixed by default, reference behaviour
// available through [ReferenceParseOptions] or [Config] fields:
//
//   - Q7: the code block is the first python/unlabelled block, not the first
//     block of any language (ParseOptions.CodeFence = "first" for the reference).
//   - Q6: only top-level defs count against "one function", so nested
//     helpers and methods are allowed as the prompt says (CountNestedFunctions).
//   - Renaming to f leaves method calls obj.name(...) alone (ReferenceRename).
//   - The reference stripped quote characters from both ends of the
//     generation text (StripQuotes).
//   - Q8: each proposer prompt's difficulty sentence talks about its own task
//     (Config.SwapDifficulty reproduces the swap).
//   - Q1: learnability rollouts are sampled at the training temperature
//     (Config.LearnabilityGreedy reproduces master's greedy rollouts).
//   - Q10: a full buffer evicts its oldest entry (Config.Eviction "oldest";
//     "uniform" evicts a random one; "drop_new" is the reference).
//   - Solver batches fill from entries not already taken, so a batch repeats
//     a task only when the buffer is smaller than the batch.
//   - Q2, Q3, Q4, Q5, Q13, Q14 are the sandbox's (any failed run is invalid,
//     over-long outputs are rejected, banned modules are blocked however
//     reached, parallel isolated runs).
//
// Learnability rollouts are skipped for badly formatted proposals, whose
// reward is -1 whatever the rollouts say (the reference sampled them anyway).
//
// Kept as in the reference by default: the trivial/impossible proposer reward
// is -0.5 (the code that trained the published models; Config.TrivialReward = 0
// gives the paper's formula); valid proposals enter the buffer even when
// badly formatted; solver batches are drawn before the step's proposals
// (Q11; Config.SolveFresh draws them after); no de-duplication (Config.Dedup).
// Not implemented: the reference's seeding-only code rewrites (remove
// comments / code after return, which need the sandbox's AST) and its
// disabled intrinsic rewards and composite functions.
//
// # TASK.json (azr-native task score) and buffer entries
//
// A [Task] as JSON: {"program": "def f(a):\n    return a", "input": "'Hello world'",
// "output": "'Hello world'"} for deduction and abduction; {"program": ...,
// "inputs": [...], "outputs": [...], "message": "..."} for induction (the
// first half of the pairs is shown to the solver, the rest are hidden);
// optional "imports" (import lines prepended when checking answers), "step"
// and "thought". For scoring a proposal only the induction program matters.
//
// # Defaults that differ from the reference's numbers
//
// Optim.LearningRate is 1e-5, not 1e-6: the reference trains all weights,
// azr-native a LoRA adapter, whose best learning rate is about ten times the
// full fine-tuning one. Steps is 500 (the paper never trained past 500; the
// yaml's 960 only follows from the size of the validation set).
package rl
