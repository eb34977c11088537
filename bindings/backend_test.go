package bindings

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cpuModulePath is ggml's CPU backend built as a loadable module by make
// (native/backends): the one real module a CPU-only machine can load.
func cpuModulePath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../build/backends/libggml-cpu.so")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run make (it builds the loadable CPU module the loader tests load): %v", p, err)
	}
	return p
}

// TestBackendsAlwaysHaveTheCPU: whatever modules are around, the CPU
// backend linked into the binary is a device, and the report names it.
func TestBackendsAlwaysHaveTheCPU(t *testing.T) {
	rep := LoadBackends()
	var cpu bool
	for _, d := range rep.Devices {
		cpu = cpu || (d.Type == DeviceCPU && d.Backend == "CPU")
	}
	if !cpu {
		t.Fatalf("no CPU device in %+v", rep.Devices)
	}
	if os.Getenv(BackendDirEnv) == "" && (rep.Loaded != 0 || len(rep.Warnings) != 0 || rep.HasGPU()) {
		t.Errorf("no module next to the test binary, yet loaded %d, warnings %q, GPU %v", rep.Loaded, rep.Warnings, rep.HasGPU())
	}
	if !strings.Contains(rep.Summary(), "CPU") {
		t.Errorf("summary %q does not name the CPU", rep.Summary())
	}
	if BackendPin() == "" {
		t.Error("empty ggml pin")
	}
}

// TestBrokenBackendModulesAreWarnings: a libggml-cuda.so that is present but
// cannot be used leaves the CPU with a warning that names the file and the
// reason, and never crashes the process.
func TestBrokenBackendModulesAreWarnings(t *testing.T) {
	realModule, err := os.ReadFile(cpuModulePath(t))
	if err != nil {
		t.Fatal(err)
	}
	pin := []byte(BackendPin())
	if !bytes.Contains(realModule, append(pin, 0)) {
		t.Fatalf("the CPU module does not hold its pin %q", pin)
	}
	// Same length, so the ELF layout stays valid (source paths that contain
	// the pin change too, harmlessly).
	otherPin := bytes.Repeat([]byte("x"), len(pin))
	cases := []struct {
		name  string
		write func(path string) error
		want  string
	}{
		{"not a shared object", func(p string) error { return os.WriteFile(p, []byte("not an ELF file\n"), 0o644) }, "cannot be loaded"},
		{"empty file", func(p string) error { return os.WriteFile(p, nil, 0o644) }, "cannot be loaded"},
		{"a directory", func(p string) error { return os.Mkdir(p, 0o755) }, "not a regular file"},
		{"a shared object not built for azr-native", func(p string) error {
			libm, err := os.ReadFile("/lib/x86_64-linux-gnu/libm.so.6")
			if err != nil {
				t.Skipf("no libm to copy: %v", err)
			}
			return os.WriteFile(p, libm, 0o644)
		}, "was not built for azr-native"},
		{"a module of another ggml pin", func(p string) error {
			return os.WriteFile(p, bytes.ReplaceAll(realModule, pin, otherPin), 0o644)
		}, "was built from ggml " + string(otherPin)},
	}
	before := len(Devices())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "libggml-cuda.so")
			if err := tc.write(path); err != nil {
				t.Fatal(err)
			}
			loaded, warnings := loadBackendDir(dir)
			if loaded != 0 || len(warnings) != 1 {
				t.Fatalf("loaded %d, warnings %q; want 0 and one warning", loaded, warnings)
			}
			if !strings.Contains(warnings[0], path) || !strings.Contains(warnings[0], tc.want) {
				t.Errorf("warning %q, want it to name %s and say %q", warnings[0], path, tc.want)
			}
			if n := len(Devices()); n != before {
				t.Errorf("devices: %d, want %d (nothing registered)", n, before)
			}
		})
	}
	if loaded, warnings := loadBackendDir(t.TempDir()); loaded != 0 || len(warnings) != 0 {
		t.Errorf("empty dir: loaded %d, warnings %q", loaded, warnings)
	}
}

// TestLoadingARealModule loads ggml's CPU backend built as a module: its
// ggml symbols bind to this binary's exported ggml (the path a CUDA module
// takes), it registers one more device, and that device computes matrix
// products equal to the host's. Loading it again changes nothing.
func TestLoadingARealModule(t *testing.T) {
	path := cpuModulePath(t)
	before := Devices()
	if err := LoadBackendModule(path); err != nil {
		t.Fatal(err)
	}
	after := Devices()
	if len(after) != len(before)+1 {
		t.Fatalf("devices %d -> %d after loading %s, want one more", len(before), len(after), path)
	}
	if err := LoadBackendModule(path); err != nil {
		t.Fatalf("second load: %v", err)
	}
	if n := len(Devices()); n != len(after) {
		t.Errorf("a second load changed the devices: %d -> %d", len(after), n)
	}
	for _, d := range after {
		if err := DeviceSelfCheck(d.Index); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	if err := DeviceSelfCheck(len(after)); err == nil || !strings.Contains(err.Error(), "there are") {
		t.Errorf("self-check of a device that does not exist: %v", err)
	}
	if err := LoadBackendModule(filepath.Join(t.TempDir(), "libggml-none.so")); err == nil || !strings.Contains(strings.ToLower(err.Error()), "no such file") {
		t.Errorf("missing module: %v", err)
	}
}
