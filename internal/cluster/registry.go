package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// workerTTL: a worker refreshes its registry entry every workerTTL/3; an
// entry not refreshed for workerTTL (a dead worker) disappears.
const workerTTL = 15 * time.Second

// WorkerInfo is a worker's entry in the registry (a JetStream KV bucket).
type WorkerInfo struct {
	ID       string    `json:"id"`
	Role     string    `json:"role"`
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Capacity int       `json:"capacity"` // requests it works on at once
	Served   int       `json:"served"`
	Started  time.Time `json:"started"`
	Seen     time.Time `json:"seen"`
}

// ListWorkers returns the registered, live workers.
func ListWorkers(ctx context.Context, js jetstream.JetStream) ([]WorkerInfo, error) {
	kv, err := js.KeyValue(ctx, workerBucket)
	if err != nil {
		return nil, err
	}
	keys, err := kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []WorkerInfo
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue // expired between Keys and Get
		}
		var w WorkerInfo
		if json.Unmarshal(e.Value(), &w) == nil {
			out = append(out, w)
		}
	}
	return out, nil
}

// register writes (or refreshes) a worker's entry.
func register(ctx context.Context, js jetstream.JetStream, w WorkerInfo) error {
	kv, err := js.KeyValue(ctx, workerBucket)
	if err != nil {
		return err
	}
	data, err := json.Marshal(w)
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, w.ID, data)
	return err
}

// QueueState is the state of one role's work queue.
type QueueState struct {
	Waiting int // enqueued, not yet taken by a worker
	Held    int // taken by a worker, not yet acknowledged
}

// Queue returns the state of a role's work queue.
func Queue(ctx context.Context, js jetstream.JetStream, role string) (QueueState, error) {
	stream, durable := sandboxStream, sandboxDurable
	if role == RoleGenerate {
		stream, durable = generateStream, generateDurable
	}
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return QueueState{}, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return QueueState{}, err
	}
	return QueueState{Waiting: int(info.NumPending), Held: info.NumAckPending}, nil
}
