package bindings

/*
#include <stdlib.h>
#include "azr.h"
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"
)

// BackendDirEnv names the environment variable with the directory of the
// loadable GPU backend modules (libggml-cuda.so), when SetBackendDir is not
// called; without either, modules are looked for next to the executable.
const BackendDirEnv = "AZR_BACKEND_DIR"

// DeviceType says what kind of device a backend runs on.
type DeviceType string

const (
	DeviceCPU   DeviceType = "cpu"
	DeviceGPU   DeviceType = "gpu"
	DeviceIGPU  DeviceType = "igpu"  // integrated GPU sharing host memory
	DeviceAccel DeviceType = "accel" // an accelerator used alongside the CPU
)

// Device is a compute device of a registered backend.
type Device struct {
	Index       int        `json:"index"` // for DeviceSelfCheck
	Name        string     `json:"name"`  // e.g. "CPU", "CUDA0"
	Description string     `json:"description"`
	Backend     string     `json:"backend"` // e.g. "CPU", "CUDA"
	Type        DeviceType `json:"type"`
	MemoryFree  uint64     `json:"memory_free"` // bytes as the device reports them; 0 when unknown
	MemoryTotal uint64     `json:"memory_total"`
}

// IsGPU reports whether the device is a discrete or integrated GPU.
func (d Device) IsGPU() bool { return d.Type == DeviceGPU || d.Type == DeviceIGPU }

// String is a one-line description, e.g. "CUDA0 (NVIDIA H200, 139.8 GiB)".
func (d Device) String() string {
	if d.MemoryTotal == 0 || !d.IsGPU() {
		return fmt.Sprintf("%s (%s)", d.Name, d.Description)
	}
	return fmt.Sprintf("%s (%s, %.1f GiB)", d.Name, d.Description, float64(d.MemoryTotal)/(1<<30))
}

// BackendReport says what LoadBackends found.
type BackendReport struct {
	Dir      string   `json:"dir"`      // where modules were looked for ("" = next to the executable)
	Loaded   int      `json:"loaded"`   // modules loaded
	Warnings []string `json:"warnings"` // modules present that could not be loaded, one line each
	Devices  []Device `json:"devices"`  // every device, GPUs first
}

// HasGPU reports whether a GPU device is registered.
func (r BackendReport) HasGPU() bool {
	for _, d := range r.Devices {
		if d.IsGPU() {
			return true
		}
	}
	return false
}

// Summary names the devices, GPUs first, e.g. "CUDA0 (NVIDIA H200, 139.8 GiB), CPU (AMD EPYC)".
func (r BackendReport) Summary() string {
	parts := make([]string, len(r.Devices))
	for i, d := range r.Devices {
		parts[i] = d.String()
	}
	return strings.Join(parts, ", ")
}

var (
	backendMu     sync.Mutex
	backendDir    *string
	backendReport *BackendReport
)

// SetBackendDir sets where LoadBackends looks for GPU backend modules ("" =
// next to the executable). It has no effect once the backends are loaded,
// which happens at the first LoadModel or LoadBackends call.
func SetBackendDir(dir string) {
	backendMu.Lock()
	defer backendMu.Unlock()
	backendDir = &dir
}

// LoadBackends loads the GPU backend modules present in the backend
// directory (SetBackendDir, else $AZR_BACKEND_DIR, else the executable's
// directory), once per process; later calls return the first report. A module
// that is absent leaves the CPU; one that is present but cannot be loaded is
// reported in Warnings and also leaves the CPU. Each warning goes to the log
// sink at warn level, and the device list at info level.
func LoadBackends() BackendReport {
	backendMu.Lock()
	defer backendMu.Unlock()
	if backendReport != nil {
		return *backendReport
	}
	dir := os.Getenv(BackendDirEnv)
	if backendDir != nil {
		dir = *backendDir
	}
	rep := BackendReport{Dir: dir}
	rep.Loaded, rep.Warnings = loadBackendDir(dir)
	rep.Devices = Devices()
	for _, w := range rep.Warnings {
		logLine(LogWarn, w+" (running without it)")
	}
	logLine(LogInfo, "compute devices: "+rep.Summary())
	backendReport = &rep
	return rep
}

// loadBackendDir loads the GPU modules present in dir ("" = next to the
// executable): how many were loaded, and one warning per module that could not be.
func loadBackendDir(dir string) (int, []string) {
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	const warnCap = 8192
	warn := (*C.char)(C.calloc(warnCap, 1))
	defer C.free(unsafe.Pointer(warn))
	n := int(C.azr_backends_load_dir(cdir, warn, warnCap))
	if w := strings.TrimSpace(C.GoString(warn)); w != "" {
		return n, strings.Split(w, "\n")
	}
	return n, nil
}

// LoadBackendModule loads one backend module file (libggml-<name>.so built
// by native/backends from the same ggml as this binary). Loading the same
// file again is a no-op.
func LoadBackendModule(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	eb := newErrBuf()
	defer eb.free()
	return eb.wrap(C.azr_backend_load(cpath, eb.p, errCap))
}

// BackendPin is the ggml source pin this binary was built from; a backend
// module must carry the same one.
func BackendPin() string { return C.GoString(C.azr_backend_pin()) }

// Devices lists the devices of every registered backend, GPUs first.
func Devices() []Device {
	n := int(C.azr_device_count())
	out := make([]Device, 0, n)
	eb := newErrBuf()
	defer eb.free()
	for i := 0; i < n; i++ {
		var ci C.azr_device_info
		if eb.wrap(C.azr_device_get(C.int32_t(i), &ci, eb.p, errCap)) != nil {
			continue
		}
		d := Device{Index: i, Name: C.GoString(&ci.name[0]), Description: C.GoString(&ci.description[0]),
			Backend: C.GoString(&ci.backend[0]), MemoryFree: uint64(ci.memory_free), MemoryTotal: uint64(ci.memory_total)}
		switch ci._type {
		case C.AZR_DEVICE_GPU:
			d.Type = DeviceGPU
		case C.AZR_DEVICE_IGPU:
			d.Type = DeviceIGPU
		case C.AZR_DEVICE_ACCEL:
			d.Type = DeviceAccel
		default:
			d.Type = DeviceCPU
		}
		out = append(out, d)
	}
	return out
}

// DeviceSelfCheck runs a small F32 and Q4_K matrix product on device index
// (Device.Index) and compares them with the host's; an error names the
// device and the measured difference.
func DeviceSelfCheck(index int) error {
	eb := newErrBuf()
	defer eb.free()
	return eb.wrap(C.azr_device_selfcheck(C.int32_t(index), eb.p, errCap))
}

// logLine hands a line of our own to the log sink, as llama.cpp's lines are;
// without a sink, warnings go to stderr.
func logLine(level LogLevel, line string) {
	if sink := logSink.Load(); sink != nil {
		(*sink)(level, line)
		return
	}
	if level >= LogWarn {
		fmt.Fprintln(os.Stderr, "azr-native: "+line)
	}
}
