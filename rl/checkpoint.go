package rl

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
)

// checkpointVersion is bumped when the state format changes.
const checkpointVersion = 1

// CheckpointState is what state.json of a checkpoint holds. The policy's
// adapter and optimizer state live beside it in policy/.
type CheckpointState struct {
	Version int      `json:"version"`
	Step    int      `json:"step"`
	Seeded  bool     `json:"seeded"`
	Config  Config   `json:"config"`
	RNG     []byte   `json:"rng"` // math/rand/v2 PCG state (MarshalBinary)
	Buffers *Buffers `json:"buffers"`
	UhOh    int      `json:"uhoh_total"`
}

// writeFileAtomic writes data to path via a temporary file in the same
// directory, fsync and rename, then fsyncs the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Save writes a checkpoint of the current step to
// <dir>/checkpoints/step-NNNNNN (policy/ and state.json), built in a
// temporary directory and renamed into place, then points
// <dir>/checkpoints/latest at it. It returns the checkpoint's path.
func (t *Trainer) Save() (string, error) {
	if t.dir == "" {
		return "", fmt.Errorf("save: no run directory (SetDir)")
	}
	return t.SaveTo(filepath.Join(t.dir, "checkpoints"))
}

// SaveTo is Save into a given checkpoints directory.
func (t *Trainer) SaveTo(root string) (string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	name := fmt.Sprintf("step-%06d", t.step)
	final := filepath.Join(root, name)
	tmp := filepath.Join(root, ".tmp-"+name)
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "policy"), 0o755); err != nil {
		return "", err
	}
	if err := t.policy.SaveState(filepath.Join(tmp, "policy")); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("save policy state: %w", err)
	}
	st := CheckpointState{Version: checkpointVersion, Step: t.step, Seeded: t.seeded, Config: t.cfg, RNG: t.RNGState(), Buffers: t.bufs, UhOh: t.monitor.Count}
	data, err := json.Marshal(&st)
	if err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := writeFileAtomic(filepath.Join(tmp, "state.json"), data); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := syncDir(filepath.Join(tmp, "policy")); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	// Rewriting a step's checkpoint moves the old one aside first, so a
	// process killed at any point leaves a complete directory under one of
	// the two names (LatestCheckpoint looks for the aside one too).
	old := filepath.Join(root, ".old-"+name)
	if err := os.RemoveAll(old); err != nil {
		return "", err
	}
	if err := os.Rename(final, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	if err := syncDir(root); err != nil {
		return "", err
	}
	if err := os.RemoveAll(old); err != nil {
		return "", err
	}
	if err := writeFileAtomic(filepath.Join(root, "latest"), []byte(name+"\n")); err != nil {
		return "", err
	}
	if k := t.cfg.KeepCheckpoints; k > 0 {
		if err := pruneCheckpoints(root, k); err != nil {
			t.log.Warn("pruning old checkpoints", zap.Error(err))
		}
	}
	t.savedStep = t.step
	t.log.Info("checkpoint saved", zap.String("path", final), zap.Int("step", t.step))
	return final, nil
}

// pruneCheckpoints removes all but the newest keep step-NNNNNN directories.
func pruneCheckpoints(root string, keep int) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "step-") {
			names = append(names, e.Name()) // ReadDir sorts by name; zero-padded steps sort in order
		}
	}
	for len(names) > keep {
		if err := os.RemoveAll(filepath.Join(root, names[0])); err != nil {
			return err
		}
		names = names[1:]
	}
	return nil
}

// LatestCheckpoint returns the checkpoint <dir>/checkpoints/latest points at.
func LatestCheckpoint(dir string) (string, error) {
	root := filepath.Join(dir, "checkpoints")
	b, err := os.ReadFile(filepath.Join(root, "latest"))
	if err != nil {
		return "", err
	}
	name := strings.TrimSpace(string(b))
	ckpt := filepath.Join(root, name)
	if _, err := os.Stat(ckpt); errors.Is(err, os.ErrNotExist) {
		// Killed while rewriting this step's checkpoint: the old copy is aside.
		if aside := filepath.Join(root, ".old-"+name); dirExists(aside) {
			return aside, nil
		}
	}
	return ckpt, nil
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// LoadCheckpointState reads a checkpoint's state.json.
func LoadCheckpointState(ckpt string) (*CheckpointState, error) {
	data, err := os.ReadFile(filepath.Join(ckpt, "state.json"))
	if err != nil {
		return nil, err
	}
	var st CheckpointState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", ckpt, err)
	}
	if st.Version != checkpointVersion {
		return nil, fmt.Errorf("%s: checkpoint version %d, want %d", ckpt, st.Version, checkpointVersion)
	}
	if st.Buffers == nil || st.Buffers.Deduction == nil || st.Buffers.Abduction == nil || st.Buffers.Induction == nil {
		return nil, fmt.Errorf("%s: checkpoint has no buffers", ckpt)
	}
	return &st, nil
}

// Resume rebuilds a trainer from a checkpoint directory (as returned by Save
// or LatestCheckpoint) with the checkpoint's own config: buffers, RNG state,
// step counter and the policy's adapter and optimizer state. Continuing from
// it gives the same steps as a run that never stopped.
func Resume(ckpt string, policy Policy, exec Executor, logger *zap.Logger) (*Trainer, error) {
	st, err := LoadCheckpointState(ckpt)
	if err != nil {
		return nil, err
	}
	t, err := NewTrainer(st.Config, policy, exec, logger)
	if err != nil {
		return nil, err
	}
	pcg := &rand.PCG{}
	if err := pcg.UnmarshalBinary(st.RNG); err != nil {
		return nil, fmt.Errorf("%s: rng state: %w", ckpt, err)
	}
	if err := policy.LoadState(filepath.Join(ckpt, "policy")); err != nil {
		return nil, fmt.Errorf("load policy state: %w", err)
	}
	t.pcg, t.rng = pcg, rand.New(pcg)
	t.step, t.seeded, t.bufs, t.savedStep = st.Step, st.Seeded, st.Buffers, st.Step
	t.monitor.Count = st.UhOh
	return t, nil
}
