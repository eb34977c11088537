package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/azr-native/azr-native/sandbox"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

func init() {
	registerCommand(&cli.Command{
		Name:  "sandbox",
		Usage: "run or validate a Python program in the isolated sandbox AZR uses for every reward",
		Description: `Programs define an entry function f. The input is the text between the call's
parentheses, e.g. --input "'abc', [1, 2]" calls f('abc', [1, 2]).

Each execution runs in a fresh child of a persistent Python fork-server, inside new
user/pid/net/mount/ipc/uts namespaces, as an unprivileged uid, with Landlock (read-only
filesystem except a private task directory), a seccomp filter, rlimits, cgroup limits
and an empty environment. The start-up log lists the layers in use (every detail with
"azr-native --log-level debug sandbox ..."). If this machine cannot set up a layer (for
example unprivileged user namespaces are disabled), the command stops with an error that
names the layer and the fix; --sandbox-isolation best-effort runs anyway, with a warning.

Both subcommands exit 0 whatever the program does (errors, timeouts and attacks are
results); they fail only when the sandbox itself cannot run.`,
		Subcommands: []*cli.Command{
			{
				Name:      "run",
				Usage:     "run f(input) once and print the status, repr(output) and duration",
				UsageText: "azr-native sandbox run --program FILE [--input ARGS] [--json] [--timeout 500ms]",
				Flags: append(sbxFlags(),
					&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "the call's arguments as Python text, e.g. \"'abc', 3\"; empty calls f()", EnvVars: envVar("input")},
					&cli.GenericFlag{Name: "import", Value: &sbxList{}, Usage: "an import line to prepend (repeatable), as the induction and abduction checks do", EnvVars: envVar("import")},
				),
				Action: sbxRunCmd,
			},
			{
				Name:      "validate",
				Usage:     "check whether a program and its inputs form a valid AZR task (the proposal check)",
				UsageText: "azr-native sandbox validate --program FILE --input ARGS [--input ARGS ...] [--json]",
				Description: `A task is valid when the program parses, uses no banned module (in any form: import,
from-import, __import__, importlib, builtins, dotted names such as os.path), and for every
input runs successfully in two separate sandboxed children with identical outputs (the
second child calls f twice, catching random, time, id() and mutable-default state), with
an output within the size cap and on one line. Inputs must be on one line. The JSON has
the fields valid, reason (why not), outputs and imports (rebuilt from the AST).`,
				Flags: append(sbxFlags(),
					&cli.GenericFlag{Name: "input", Required: true, Value: &sbxList{}, Usage: "an input (repeatable; induction tasks use 10); commas inside are part of the input", EnvVars: envVar("input")},
				),
				Action: sbxValidateCmd,
			},
		},
	})
	registerBench(&cli.Command{
		Name:  "sandbox",
		Usage: "sandbox executions per second vs a new python process per execution",
		Description: `Measures, with every isolation layer on and --threads workers, for --duration each:

  trivial     run f(x) = x + 1                                     goal >= 1000 executions/s
  realistic   validate realistic programs (DP, graphs, strings,    goal >=  500 executions/s
              classes): two executions each, for determinism
              (tasks_per_s in the JSON counts validations)
  loops-5pct  the realistic workload with 5% infinite loops, killed at --timeout

and the same workloads through a new "python -s -S -P" process per execution (same
interpreter, same concurrency, killed at the same deadline), reported as ratios.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON", EnvVars: envVar("json")},
			&cli.DurationFlag{Name: "duration", Value: 3 * time.Second, Usage: "measuring time per workload and per side", EnvVars: envVar("duration")},
			&cli.DurationFlag{Name: "timeout", Value: 500 * time.Millisecond, Usage: "per-execution deadline", EnvVars: envVar("timeout")},
			&cli.StringFlag{Name: "python", Usage: "Python interpreter; default: python3 from PATH, resolved to the real binary", EnvVars: envVar("python")},
			&cli.BoolFlag{Name: "no-baseline", Usage: "skip the process-per-execution baseline", EnvVars: envVar("no-baseline")},
			sbxIsolationFlag(),
		},
		Action: sbxBench,
	})
}

// sbxList is a repeatable flag whose values are kept whole: Python inputs
// contain commas, which a StringSliceFlag would split. (No short alias: urfave/cli
// copies a flag's String() into its aliases, which would append it again.)
type sbxList []string

func (l *sbxList) Set(v string) error { *l = append(*l, v); return nil }
func (l *sbxList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, " ; ")
}

func sbxValues(c *cli.Context, name string) []string {
	if l, ok := c.Generic(name).(*sbxList); ok && l != nil {
		return *l
	}
	return nil
}

func sbxFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "program", Aliases: []string{"p"}, Required: true, Usage: "Python source `FILE` defining f (- for stdin)", EnvVars: envVar("program")},
		&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON", EnvVars: envVar("json")},
		&cli.DurationFlag{Name: "timeout", Value: 500 * time.Millisecond, Usage: "per-execution deadline; the child is killed from outside when it passes", EnvVars: envVar("timeout")},
		&cli.Int64Flag{Name: "memory-mb", Value: 512, Usage: "address-space limit of one execution, in MiB", EnvVars: envVar("memory-mb")},
		&cli.IntFlag{Name: "max-output", Value: 400, Usage: "largest accepted repr(output) in bytes; longer outputs are rejected", EnvVars: envVar("max-output")},
		&cli.StringFlag{Name: "python", Usage: "Python interpreter; default: python3 from PATH, resolved to the real binary", EnvVars: envVar("python")},
		&cli.StringSliceFlag{Name: "banned", Usage: "banned module (repeatable); default: the reference list made effective", EnvVars: envVar("banned")},
		sbxIsolationFlag(),
	}
}

// sbxIsolationFlag is --sandbox-isolation of the sandbox commands (run has its
// own, derived from its settings).
func sbxIsolationFlag() cli.Flag {
	return &cli.StringFlag{Name: "sandbox-isolation", Value: string(sandbox.IsolationStrict),
		Usage:   "when an isolation layer cannot be set up on this machine: strict (refuse, naming the layer and the fix) or best-effort (run anyway, with a warning)",
		EnvVars: envVar("sandbox-isolation")}
}

func sbxReadProgram(name string) (string, error) {
	if name == "-" {
		b, err := io.ReadAll(os.Stdin)
		return string(b), err
	}
	b, err := os.ReadFile(name)
	return string(b), err
}

func sbxPool(c *cli.Context, workers int) (*sandbox.Pool, error) {
	cfg := sandbox.Config{
		Workers:          workers,
		Timeout:          c.Duration("timeout"),
		MemoryLimitBytes: c.Int64("memory-mb") << 20,
		MaxOutputBytes:   c.Int("max-output"),
		Python:           c.String("python"),
		Logger:           logger,
	}
	if b := c.StringSlice("banned"); len(b) > 0 {
		cfg.BannedModules = b
	}
	iso, err := sandbox.ParseIsolation(c.String("sandbox-isolation"))
	if err != nil {
		return nil, err
	}
	cfg.Isolation = iso
	return sandbox.New(c.Context, cfg)
}

func sbxPrintJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func sbxRunCmd(c *cli.Context) error {
	program, err := sbxReadProgram(c.String("program"))
	if err != nil {
		return err
	}
	p, err := sbxPool(c, 1)
	if err != nil {
		return err
	}
	defer p.Close()
	job := sandbox.Job{Program: program, Input: c.String("input"), Imports: sbxValues(c, "import")}
	res, err := p.RunBatch(c.Context, []sandbox.Job{job})
	if err != nil {
		return err
	}
	r := res[0]
	if c.Bool("json") {
		return sbxPrintJSON(struct {
			sandbox.Result
			DurationMS float64 `json:"duration_ms"`
		}{r, float64(r.Duration.Microseconds()) / 1000})
	}
	fmt.Printf("status:   %s\n", r.Status)
	if r.Status == sandbox.StatusOK {
		fmt.Printf("output:   %s\n", r.Output)
	}
	if r.Error != "" {
		fmt.Printf("error:    %s\n", r.Error)
	}
	fmt.Printf("duration: %s\n", r.Duration.Round(10*time.Microsecond))
	return nil
}

func sbxValidateCmd(c *cli.Context) error {
	program, err := sbxReadProgram(c.String("program"))
	if err != nil {
		return err
	}
	p, err := sbxPool(c, min(c.Int("threads"), 2*len(sbxValues(c, "input"))))
	if err != nil {
		return err
	}
	defer p.Close()
	start := time.Now()
	v, err := p.Validate(c.Context, program, sbxValues(c, "input"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return sbxPrintJSON(struct {
			sandbox.Validation
			DurationMS float64 `json:"duration_ms"`
		}{v, float64(time.Since(start).Microseconds()) / 1000})
	}
	if v.Valid {
		fmt.Println("valid:    yes")
		for i, o := range v.Outputs {
			fmt.Printf("output %d: %s\n", i+1, o)
		}
	} else {
		fmt.Println("valid:    no")
		fmt.Printf("reason:   %s\n", v.Reason)
	}
	for _, im := range v.Imports {
		fmt.Printf("import:   %s\n", im)
	}
	fmt.Printf("duration: %s\n", time.Since(start).Round(10*time.Microsecond))
	return nil
}

// ---- bench sandbox

// sbxRealistic are realistic AZR-style programs (what a proposer writes).
var sbxRealistic = []struct{ program, input string }{
	{"def f(s):\n    n = len(s)\n    dp = [[0] * (n + 1) for _ in range(n + 1)]\n    for i in range(n - 1, -1, -1):\n        for j in range(i + 1, n + 1):\n            if j - i == 1:\n                dp[i][j] = 1\n            elif s[i] == s[j - 1]:\n                dp[i][j] = dp[i + 1][j - 1] + 2\n            else:\n                dp[i][j] = max(dp[i + 1][j], dp[i][j - 1])\n    return dp[0][n]", "'character'"},
	{"from collections import deque\ndef f(edges, start):\n    graph = {}\n    for a, b in edges:\n        graph.setdefault(a, []).append(b)\n        graph.setdefault(b, []).append(a)\n    dist = {start: 0}\n    q = deque([start])\n    while q:\n        u = q.popleft()\n        for v in sorted(graph.get(u, [])):\n            if v not in dist:\n                dist[v] = dist[u] + 1\n                q.append(v)\n    return sorted(dist.items())", "[(1, 2), (2, 3), (3, 4), (1, 5), (5, 4), (4, 6)], 1"},
	{"import heapq\ndef f(tasks, k):\n    heap = []\n    for name, cost in tasks:\n        heapq.heappush(heap, (cost, name))\n    done = []\n    while heap and len(done) < k:\n        cost, name = heapq.heappop(heap)\n        done.append(name.upper() + str(cost))\n    return done", "[('write', 3), ('read', 1), ('sort', 2), ('merge', 5)], 3"},
	{"class Account:\n    def __init__(self, owner):\n        self.owner = owner\n        self.history = []\n    def apply(self, op, amount):\n        if op == 'dep':\n            self.history.append(amount)\n        elif op == 'wd' and sum(self.history) >= amount:\n            self.history.append(-amount)\ndef f(name, ops):\n    acct = Account(name)\n    for op, amount in ops:\n        acct.apply(op, amount)\n    return (acct.owner, sum(acct.history), len(acct.history))", "'ann', [('dep', 10), ('wd', 4), ('wd', 20), ('dep', 7)]"},
	{"def f(words):\n    groups = {}\n    for w in words:\n        key = ''.join(sorted(w))\n        groups.setdefault(key, []).append(w)\n    return sorted((len(v), sorted(v)) for v in groups.values())", "['listen', 'silent', 'enlist', 'google', 'gogole', 'cat', 'act', 'tac']"},
	{"def f(n):\n    def solve(row, cols, d1, d2):\n        if row == n:\n            return 1\n        total = 0\n        for c in range(n):\n            if c not in cols and row - c not in d1 and row + c not in d2:\n                total += solve(row + 1, cols | {c}, d1 | {row - c}, d2 | {row + c})\n        return total\n    return solve(0, frozenset(), frozenset(), frozenset())", "6"},
	{"from functools import lru_cache\ndef f(coins, amount):\n    @lru_cache(maxsize=None)\n    def ways(i, rest):\n        if rest == 0:\n            return 1\n        if i == len(coins) or rest < 0:\n            return 0\n        return ways(i, rest - coins[i]) + ways(i + 1, rest)\n    return ways(0, amount)", "(1, 2, 5, 10), 37"},
	{"def f(text):\n    out = []\n    stack = []\n    for ch in text:\n        if ch in '([{':\n            stack.append(ch)\n        elif ch in ')]}':\n            if stack and '([{'.index(stack[-1]) == ')]}'.index(ch):\n                stack.pop()\n            else:\n                out.append(ch)\n    return ''.join(out), len(stack)", "'(a[b]{c)d]e}((f'"},
}

const sbxTrivial = "def f(x):\n    return x + 1"
const sbxLoop = "def f(x):\n    while True:\n        x += 1"

type sbxSide struct {
	Executions   int64   `json:"executions"`
	Tasks        int64   `json:"tasks"`
	Seconds      float64 `json:"seconds"`
	ExecPerSec   float64 `json:"executions_per_s"`
	TasksPerSec  float64 `json:"tasks_per_s"`
	Failures     int64   `json:"unexpected_results"`
	FirstFailure string  `json:"first_unexpected,omitempty"`
}

type sbxWorkload struct {
	Name      string   `json:"name"`
	What      string   `json:"what"`
	Sandbox   sbxSide  `json:"sandbox"`
	Baseline  *sbxSide `json:"baseline,omitempty"`
	Ratio     float64  `json:"ratio_vs_baseline,omitempty"`
	Goal      float64  `json:"goal_executions_per_s,omitempty"`
	MeetsGoal *bool    `json:"meets_goal,omitempty"`
}

type sbxReport struct {
	// Load averages (1 min) of the machine when the bench started and ended:
	// other processes competing for the cores lower every number here.
	LoadStart float64         `json:"loadavg_1m_start"`
	LoadEnd   float64         `json:"loadavg_1m_end"`
	Workers   int             `json:"workers"`
	TimeoutMS int64           `json:"timeout_ms"`
	Python    string          `json:"python"`
	Layers    []sandbox.Layer `json:"layers"`
	Workloads []sbxWorkload   `json:"workloads"`
}

// sbxDrive runs task(i) from `conc` goroutines for d and counts executions.
func sbxDrive(ctx context.Context, conc int, d time.Duration, task func(ctx context.Context, i int) (execs int, problem string, err error)) (sbxSide, error) {
	var side sbxSide
	var next, execs, tasks, fails atomic.Int64
	var first sync.Once
	var firstErr error
	var errOnce sync.Once
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				n, problem, err := task(ctx, i)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				execs.Add(int64(n))
				tasks.Add(1)
				if problem != "" {
					fails.Add(1)
					first.Do(func() { side.FirstFailure = problem })
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	side.Executions, side.Tasks, side.Seconds, side.Failures = execs.Load(), tasks.Load(), el, fails.Load()
	side.ExecPerSec = float64(side.Executions) / el
	side.TasksPerSec = float64(side.Tasks) / el
	return side, firstErr
}

// sbxBaselineHarness is what one fresh process runs: the program, then
// repr(f(input)), printed. No isolation at all.
const sbxBaselineHarness = `import sys
g = {"__name__": "__main__"}
exec(sys.argv[1], g)
sys.stdout.write(repr(eval("f(" + sys.argv[2] + ")", g)).strip())`

func sbxBaselineRun(ctx context.Context, exe string, flags []string, timeout time.Duration, program, input string) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append(append([]string{}, flags...), "-c", sbxBaselineHarness, program, input)
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = []string{"PYTHONHASHSEED=0"}
	out, err := cmd.Output()
	if err != nil {
		return "", false
	}
	return string(out), true
}

func sbxBench(c *cli.Context) error {
	ctx := c.Context
	workers := c.Int("threads")
	iso, err := sandbox.ParseIsolation(c.String("sandbox-isolation"))
	if err != nil {
		return err
	}
	p, err := sandbox.New(ctx, sandbox.Config{Workers: workers, Timeout: c.Duration("timeout"), Python: c.String("python"), Isolation: iso, Logger: logger})
	if err != nil {
		return err
	}
	defer p.Close()
	exe, flags := p.Interpreter()
	for _, l := range p.Layers() {
		if !l.Enabled {
			logger.Warn("bench sandbox: a layer is off; numbers are not 'all layers on'", zap.String("layer", l.Name), zap.String("why", l.Detail))
		}
	}
	d := c.Duration("duration")
	timeout := c.Duration("timeout")
	conc := 2 * workers // keep every worker busy while replies travel
	rep := sbxReport{LoadStart: sbxLoad(), Workers: workers, TimeoutMS: timeout.Milliseconds(), Python: exe, Layers: p.Layers()}

	// Gold outputs of the realistic programs, for checking both sides.
	gold := make([]string, len(sbxRealistic))
	for i, r := range sbxRealistic {
		v, err := p.Validate(ctx, r.program, []string{r.input})
		if err != nil {
			return err
		}
		if !v.Valid {
			return fmt.Errorf("bench program %d is not valid: %s", i, v.Reason)
		}
		gold[i] = v.Outputs[0]
	}
	realistic := func(i int) (string, string, bool) { // program, input, loops
		if i%20 == 19 {
			return sbxLoop, "1", true
		}
		r := sbxRealistic[i%len(sbxRealistic)]
		return r.program, r.input, false
	}
	type workload struct {
		name, what string
		goal       float64
		sandbox    func(ctx context.Context, i int) (int, string, error)
		baseline   func(ctx context.Context, i int) (int, string, error)
	}
	validate := func(withLoops bool) func(ctx context.Context, i int) (int, string, error) {
		return func(ctx context.Context, i int) (int, string, error) {
			prog, in, loops := realistic(i)
			if !withLoops && loops {
				prog, in, loops = sbxRealistic[0].program, sbxRealistic[0].input, false
				i = 0
			}
			v, err := p.Validate(ctx, prog, []string{in})
			if err != nil {
				return 0, "", err
			}
			n := 2 // executions: a failing first one ends the validation
			if loops {
				n = 1
			}
			if loops == v.Valid || (!loops && v.Outputs[0] != gold[i%len(sbxRealistic)]) {
				return n, fmt.Sprintf("task %d: valid=%v %s", i, v.Valid, v.Reason), nil
			}
			return n, "", nil
		}
	}
	validateBaseline := func(withLoops bool) func(ctx context.Context, i int) (int, string, error) {
		return func(ctx context.Context, i int) (int, string, error) {
			prog, in, loops := realistic(i)
			if !withLoops && loops {
				prog, in, loops = sbxRealistic[0].program, sbxRealistic[0].input, false
				i = 0
			}
			// Two fresh processes, as the sandbox runs two children (the
			// second only when the first succeeded, as the sandbox does).
			n := 1
			o1, ok := sbxBaselineRun(ctx, exe, flags, timeout, prog, in)
			valid := ok
			if ok {
				n = 2
				o2, ok2 := sbxBaselineRun(ctx, exe, flags, timeout, prog, in)
				valid = ok2 && o1 == o2
			}
			if loops == valid || (!loops && o1 != gold[i%len(sbxRealistic)]) {
				return n, fmt.Sprintf("task %d: valid=%v", i, valid), nil
			}
			return n, "", nil
		}
	}
	workloads := []workload{
		{"trivial", "run f(x) = x + 1", 1000,
			func(ctx context.Context, i int) (int, string, error) {
				r, err := p.Run(ctx, sbxTrivial, fmt.Sprint(i))
				if err != nil {
					return 0, "", err
				}
				if r.Status != sandbox.StatusOK || r.Output != fmt.Sprint(i+1) {
					return 1, fmt.Sprintf("%+v", r), nil
				}
				return 1, "", nil
			},
			func(ctx context.Context, i int) (int, string, error) {
				out, ok := sbxBaselineRun(ctx, exe, flags, timeout, sbxTrivial, fmt.Sprint(i))
				if !ok || out != fmt.Sprint(i+1) {
					return 1, "baseline: " + out, nil
				}
				return 1, "", nil
			}},
		{"realistic", fmt.Sprintf("validate %d realistic programs round-robin (2 executions each)", len(sbxRealistic)), 500, validate(false), validateBaseline(false)},
		{"loops-5pct", "the realistic workload with every 20th task an infinite loop (killed at the deadline)", 0, validate(true), validateBaseline(true)},
	}
	for _, w := range workloads {
		logger.Info("bench sandbox: measuring", zap.String("workload", w.name), zap.Duration("duration", d))
		s, err := sbxDrive(ctx, conc, d, w.sandbox)
		if err != nil {
			return err
		}
		out := sbxWorkload{Name: w.name, What: w.what, Sandbox: s}
		if w.goal > 0 {
			out.Goal = w.goal
			meets := s.ExecPerSec >= w.goal
			out.MeetsGoal = &meets
		}
		if !c.Bool("no-baseline") {
			b, err := sbxDrive(ctx, workers, d, w.baseline)
			if err != nil {
				return err
			}
			out.Baseline = &b
			if b.ExecPerSec > 0 {
				out.Ratio = s.ExecPerSec / b.ExecPerSec
			}
		}
		rep.Workloads = append(rep.Workloads, out)
	}
	rep.LoadEnd = sbxLoad()
	if c.Bool("json") {
		return sbxPrintJSON(rep)
	}
	fmt.Printf("sandbox bench: %d workers, %s timeout, %s, all layers on (load average %.2f -> %.2f)\n", workers, timeout, exe, rep.LoadStart, rep.LoadEnd)
	fmt.Printf("%-11s %14s %14s %8s %8s  %s\n", "workload", "sandbox ex/s", "process ex/s", "ratio", "goal", "unexpected")
	for _, w := range rep.Workloads {
		base, ratio := "-", "-"
		if w.Baseline != nil {
			base, ratio = fmt.Sprintf("%.0f", w.Baseline.ExecPerSec), fmt.Sprintf("%.2fx", w.Ratio)
		}
		goal := "-"
		if w.MeetsGoal != nil {
			goal = fmt.Sprintf(">=%.0f %s", w.Goal, map[bool]string{true: "ok", false: "MISSED"}[*w.MeetsGoal])
		}
		fmt.Printf("%-11s %14.0f %14s %8s %8s  %d\n", w.Name, w.Sandbox.ExecPerSec, base, ratio, goal, w.Sandbox.Failures)
	}
	return nil
}

func sbxLoad() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscan(string(b), &l)
	return l
}
