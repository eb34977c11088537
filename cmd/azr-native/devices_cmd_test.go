package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDevicesCommand runs `azr-native devices` as its own process (backends
// load once per process) against three backend directories: none, a broken
// libggml-cuda.so, and a real module under that name (ggml's CPU backend
// built as a module by make, the one that can be built without a GPU).
func TestDevicesCommand(t *testing.T) {
	cpuModule, err := os.ReadFile("../../build/backends/libggml-cpu.so")
	if err != nil {
		t.Fatalf("the loadable CPU module is missing: run make: %v", err)
	}
	cases := []struct {
		name     string
		module   []byte // written as libggml-cuda.so; nil = none
		devices  int
		warnPart string
	}{
		{"no module: the CPU", nil, 1, ""},
		{"a broken module: a warning, the CPU", []byte("junk"), 1, "cannot be loaded"},
		{"a real module: one more device", cpuModule, 2, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.module != nil {
				if err := os.WriteFile(filepath.Join(dir, "libggml-cuda.so"), tc.module, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cmd, stderr := cliProcess(t, "--backend-dir", dir, "devices", "--check", "--json")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("devices: %v\n%s", err, stderr)
			}
			var rep struct {
				Pin      string   `json:"ggml_pin"`
				Warnings []string `json:"warnings"`
				Devices  []struct {
					Name  string `json:"name"`
					Type  string `json:"type"`
					Check string `json:"check"`
				} `json:"devices"`
			}
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if len(rep.Devices) != tc.devices || rep.Devices[0].Type != "cpu" {
				t.Fatalf("devices %+v, want %d starting with the CPU", rep.Devices, tc.devices)
			}
			for _, d := range rep.Devices {
				if d.Check != "ok" {
					t.Errorf("%s: self-check %q", d.Name, d.Check)
				}
			}
			if tc.warnPart == "" {
				if len(rep.Warnings) != 0 {
					t.Errorf("warnings %q, want none", rep.Warnings)
				}
				return
			}
			if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], tc.warnPart) {
				t.Errorf("warnings %q, want one saying %q", rep.Warnings, tc.warnPart)
			}
			if !strings.Contains(stderr.String(), tc.warnPart) {
				t.Errorf("the log does not carry the warning:\n%s", stderr)
			}
		})
	}
}
