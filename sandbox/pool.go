package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// ErrClosed is returned by every method of a closed Pool.
var ErrClosed = errors.New("sandbox: pool is closed")

// Layer is one isolation layer and whether it is active.
type Layer struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	Detail  string `json:"detail"`
}

// Job is one execution for RunBatch.
type Job struct {
	Program string
	Input   string
	Imports []string // prepended to Program, one line each
}

// Proposal is one proposed task for ValidateBatch.
type Proposal struct {
	Program string
	Inputs  []string
}

// Pool is a set of isolated Python fork-server workers. All methods are safe
// for concurrent use. The error results report failures of the sandbox itself
// (closed pool, interpreter cannot start, cancelled context); whatever the
// program does is reported in the Result, Validation or bool.
type Pool struct {
	cfg    Config
	log    *zap.Logger
	l      *launcher
	free   chan *worker
	layers []Layer

	mu      sync.Mutex
	all     []*worker // by index; nil while being replaced
	closed  bool
	closeCh chan struct{}
	done    sync.WaitGroup

	nextID atomic.Uint64
	cache  sync.Map // sha256(program) -> *analysis
	cached atomic.Int64
}

// New starts cfg.Workers workers (one per core by default) and reports the
// isolation layers in one log line; unavailable layers are logged as warnings
// and listed by Layers() with Enabled=false. With cfg.Isolation strict (the
// default) a layer this machine cannot set up (and that cfg.DisableLayers does
// not turn off) makes New fail with a *WeakSandboxError naming the layer and
// the fix; best-effort starts anyway and warns.
func New(ctx context.Context, cfg Config) (*Pool, error) {
	cfg = cfg.withDefaults()
	if _, err := ParseIsolation(string(cfg.Isolation)); err != nil {
		return nil, err
	}
	broken := testBrokenLayers()
	if len(cfg.BannedModules) == 0 {
		cfg.BannedModules = []string{}
	}
	log := cfg.Logger
	interp, err := resolvePython(ctx, cfg.Python)
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp("", "azr-sandbox-")
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	_ = os.Chmod(base, 0o755)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	l := &launcher{
		cfg: cfg, log: log, interp: interp, base: base,
		// A private range of unprivileged host uids: 2 per worker.
		hostUID:     1_000_000_000 + (binary.LittleEndian.Uint32(rnd[:])%1_000_000)*1024,
		userns:      !cfg.disabled("namespaces"),
		breakUserns: broken["namespaces"],
	}
	for _, p := range []string{"/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/local/lib"} {
		if _, err := os.Stat(p); err == nil {
			l.readPaths = append(l.readPaths, p)
		}
	}
	var goLayers []Layer
	if !cfg.disabled("seccomp") {
		if f, err := seccompFilter(); err != nil || broken["seccomp"] {
			if err == nil {
				err = fmt.Errorf("seccomp filter refused (simulated by %s)", testBreakLayersEnv)
			}
			goLayers = append(goLayers, Layer{"seccomp", false, err.Error()})
		} else {
			l.seccomp = f
		}
	}
	if !cfg.disabled("cgroup") && os.Geteuid() == 0 {
		var cg *cgroups
		why := "cannot create cgroups (simulated by " + testBreakLayersEnv + ")"
		if !broken["cgroup"] {
			cg, why = setupCgroups(filepath.Base(base), cfg.Workers, cfg.MemoryLimitBytes)
		}
		if cg != nil {
			l.cg = cg
			goLayers = append(goLayers, Layer{"cgroup", true, cg.describe() + noteIf(why)})
		} else {
			goLayers = append(goLayers, Layer{"cgroup", false, why})
		}
	} else {
		goLayers = append(goLayers, Layer{"cgroup", false, "disabled or not root"})
	}
	p := &Pool{cfg: cfg, log: log, l: l, free: make(chan *worker, cfg.Workers), all: make([]*worker, cfg.Workers), closeCh: make(chan struct{})}
	// Start the first worker alone: if namespaces are refused, fall back loudly.
	w0, err := l.start(0)
	if err != nil && l.userns {
		log.Warn("sandbox: cannot start a worker in new namespaces; retrying without them", zap.Error(err))
		l.userns = false
		goLayers = append(goLayers, Layer{"namespaces", false, "clone with user/pid/net/mount/ipc/uts namespaces failed: " + err.Error()})
		w0, err = l.start(0)
	}
	if err != nil {
		p.cleanupDirs()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if cfg.disabled("namespaces") {
		goLayers = append(goLayers, Layer{"namespaces", false, "disabled by configuration"})
	}
	if l.userns {
		users := "user (uid 0 and 1000 mapped to unprivileged host uids)"
		if os.Geteuid() != 0 {
			users = fmt.Sprintf("user (uid 0 mapped to this user, uid %d)", os.Geteuid())
		}
		goLayers = append(goLayers, Layer{"namespaces", true, users + ", pid, net (no interfaces up), mount, ipc, uts"})
	}
	goLayers = append(goLayers, Layer{"environment", true, "empty except PYTHONHASHSEED=0 and PYTHONHOME; the worker clears it after start-up; flags " + strings.Join(interp.flags(), " ")})
	p.all[0] = w0
	p.free <- w0
	var mu sync.Mutex
	var startErr error
	var wg sync.WaitGroup
	for i := 1; i < cfg.Workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w, err := l.start(i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				startErr = err
				return
			}
			p.all[i] = w
			p.free <- w
		}(i)
	}
	wg.Wait()
	if startErr != nil {
		_ = p.Close()
		return nil, fmt.Errorf("sandbox: %w", startErr)
	}
	p.layers = append(goLayers, w0.layers...)
	fields := []zap.Field{zap.Int("workers", cfg.Workers), zap.String("python", interp.Executable),
		zap.Duration("timeout", cfg.Timeout), zap.Int64("memory_limit", cfg.MemoryLimitBytes), zap.Int("max_output", cfg.MaxOutputBytes)}
	var on, off []string
	for _, ly := range p.layers {
		if ly.Enabled {
			on = append(on, ly.Name)
		} else {
			off = append(off, ly.Name)
			log.Warn("sandbox: isolation layer unavailable", zap.String("layer", ly.Name), zap.String("why", ly.Detail))
		}
	}
	fields = append(fields, zap.Strings("layers_on", on), zap.Strings("layers_off", off))
	log.Info("sandbox: pool started", fields...)
	for _, ly := range p.layers {
		log.Debug("sandbox: layer", zap.String("layer", ly.Name), zap.Bool("enabled", ly.Enabled), zap.String("detail", ly.Detail))
		if ly.Name == "self-test" && !ly.Enabled {
			_ = p.Close()
			return nil, fmt.Errorf("sandbox: an isolated child cannot run a trivial program: %s", ly.Detail)
		}
	}
	if missing := missingLayers(p.layers, expectedLayers(cfg, os.Geteuid() == 0)); len(missing) > 0 {
		weak := &WeakSandboxError{Missing: missing}
		if cfg.Isolation == IsolationStrict {
			_ = p.Close()
			return nil, weak
		}
		log.Warn("sandbox: RUNNING WITH A WEAKER SANDBOX than this machine should give (isolation best-effort); untrusted programs are less contained",
			zap.Error(weak))
	}
	return p, nil
}

func noteIf(s string) string {
	if s == "" {
		return ""
	}
	return " (partial: " + s + ")"
}

// Layers reports every isolation layer and whether it is active.
func (p *Pool) Layers() []Layer { return append([]Layer(nil), p.layers...) }

// Workers is the number of worker processes.
func (p *Pool) Workers() int { return p.cfg.Workers }

// Config returns the effective configuration (defaults filled in).
func (p *Pool) Config() Config { return p.cfg }

// Close kills every worker (and, through their pid namespaces, every child),
// removes the pool's directories and cgroups. It is idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.closeCh)
	ws := append([]*worker(nil), p.all...)
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range ws {
		if w != nil {
			wg.Add(1)
			go func(w *worker) { defer wg.Done(); w.stop() }(w)
		}
	}
	wg.Wait()
	p.done.Wait()
	p.cleanupDirs()
	return nil
}

func (p *Pool) cleanupDirs() {
	if p.l.cg != nil {
		p.l.cg.remove()
	}
	_ = os.RemoveAll(p.l.base)
}

func (p *Pool) acquire(ctx context.Context) (*worker, error) {
	select {
	case <-p.closeCh:
		return nil, ErrClosed
	default:
	}
	for {
		select {
		case w := <-p.free:
			if w.alive() {
				return w, nil
			}
			// It died while idle (killed from outside, OOM): replace it
			// before it is blamed for the next program.
			p.log.Warn("sandbox: idle worker died; replacing it", zap.Int("worker", w.idx))
			if err := p.replace(w); err != nil {
				return nil, err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.closeCh:
			return nil, ErrClosed
		}
	}
}

// exec runs one request on a free worker. A worker that dies or stops
// answering is replaced; the request then ends as StatusKilled (the program
// may have caused it) unless the pool is closing.
func (p *Pool) exec(ctx context.Context, req wireReq) (wireRep, error) {
	w, err := p.acquire(ctx)
	if err != nil {
		return wireRep{}, err
	}
	p.done.Add(1)
	defer p.done.Done()
	req.ID = p.nextID.Add(1)
	if req.ReadCap == 0 {
		req.ReadCap = 4*p.cfg.MaxOutputBytes + 64<<10
	}
	patience := time.Duration(req.TimeoutMS)*time.Millisecond + 5*time.Second
	rep, err := w.call(req, patience, ctx.Done(), p.closeCh)
	if err == nil {
		if strings.HasPrefix(rep.Error, "sandbox isolation failed") {
			p.log.Warn("sandbox: a child reports failed isolation (or a program forged that)", zap.String("error", rep.Error))
		}
		if rep.Status == "worker_error" {
			p.log.Error("sandbox: worker error", zap.String("error", rep.Error))
			p.free <- w
			return wireRep{}, fmt.Errorf("sandbox: worker error: %s", rep.Error)
		}
		p.free <- w
		return rep, nil
	}
	// The worker is gone: replace it.
	if cerr := ctx.Err(); cerr != nil {
		p.replace(w)
		return wireRep{}, cerr
	}
	select {
	case <-p.closeCh:
		return wireRep{}, ErrClosed
	default:
	}
	p.log.Warn("sandbox: worker stopped answering or died; replacing it", zap.Int("worker", w.idx))
	if rerr := p.replace(w); rerr != nil {
		return wireRep{}, rerr
	}
	return wireRep{Status: string(StatusKilled), Error: "sandbox worker died or stopped answering during this execution; it was replaced"}, nil
}

// replace starts a fresh worker in slot w.idx and makes it available.
func (p *Pool) replace(old *worker) error {
	old.kill()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.all[old.idx] = nil
	p.mu.Unlock()
	var nw *worker
	var err error
	for try := 0; try < 3; try++ {
		if nw, err = p.l.start(old.idx); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.log.Error("sandbox: cannot replace a worker", zap.Int("worker", old.idx), zap.Error(err))
		// Keep the slot alive: put the dead worker back so the next call retries.
		p.free <- old
		return fmt.Errorf("sandbox: cannot restart worker: %w", err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		nw.kill()
		return ErrClosed
	}
	p.all[old.idx] = nw
	p.mu.Unlock()
	p.free <- nw
	return nil
}

func (p *Pool) timeoutMS() int64 { return max(int64(p.cfg.Timeout/time.Millisecond), 1) }

func toResult(rep wireRep, cap int) Result {
	r := Result{Status: Status(rep.Status), Output: rep.Output, Error: rep.Error, Duration: time.Duration(rep.NS)}
	if r.Status == StatusOK {
		// Never trust the child for the cap: it could forge its own frame.
		if len(r.Output) > cap {
			return Result{Status: StatusTooLarge, Error: fmt.Sprintf("output is %d bytes, over the %d-byte cap", len(r.Output), cap), Duration: r.Duration}
		}
	} else {
		r.Output = ""
	}
	return r
}

func joinImports(imports []string) string {
	return strings.Join(imports, "\n")
}

// Run executes f(input) for program and returns repr(result), stripped, with
// its status. input is the text between the call's parentheses, e.g.
// `'abc', [1, 2]`; an empty input calls f(). No module policy applies (see
// Validate).
func (p *Pool) Run(ctx context.Context, program, input string) (Result, error) {
	return p.run(ctx, Job{Program: program, Input: input}, 0, 1, false)
}

func (p *Pool) run(ctx context.Context, j Job, salt, calls int, policy bool) (Result, error) {
	rep, err := p.exec(ctx, wireReq{Op: "run", Program: j.Program, Imports: joinImports(j.Imports), Input: j.Input,
		TimeoutMS: p.timeoutMS(), Cap: p.cfg.MaxOutputBytes, Salt: salt, Calls: calls, Policy: policy})
	if err != nil {
		return Result{}, err
	}
	return toResult(rep, p.cfg.MaxOutputBytes), nil
}

// RunBatch runs every job, spread over all workers; results are in job order.
func (p *Pool) RunBatch(ctx context.Context, jobs []Job) ([]Result, error) {
	out := make([]Result, len(jobs))
	err := p.parallel(ctx, len(jobs), func(i int) error {
		r, err := p.run(ctx, jobs[i], 0, 1, false)
		out[i] = r
		return err
	})
	return out, err
}

// parallel calls fn(0..n-1) with up to 2×Workers calls in flight.
func (p *Pool) parallel(ctx context.Context, n int, fn func(i int) error) error {
	if n == 0 {
		return nil
	}
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	g := min(n, 2*p.cfg.Workers)
	for k := 0; k < g; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// analyze returns the static analysis of program (syntax, imports rebuilt from
// the AST, the first policy violation), computed in a sandboxed child and
// cached by program text.
func (p *Pool) analyze(ctx context.Context, program string) (*analysis, error) {
	key := sha256.Sum256([]byte(program))
	if a, ok := p.cache.Load(key); ok {
		return a.(*analysis), nil
	}
	rep, err := p.exec(ctx, wireReq{Op: "analyze", Program: program, Banned: p.cfg.BannedModules, TimeoutMS: max(p.timeoutMS(), 2000), ReadCap: 1 << 20})
	if err != nil {
		return nil, err
	}
	var a *analysis
	if rep.Status == string(StatusOK) && rep.Analysis != nil {
		a = rep.Analysis
	} else {
		a = &analysis{OK: false, Error: "analysis failed: " + rep.Status + " " + rep.Error}
	}
	if p.cached.Add(1) > 100_000 {
		p.cache.Clear()
		p.cached.Store(0)
	}
	p.cache.Store(key, a)
	return a, nil
}

// Validate decides whether program with inputs is a valid AZR task (the
// proposal check): it must parse; respect the module policy (static AST check
// and, at run time, a guard on every import the program makes); and for every
// input run successfully (any non-ok status is invalid) in two separate
// children whose outputs agree — the second child calls f twice and reports
// the second value, so random/time/id()-dependent results and hidden state
// such as mutable default arguments are caught — with an output within the
// size cap and on one line. Inputs must be on one line too; an empty input
// calls f() (a zero-argument program is a valid task).
func (p *Pool) Validate(ctx context.Context, program string, inputs []string) (Validation, error) {
	return p.validate(ctx, program, inputs, true)
}

// ValidateInputs is Validate without the module policy (neither the static
// check nor the run-time import guard): for new inputs to a program that
// was accepted before, as when an induction proposer supplies inputs to a
// program from the buffers (the reference checks those with an empty banned
// list). The OS isolation layers apply as always.
func (p *Pool) ValidateInputs(ctx context.Context, program string, inputs []string) (Validation, error) {
	return p.validate(ctx, program, inputs, false)
}

func (p *Pool) validate(ctx context.Context, program string, inputs []string, policy bool) (Validation, error) {
	if len(inputs) == 0 {
		return Validation{Reason: "no input"}, nil
	}
	for i, in := range inputs {
		if strings.ContainsAny(in, "\n\r") {
			return Validation{Reason: fmt.Sprintf("input %d spans more than one line", i+1)}, nil
		}
	}
	a, err := p.analyze(ctx, program)
	if err != nil {
		return Validation{}, err
	}
	if !a.OK {
		return Validation{Reason: a.Error}, nil
	}
	if a.Violation != nil && policy {
		return Validation{Reason: *a.Violation, Imports: a.Imports}, nil
	}
	// Phase 1: one execution per input (in parallel). Phase 2, only if every
	// input succeeded: the second, independent execution per input. A looping
	// or failing proposal thus costs one deadline, not two.
	v := Validation{Imports: a.Imports}
	first := make([]Result, len(inputs))
	if err := p.parallel(ctx, len(inputs), func(i int) error {
		r, err := p.run(ctx, Job{Program: program, Input: inputs[i]}, 1, 1, policy)
		first[i] = r
		return err
	}); err != nil {
		return Validation{}, err
	}
	for i, r := range first {
		if reason := runFailure(r); reason != "" {
			v.Reason = fmt.Sprintf("input %d: %s", i+1, reason)
			return v, nil
		}
	}
	second := make([]Result, len(inputs))
	if err := p.parallel(ctx, len(inputs), func(i int) error {
		// Another child, another heap layout, and f called twice there: the
		// second value must still equal the first child's.
		r, err := p.run(ctx, Job{Program: program, Input: inputs[i]}, 3, 2, policy)
		second[i] = r
		return err
	}); err != nil {
		return Validation{}, err
	}
	for i := range inputs {
		r1, r2 := first[i], second[i]
		if reason := runFailure(r2); reason != "" {
			v.Reason = fmt.Sprintf("input %d: %s (on the second execution)", i+1, reason)
			return v, nil
		}
		if r1.Output != r2.Output {
			v.Reason = fmt.Sprintf("input %d: non-deterministic: %s then %s", i+1, clip(r1.Output), clip(r2.Output))
			return v, nil
		}
		if strings.ContainsAny(r1.Output, "\n\r") {
			v.Reason = fmt.Sprintf("input %d: output spans more than one line", i+1)
			return v, nil
		}
	}
	for _, r := range first {
		v.Outputs = append(v.Outputs, r.Output)
	}
	v.Valid = true
	return v, nil
}

func runFailure(r Result) string {
	if r.Status == StatusOK {
		return ""
	}
	if r.Error != "" {
		return string(r.Status) + ": " + r.Error
	}
	return string(r.Status)
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// ValidateBatch validates every proposal, spread over all workers.
func (p *Pool) ValidateBatch(ctx context.Context, props []Proposal) ([]Validation, error) {
	out := make([]Validation, len(props))
	err := p.parallel(ctx, len(props), func(i int) error {
		v, err := p.Validate(ctx, props[i].Program, props[i].Inputs)
		out[i] = v
		return err
	})
	return out, err
}

// compare evaluates each pair of literal texts in a fresh sandboxed child
// that loads no program code, and compares them with Python ==.
func (p *Pool) compare(ctx context.Context, pairs [][2]string) ([]bool, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	rep, err := p.exec(ctx, wireReq{Op: "compare", Pairs: pairs, TimeoutMS: p.timeoutMS(), ReadCap: 1 << 20})
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(pairs))
	if rep.Status == string(StatusOK) && len(rep.Compare) == len(pairs) {
		copy(out, rep.Compare)
	}
	return out, nil
}

// CheckOutput is the deduction check: gold and predicted are evaluated as
// Python literals inside the sandbox and compared with == (1 == 1.0 == True,
// dict/set order irrelevant, list != tuple). Only literal-like expressions
// are evaluated (containers, numbers, strings, set()/frozenset()/... calls,
// arithmetic), so an answer cannot smuggle in an object whose __eq__ is
// always true.
func (p *Pool) CheckOutput(ctx context.Context, gold, predicted string) (bool, error) {
	r, err := p.compare(ctx, [][2]string{{gold, predicted}})
	if err != nil {
		return false, err
	}
	return r[0], nil
}

// CheckOutputBatch runs CheckOutput on many pairs in one sandboxed child per
// chunk, spread over the workers.
func (p *Pool) CheckOutputBatch(ctx context.Context, pairs [][2]string) ([]bool, error) {
	out := make([]bool, len(pairs))
	const chunk = 32
	n := (len(pairs) + chunk - 1) / chunk
	err := p.parallel(ctx, n, func(c int) error {
		lo, hi := c*chunk, min((c+1)*chunk, len(pairs))
		r, err := p.compare(ctx, pairs[lo:hi])
		copy(out[lo:hi], r)
		return err
	})
	return out, err
}

// CheckInput is the abduction check: gold == f(predictedInput), where f comes
// from program with imports prepended. f runs in one child; the equality is
// decided in another child that sees only the two output texts, so nothing
// the program defines (a custom __eq__, a forged result) can decide it.
func (p *Pool) CheckInput(ctx context.Context, program string, imports []string, gold, predictedInput string) (bool, error) {
	if strings.ContainsAny(predictedInput, "\n\r") {
		return false, nil
	}
	r, err := p.run(ctx, Job{Program: program, Input: predictedInput, Imports: imports}, 0, 1, false)
	if err != nil {
		return false, err
	}
	if r.Status != StatusOK {
		return false, nil
	}
	return p.CheckOutput(ctx, gold, r.Output)
}

// CheckProgram is the induction check: the predicted program must reproduce
// every (input, output) pair (imports of the original program prepended).
func (p *Pool) CheckProgram(ctx context.Context, program string, imports []string, inputs, outputs []string) (bool, error) {
	if len(inputs) != len(outputs) || len(inputs) == 0 {
		return false, nil
	}
	jobs := make([]Job, len(inputs))
	for i := range inputs {
		if strings.ContainsAny(inputs[i], "\n\r") {
			return false, nil
		}
		jobs[i] = Job{Program: program, Input: inputs[i], Imports: imports}
	}
	res, err := p.RunBatch(ctx, jobs)
	if err != nil {
		return false, err
	}
	pairs := make([][2]string, len(res))
	for i, r := range res {
		if r.Status != StatusOK {
			return false, nil
		}
		pairs[i] = [2]string{outputs[i], r.Output}
	}
	eq, err := p.compare(ctx, pairs)
	if err != nil {
		return false, err
	}
	for _, ok := range eq {
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// Interpreter is the real Python executable the workers run and the flags
// they start with (for baselines that want the same interpreter).
func (p *Pool) Interpreter() (exe string, flags []string) {
	return p.l.interp.Executable, p.l.interp.flags()
}
