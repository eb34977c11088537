package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/azr-native/azr-native/internal/cluster"
	"github.com/azr-native/azr-native/internal/policy"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// runCluster is `run --cluster` / `run --nats URL`: generation and sandbox
// work go to workers over NATS JetStream while training stays here.
type runCluster struct {
	srv    *cluster.Server // the embedded server (--cluster), nil with --nats
	nc     *nats.Conn
	client *cluster.Client
}

// startRunCluster starts (--cluster) or joins (--nats) the server and sets
// up the work queues; nil without either flag: everything stays in process.
func startRunCluster(ctx context.Context, set runSettings) (*runCluster, error) {
	if !set.Cluster && set.Nats == "" {
		return nil, nil
	}
	rc := &runCluster{}
	url := set.Nats
	if set.Cluster {
		srv, err := cluster.StartServer(set.NatsListen, filepath.Join(set.Out, "nats"))
		if err != nil {
			return nil, err
		}
		rc.srv, url = srv, srv.URL()
		logger.Info("NATS JetStream server started; start workers with: azr-native worker --connect URL --role sandbox|generate",
			zap.String("url", url), zap.String("store", filepath.Join(set.Out, "nats")))
	}
	nc, err := cluster.Connect(ctx, cluster.ConnectOptions{URL: url, Name: "azr-native trainer", Creds: set.NatsCreds,
		TLSCA: set.NatsTLSCA, TLSCert: set.NatsTLSCert, TLSKey: set.NatsTLSKey}, logger)
	if err != nil {
		rc.Close()
		return nil, err
	}
	rc.nc = nc
	if rc.client, err = cluster.NewClient(ctx, nc, logger, cluster.ClientOptions{AckWait: set.ClusterAckWait}); err != nil {
		rc.Close()
		return nil, err
	}
	return rc, nil
}

// wrap returns the remote policy (generation on workers, training on eng)
// and the remote executor, with the run's (possibly resumed) settings.
func (rc *runCluster) wrap(eng *policy.Engine, set runSettings) (*cluster.Policy, *cluster.Executor, error) {
	fp, err := cluster.FileFingerprint(set.Model)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: %w", err)
	}
	cfg := set.Config
	p := cluster.NewPolicy(rc.client, eng, cluster.PolicyOptions{Base: fp, Ctx: set.Ctx, Slots: set.Slots}, logger)
	exec := cluster.NewExecutor(rc.client, cluster.ExecPolicy{Timeout: cfg.ExecTimeout, BannedModules: cfg.BannedModules})
	logger.Info("cluster mode: generation and sandbox work go to workers", zap.String("base_fingerprint", fp[:12]))
	return p, exec, nil
}

// Close logs what each worker served and stops the connection and server.
func (rc *runCluster) Close() {
	if rc == nil {
		return
	}
	if rc.client != nil {
		rc.client.Close()
	}
	if rc.nc != nil {
		rc.nc.Close()
	}
	rc.srv.Close()
}
