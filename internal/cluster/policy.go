package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/policy"
	"github.com/azr-native/azr-native/rl"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Policy is an rl.Policy whose Generate runs on generate workers while the
// adapter's training and state stay with the local engine. After every
// update the adapter is published to the object store under the sha256 of
// its bytes; each generation request names the version it must be sampled
// from, so a worker never answers with a stale adapter.
type Policy struct {
	eng  *policy.Engine
	c    *Client
	opts PolicyOptions
	log  *zap.Logger

	mu      sync.Mutex
	version string // object name of the published live adapter; "" = not published yet
}

var (
	_ rl.Policy            = (*Policy)(nil)
	_ rl.OptimConfigurable = (*Policy)(nil)
	_ rl.TokenCounter      = (*Policy)(nil)
)

// PolicyOptions configure NewPolicy.
type PolicyOptions struct {
	Base  string // fingerprint of the base model (FileFingerprint)
	Ctx   int    // the generator settings workers must use: batched
	Slots int    // results depend on them
}

// NewPolicy wraps eng: generation goes to c's generate workers.
func NewPolicy(c *Client, eng *policy.Engine, o PolicyOptions, log *zap.Logger) *Policy {
	if log == nil {
		log = zap.NewNop()
	}
	return &Policy{eng: eng, c: c, opts: o, log: log}
}

// FileFingerprint identifies a base model by the sha256 of its file: a
// generate worker must sample from exactly the trainer's weights.
func FileFingerprint(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Generate implements rl.Policy: one message per native call the in-process
// engine would make (policy.GroupBySampling), all in flight at once.
func (p *Policy) Generate(ctx context.Context, reqs []rl.GenRequest) ([]rl.GenResult, error) {
	for i, r := range reqs {
		if r.N < 1 {
			return nil, fmt.Errorf("generate: request %d asks for %d samples", i, r.N)
		}
	}
	version, err := p.publish(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]rl.GenResult, len(reqs))
	groups := policy.GroupBySampling(reqs)
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for g, idx := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[g] = p.generateGroup(ctx, version, reqs, idx, out)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (p *Policy) generateGroup(ctx context.Context, version string, reqs []rl.GenRequest, idx []int, out []rl.GenResult) error {
	req := generateRequest{Base: p.opts.Base, Adapter: version, Ctx: p.opts.Ctx, Slots: p.opts.Slots, Reqs: make([]rl.GenRequest, len(idx))}
	for j, i := range idx {
		req.Reqs[j] = reqs[i]
	}
	body, err := encode(req)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	var res generateResult
	_, err = p.c.do(ctx, generateSubject, body, func(h nats.Header, b []byte) error {
		var r generateResult
		if err := decode(h, b, &r); err != nil {
			return err
		}
		if r.Err == "" {
			if len(r.Results) != len(req.Reqs) {
				return fmt.Errorf("%d results for %d requests", len(r.Results), len(req.Reqs))
			}
			for j, g := range r.Results {
				if len(g.Samples) != req.Reqs[j].N {
					return fmt.Errorf("request %d: %d samples, want %d", j, len(g.Samples), req.Reqs[j].N)
				}
				for k, s := range g.Samples {
					if len(s.Tokens) != len(s.LogProbs) {
						return fmt.Errorf("request %d sample %d: %d tokens but %d log-probs", j, k, len(s.Tokens), len(s.LogProbs))
					}
				}
			}
		}
		r.restoreEmpty()
		res = r
		return nil
	})
	if err != nil {
		return err
	}
	if res.Err != "" {
		return fmt.Errorf("generate worker: %s", res.Err)
	}
	for j, i := range idx {
		out[i] = res.Results[j]
	}
	return nil
}

// publish puts the live adapter into the object store unless it is there
// already, and returns its name.
func (p *Policy) publish(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.version != "" {
		return p.version, nil
	}
	dir, err := os.MkdirTemp("", "azr-adapter-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "adapter.gguf")
	if err := p.eng.Adapter().Save(path, ""); err != nil {
		return "", fmt.Errorf("publish adapter: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	name := hex.EncodeToString(sum[:])
	obs, err := p.c.js.ObjectStore(ctx, adapterBucket)
	if err != nil {
		return "", fmt.Errorf("publish adapter: %w", err)
	}
	if _, err := obs.GetInfo(ctx, name); errors.Is(err, jetstream.ErrObjectNotFound) {
		if _, err := obs.PutBytes(ctx, name, data); err != nil {
			return "", fmt.Errorf("publish adapter: %w", err)
		}
	} else if err != nil {
		return "", fmt.Errorf("publish adapter: %w", err)
	}
	// Older versions have no requests left: every request in flight names
	// the version published before it was sent, and that was this one's
	// predecessor only while no request was outstanding.
	if list, err := obs.List(ctx); err == nil {
		for _, o := range list {
			if o.Name != name {
				_ = obs.Delete(ctx, o.Name)
			}
		}
	}
	p.log.Debug("adapter published", zap.String("version", name[:12]), zap.Int("bytes", len(data)))
	p.version = name
	return name, nil
}

// TrainStep implements rl.Policy: the update happens here; the next
// Generate publishes the new adapter.
func (p *Policy) TrainStep(ctx context.Context, batch []rl.TrainSequence) (rl.TrainStats, error) {
	p.invalidate()
	return p.eng.TrainStep(ctx, batch)
}

// SaveState implements rl.Policy.
func (p *Policy) SaveState(dir string) error { return p.eng.SaveState(dir) }

// LoadState implements rl.Policy.
func (p *Policy) LoadState(dir string) error {
	p.invalidate()
	return p.eng.LoadState(dir)
}

// SetOptim implements rl.OptimConfigurable.
func (p *Policy) SetOptim(o rl.OptimConfig) error { return p.eng.SetOptim(o) }

// CountTokens implements rl.TokenCounter (the trainer holds the model).
func (p *Policy) CountTokens(text string) (int, error) { return p.eng.CountTokens(text) }

func (p *Policy) invalidate() {
	p.mu.Lock()
	p.version = ""
	p.mu.Unlock()
}

// loadAdapterObject fetches an adapter version from the object store and
// loads it onto model (the generate worker's side).
func loadAdapterObject(ctx context.Context, js jetstream.JetStream, model *bindings.Model, name string) (*bindings.Adapter, error) {
	obs, err := js.ObjectStore(ctx, adapterBucket)
	if err != nil {
		return nil, err
	}
	data, err := obs.GetBytes(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("adapter %s: %w", abbreviate(name), err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != name {
		return nil, fmt.Errorf("adapter %s: the stored bytes do not match their name", abbreviate(name))
	}
	dir, err := os.MkdirTemp("", "azr-adapter-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "adapter.gguf")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	return model.LoadAdapter(path, "")
}
