package rl

// A tiny scripted world for the tests: a policy whose answers depend only on
// the prompt, the request seed and its own training state, and an executor
// double that "runs" the handful of Python programs the policy writes. The
// same policy also drives the real sandbox (sandbox_test.go), since every
// program here is real Python.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/azr-native/azr-native/sandbox"
)

const (
	progDouble = "def f(x):\n    return x * 2"
	progSumG   = "def g(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total"
	progSumF   = "def f(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total"
	progDivide = "def f(x):\n    return x / 0"
	progZero   = "def f(x):\n    return 0"
)

// fakeRun "executes" a known program on one input, as repr text.
func fakeRun(program, input string) (string, error) {
	input = strings.TrimSpace(input)
	switch strings.TrimSpace(program) {
	case IdentityProgram:
		if input == "dict(a=1, b=2)" {
			return "{'a': 1, 'b': 2}", nil
		}
		return input, nil
	case progDouble, progSumF, progZero, progDivide:
	default:
		return "", fmt.Errorf("NameError: unknown program")
	}
	n, err := strconv.Atoi(input)
	if err != nil {
		return "", fmt.Errorf("TypeError: not an int: %q", input)
	}
	switch strings.TrimSpace(program) {
	case progDouble:
		return strconv.Itoa(2 * n), nil
	case progSumF:
		return strconv.Itoa(n * (n - 1) / 2 * btoi(n > 0)), nil
	case progZero:
		return "0", nil
	}
	return "", fmt.Errorf("ZeroDivisionError: division by zero")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fakeExec is the executor double. failCheck makes every Check* call fail
// with an executor (not program) error.
type fakeExec struct {
	mu        sync.Mutex
	calls     int
	failCheck bool
}

func (e *fakeExec) count() {
	e.mu.Lock()
	e.calls++
	e.mu.Unlock()
}

func (e *fakeExec) Validate(ctx context.Context, program string, inputs []string) (sandbox.Validation, error) {
	e.count()
	var v sandbox.Validation
	for _, in := range inputs {
		out, err := fakeRun(program, in)
		if err != nil {
			return sandbox.Validation{Reason: err.Error()}, nil
		}
		v.Outputs = append(v.Outputs, out)
	}
	v.Valid = true
	return v, nil
}

var errExecutor = errors.New("worker died")

func (e *fakeExec) CheckOutput(ctx context.Context, gold, predicted string) (bool, error) {
	e.count()
	if e.failCheck {
		return false, errExecutor
	}
	return strings.TrimSpace(gold) == strings.TrimSpace(predicted), nil
}

func (e *fakeExec) CheckInput(ctx context.Context, program string, imports []string, gold, in string) (bool, error) {
	e.count()
	if e.failCheck {
		return false, errExecutor
	}
	out, err := fakeRun(program, in)
	return err == nil && out == gold, nil
}

func (e *fakeExec) CheckProgram(ctx context.Context, program string, imports []string, ins, outs []string) (bool, error) {
	e.count()
	if e.failCheck {
		return false, errExecutor
	}
	for i := range ins {
		out, err := fakeRun(program, ins[i])
		if err != nil || out != outs[i] {
			return false, nil
		}
	}
	return true, nil
}

// scriptedPolicy answers prompts by rule. What it writes depends on the
// request seed and on how many updates it has made (its "weights").
type scriptedPolicy struct {
	mu      sync.Mutex
	updates int
	batches [][]TrainSequence // every TrainStep input, deep-copied
	calls   []genCall         // every Generate call
	optim   *OptimConfig
}

func tokenize(s string) []int32 {
	var out []int32
	for _, w := range strings.Fields(s) {
		h := fnv.New32a()
		h.Write([]byte(w))
		out = append(out, int32(h.Sum32()%50000))
	}
	return out
}

func mix(a, b uint64) uint64 {
	x := a*0x9E3779B97F4A7C15 ^ (b + 0x632BE59BD9B4E019)
	x ^= x >> 31
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 29
	return x
}

func (p *scriptedPolicy) Generate(ctx context.Context, reqs []GenRequest) ([]GenResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]GenResult, len(reqs))
	for i, r := range reqs {
		out[i].PromptTokens = tokenize(r.Prompt)
		for k := 0; k < r.N; k++ {
			text := p.respond(r.Prompt, mix(r.Sampling.Seed, uint64(p.updates)), k, r.N)
			toks := tokenize(text)
			lp := make([]float32, len(toks))
			for j := range lp {
				lp[j] = -0.25
			}
			out[i].Samples = append(out[i].Samples, Sample{Tokens: toks, LogProbs: lp, Text: text, Finish: "stop"})
		}
	}
	p.calls = append(p.calls, genCall{reqs: reqs, res: out, updates: p.updates})
	return out, nil
}

type genCall struct {
	reqs    []GenRequest
	res     []GenResult
	updates int
}

func wrap(answer string) string {
	return " let me plan this. </think>\n<answer>\n" + answer + "\n</answer>"
}

func (p *scriptedPolicy) respond(prompt string, seed uint64, k, n int) string {
	// The blocks of the task itself start at its first "### " section.
	body := prompt
	if i := strings.Index(prompt, "### Code snippet"); i >= 0 {
		body = prompt[i:]
	} else if i := strings.Index(prompt, "### Message"); i >= 0 {
		body = prompt[i:]
	}
	fs := Fences(body)
	switch {
	case strings.Contains(prompt, "write a new Python code snippet"):
		switch seed % 5 {
		case 0:
			return wrap(fence("python", progDouble) + "\n" + fence("input", strconv.Itoa(int(seed/5%50))))
		case 1:
			return wrap(fence("python", progSumG) + "\n" + fence("input", strconv.Itoa(int(seed/5%20))))
		case 2:
			return wrap(fence("python", progDivide) + "\n" + fence("input", "3"))
		case 3:
			return " I cannot decide. </think> " + fence("python", progDouble)
		}
		return " hmm <answer>\n" + fence("python", progDouble) + "\n" + fence("input", "4") + "\n</answer>" // no </think>: format 0
	case strings.Contains(prompt, "inputs and a message for the code snippet"):
		var b strings.Builder
		for j := 0; j < 10; j++ {
			b.WriteString(fence("input", strconv.Itoa(j+int(seed%7))) + "\n")
		}
		if seed%4 == 3 {
			return wrap(b.String()) // no message: invalid
		}
		return wrap(b.String() + fence("message", "Find the rule."))
	}
	// Solver prompts. For MC rollouts (n > 1) sample k is right iff k < seed%9,
	// so p̄ takes every value 0, 1/8, ..., 1; single samples rotate right/wrong/bad format.
	mode := seed % 3
	if n > 1 {
		mode = 1
		if uint64(k) < seed%9 {
			mode = 0
		}
	}
	if mode == 2 {
		return " no idea " + "<answer>" + fence("output", "1") + "</answer>"
	}
	program := ""
	if len(fs) > 0 && fs[0].Label == "python" {
		program = fs[0].Body
	}
	switch {
	case strings.Contains(prompt, "predict the output"):
		out, _ := fakeRun(program, fs[1].Body)
		if mode == 1 {
			out = "'wrong'"
		}
		return wrap(fence("output", out))
	case strings.Contains(prompt, "find an input"):
		gold := fs[1].Body
		in := "'no such input'"
		if mode == 0 {
			for c := 0; c < 2000; c++ {
				if o, _ := fakeRun(program, strconv.Itoa(c)); o == gold {
					in = strconv.Itoa(c)
					break
				}
			}
			if program == IdentityProgram {
				in = gold
			}
		}
		return wrap(fence("input", in))
	}
	// Induction: guess the rule from the shown pairs.
	var ins, outs []string
	for _, f := range fs {
		switch f.Label {
		case "input":
			ins = append(ins, f.Body)
		case "output":
			outs = append(outs, f.Body)
		}
	}
	guess := progZero
	if mode == 0 {
		for _, cand := range []string{IdentityProgram, progDouble, progSumF} {
			ok := true
			for j := range ins {
				if o, err := fakeRun(cand, ins[j]); err != nil || o != outs[j] {
					ok = false
				}
			}
			if ok {
				guess = cand
				break
			}
		}
	}
	return wrap(fence("python", guess))
}

func (p *scriptedPolicy) TrainStep(ctx context.Context, batch []TrainSequence) (TrainStats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cp := make([]TrainSequence, len(batch))
	tokens := 0
	for i, s := range batch {
		cp[i] = TrainSequence{Tokens: append([]int32(nil), s.Tokens...), ResponseStart: s.ResponseStart,
			Advantages: append([]float32(nil), s.Advantages...), OldLogProbs: append([]float32(nil), s.OldLogProbs...)}
		tokens += len(s.Tokens) - s.ResponseStart
	}
	p.batches = append(p.batches, cp)
	p.updates++
	return TrainStats{Loss: 0.5, Tokens: tokens}, nil
}

func (p *scriptedPolicy) SaveState(dir string) error {
	return os.WriteFile(filepath.Join(dir, "updates"), []byte(strconv.Itoa(p.updates)), 0o644)
}

func (p *scriptedPolicy) LoadState(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "updates"))
	if err != nil {
		return err
	}
	p.updates, err = strconv.Atoi(string(b))
	return err
}

func (p *scriptedPolicy) SetOptim(o OptimConfig) error { p.optim = &o; return nil }

func (e *fakeExec) ValidateInputs(ctx context.Context, program string, inputs []string) (sandbox.Validation, error) {
	return e.Validate(ctx, program, inputs)
}
