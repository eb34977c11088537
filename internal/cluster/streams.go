package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultAckWait is how long a worker may hold a request without a sign of
// life before it is redelivered to another worker. Workers send progress
// signals while they work, so a slow request is not redelivered; a killed
// worker's request is, after at most this long.
const DefaultAckWait = 10 * time.Second

// setupStreams creates (or updates) the work queues, the result stream and
// the buckets, and empties the queues: a trainer that starts (or restarts)
// owns the work, and requests of an earlier session have nobody waiting for
// their results.
func setupStreams(ctx context.Context, js jetstream.JetStream, ackWait time.Duration) error {
	for _, q := range []struct{ stream, subject, durable string }{
		{sandboxStream, sandboxSubject, sandboxDurable},
		{generateStream, generateSubject, generateDurable},
	} {
		s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: q.stream, Subjects: []string{q.subject}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage, Duplicates: time.Minute,
		})
		if err != nil {
			return fmt.Errorf("stream %s: %w", q.stream, err)
		}
		if err := s.Purge(ctx); err != nil {
			return fmt.Errorf("purge %s: %w", q.stream, err)
		}
		if _, err := js.CreateOrUpdateConsumer(ctx, q.stream, jetstream.ConsumerConfig{
			Durable: q.durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait,
			MaxAckPending: -1, MaxWaiting: 4096, FilterSubject: q.subject,
		}); err != nil {
			return fmt.Errorf("consumer %s: %w", q.durable, err)
		}
	}
	rs, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: resultStream, Subjects: []string{resultPrefix + ">"}, Retention: jetstream.LimitsPolicy,
		Storage: jetstream.FileStorage, MaxAge: time.Hour, Duplicates: time.Minute,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", resultStream, err)
	}
	if err := rs.Purge(ctx); err != nil {
		return fmt.Errorf("purge %s: %w", resultStream, err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: workerBucket, TTL: workerTTL, Storage: jetstream.MemoryStorage}); err != nil {
		return fmt.Errorf("bucket %s: %w", workerBucket, err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: runBucket, Storage: jetstream.FileStorage}); err != nil {
		return fmt.Errorf("bucket %s: %w", runBucket, err)
	}
	if _, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: adapterBucket, Storage: jetstream.FileStorage}); err != nil {
		return fmt.Errorf("object store %s: %w", adapterBucket, err)
	}
	return nil
}

// waitForQueue returns the durable consumer of a work queue, waiting (and
// retrying) until a trainer has created it.
func waitForQueue(ctx context.Context, js jetstream.JetStream, stream, durable string, onWait func(error)) (jetstream.Consumer, error) {
	for {
		c, err := js.Consumer(ctx, stream, durable)
		if err == nil {
			return c, nil
		}
		if onWait != nil {
			onWait(err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ExecPolicy is what decides a sandbox verdict besides the program: the
// execution deadline and the banned modules. A trainer sends its own with
// every request; a worker serves only requests whose policy is its own.
type ExecPolicy struct {
	Timeout       time.Duration
	BannedModules []string
}

// Equal reports whether two policies give the same verdicts.
func (p ExecPolicy) Equal(q ExecPolicy) bool {
	a, b := slices.Clone(p.BannedModules), slices.Clone(q.BannedModules)
	slices.Sort(a)
	slices.Sort(b)
	return p.Timeout == q.Timeout && slices.Equal(slices.Compact(a), slices.Compact(b))
}

func (p ExecPolicy) String() string {
	return fmt.Sprintf("exec timeout %v, banned modules %v", p.Timeout, p.BannedModules)
}

var errRefused = errors.New("refused")
