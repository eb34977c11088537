package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"go.uber.org/zap"
)

// Client is the trainer's side of the cluster: it enqueues requests as
// work-queue messages and hands each caller the first valid result of its
// request. Safe for concurrent use.
type Client struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	log     *zap.Logger
	session string // this trainer process; results of other sessions are not ours
	ackWait time.Duration
	results jetstream.ConsumeContext
	stop    chan struct{}
	wg      sync.WaitGroup

	mu      sync.Mutex
	next    uint64
	pending map[uint64]*call
	workers map[string]*WorkerStats
	dups    int
}

// WorkerStats is what one worker did for this trainer.
type WorkerStats struct {
	Requests int           `json:"requests"`
	Busy     time.Duration `json:"busy_ns"` // the worker's own time on them
	Corrupt  int           `json:"corrupt"` // results that failed their checks and were redone
}

// call is one request waiting for its result.
type call struct {
	subject  string
	body     []byte
	attempt  int
	enqueued time.Time
	// accept checks and decodes a result; an error means the result is not
	// usable and the request is enqueued again.
	accept func(h nats.Header, body []byte) error
	done   chan struct{}
	worker string
}

// ClientOptions configure NewClient.
type ClientOptions struct {
	// AckWait is how long a worker may hold a request without a progress
	// signal before it goes to another worker (0: DefaultAckWait).
	AckWait time.Duration
	// StallWarning: when a request has waited this long, the client logs how
	// many are outstanding and which workers are registered (0: 30 s).
	StallWarning time.Duration
}

// NewClient sets up the streams (emptying the work queues of any earlier
// session) and starts receiving results.
func NewClient(ctx context.Context, nc *nats.Conn, log *zap.Logger, o ClientOptions) (*Client, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	if o.StallWarning <= 0 {
		o.StallWarning = 30 * time.Second
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if err := setupStreams(ctx, js, o.AckWait); err != nil {
		return nil, fmt.Errorf("cluster setup: %w", err)
	}
	c := &Client{nc: nc, js: js, log: log, session: nuid.Next(), ackWait: o.AckWait, stop: make(chan struct{}),
		pending: map[uint64]*call{}, workers: map[string]*WorkerStats{}}
	cons, err := js.OrderedConsumer(ctx, resultStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{resultPrefix + c.session + ".>"},
	})
	if err != nil {
		return nil, fmt.Errorf("cluster results: %w", err)
	}
	if c.results, err = cons.Consume(func(m jetstream.Msg) { c.onResult(m.Subject(), m.Headers(), m.Data()) }); err != nil {
		return nil, fmt.Errorf("cluster results: %w", err)
	}
	c.wg.Add(2)
	go c.watch(o.StallWarning)
	go c.watchRegistry(ctx)
	log.Info("cluster client ready", zap.String("session", c.session), zap.Duration("ack_wait", o.AckWait))
	return c, nil
}

// Close stops receiving results and logs what each worker served.
func (c *Client) Close() {
	if c == nil || c.stop == nil {
		return
	}
	close(c.stop)
	c.wg.Wait()
	c.results.Stop()
	c.LogWorkers()
	c.stop = nil
}

// JetStream exposes the client's JetStream context (adapter publishing).
func (c *Client) JetStream() jetstream.JetStream { return c.js }

// Workers returns what each worker served so far.
func (c *Client) Workers() map[string]WorkerStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]WorkerStats, len(c.workers))
	for k, v := range c.workers {
		out[k] = *v
	}
	return out
}

// LogWorkers logs the per-worker counts.
func (c *Client) LogWorkers() {
	stats := c.Workers()
	names := make([]string, 0, len(stats))
	for k := range stats {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		s := stats[k]
		c.log.Info("cluster worker served", zap.String("worker", k), zap.Int("requests", s.Requests),
			zap.Duration("busy", s.Busy), zap.Int("corrupt_results", s.Corrupt))
	}
	c.mu.Lock()
	dups := c.dups
	c.mu.Unlock()
	if dups > 0 {
		c.log.Info("cluster duplicate results ignored", zap.Int("count", dups))
	}
}

// do enqueues body on subject and waits for a result that accept takes.
func (c *Client) do(ctx context.Context, subject string, body []byte, accept func(nats.Header, []byte) error) (string, error) {
	cl := &call{subject: subject, body: body, accept: accept, done: make(chan struct{}), enqueued: time.Now()}
	c.mu.Lock()
	c.next++
	id := c.next
	c.pending[id] = cl
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	if err := c.publish(ctx, id, cl, 0); err != nil {
		return "", err
	}
	select {
	case <-cl.done:
		return cl.worker, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// publish enqueues attempt n of request id, retrying while the server is
// unreachable. The message id makes a retried publish of the same attempt
// land once.
func (c *Client) publish(ctx context.Context, id uint64, cl *call, attempt int) error {
	msg := &nats.Msg{Subject: cl.subject, Data: cl.body, Header: nats.Header{}}
	msg.Header.Set(hdrSession, c.session)
	msg.Header.Set(hdrID, strconv.FormatUint(id, 10))
	msg.Header.Set(hdrSum, checksum(cl.body))
	msgID := fmt.Sprintf("%s.%d.%d", c.session, id, attempt)
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.js.PublishMsg(pctx, msg, jetstream.WithMsgID(msgID))
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("cluster: enqueueing a request failed; retrying", zap.String("subject", cl.subject), zap.Uint64("id", id), zap.Error(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// onResult takes the first usable result of a pending request. Results of
// finished requests (a redelivered request answered twice) are ignored; a
// result that fails its checks is logged and the request enqueued again.
func (c *Client) onResult(subject string, h nats.Header, body []byte) {
	id, err := strconv.ParseUint(subject[strings.LastIndexByte(subject, '.')+1:], 10, 64)
	worker := h.Get(hdrWorker)
	if worker == "" {
		worker = "(unnamed)"
	}
	if err != nil {
		c.log.Warn("cluster: result with a malformed subject ignored", zap.String("subject", subject), zap.String("worker", worker))
		return
	}
	c.mu.Lock()
	cl := c.pending[id]
	ws := c.workers[worker]
	if ws == nil {
		ws = &WorkerStats{}
		c.workers[worker] = ws
	}
	if cl == nil || cl.worker != "" {
		c.dups++
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if err := cl.accept(h, body); err != nil {
		c.mu.Lock()
		ws.Corrupt++
		cl.attempt++
		attempt := cl.attempt
		c.mu.Unlock()
		c.log.Warn("cluster: corrupt result; the request is enqueued again", zap.String("worker", worker),
			zap.Uint64("id", id), zap.String("subject", cl.subject), zap.Int("attempt", attempt), zap.Error(err))
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := c.publish(ctx, id, cl, attempt); err != nil {
				c.log.Error("cluster: could not enqueue a request again", zap.Uint64("id", id), zap.Error(err))
			}
		}()
		return
	}
	busy, _ := strconv.ParseInt(h.Get(hdrElapsed), 10, 64)
	c.mu.Lock()
	ws.Requests++
	ws.Busy += time.Duration(busy)
	cl.worker = worker
	c.mu.Unlock()
	close(cl.done)
}

// watchRegistry logs each worker that registers (joins the run).
func (c *Client) watchRegistry(ctx context.Context) {
	defer c.wg.Done()
	kv, err := c.js.KeyValue(ctx, workerBucket)
	if err != nil {
		c.log.Warn("cluster: no worker registry", zap.Error(err))
		return
	}
	w, err := kv.WatchAll(context.Background())
	if err != nil {
		c.log.Warn("cluster: cannot watch the worker registry", zap.Error(err))
		return
	}
	defer w.Stop()
	seen := map[string]bool{}
	for {
		select {
		case <-c.stop:
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut || seen[e.Key()] {
				continue
			}
			seen[e.Key()] = true
			var info WorkerInfo
			if json.Unmarshal(e.Value(), &info) == nil {
				c.log.Info("cluster worker registered", zap.String("worker", info.ID), zap.String("role", info.Role),
					zap.String("host", info.Host), zap.Int("capacity", info.Capacity))
			}
		}
	}
}

// watch warns when requests wait long (no workers, or all of them busy).
func (c *Client) watch(after time.Duration) {
	defer c.wg.Done()
	tick := time.NewTicker(min(after, 10*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		c.mu.Lock()
		oldest, n := time.Time{}, len(c.pending)
		for _, cl := range c.pending {
			if oldest.IsZero() || cl.enqueued.Before(oldest) {
				oldest = cl.enqueued
			}
		}
		c.mu.Unlock()
		if n == 0 || time.Since(oldest) < after {
			continue
		}
		workers, err := ListWorkers(context.Background(), c.js)
		fields := []zap.Field{zap.Int("outstanding", n), zap.Duration("oldest", time.Since(oldest).Round(time.Second))}
		if err == nil {
			roles := map[string]int{}
			for _, w := range workers {
				roles[w.Role]++
			}
			fields = append(fields, zap.Any("registered_workers", roles))
		}
		for _, role := range []string{RoleGenerate, RoleSandbox} {
			if q, err := Queue(context.Background(), c.js, role); err == nil {
				fields = append(fields, zap.Int(role+"_queued", q.Waiting), zap.Int(role+"_held", q.Held))
			}
		}
		c.log.Warn("cluster: requests are waiting for workers (start some with azr-native worker --connect URL --role sandbox|generate)", fields...)
	}
}
