package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// DefaultListen is where an embedded server listens unless told otherwise:
// loopback only, NATS's usual port.
const DefaultListen = "127.0.0.1:4222"

// Server is a NATS server with JetStream running inside this process.
type Server struct {
	ns *server.Server
}

// StartServer starts an embedded NATS server with JetStream on listen
// (HOST:PORT; port 0 picks a free one), keeping its store in storeDir so
// queued work and adapter versions survive a restart of the process.
func StartServer(listen, storeDir string) (*Server, error) {
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("nats listen address %q: %w (want HOST:PORT)", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("nats listen address %q: bad port %q", listen, portText)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if err := os.MkdirAll(storeDir, 0o755); err != nil {
		return nil, fmt.Errorf("nats store: %w", err)
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "azr-native", Host: host, Port: port, JetStream: true, StoreDir: storeDir,
		NoSigs: true, NoLog: true, MaxPayload: 64 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server on %s did not come up (is the port in use?)", listen)
	}
	return &Server{ns: ns}, nil
}

// URL is the address clients connect to.
func (s *Server) URL() string { return s.ns.ClientURL() }

// Close stops the server. Safe to call more than once.
func (s *Server) Close() {
	if s != nil && s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.ns = nil
	}
}

// ConnectOptions say how to reach a NATS server. Credentials and TLS are
// passed through to nats.go as they are.
type ConnectOptions struct {
	URL     string // nats://host:port (user:password@ in the URL works too)
	Name    string // client name shown in the server's monitoring
	Creds   string // NATS credentials file (JWT + nkey seed)
	TLSCA   string // CA certificate to verify the server with
	TLSCert string // client certificate and key, when the server wants one
	TLSKey  string
	// Wait is how long a first connection is retried before giving up
	// (workers start before their trainer); 0 fails at once.
	Wait time.Duration
}

// Connect dials the server; a dropped connection is re-established for as
// long as the process runs.
func Connect(ctx context.Context, o ConnectOptions, log *zap.Logger) (*nats.Conn, error) {
	if o.URL == "" {
		return nil, errors.New("nats: no server URL")
	}
	opts := []nats.Option{
		nats.Name(o.Name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats connection lost; reconnecting", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", zap.String("url", nc.ConnectedUrlRedacted())) }),
	}
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("nats: a TLS client certificate needs both the certificate and the key file")
	}
	if o.TLSCA != "" || o.TLSCert != "" {
		// Secure first: it replaces the TLS settings the next two options add to.
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	deadline := time.Now().Add(o.Wait)
	for {
		nc, err := nats.Connect(o.URL, opts...)
		if err == nil {
			return nc, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("nats connect %s: %w", o.URL, err)
		}
		log.Debug("nats server not reachable yet; retrying", zap.String("url", o.URL), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
