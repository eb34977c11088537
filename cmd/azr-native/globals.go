package main

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/azr-native/azr-native/bindings"
	"github.com/azr-native/azr-native/internal/progress"
	"github.com/azr-native/azr-native/rl"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// envVar names the environment variable that also sets a flag.
func envVar(flag string) []string {
	return []string{"AZR_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: envVar("log-level")},
		&cli.StringFlag{Name: "log-format", Value: "console", Usage: "console (human) or json (one object per line)", EnvVars: envVar("log-format")},
		&cli.IntFlag{Name: "threads", Value: defaultThreads(), Usage: "CPU threads for the engine and the sandbox pool", EnvVars: envVar("threads")},
		&cli.StringFlag{Name: "backend-dir", Usage: "directory of loadable GPU backend modules (libggml-cuda.so); default: next to the executable", EnvVars: envVar("backend-dir")},
		&cli.Uint64Flag{Name: "seed", Value: rl.DefaultConfig().Seed, Usage: "random seed: the same seed and inputs give the same results on CPU", EnvVars: envVar("seed")},
	}
}

// defaultThreads is every CPU the process may use.
func defaultThreads() int { return runtime.NumCPU() }

var logger = zap.NewNop()

func setupGlobals(c *cli.Context) error {
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	var cfg zap.Config
	switch c.String("log-format") {
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	case "json":
		cfg = zap.NewProductionConfig()
	default:
		return fmt.Errorf("--log-format must be console or json, not %q", c.String("log-format"))
	}
	cfg.Level = zap.NewAtomicLevelAt(level)
	cfg.OutputPaths = []string{progress.StderrSink} // stderr, kept apart from progress bars
	l, err := cfg.Build()
	if err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	logger = l
	// llama.cpp/ggml's own lines go through the logger too (llamaLogLevel).
	llamaLog := logger.WithOptions(zap.WithCaller(false)).With(zap.String("from", "llama.cpp"))
	bindings.SetLogSink(func(l bindings.LogLevel, line string) {
		if ce := llamaLog.Check(llamaLogLevel(l, line), strings.TrimSpace(line)); ce != nil {
			ce.Write()
		}
	})
	if level <= zapcore.DebugLevel {
		bindings.SetLogLevel(int(bindings.LogInfo))
	} else {
		bindings.SetLogLevel(int(bindings.LogWarn))
	}
	bindings.SetBackendDir(c.String("backend-dir"))
	if c.Int("threads") < 1 {
		return fmt.Errorf("--threads must be at least 1, got %d", c.Int("threads"))
	}
	return nil
}

// benignLlamaWarnings are llama.cpp warnings about choices azr-native makes
// on purpose: a KV cache smaller than the model's training context, or one
// larger, because the cache is shared by a whole batch of sequences (each
// sequence's length is bounded by the prompt and response limits, not by it).
var benignLlamaWarnings = []string{"the full capacity of the model will not be utilized", "possible training context overflow"}

// llamaLogLevel is the level a llama.cpp/ggml line is logged at: its
// errors and warnings at warn (our own error follows with the cause),
// everything else, and the benign warnings, at debug.
func llamaLogLevel(l bindings.LogLevel, line string) zapcore.Level {
	if l < bindings.LogWarn {
		return zapcore.DebugLevel
	}
	for _, b := range benignLlamaWarnings {
		if strings.Contains(line, b) {
			return zapcore.DebugLevel
		}
	}
	return zapcore.WarnLevel
}

func teardownGlobals(c *cli.Context) error {
	_ = logger.Sync()
	return nil
}
