package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

// trainerRunsOnGPU says whether the LoRA trainer can train through weights
// offloaded to a GPU. Until it can, run keeps the model in host memory even
// when a GPU is present; flip this when the trainer runs on the model's
// backends.
const trainerRunsOnGPU = false

// runGPULayers is the number of layers run offloads, given the setting
// (-1 = all), whether it was given explicitly, and whether a GPU is
// present; note says what was decided and why, for the log ("" when the
// setting is used as given). Without a GPU nothing is offloaded, whatever
// the setting.
func runGPULayers(setting int, given, hasGPU bool) (layers int, note string, err error) {
	switch {
	case setting < -1:
		return 0, "", fmt.Errorf("gpu_layers must be -1 (all), 0 (none) or a layer count, got %d", setting)
	case setting == 0:
		return 0, "", nil
	case !hasGPU:
		return 0, "no GPU device (see azr-native devices): the model stays on the CPU", nil
	case trainerRunsOnGPU:
		return setting, "", nil
	case given:
		return 0, "", fmt.Errorf("--gpu-layers %d: training runs on the CPU in this version, so run keeps every layer in host memory (give --gpu-layers 0); generate and bench gen can offload", setting)
	default:
		return 0, "a GPU is present, but training runs on the CPU in this version: the model stays in host memory", nil
	}
}

// trainerGPULayersFlag is --gpu-layers of the commands that train (bench
// train, bench step); run's is its config key gpu_layers.
func trainerGPULayersFlag() cli.Flag {
	return &cli.IntFlag{Name: "gpu-layers", Value: -1, Usage: "layers to offload to a GPU when one is present (azr-native devices); -1 = all, 0 = none; training runs on the CPU in this version", EnvVars: envVar("gpu-layers")}
}

// trainerGPULayers applies runGPULayers to a training command's --gpu-layers
// and logs the compute devices and the decision.
func trainerGPULayers(c *cli.Context) (int, error) {
	layers, note, err := runGPULayers(c.Int("gpu-layers"), c.IsSet("gpu-layers"), logDevices().HasGPU())
	if err != nil {
		return 0, err
	}
	if note != "" {
		logger.Info(note, zap.Int("gpu_layers", layers))
	}
	return layers, nil
}
