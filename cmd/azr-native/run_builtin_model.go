package main

import (
	"fmt"

	"github.com/azr-native/azr-native/internal/nano"
	"go.uber.org/zap"
)

// Without --model, run uses the built-in nano coder base (internal/nano): the
// model file is unpacked to the cache directory once, and the settings that
// suit it (prompt template and style, prompt and response lengths within its
// context, sampling temperature) replace the defaults of every setting the user did not give.

// applyBuiltinModelDefaults adjusts s for the built-in base; it does not
// touch the disk (so --print-config shows the effective settings cheaply).
func applyBuiltinModelDefaults(s *runSettings) {
	d := nano.BuiltinRunDefaults()
	if !s.given["template"] {
		s.Template = d.Template
	}
	if !s.given["prompt_style"] {
		s.PromptStyle = d.PromptStyle
	}
	if !s.given["references"] {
		s.References = d.References
	}
	if !s.given["max_response_length"] {
		s.MaxResponseLength = d.MaxResponseLength
	}
	if !s.given["temperature"] {
		s.Temperature = d.Temperature
	}
	if !s.given["max_prompt_length"] {
		s.MaxPromptLength = max(64, nano.DefaultModelContext-s.MaxResponseLength)
	}
	// One engine thread: the model is so small that a second one gains little,
	// while ggml's spinning workers make generation ~30x slower whenever
	// another process is busy on the machine (measured on 2 cores, load ~6).
	if !s.given["threads"] {
		s.Threads = 1
	}
}

// unpackBuiltinModel sets s.Model to the built-in model's cached file.
func unpackBuiltinModel(s *runSettings) error {
	path, err := nano.DefaultModelPath("")
	if err != nil {
		return fmt.Errorf("no --model given and %w", err)
	}
	s.Model = path
	logger.Info("no --model: using the built-in nano coder base", zap.String("model", path),
		zap.Int("context", nano.DefaultModelContext), zap.String("prompt_style", s.PromptStyle),
		zap.Int("max_prompt_length", s.MaxPromptLength), zap.Int("max_response_length", s.MaxResponseLength))
	return nil
}
