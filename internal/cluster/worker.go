package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/policy"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"go.uber.org/zap"
)

// Roles a worker can serve.
const (
	RoleSandbox  = "sandbox"
	RoleGenerate = "generate"
)

// pullWait is how long one pull for a request waits at the server.
const pullWait = 30 * time.Second

// handler does the work of one request body; an error wrapping errRefused
// means this worker must not serve the request (it goes back to the queue
// and the worker stops).
type handler func(ctx context.Context, h nats.Header, body []byte) (result []byte, err error)

// Worker pulls requests of one role and publishes their results.
type Worker struct {
	id       string
	role     string
	js       jetstream.JetStream
	log      *zap.Logger
	capacity int           // requests worked on at once
	prefetch int           // requests held beyond those, ready for the next free slot
	slots    chan struct{} // one per request being worked on
	handle   handler
	served   atomic.Int64
	close    func() error
}

// SandboxWorker serves executor calls with exec (the worker's own sandbox
// pool, with its own limits and isolation), capacity at a time, for trainers
// whose execution policy is policy.
func SandboxWorker(nc *nats.Conn, exec LocalExecutor, own ExecPolicy, capacity int, log *zap.Logger) (*Worker, error) {
	w, err := newWorker(nc, RoleSandbox, max(capacity, 1), log)
	if err != nil {
		return nil, err
	}
	// Executions are short next to a pull's round trip: each slot keeps
	// its next request at hand (measured: 8 callers over a 2-process pool
	// ran ~20 % slower than in process without it).
	w.prefetch = w.capacity
	w.handle = func(ctx context.Context, h nats.Header, body []byte) ([]byte, error) {
		var req sandboxRequest
		if err := decode(h, body, &req); err != nil {
			return nil, err
		}
		if !req.Policy.Equal(own) {
			return nil, fmt.Errorf("%w: the trainer's execution policy (%v) is not this worker's (%v); start the worker with the trainer's --exec-timeout and --banned-modules", errRefused, req.Policy, own)
		}
		res := serveSandbox(ctx, exec, req)
		if ctx.Err() != nil {
			return nil, ctx.Err() // cut short: not a verdict; the request goes back to the queue
		}
		return encode(res)
	}
	return w, nil
}

// GenerateOptions configure GenerateWorker.
type GenerateOptions struct {
	Model   string // the base GGUF; must be the trainer's, byte for byte
	Threads int
	// GPULayers offloads layers to a GPU (CUDA builds). Samples then come
	// from the GPU's kernels, so a run is no longer bit-identical to a CPU
	// single-process run.
	GPULayers int
}

// GenerateWorker serves generation requests on its own copy of the base
// model, sampling from the adapter version each request names.
func GenerateWorker(nc *nats.Conn, o GenerateOptions, log *zap.Logger) (*Worker, error) {
	fp, err := FileFingerprint(o.Model)
	if err != nil {
		return nil, err
	}
	m, err := bindings.LoadModel(o.Model, bindings.ModelOptions{Threads: o.Threads, GPULayers: o.GPULayers})
	if err != nil {
		return nil, err
	}
	w, err := newWorker(nc, RoleGenerate, 1, log)
	if err != nil {
		m.Close()
		return nil, err
	}
	g := &genServer{model: m, base: fp, threads: o.Threads, js: w.js, log: w.log}
	w.handle = g.handle
	w.close = g.Close
	w.log.Info("generate worker model ready", zap.String("model", m.Info().Description), zap.String("devices", m.Info().Devices),
		zap.Int("gpu_layers", o.GPULayers), zap.Int("layers_on_gpu", m.Info().GPULayers), zap.String("fingerprint", fp[:12]))
	return w, nil
}

func newWorker(nc *nats.Conn, role string, capacity int, log *zap.Logger) (*Worker, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	host, _ := os.Hostname()
	id := sanitizeKey(fmt.Sprintf("%s-%s-%d-%s", role, host, os.Getpid(), nuid.Next()[16:]))
	return &Worker{id: id, role: role, js: js, log: log.With(zap.String("worker", id)), capacity: capacity}, nil
}

// sanitizeKey keeps the characters a KV key may hold.
func sanitizeKey(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

// ID names the worker in results, logs and the registry.
func (w *Worker) ID() string { return w.id }

// Served counts the requests this worker answered.
func (w *Worker) Served() int { return int(w.served.Load()) }

// Close frees what the worker holds (its model). Call after Run returns.
func (w *Worker) Close() error {
	if w.close == nil {
		return nil
	}
	err := w.close()
	w.close = nil
	return err
}

// Run serves requests until ctx ends (nil) or the worker refuses a request
// it cannot serve exactly (an error saying why). It waits for the trainer's
// queue to exist and survives the server going away and coming back.
func (w *Worker) Run(ctx context.Context) error {
	stream, durable := sandboxStream, sandboxDurable
	if w.role == RoleGenerate {
		stream, durable = generateStream, generateDurable
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	started := time.Now()
	go w.heartbeat(ctx, started)
	waiting := false
	cons, err := waitForQueue(ctx, w.js, stream, durable, func(err error) {
		if !waiting {
			w.log.Info("waiting for a trainer to create the work queue", zap.String("stream", stream), zap.Error(err))
			waiting = true
		}
	})
	if err != nil {
		return nil
	}
	w.log.Info("worker serving", zap.String("role", w.role), zap.Int("capacity", w.capacity))
	var wg sync.WaitGroup
	w.slots = make(chan struct{}, w.capacity)
	for range w.capacity + w.prefetch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx, cancel, cons)
		}()
	}
	wg.Wait()
	w.log.Info("worker stopped", zap.Int("served", w.Served()))
	if cause := context.Cause(ctx); errors.Is(cause, errRefused) {
		return cause
	}
	return nil
}

func (w *Worker) loop(ctx context.Context, stop context.CancelCauseFunc, cons jetstream.Consumer) {
	for ctx.Err() == nil {
		// A long-lived pull: an idle worker is offered a request the moment
		// it is enqueued. (A lost connection ends the pull early.)
		pctx, cancel := context.WithTimeout(ctx, pullWait)
		msg, err := cons.Next(jetstream.FetchContext(pctx))
		cancel()
		if err != nil {
			if !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
				w.log.Debug("fetch failed; retrying", zap.Error(err))
				select {
				case <-ctx.Done():
				case <-time.After(250 * time.Millisecond):
				}
			}
			continue
		}
		if err := w.process(ctx, cons, msg); err != nil {
			stop(err)
			return
		}
	}
}

// process answers one message: progress signals while working, the result
// published (and stored) before the message is acknowledged, so a worker
// killed at any point loses nothing: an unacknowledged message is
// redelivered, and a result published twice is ignored by the trainer.
func (w *Worker) process(ctx context.Context, cons jetstream.Consumer, msg jetstream.Msg) error {
	h := msg.Headers()
	session, id := h.Get(hdrSession), h.Get(hdrID)
	if session == "" || id == "" {
		w.log.Warn("message without session or id dropped", zap.String("subject", msg.Subject()))
		_ = msg.Term()
		return nil
	}
	ackWait := DefaultAckWait
	if info := cons.CachedInfo(); info != nil && info.Config.AckWait > 0 {
		ackWait = info.Config.AckWait
	}
	workCtx, done := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-workCtx.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	// Held, perhaps waiting for a slot: the progress signals above keep
	// it from being redelivered meanwhile.
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		done()
		_ = msg.Nak()
		return nil
	}
	defer func() { <-w.slots }()
	w.log.Debug("working on a request", zap.String("id", id))
	if md, err := msg.Metadata(); err == nil && md.NumDelivered > 1 {
		w.log.Info("serving a redelivered request (the worker it went to first did not finish it)",
			zap.String("id", id), zap.Uint64("delivery", md.NumDelivered))
	}
	start := time.Now()
	result, err := w.handle(workCtx, h, msg.Data())
	elapsed := time.Since(start)
	done()
	if err != nil {
		if errors.Is(err, errRefused) {
			w.log.Error("request refused; handing it back and stopping", zap.Error(err))
			_ = msg.Nak()
			return err
		}
		if ctx.Err() != nil {
			_ = msg.Nak() // shutting down: another worker takes it now
			return nil
		}
		// The request itself is unreadable: nobody can serve it.
		w.log.Error("unreadable request dropped", zap.String("session", session), zap.String("id", id), zap.Error(err))
		_ = msg.Term()
		return nil
	}
	out := &nats.Msg{Subject: resultPrefix + session + "." + id, Data: result, Header: nats.Header{}}
	out.Header.Set(hdrSum, checksum(result))
	out.Header.Set(hdrWorker, w.id)
	out.Header.Set(hdrElapsed, strconv.FormatInt(elapsed.Nanoseconds(), 10))
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := w.js.PublishMsg(pctx, out, jetstream.WithMsgID(session+"."+id+"."+w.id))
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			_ = msg.Nak()
			return nil
		}
		w.log.Warn("publishing a result failed; retrying", zap.Error(err))
		time.Sleep(250 * time.Millisecond)
	}
	_ = msg.Ack()
	n := w.served.Add(1)
	w.log.Debug("served", zap.String("id", id), zap.Duration("took", elapsed), zap.Int64("served", n))
	return nil
}

// heartbeat keeps the worker's registry entry fresh.
func (w *Worker) heartbeat(ctx context.Context, started time.Time) {
	host, _ := os.Hostname()
	t := time.NewTicker(workerTTL / 3)
	defer t.Stop()
	for {
		info := WorkerInfo{ID: w.id, Role: w.role, Host: host, PID: os.Getpid(), Capacity: w.capacity,
			Served: w.Served(), Started: started, Seen: time.Now()}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := register(rctx, w.js, info); err != nil && ctx.Err() == nil {
			w.log.Debug("registry update failed", zap.Error(err))
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// genServer is a generate worker's engine: the base model, a generator with
// the trainer's settings and the adapter version last asked for.
type genServer struct {
	model   *bindings.Model
	base    string
	threads int
	js      jetstream.JetStream
	log     *zap.Logger

	gen         *bindings.Generator
	ctxSize     int
	slots       int
	adapter     *bindings.Adapter
	adapterName string
}

func (g *genServer) handle(ctx context.Context, h nats.Header, body []byte) ([]byte, error) {
	var req generateRequest
	if err := decode(h, body, &req); err != nil {
		return nil, err
	}
	if req.Base != g.base {
		return nil, fmt.Errorf("%w: the trainer's base model has fingerprint %s, this worker's %s: start it with the trainer's --model file", errRefused, abbreviate(req.Base), abbreviate(g.base))
	}
	res := generateResult{}
	if err := g.prepare(ctx, req); err != nil {
		res.Err = err.Error()
	} else if res.Results, err = policy.Generate(ctx, g.model, g.gen, req.Reqs); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		res.Err = err.Error()
	}
	return encode(res)
}

// prepare makes the generator match the request's settings and adapter.
func (g *genServer) prepare(ctx context.Context, req generateRequest) error {
	if g.gen == nil || g.ctxSize != req.Ctx || g.slots != req.Slots {
		if g.gen != nil {
			g.gen.Close()
			g.gen = nil
		}
		gen, err := g.model.NewGenerator(bindings.GeneratorOptions{ContextSize: req.Ctx, Slots: req.Slots, Threads: g.threads})
		if err != nil {
			return err
		}
		g.gen, g.ctxSize, g.slots = gen, req.Ctx, req.Slots
		if g.adapter != nil {
			if err := g.gen.SetLoRA(g.adapter, 1); err != nil {
				return err
			}
		}
	}
	if req.Adapter == g.adapterName {
		return nil
	}
	start := time.Now()
	a, err := loadAdapterObject(ctx, g.js, g.model, req.Adapter)
	if err != nil {
		return err
	}
	if err := g.gen.SetLoRA(a, 1); err != nil {
		a.Close()
		return err
	}
	if g.adapter != nil {
		g.adapter.Close()
	}
	g.adapter, g.adapterName = a, req.Adapter
	g.log.Info("adapter version loaded", zap.String("version", abbreviate(req.Adapter)), zap.Duration("took", time.Since(start)))
	return nil
}

// Close frees the model, generator and adapter.
func (g *genServer) Close() error {
	var errs []error
	if g.gen != nil {
		errs = append(errs, g.gen.SetLoRA(nil, 0), g.gen.Close())
		g.gen = nil
	}
	if g.adapter != nil {
		errs = append(errs, g.adapter.Close())
		g.adapter = nil
	}
	if g.model != nil {
		errs = append(errs, g.model.Close())
		g.model = nil
	}
	return errors.Join(errs...)
}
