package main

import (
	"fmt"

	"github.com/azr-native/azr-native/internal/report"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

func init() {
	registerCommand(&cli.Command{
		Name:      "report",
		Usage:     "write RUN_DIR/report.html: curves, signal health, samples and flagged responses of a run",
		ArgsUsage: "RUN_DIR",
		Description: `Reads what azr-native run wrote into RUN_DIR (metrics.jsonl, and when present
config.json, samples.jsonl, uhoh.jsonl) and writes one self-contained HTML page,
RUN_DIR/report.html, that opens offline in any browser:

  - a summary of the last step and its six (task type x role) batches;
  - curves over the steps: rewards, accuracies, format and valid-proposal rates,
    signal health (the share of learnable proposals, program diversity), response
    lengths, buffer sizes, time per phase, throughput, the policy update, and
    --eval-data evaluations when the run had them;
  - a few sample proposals and solutions per step (samples.jsonl);
  - the responses the uh-oh monitor flagged.

The plots are PNG images inside the page; nothing is fetched from the network.
It can be run while the run goes on: it reads the steps written so far.

  azr-native report runs/first && xdg-open runs/first/report.html`,
		Action: writeReport,
	})
}

func writeReport(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("report takes one argument, the run directory (azr-native run --out DIR), got %d", c.NArg())
	}
	dir := c.Args().First()
	r, err := report.Load(dir)
	if err != nil {
		return err
	}
	path, err := r.WriteHTML()
	if err != nil {
		return err
	}
	logger.Info("report written", zap.String("path", path), zap.Int("steps", len(r.Steps)),
		zap.Int("evaluations", len(r.Evals)), zap.Int("samples", len(r.Samples)), zap.Int("uhoh", len(r.UhOh)))
	fmt.Println(path)
	return nil
}
