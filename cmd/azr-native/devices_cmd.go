package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/azr-native/azr-native/bindings"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

func init() {
	registerCommand(&cli.Command{
		Name:  "devices",
		Usage: "list the compute devices this binary can use (the CPU, and GPUs of loadable backend modules), optionally checking each",
		Description: `GPU backends are loadable modules: libggml-cuda.so (built by CUDA=1 make) next to the
executable, or in --backend-dir. Without one, everything runs on the CPU. --check runs a
small F32 and Q4_K matrix product on every device and compares it with the host's.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "check", Usage: "run a small matrix-product self-check on each device", EnvVars: envVar("check")},
			jsonFlag(),
		},
		Action: devicesCmd,
	})
}

type deviceLine struct {
	bindings.Device
	Check      string  `json:"check,omitempty"` // "ok" or the failure
	CheckMilli float64 `json:"check_ms,omitempty"`
}

func devicesCmd(c *cli.Context) error {
	rep := bindings.LoadBackends()
	lines := make([]deviceLine, len(rep.Devices))
	failed := 0
	for i, d := range rep.Devices {
		lines[i].Device = d
		if !c.Bool("check") {
			continue
		}
		start := time.Now()
		if err := bindings.DeviceSelfCheck(d.Index); err != nil {
			lines[i].Check = err.Error()
			failed++
		} else {
			lines[i].Check = "ok"
		}
		lines[i].CheckMilli = float64(time.Since(start).Microseconds()) / 1000
	}
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Pin      string       `json:"ggml_pin"`
			Dir      string       `json:"backend_dir"`
			Warnings []string     `json:"warnings"`
			Devices  []deviceLine `json:"devices"`
		}{bindings.BackendPin(), rep.Dir, rep.Warnings, lines}); err != nil {
			return err
		}
	} else {
		for _, l := range lines {
			fmt.Printf("%-8s %-5s %s", l.Name, l.Type, l.Description)
			if l.MemoryTotal > 0 {
				fmt.Printf(", %.1f GiB (%.1f free)", float64(l.MemoryTotal)/(1<<30), float64(l.MemoryFree)/(1<<30))
			}
			if l.Check != "" {
				fmt.Printf("  check: %s", l.Check)
			}
			fmt.Println()
		}
		if !rep.HasGPU() {
			fmt.Println("no GPU: put libggml-cuda.so (CUDA=1 make) next to the executable or in --backend-dir to use one")
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d device(s) failed the self-check", failed)
	}
	return nil
}

// placement says where a loaded model's weights live, e.g. "CPU" or
// "CUDA0 (24/24 layers and the output)".
func placement(info bindings.ModelInfo) string {
	if info.GPULayers == 0 && !info.OutputOnGPU {
		return info.Devices
	}
	out := ""
	if info.OutputOnGPU {
		out = " and the output"
	}
	return fmt.Sprintf("%s (%d/%d layers%s on the GPU)", info.Devices, info.GPULayers, info.Layers, out)
}

// logDevices logs, once per command, which compute devices there are.
func logDevices() bindings.BackendReport {
	rep := bindings.LoadBackends()
	logger.Info("compute devices", zap.String("devices", rep.Summary()), zap.Bool("gpu", rep.HasGPU()))
	return rep
}
