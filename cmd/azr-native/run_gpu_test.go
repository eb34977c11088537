package main

import (
	"strings"
	"testing"
)

type gpuLayersCase struct {
	name    string
	setting int
	given   bool
	hasGPU  bool
	layers  int
	note    string // substring of the note; "" = no note
	errPart string // substring of the error; "" = no error
}

// TestRunGPULayers is the table of what run offloads: nothing without a
// GPU, whatever the setting; the setting itself once the trainer trains on
// the GPU; until then a default keeps the CPU with a note and an explicit
// offload is refused.
func TestRunGPULayers(t *testing.T) {
	cases := []gpuLayersCase{
		{name: "zero stays zero", setting: 0, given: true, hasGPU: true},
		{name: "default without a GPU", setting: -1, note: "no GPU"},
		{name: "explicit without a GPU", setting: 12, given: true, note: "no GPU"},
		{name: "below -1 is an error", setting: -2, given: true, hasGPU: true, errPart: "gpu_layers must be"},
	}
	if trainerRunsOnGPU {
		cases = append(cases,
			gpuLayersCase{name: "default with a GPU: all layers", setting: -1, hasGPU: true, layers: -1},
			gpuLayersCase{name: "explicit with a GPU", setting: 8, given: true, hasGPU: true, layers: 8})
	} else {
		cases = append(cases,
			gpuLayersCase{name: "default with a GPU: CPU, said", setting: -1, hasGPU: true, note: "training runs on the CPU"},
			gpuLayersCase{name: "explicit with a GPU: refused", setting: -1, given: true, hasGPU: true, errPart: "training runs on the CPU"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			layers, note, err := runGPULayers(tc.setting, tc.given, tc.hasGPU)
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
