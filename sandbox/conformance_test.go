package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// One pool shared by the conformance tests (they only run programs).
var (
	sharedOnce sync.Once
	shared     *Pool
	sharedErr  error
)

func sharedPool(t *testing.T) *Pool {
	t.Helper()
	sharedOnce.Do(func() {
		shared, sharedErr = New(context.Background(), Config{Timeout: 300 * time.Millisecond})
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// TestRun is the executor's contract: f(input) -> repr(result), stripped,
// with a status; the input is the text between the call's parentheses.
func TestRun(t *testing.T) {
	p := sharedPool(t)
	cases := []struct {
		name, program, input string
		imports              []string
		status               Status
		output               string // exact, when status is ok
		errContains          string
	}{
		{"int", "def f(x):\n    return x + 1", "1", nil, StatusOK, "2", ""},
		{"several arguments", "def f(a, b):\n    return a * b", "'ab', 3", nil, StatusOK, "'ababab'", ""},
		{"keyword arguments", "def f(a, b=1):\n    return a - b", "b=5, a=7", nil, StatusOK, "2", ""},
		{"zero arguments: an empty input calls f()", "def f():\n    return [1, 2]", "", nil, StatusOK, "[1, 2]", ""},
		{"zero arguments with a blank input", "def f():\n    return 'x'", "  ", nil, StatusOK, "'x'", ""},
		{"empty input to a function that needs one", "def f(x):\n    return x", "", nil, StatusError, "", "TypeError"},
		{"single tuple argument needs its own parentheses", "def f(t):\n    return t[::-1]", "(1, 2)", nil, StatusOK, "(2, 1)", ""},
		{"multiple return values form a tuple", "def f(x):\n    return x, [x]", "1", nil, StatusOK, "(1, [1])", ""},
		{"list is not tuple", "def f(x):\n    return [x, (x,)]", "1", nil, StatusOK, "[1, (1,)]", ""},
		{"dict keeps insertion order", "def f(x):\n    return {'b': 1, 'a': x}", "2", nil, StatusOK, "{'b': 1, 'a': 2}", ""},
		{"string with quotes and escapes", "def f(x):\n    return x + '\\'s \"q\"\\n\\t\\\\'", "'it'", nil, StatusOK, `'it\'s "q"\n\t\\'`, ""},
		{"unicode", "def f(x):\n    return x * 2", "'é漢'", nil, StatusOK, "'é漢é漢'", ""},
		{"nan and inf", "def f(x):\n    return [float('nan'), float('inf'), -0.0]", "0", nil, StatusOK, "[nan, inf, -0.0]", ""},
		{"None", "def f(x):\n    pass", "0", nil, StatusOK, "None", ""},
		{"bool", "def f(x):\n    return x == 1.0", "1", nil, StatusOK, "True", ""},
		{"nested structures", "def f(n):\n    return {'k': [(i, {i: [i] * i}) for i in range(n)]}", "3", nil, StatusOK, "{'k': [(0, {0: []}), (1, {1: [1]}), (2, {2: [2, 2]})]}", ""},
		{"custom repr is stripped", "class P:\n    def __repr__(self):\n        return '  P(1)  '\ndef f(x):\n    return P()", "0", nil, StatusOK, "P(1)", ""},
		{"classes and nested functions", "class Stack:\n    def __init__(self):\n        self.items = []\n    def push(self, x):\n        self.items.append(x)\ndef f(xs):\n    s = Stack()\n    def go(v):\n        s.push(v * 2)\n    for v in xs:\n        go(v)\n    return s.items", "[1, 2]", nil, StatusOK, "[2, 4]", ""},
		{"input may use program globals", "K = 10\ndef f(x):\n    return x", "K + 1", nil, StatusOK, "11", ""},
		{"imports in the program", "import heapq\nfrom collections import Counter\ndef f(xs):\n    heapq.heapify(xs)\n    return xs, Counter(xs).most_common(1)", "[3, 1, 2, 1]", nil, StatusOK, "([1, 1, 2, 3], [(1, 2)])", ""},
		{"imports given separately", "def f(s):\n    return sorted(Counter(s).items())", "'abca'", []string{"from collections import Counter"}, StatusOK, "[('a', 2), ('b', 1), ('c', 1)]", ""},
		{"a module not preloaded", "import statistics\ndef f(xs):\n    return statistics.median(xs)", "[3, 1, 2]", nil, StatusOK, "2", ""},
		{"print does not disturb the result", "def f(x):\n    print('noise', x)\n    return x", "5", nil, StatusOK, "5", ""},
		{"exception: last traceback line", "def f(x):\n    return x / 0", "1", nil, StatusError, "", "ZeroDivisionError: division by zero"},
		{"exception without Error in its name", "class Oops(Exception):\n    pass\ndef f(x):\n    raise Oops('bad')", "1", nil, StatusError, "", "Oops: bad"},
		{"StopIteration", "def f(x):\n    return next(iter([]))", "1", nil, StatusError, "", "StopIteration"},
		{"SystemExit", "import sys\ndef f(x):\n    sys.exit(3)", "1", nil, StatusError, "", "SystemExit: 3"},
		{"missing f", "def g(x):\n    return x", "1", nil, StatusError, "", "NameError"},
		{"recursion limit", "def f(x):\n    return f(x + 1)", "0", nil, StatusError, "", "RecursionError"},
		{"wrong argument", "def f(x):\n    return x + 1", "'a'", nil, StatusError, "", "TypeError"},
		{"syntax error in the program", "def f(x)\n    return x", "1", nil, StatusRejected, "", "syntax"},
		{"syntax error in the input", "def f(x):\n    return x", "1,,", nil, StatusRejected, "", "syntax"},
		{"infinite loop", "def f(x):\n    while True:\n        x += 1", "0", nil, StatusTimeout, "", ""},
		{"C-level loop", "def f(x):\n    return sum(range(10 ** 14))", "0", nil, StatusTimeout, "", ""},
		{"memory limit", "def f(x):\n    return len(bytearray(10 ** 11))", "0", nil, StatusMemory, "", ""},
		{"output over the cap is rejected, not truncated", "def f(n):\n    return 'x' * n", "1000", nil, StatusTooLarge, "", "cap"},
		{"output at the cap is fine", "def f(n):\n    return 'x' * n", "398", nil, StatusOK, "'" + strings.Repeat("x", 398) + "'", ""},
		{"repr that raises", "class B:\n    def __repr__(self):\n        raise ValueError('no repr')\ndef f(x):\n    return B()", "0", nil, StatusError, "", "ValueError: no repr"},
		{"repr that is not a str", "class B:\n    def __repr__(self):\n        return 5\ndef f(x):\n    return B()", "0", nil, StatusError, "", "TypeError"},
	}
	jobs := make([]Job, len(cases))
	for i, c := range cases {
		jobs[i] = Job{Program: c.program, Input: c.input, Imports: c.imports}
	}
	res, err := p.RunBatch(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		r := res[i]
		if r.Status != c.status {
			t.Errorf("%s: status %s (%q %q), want %s", c.name, r.Status, r.Output, r.Error, c.status)
			continue
		}
		if c.status == StatusOK && r.Output != c.output {
			t.Errorf("%s: output %s, want %s", c.name, r.Output, c.output)
		}
		if c.status != StatusOK && r.Output != "" {
			t.Errorf("%s: output %q with status %s", c.name, r.Output, r.Status)
		}
		if !strings.Contains(r.Error, c.errContains) {
			t.Errorf("%s: error %q, want it to contain %q", c.name, r.Error, c.errContains)
		}
	}
}

// TestSetOrderIsTheSameInEveryWorker: PYTHONHASHSEED is fixed, so string
// hashing, and with it set iteration order, agree across workers and runs.
func TestSetOrderIsTheSameInEveryWorker(t *testing.T) {
	p := sharedPool(t)
	jobs := make([]Job, 12)
	for i := range jobs {
		jobs[i] = Job{Program: "def f(xs):\n    return list(set(xs)), {x: 1 for x in set(xs)}", Input: "['apple', 'banana', 'cherry', 'date', 'elder', 'fig']"}
	}
	res, err := p.RunBatch(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != StatusOK || r.Output != res[0].Output {
			t.Fatalf("set order differs: %q vs %q", r.Output, res[0].Output)
		}
	}
}

// TestValidate is the proposal check.
func TestValidate(t *testing.T) {
	p := sharedPool(t)
	cases := []struct {
		name, program string
		inputs        []string
		valid         bool
		reason        string // substring of the reason when invalid
		outputs       []string
	}{
		{"valid, two inputs", "def f(s, k):\n    return s[k:] + s[:k]", []string{"'abcde', 2", "'xy', 1"}, true, "", []string{"'cdeab'", "'yx'"}},
		{"valid with allowed imports", "import heapq\nfrom collections import deque\ndef f(xs):\n    q = deque(xs)\n    q.rotate(1)\n    return heapq.nlargest(2, q)", []string{"[1, 5, 3]"}, true, "", []string{"[5, 3]"}},
		{"set of strings is deterministic", "def f(xs):\n    return list(set(xs))", []string{"['a1', 'b2', 'c3', 'd4']"}, true, "", nil},
		{"no input", "def f(x):\n    return x", nil, false, "no input", nil},
		{"zero-argument program with an empty input", "def f():\n    return sum(range(5))", []string{""}, true, "", []string{"10"}},
		{"empty input to a function that needs one", "def f(x):\n    return x", []string{""}, false, "TypeError", nil},
		{"input on two lines", "def f(x):\n    return x", []string{"[1,\n2]"}, false, "more than one line", nil},
		{"syntax error", "def f(x):\n  return (x", []string{"1"}, false, "syntax", nil},
		{"raises", "def f(x):\n    return x[5]", []string{"[1]"}, false, "IndexError", nil},
		{"exception without Error in its name (reference quirk Q2, fixed)", "class Done(Exception):\n    pass\ndef f(x):\n    raise Done()", []string{"1"}, false, "Done", nil},
		{"timeout", "def f(x):\n    while x:\n        pass", []string{"1"}, false, "timeout", nil},
		{"output over the cap (reference truncated it, quirk Q3)", "def f(n):\n    return list(range(n))", []string{"500"}, false, "too_large", nil},
		{"output on two lines", "class M:\n    def __repr__(self):\n        return 'a\\nb'\ndef f(x):\n    return M()", []string{"1"}, false, "more than one line", nil},
		{"one bad input spoils the task", "def f(x):\n    return 10 // x", []string{"2", "0"}, false, "input 2", nil},
		// Determinism: two executions in two separate children.
		{"random via an allowed module", "import secrets\ndef f(x):\n    return secrets.randbelow(10 ** 9)", []string{"1"}, false, "non-deterministic", nil},
		{"time via an allowed module", "import uuid\ndef f(x):\n    return uuid.uuid1().time", []string{"1"}, false, "non-deterministic", nil},
		{"id() of a fresh object", "def f(x):\n    return id([x]) % 100000", []string{"1"}, false, "non-deterministic", nil},
		{"address in a default repr", "class Node:\n    pass\ndef f(x):\n    return Node()", []string{"1"}, false, "non-deterministic", nil},
		{"hash of an object", "def f(x):\n    return hash(object()) % 1000", []string{"1"}, false, "non-deterministic", nil},
		{"mutable default argument", "def f(x, seen=[]):\n    seen.append(x)\n    return len(seen)", []string{"1"}, false, "non-deterministic", nil},
		{"hidden module state", "COUNT = {'n': 0}\ndef f(x):\n    COUNT['n'] += x\n    return COUNT['n']", []string{"1"}, false, "non-deterministic", nil},
		{"process id", "import os\ndef f(x):\n    return os.getpid() + x", []string{"1"}, false, "non-deterministic", nil},
		// Banned modules (default list, reference §2.4, made effective).
		{"import random", "import random\ndef f(x):\n    return x", []string{"1"}, false, "random", nil},
		{"from-import", "from random import randint\ndef f(x):\n    return x", []string{"1"}, false, "random", nil},
		{"aliased import", "import datetime as dt\ndef f(x):\n    return x", []string{"1"}, false, "datetime", nil},
		{"import inside f", "def f(x):\n    import time\n    return x", []string{"1"}, false, "time", nil},
		{"dotted import of a banned child", "import logging.handlers\ndef f(x):\n    return x", []string{"1"}, false, "logging", nil},
		{"os.path as a dotted name", "import os\ndef f(x):\n    return os.path.join('a', x)", []string{"'b'"}, false, "os.path", nil},
		{"os.path as an import", "import os.path\ndef f(x):\n    return x", []string{"1"}, false, "os.path", nil},
		{"from os import path", "from os import path\ndef f(x):\n    return x", []string{"1"}, false, "os.path", nil},
		{"star import binding a banned name", "from os import *\ndef f(x):\n    return path.join('a', x)", []string{"'b'"}, false, "star import", nil},
		{"os.environ", "import os\ndef f(x):\n    return len(os.environ)", []string{"1"}, false, "os.environ", nil},
		{"sys.exit", "import sys\ndef f(x):\n    sys.exit(0)", []string{"1"}, false, "sys.exit", nil},
		{"from sys import exit", "from sys import exit\ndef f(x):\n    return x", []string{"1"}, false, "sys.exit", nil},
		{"os.sys", "import os\ndef f(x):\n    return os.sys.maxsize", []string{"1"}, false, "os.sys", nil},
		{"__import__", "def f(x):\n    return __import__('random').random()", []string{"1"}, false, "dynamic import", nil},
		{"importlib", "import importlib\ndef f(x):\n    return importlib.import_module('ra' + 'ndom').random()", []string{"1"}, false, "import", nil},
		{"builtins trick", "import builtins\ndef f(x):\n    return getattr(builtins, '__import__')('time').time()", []string{"1"}, false, "dynamic import", nil},
		{"import hidden in exec (run-time guard)", "def f(x):\n    exec('import ran' + 'dom as r')\n    return x", []string{"1"}, false, "banned", nil},
		{"stdlib modules may use banned modules internally", "import statistics, pkgutil\ndef f(xs):\n    return statistics.median(xs)", []string{"[3, 1, 2]"}, true, "", []string{"2"}},
		{"a module that merely contains a banned word is fine", "import itertools\ndef f(timestamps):\n    return list(itertools.accumulate(timestamps))", []string{"[1, 2]"}, true, "", []string{"[1, 3]"}},
	}
	props := make([]Proposal, len(cases))
	for i, c := range cases {
		props[i] = Proposal{Program: c.program, Inputs: c.inputs}
	}
	vs, err := p.ValidateBatch(context.Background(), props)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		v := vs[i]
		if v.Valid != c.valid {
			t.Errorf("%s: valid=%v (%s), want %v", c.name, v.Valid, v.Reason, c.valid)
			continue
		}
		if !c.valid && !strings.Contains(v.Reason, c.reason) {
			t.Errorf("%s: reason %q, want it to contain %q", c.name, v.Reason, c.reason)
		}
		if c.valid && v.Reason != "" {
			t.Errorf("%s: valid with reason %q", c.name, v.Reason)
		}
		if c.outputs != nil && strings.Join(v.Outputs, "|") != strings.Join(c.outputs, "|") {
			t.Errorf("%s: outputs %q, want %q", c.name, v.Outputs, c.outputs)
		}
		if c.valid && len(v.Outputs) != len(c.inputs) {
			t.Errorf("%s: %d outputs for %d inputs", c.name, len(v.Outputs), len(c.inputs))
		}
	}
}

func TestValidateRebuildsImportsFromTheAST(t *testing.T) {
	p := sharedPool(t)
	v, err := p.Validate(context.Background(), "import heapq, math as m\nfrom collections import (deque,\n    Counter)\ndef f(x):\n    import bisect\n    return m.floor(x)", []string{"1.5"})
	if err != nil {
		t.Fatal(err)
	}
	want := "import heapq, math as m|from collections import deque, Counter|import bisect"
	if !v.Valid || strings.Join(v.Imports, "|") != want {
		t.Fatalf("got %+v, want imports %q", v, want)
	}
}

func TestCustomBannedModules(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, BannedModules: []string{"math", "collections.Counter"}})
	ctx := context.Background()
	for _, c := range []struct {
		program string
		valid   bool
	}{
		{"import math\ndef f(x):\n    return x", false},
		{"from collections import Counter\ndef f(x):\n    return x", false},
		{"from collections import deque\ndef f(x):\n    return x", true},
		{"import random\ndef f(x):\n    return 1", true}, // not in this list
	} {
		v, err := p.Validate(ctx, c.program, []string{"1"})
		if err != nil {
			t.Fatal(err)
		}
		if v.Valid != c.valid {
			t.Errorf("%q: valid=%v (%s), want %v", c.program, v.Valid, v.Reason, c.valid)
		}
	}
}

// TestCheckOutput is the deduction check: Python == on the two values,
// evaluated in the sandbox.
func TestCheckOutput(t *testing.T) {
	p := sharedPool(t)
	cases := []struct {
		gold, pred string
		want       bool
	}{
		{"1", "1", true},
		{"1", "1.0", true},
		{"1", "True", true},
		{"0", "False", true},
		{"1", "2", false},
		{"'1'", "1", false},
		{"{'a': 1, 'b': 2}", "{'b': 2, 'a': 1}", true},
		{"{1, 2, 3}", "{3, 1, 2}", true},
		{"set()", "set()", true},
		{"frozenset({1, 2})", "frozenset({2, 1})", true},
		{"[1, 2]", "(1, 2)", false},
		{"(1,)", "(1, )", true},
		{"[[1, (2, 3)], {'k': [4, {5}]}]", "[[1,(2,3)],{'k':[4,{5}]}]", true},
		{`'it\'s "q"'`, `"it's \"q\""`, true},
		{`'a\nb'`, `"a\nb"`, true},
		{"-0.0", "0", true},
		{"(1+2j)", "1+2j", true},
		{"nan", "nan", false},                                          // not evaluable, as in the reference
		{"float('nan')", "float('nan')", false},                        // nan != nan
		{"[1, 2]", "[1, 2", false},                                     // syntax error
		{"1", "", false},                                               // empty answer
		{"1", "type('A', (), {'__eq__': lambda s, o: True})()", false}, // not a literal
		{"1", "__import__('os').system('true') or 1", false},
		{"[1]", "[x for x in [1]]", false},
		{"'ab'", "'a' 'b'", true},
		{"6", "2 * 3", true},
	}
	pairs := make([][2]string, len(cases))
	for i, c := range cases {
		pairs[i] = [2]string{c.gold, c.pred}
	}
	got, err := p.CheckOutputBatch(context.Background(), pairs)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("CheckOutput(%q, %q) = %v, want %v", c.gold, c.pred, got[i], c.want)
		}
	}
	if ok, err := p.CheckOutput(context.Background(), "{'x': [1]}", "{'x': [1.0]}"); err != nil || !ok {
		t.Errorf("CheckOutput single: %v %v", ok, err)
	}
}

// TestCheckInput is the abduction check: gold == f(predicted input).
func TestCheckInput(t *testing.T) {
	p := sharedPool(t)
	ctx := context.Background()
	add := "def f(a, b):\n    return a + b"
	cases := []struct {
		name, program string
		imports       []string
		gold, pred    string
		want          bool
	}{
		{"exact pre-image", add, nil, "5", "2, 3", true},
		{"any pre-image", add, nil, "5", "0, 5", true},
		{"value equality", add, nil, "5", "2.5, 2.5", true},
		{"wrong", add, nil, "5", "1, 1", false},
		{"error is wrong", add, nil, "5", "'2', 3", false},
		{"multi-line input is wrong", add, nil, "5", "2,\n3", false},
		{"timeout is wrong", "def f(x):\n    while x:\n        pass\n    return 0", nil, "0", "1", false},
		{"imports are prepended", "def f(s):\n    return Counter(s)['a']", []string{"from collections import Counter"}, "2", "'aab'", true},
		{"the program's own __eq__ cannot decide", "class Any:\n    def __eq__(self, o):\n        return True\ndef f(x):\n    return Any()", nil, "5", "1", false},
	}
	for _, c := range cases {
		got, err := p.CheckInput(ctx, c.program, c.imports, c.gold, c.pred)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: CheckInput = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestCheckProgram is the induction check: the predicted program must
// reproduce every hidden pair.
func TestCheckProgram(t *testing.T) {
	p := sharedPool(t)
	ctx := context.Background()
	inputs := []string{"'abc'", "'hello'", "''"}
	outputs := []string{"'cba'", "'olleh'", "''"}
	cases := []struct {
		name, program string
		imports       []string
		want          bool
	}{
		{"reproduces every pair", "def f(s):\n    return s[::-1]", nil, true},
		{"another implementation", "def f(s):\n    return ''.join(reversed(s))", nil, true},
		{"wrong on one pair", "def f(s):\n    return s[::-1] if s else 'x'", nil, false},
		{"raises", "def f(s):\n    return s[0]", nil, false},
		{"loops", "def f(s):\n    while True:\n        pass", nil, false},
		{"uses the original program's imports", "def f(s):\n    return ''.join(deque(reversed(s)))", []string{"from collections import deque"}, true},
		{"syntax error", "def f(s)\n    return s", nil, false},
	}
	for _, c := range cases {
		got, err := p.CheckProgram(ctx, c.program, c.imports, inputs, outputs)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: CheckProgram = %v, want %v", c.name, got, c.want)
		}
	}
	if ok, _ := p.CheckProgram(ctx, "def f(s):\n    return s", nil, []string{"1"}, nil); ok {
		t.Error("mismatched inputs/outputs must be false")
	}
}

func TestClosedPool(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := p.Run(context.Background(), "def f(x):\n    return x", "1"); err != ErrClosed {
		t.Fatalf("Run on a closed pool: %v, want ErrClosed", err)
	}
}

func TestCancelledContext(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Timeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := p.Run(ctx, "def f(x):\n    while True:\n        pass", "1")
	if err == nil {
		t.Fatal("want the context's error")
	}
	// The worker was replaced; the pool still works.
	r, err := p.Run(context.Background(), "def f(x):\n    return x * 2", "21")
	if err != nil || r.Output != "42" {
		t.Fatalf("after cancel: %+v %v", r, err)
	}
}

// TestLayersAllOnHere: every layer this machine and our privileges support
// (probed here, independently of the pool) is reported and on, so a machine
// or a change that silently loses one fails.
func TestLayersAllOnHere(t *testing.T) {
	p := sharedPool(t)
	requireSupportedLayers(t, p.Layers(), probeLayerSupport(t))
}

// probeLayerSupport finds out, without the sandbox's code, which isolation
// layers this process could set up.
func probeLayerSupport(t *testing.T) map[string]bool {
	t.Helper()
	root := os.Geteuid() == 0
	status, _ := os.ReadFile("/proc/self/status")
	abi, _, _ := syscall.Syscall(444, 0, 0, 1) // landlock_create_ruleset(NULL, 0, VERSION)
	// Namespaces: start a process in all six new namespaces.
	ns := exec.Command("/bin/true")
	ns.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
		syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS}
	nsErr := ns.Run()
	if nsErr != nil {
		t.Logf("probe: no new namespaces here: %v", nsErr)
	}
	// Cgroups (root only): a group we can create under a pids hierarchy.
	cgroupOK := false
	if root {
		for _, dir := range []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup"} {
			if _, err := os.Stat(filepath.Join(dir, "pids.max")); err != nil && dir == "/sys/fs/cgroup" {
				continue // a v2 root without the pids controller
			}
			probe := filepath.Join(dir, fmt.Sprintf("azr-probe-%d", os.Getpid()))
			if os.Mkdir(probe, 0o755) == nil {
				_, err := os.Stat(filepath.Join(probe, "pids.max"))
				cgroupOK = err == nil
				os.Remove(probe)
			}
			if cgroupOK {
				break
			}
		}
	}
	return map[string]bool{
		"self-test":   true,
		"environment": true,
		"rlimits":     true,
		"namespaces":  nsErr == nil,
		"tmpfs":       nsErr == nil, // mounted in the worker's own mount namespace
		"landlock":    int(abi) > 0,
		"seccomp":     strings.Contains(string(status), "Seccomp:"),
		"uid":         root,
		"cgroup":      cgroupOK,
	}
}

// requireSupportedLayers fails for every supported layer that the pool does
// not report as on (absent from the report counts as off).
func requireSupportedLayers(t *testing.T, layers []Layer, supported map[string]bool) {
	t.Helper()
	on := map[string]bool{}
	for _, l := range layers {
		t.Logf("%-11s %-5v %s", l.Name, l.Enabled, l.Detail)
		on[l.Name] = on[l.Name] || l.Enabled
	}
	for name, ok := range supported {
		if ok && !on[name] {
			t.Errorf("layer %s is not on although this machine supports it", name)
		}
	}
}

func TestWorkerKilledFromOutsideIsReplaced(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1})
	p.mu.Lock()
	w := p.all[0]
	p.mu.Unlock()
	_ = w.cmd.Process.Kill()
	<-w.waited
	r, err := p.Run(context.Background(), "def f(x):\n    return x", "1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != StatusOK || r.Output != "1" {
		t.Fatalf("a worker that died while idle must be replaced before the next program: %+v", r)
	}
	r, err = p.Run(context.Background(), "def f(x):\n    return x", "7")
	if err != nil || r.Output != "7" {
		t.Fatalf("replacement worker: %+v %v", r, err)
	}
}

// TestHungWorkerIsReplaced: the watchdog kills a worker that stops answering
// (here: stopped with SIGSTOP from outside) and a fresh one takes its place.
func TestHungWorkerIsReplaced(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Timeout: 100 * time.Millisecond})
	p.mu.Lock()
	w := p.all[0]
	p.mu.Unlock()
	if err := w.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	r, err := p.Run(context.Background(), "def f(x):\n    return x", "1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != StatusKilled {
		t.Fatalf("a call to a hung worker: %+v, want status killed", r)
	}
	r, err = p.Run(context.Background(), "def f(x):\n    return x", "2")
	if err != nil || r.Status != StatusOK || r.Output != "2" {
		t.Fatalf("replacement worker: %+v %v", r, err)
	}
}

// TestNoGoroutinePerCall: calls leave nothing running behind them.
func TestNoGoroutinePerCall(t *testing.T) {
	p := sharedPool(t)
	ctx := context.Background()
	p.Run(ctx, "def f(x):\n    return x", "0")
	before := runtime.NumGoroutine()
	jobs := make([]Job, 200)
	for i := range jobs {
		jobs[i] = Job{Program: "def f(x):\n    return x", Input: "1"}
	}
	if _, err := p.RunBatch(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Fatalf("goroutines grew from %d to %d over 200 calls", before, after)
	}
}
