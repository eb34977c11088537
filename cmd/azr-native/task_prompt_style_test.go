package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLITaskPromptStyles(t *testing.T) {
	task := filepath.Join(t.TempDir(), "task.json")
	if err := os.WriteFile(task, []byte(`{"program": "def f(a):\n    return a * 2", "input": "3", "output": "6"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	full, err := azr(t, "task", "prompt", "--type", "deduction", "--role", "solve", "--task", task)
	if err != nil {
		t.Fatal(err)
	}
	compact, err := azr(t, "task", "prompt", "--type", "deduction", "--role", "solve", "--task", task, "--prompt-style", "compact")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{full, compact} {
		if !strings.Contains(p, "def f(a):\n    return a * 2") || !strings.Contains(p, "```input\n3\n```") || !strings.HasSuffix(strings.TrimSpace(p), "Assistant: <think>") {
			t.Errorf("prompt lacks the task or the assistant turn:\n%s", p)
		}
	}
	if len(compact) >= len(full)*2/3 || !strings.HasPrefix(compact, "Think inside <think>") {
		t.Errorf("compact prompt (%d bytes) is not the compact style (full: %d bytes):\n%s", len(compact), len(full), compact)
	}
	if _, err := azr(t, "task", "prompt", "--type", "deduction", "--role", "solve", "--task", task, "--prompt-style", "tiny"); err == nil || !strings.Contains(err.Error(), "prompt_style") {
		t.Errorf("--prompt-style tiny: %v, want an error naming prompt_style", err)
	}
}
