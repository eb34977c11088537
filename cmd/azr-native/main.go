// Command azr-native trains a language model by Absolute Zero self-play and
// offers the tools around it: generation, benchmarks, the sandbox, tiny models.
//
// This package is wiring only: each subcommand lives in its own file and
// registers itself with registerCommand / registerBench, so files for separate
// areas (engine, sandbox, rl) never edit each other.
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/urfave/cli/v2"
)

// version is set at link time by the Makefile.
var version = "dev"

var (
	topCommands   []*cli.Command
	benchCommands []*cli.Command
	nanoCommands  []*cli.Command
)

// registerCommand adds a top-level subcommand; called from init functions.
func registerCommand(c *cli.Command) { topCommands = append(topCommands, c) }

// commandMakers build top-level subcommands afresh for each app, for
// commands whose flags are generated (urfave/cli flags keep the values of
// the last parse, so an app run twice in one process needs new ones).
var commandMakers []func() *cli.Command

// registerCommandMaker adds a top-level subcommand built by make for each app.
func registerCommandMaker(make func() *cli.Command) { commandMakers = append(commandMakers, make) }

// registerNano adds a subcommand under `azr-native nano` (the built-in nano base model).
func registerNano(c *cli.Command) { nanoCommands = append(nanoCommands, c) }

// registerBench adds a subcommand under `azr-native bench`.
func registerBench(c *cli.Command) { benchCommands = append(benchCommands, c) }

func newApp() *cli.App {
	top := append([]*cli.Command{}, topCommands...)
	for _, make := range commandMakers {
		top = append(top, make())
	}
	sort.Slice(top, func(i, j int) bool { return top[i].Name < top[j].Name })
	sort.Slice(benchCommands, func(i, j int) bool { return benchCommands[i].Name < benchCommands[j].Name })
	sort.Slice(nanoCommands, func(i, j int) bool { return nanoCommands[i].Name < nanoCommands[j].Name })
	cmds := top
	if len(nanoCommands) > 0 {
		cmds = append(cmds, &cli.Command{
			Name:        "nano",
			Usage:       "the built-in nano coder base: training data, pretraining, the learning experiment",
			Subcommands: nanoCommands,
		})
	}
	cmds = append(cmds, &cli.Command{
		Name:        "bench",
		Usage:       "measure throughput of the hot paths against their obvious baselines",
		Description: "Each benchmark runs its workload and the baseline in the same run and reports the ratio.\nAdd --json for a machine-readable report.",
		Subcommands: benchCommands,
	})
	return &cli.App{
		Name:    "azr-native",
		Usage:   "Absolute Zero self-play training for quantized Qwen GGUF models, on your own machine",
		Version: version,
		Description: `azr-native proposes Python reasoning tasks with a language model, checks them in an
isolated Python sandbox, solves them with the same model and updates a LoRA adapter
with Task-Relative REINFORCE++ — all with no external data.

Every flag can also be set through an environment variable AZR_<FLAG> (upper case,
dashes as underscores), e.g. AZR_THREADS=8.`,
		Flags:                globalFlags(),
		Before:               setupGlobals,
		After:                teardownGlobals,
		Commands:             cmds,
		EnableBashCompletion: true,
	}
}

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "azr-native:", err)
		os.Exit(1)
	}
}
