// Package eval scores a model (or given responses) on benchmark files of
// code-reasoning tasks, with the same prompts, parser and sandbox checks as
// self-play.
//
// Four tasks, each read from JSON lines:
//
//	output     CRUXEval layout {"id", "code", "input", "output"}: predict the
//	           output of f on the input (self-play's deduction)
//	input      the same layout: find an input for which f returns the output
//	           (abduction; any input that gives the output counts)
//	induction  {"id", "code", "inputs", "outputs", "message"}: write f from the
//	           shown pairs and the message; the answer must reproduce EVERY
//	           pair (shown and held back), a stricter test than self-play's
//	           hidden half
//	function   HumanEval layout {"task_id", "prompt", "entry_point", "test"}:
//	           complete the function; the row's test runs check(entry_point)
//
// A row that is not usable (bad JSON, a missing or mistyped field, a
// duplicate id, or, when rows are verified, gold data the sandbox does not
// reproduce) is reported with its line number and skipped, or rejects the
// file in strict mode. A file with no usable row is an error, never a score of
// zero.
//
// Prompts are self-play's solver prompts (rl.SolveText) wrapped in the run's
// template (r1 or chatml); answers are parsed by rl.ExtractSolverAnswer and
// judged only by the sandbox (rl.Scorer and the executor's checks), never in
// Go. Run samples from any Generator (the live policy of a run, or a model and
// adapter loaded by package eval/engine) or scores responses given in a file,
// and reports pass@1 and the unbiased pass@k estimator.
package eval
