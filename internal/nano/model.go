package nano

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The built-in default base model: a nano coder pretrained by `make nano`
// (internal/nano/base/README.md says how) and shipped inside the binary, so
// `azr-native run` works on a fresh machine with no weights to download. On
// first use it is written once to the user's cache directory, named by its
// hash, and loaded from there like any other GGUF file.

// DefaultModelFile is the shipped model's file name inside base/.
const DefaultModelFile = "nano-coder-q8_0.gguf"

//go:embed base
var baseFS embed.FS

// ErrNoDefaultModel means this build carries no built-in model.
var ErrNoDefaultModel = errors.New("this build has no built-in nano model (internal/nano/base/" + DefaultModelFile + " was missing when it was built; `make nano` makes it); pass --model FILE")

// DefaultModelBytes returns the built-in model file.
func DefaultModelBytes() ([]byte, error) {
	data, err := fs.ReadFile(baseFS, "base/"+DefaultModelFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoDefaultModel
	}
	return data, err
}

// DefaultModelPath returns the path of the built-in model in the cache
// directory (cacheDir, or the user's cache directory when empty), writing it
// there first if it is not there yet.
func DefaultModelPath(cacheDir string) (string, error) {
	data, err := DefaultModelBytes()
	if err != nil {
		return "", err
	}
	if cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("built-in model: no cache directory to unpack it to (%w); set XDG_CACHE_HOME or pass --model", err)
		}
		cacheDir = filepath.Join(base, "azr-native")
	}
	sum := sha256.Sum256(data)
	path := filepath.Join(cacheDir, "nano-coder-"+hex.EncodeToString(sum[:6])+".gguf")
	if st, err := os.Stat(path); err == nil && st.Size() == int64(len(data)) {
		return path, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("built-in model: %w", err)
	}
	// A unique temporary name: two processes unpacking at once must not
	// write into the same file.
	tmp, err := os.CreateTemp(cacheDir, ".nano-coder-*.tmp")
	if err != nil {
		return "", fmt.Errorf("built-in model: %w", err)
	}
	_, werr := tmp.Write(data)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("built-in model: %w", werr)
	}
	return path, nil
}

// DefaultModelContext is the built-in model's context length (the --seq-len
// of `make nano`); a test checks it against the shipped file.
const DefaultModelContext = 768

// RunDefaults are the self-play settings that suit the built-in base: the
// prompt template and style its corpus was written in, and prompt and
// response lengths that fit its context.
type RunDefaults struct {
	Template          string
	PromptStyle       string
	References        int
	MaxResponseLength int
	// Temperature of proposer and solver sampling. At self-play's 1.0 the
	// base's programs fall apart more often: one step at batch 16 had 10 % valid
	// proposals at 1.0 and 27 % at 0.7 (docs/NANO-BASE.md).
	Temperature float32
	// MaxPromptLength is left to the caller: the context minus the response length.
}

// BuiltinRunDefaults returns the settings `run` uses with the built-in base
// for every setting the user did not give: the corpus's prompt settings and
// responses as long as a third of the context, sampled at temperature 0.7.
func BuiltinRunDefaults() RunDefaults {
	return RunDefaults{Template: DefaultTemplate, PromptStyle: DefaultPromptStyle, References: DefaultReferences,
		MaxResponseLength: DefaultModelContext / 3, Temperature: 0.7}
}
