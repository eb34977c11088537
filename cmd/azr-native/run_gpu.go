package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

// runGPULayers is the number of layers a command offloads, given the setting
// (-1 = all) and whether a GPU is present; note says what was decided and
// why, for the log ("" when the setting is used as given). Without a GPU
// nothing is offloaded, whatever the setting. The trainer trains through
// offloaded weights (the backend scheduler), so training commands offload
// like the others.
func runGPULayers(setting int, hasGPU bool) (layers int, note string, err error) {
	switch {
	case setting < -1:
		return 0, "", fmt.Errorf("gpu_layers must be -1 (all), 0 (none) or a layer count, got %d", setting)
	case setting == 0:
		return 0, "gpu_layers 0: the model stays on the CPU", nil
	case !hasGPU:
		return 0, "no GPU device (see azr-native devices): the model stays on the CPU", nil
	default:
		return setting, "", nil
	}
}

// trainerGPULayersFlag is --gpu-layers of the commands that train (bench
// train, bench step); run's is its config key gpu_layers.
func trainerGPULayersFlag() cli.Flag {
	return &cli.IntFlag{Name: "gpu-layers", Value: -1, Usage: "layers to offload to a GPU when one is present (azr-native devices); -1 = all, 0 = none", EnvVars: envVar("gpu-layers")}
}

// gpuLayersLogged applies runGPULayers to a setting, logging the compute
// devices and the decision.
func gpuLayersLogged(setting int) (int, error) {
	layers, note, err := runGPULayers(setting, logDevices().HasGPU())
	if err != nil {
		return 0, err
	}
	if note != "" {
		logger.Info(note, zap.Int("gpu_layers", layers))
	}
	return layers, nil
}
