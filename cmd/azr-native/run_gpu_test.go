package main

import (
	"strings"
	"testing"
)

// TestRunGPULayers is the table of what run, bench train and bench step
// offload: the setting when a GPU is present, nothing without one (said in
// the log), and a clear error for a setting below -1.
func TestRunGPULayers(t *testing.T) {
	cases := []struct {
		name    string
		setting int
		hasGPU  bool
		layers  int
		note    string // substring of the note; "" = no note
		errPart string // substring of the error; "" = no error
	}{
		{name: "default with a GPU: all layers", setting: -1, hasGPU: true, layers: -1},
		{name: "a layer count with a GPU", setting: 8, hasGPU: true, layers: 8},
		{name: "zero stays on the CPU", setting: 0, hasGPU: true, note: "gpu_layers 0"},
		{name: "default without a GPU", setting: -1, note: "no GPU"},
		{name: "a layer count without a GPU", setting: 12, note: "no GPU"},
		{name: "below -1 is an error", setting: -2, hasGPU: true, errPart: "gpu_layers must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			layers, note, err := runGPULayers(tc.setting, tc.hasGPU)
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if layers != tc.layers {
				t.Errorf("layers = %d, want %d", layers, tc.layers)
			}
			if (tc.note == "") != (note == "") || !strings.Contains(note, tc.note) {
				t.Errorf("note = %q, want one containing %q", note, tc.note)
			}
		})
	}
}
