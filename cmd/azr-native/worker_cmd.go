package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/azr-native/azr-native/internal/cluster"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

func init() { registerCommandMaker(workerCommand) }

func workerCommand() *cli.Command {
	def := rl.DefaultConfig()
	return &cli.Command{
		Name:  "worker",
		Usage: "serve a clustered run's generation or sandbox work (run --cluster / --nats)",
		Description: `Connects to the NATS JetStream server of a run started with --cluster (or the
server given to --nats) and serves one kind of work until interrupted:

  --role sandbox    executes the trainer's programs in a local sandbox pool of
                    --threads processes, with this worker's own limits and
                    isolation; it serves only a trainer whose --exec-timeout and
                    --banned-modules equal its own (so verdicts are the same as
                    in a single-process run)
  --role generate   samples on its own copy of the base model (--model, the same
                    file as the trainer's, checked by fingerprint) with the adapter
                    version each request names, fetched from the server

A worker may start before its trainer, and reconnects by itself when the server
goes away and comes back (a trainer restart). A request a worker dies on is
redelivered to another worker; nothing is lost. docs/CLUSTER.md has the design.

  azr-native run -m base.gguf --out runs/c --cluster --nats-listen 0.0.0.0:4222
  azr-native worker --connect nats://trainer-host:4222 --role sandbox
  azr-native worker --connect nats://trainer-host:4222 --role generate -m base.gguf`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "connect", Usage: "`URL` of the NATS server (the trainer's --cluster listen address, or a shared server)", Required: true, EnvVars: envVar("connect")},
			&cli.StringFlag{Name: "role", Usage: "generate or sandbox", Required: true, EnvVars: envVar("role")},
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "base GGUF `FILE` (generate role): the trainer's model", EnvVars: envVar("model")},
			&cli.IntFlag{Name: "gpu-layers", Usage: "generate role: layers to offload to the GPU (CUDA builds; -1 = all); samples then differ from a CPU run's", EnvVars: envVar("gpu-layers")},
			&cli.DurationFlag{Name: "exec-timeout", Value: def.ExecTimeout, Usage: "sandbox role: deadline of one execution (must equal the trainer's)", EnvVars: envVar("exec-timeout")},
			&cli.StringSliceFlag{Name: "banned-modules", Value: cli.NewStringSlice(def.BannedModules...), Usage: "sandbox role: module and call names a program may not use (must equal the trainer's)", EnvVars: envVar("banned-modules")},
			&cli.StringFlag{Name: "sandbox-isolation", Value: string(sandbox.IsolationStrict), Usage: "sandbox role: strict or best-effort (see run --help)", EnvVars: envVar("sandbox-isolation")},
			&cli.StringFlag{Name: "nats-creds", Usage: "NATS credentials `FILE`", EnvVars: envVar("nats-creds")},
			&cli.StringFlag{Name: "nats-tls-ca", Usage: "CA certificate `FILE` to verify the NATS server with", EnvVars: envVar("nats-tls-ca")},
			&cli.StringFlag{Name: "nats-tls-cert", Usage: "client certificate `FILE` for NATS TLS", EnvVars: envVar("nats-tls-cert")},
			&cli.StringFlag{Name: "nats-tls-key", Usage: "client key `FILE` for NATS TLS", EnvVars: envVar("nats-tls-key")},
			&cli.DurationFlag{Name: "connect-wait", Value: 24 * time.Hour, Usage: "how long to keep trying to reach the server at start", EnvVars: envVar("connect-wait")},
		},
		Action: runWorker,
	}
}

func runWorker(c *cli.Context) error {
	role := c.String("role")
	if role != cluster.RoleSandbox && role != cluster.RoleGenerate {
		return fmt.Errorf("--role must be %s or %s, not %q", cluster.RoleGenerate, cluster.RoleSandbox, role)
	}
	if role == cluster.RoleGenerate && c.String("model") == "" {
		return errors.New("--role generate needs --model FILE: the trainer's base model")
	}
	ctx, interrupts := watchInterrupts(c.Context)
	defer interrupts.stop()
	nc, err := cluster.Connect(ctx, cluster.ConnectOptions{URL: c.String("connect"), Name: "azr-native worker (" + role + ")",
		Creds: c.String("nats-creds"), TLSCA: c.String("nats-tls-ca"), TLSCert: c.String("nats-tls-cert"), TLSKey: c.String("nats-tls-key"),
		Wait: c.Duration("connect-wait")}, logger)
	if err != nil {
		return err
	}
	defer nc.Close()
	threads := c.Int("threads")
	var w *cluster.Worker
	switch role {
	case cluster.RoleSandbox:
		iso, err := sandbox.ParseIsolation(c.String("sandbox-isolation"))
		if err != nil {
			return err
		}
		own := cluster.ExecPolicy{Timeout: c.Duration("exec-timeout"), BannedModules: c.StringSlice("banned-modules")}
		pool, err := sandbox.New(ctx, sandbox.Config{Workers: threads, Timeout: own.Timeout, BannedModules: own.BannedModules,
			Isolation: iso, Logger: logger})
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		defer pool.Close()
		if w, err = cluster.SandboxWorker(nc, pool, own, threads, logger); err != nil {
			return err
		}
	case cluster.RoleGenerate:
		if w, err = cluster.GenerateWorker(nc, cluster.GenerateOptions{Model: c.String("model"), Threads: threads, GPULayers: c.Int("gpu-layers")}, logger); err != nil {
			return err
		}
	}
	defer w.Close()
	logger.Info("worker started", zap.String("id", w.ID()), zap.String("role", role), zap.String("server", nc.ConnectedUrlRedacted()))
	err = w.Run(ctx)
	logger.Info("worker finished", zap.String("id", w.ID()), zap.Int("served", w.Served()))
	return err
}
