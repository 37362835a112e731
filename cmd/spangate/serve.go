package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/config"
	"github.com/spangate/spangate/internal/execute"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/identity"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/policy"
	"github.com/spangate/spangate/internal/spannerdb"
)

// serveShutdownTimeout is how long a stopping gateway lets in-flight
// requests (an apply, say) finish before it cancels them.
const serveShutdownTimeout = 60 * time.Second

// envConfig names the gateway config file when --config is not given.
const envConfig = "SPANGATE_CONFIG"

func (a *app) serveCommand() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the gateway against Cloud Spanner (or the emulator named by SPANNER_EMULATOR_HOST)",
		Long: `serve runs the spangate gateway: it exchanges CI identity tokens for session
tokens (POST /v1/token), authorizes every request and statement with the
config's rules, and runs plans, applies, statements and audit reads against
the configured databases, recording each decision and change in the audit
trail in the same transaction as the change.

The gateway is stateless: give every replica the same config (and the same
session_keys and audit.param_hash_key_file) and put them behind one load
balancer. Settings and their defaults: docs/operations.md. It serves HTTPS when
tls.cert_file and tls.key_file are set. /healthz (on listen) says the process
is up. The admin listener (admin_listen, default 127.0.0.1:8480, plain HTTP,
keep it private) serves /readyz, whether every configured database can be
reached, and /metrics, Prometheus metrics: both name the databases, so they
are not on the public listener.

A request body must arrive within limits.body_timeout; one client address
keeps at most limits.max_conns_per_client connections open (0 behind a load
balancer, which should bound them itself).

On SIGTERM or SIGINT it stops accepting connections, fails /readyz, and lets
in-flight requests finish for up to a minute; an apply cut short leaves
state the next apply resumes.

With SPANNER_EMULATOR_HOST set it talks to that emulator; otherwise to Cloud
Spanner with Application Default Credentials.`,
		Example: `  spangate serve --config /etc/spangate/spangate.yaml
  SPANGATE_CONFIG=spangate.yaml spangate serve`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if configPath == "" {
				configPath = a.getenv(envConfig)
			}
			if configPath == "" {
				return usageError{err: errors.New("no config file: pass --config FILE or set " + envConfig)}
			}
			return a.runServe(cmd.Context(), configPath)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "gateway config file (YAML) (default $"+envConfig+")")
	return cmd
}

// runServe loads the config, builds the gateway and serves it until ctx
// ends, then shuts down gracefully.
func (a *app) runServe(ctx context.Context, configPath string) error {
	logger := a.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f, err := os.Open(configPath)
	if err != nil {
		return spangate.Errorf(spangate.Invalid, "--config: %w", err).WithHint("give the path of a readable gateway config file")
	}
	pol, err := policy.Load(f, configPath)
	f.Close()
	if err != nil {
		return err
	}
	cfg := pol.Config()
	gw, dbs, err := newGateway(cfg, pol, spannerdb.Options{EmulatorHost: a.getenv(envEmulatorHost)}, a.now, logger)
	if err != nil {
		return err
	}
	defer dbs.Close()

	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return spangate.Errorf(spangate.Unavailable, "listen on %s: %w", cfg.Listen, err).
			WithHint("stop whatever listens there or change listen in the config")
	}
	lis = gateway.LimitConnsPerClient(lis, cfg.Limits.MaxConnsPerClient, func(addr string) {
		logger.Debug("connection refused: too many open from its address", "client", addr, "max", cfg.Limits.MaxConnsPerClient)
	})
	srv := newHTTPServer(gw.Handler(), logger)
	admin, err := serveAdmin(ctx, cfg.AdminListen, gw, logger)
	if err != nil {
		lis.Close()
		return err
	}
	if admin != nil {
		defer admin.Close()
	}
	tlsOn := cfg.TLS.CertFile != ""
	if tlsOn {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	serveErr := make(chan error, 1)
	go func() {
		var err error
		if tlsOn {
			err = srv.ServeTLS(lis, cfg.TLS.CertFile, cfg.TLS.KeyFile)
		} else {
			err = srv.Serve(lis)
		}
		serveErr <- err
	}()
	logger.Info("gateway listening", "addr", lis.Addr().String(), "tls", tlsOn, "databases", len(cfg.Databases), "issuers", len(cfg.Issuers))

	select {
	case err := <-serveErr:
		return spangate.Errorf(spangate.Unavailable, "serve on %s: %w", cfg.Listen, err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining in-flight requests", "grace", serveShutdownTimeout)
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serveShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = gw.Shutdown(stopCtx) })
	if err := srv.Shutdown(stopCtx); err != nil {
		logger.Warn("in-flight requests did not finish in time; closing", "err", err)
		srv.Close()
	}
	wg.Wait()
	logger.Info("gateway stopped")
	return nil
}

// newHTTPServer returns the HTTP server of a gateway listener: headers must
// arrive within 10s (bodies within limits.body_timeout, which the gateway
// enforces), idle connections close after 2 minutes.
func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serveAdmin serves the gateway's admin handler (/metrics, /readyz) on
// addr, plain HTTP, until the returned server is closed; nil when addr is
// "off".
func serveAdmin(ctx context.Context, addr string, gw *gateway.Server, logger *slog.Logger) (*http.Server, error) {
	if addr == config.AdminListenOff {
		return nil, nil
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, spangate.Errorf(spangate.Unavailable, "listen on admin_listen %s: %w", addr, err).
			WithHint("stop whatever listens there, change admin_listen in the config, or set it to off")
	}
	srv := newHTTPServer(gw.AdminHandler(), logger)
	go func() { _ = srv.Serve(lis) }()
	logger.Info("admin listener (metrics, readiness)", "addr", lis.Addr().String())
	return srv, nil
}

// newGateway builds the gateway for cfg: the token verifier, the policy
// and the Spanner databases (on the emulator at emulatorHost when set).
// `spangate serve` and `spangate dev` share it.
func newGateway(cfg *config.Config, pol *policy.Policy, backend spannerdb.Options, now func() time.Time, logger *slog.Logger) (*gateway.Server, *spannerDatabases, error) {
	issuers := make([]identity.IssuerConfig, len(cfg.Issuers))
	for i, is := range cfg.Issuers {
		issuers[i] = identity.IssuerConfig{Name: is.Name, URL: is.URL, Audiences: is.Audiences, Provider: is.Provider}
	}
	v, err := identity.NewVerifier(issuers, identity.Options{Logger: logger, Leeway: cfg.Tokens.ClockLeeway, MaxTokenLifetime: cfg.Tokens.MaxLifetime})
	if err != nil {
		return nil, nil, err
	}
	backend.CallTimeout, backend.Logger = cfg.Limits.SpannerTimeout, logger
	dbs := newSpannerDatabases(cfg, backend)
	reg := prometheus.NewRegistry()
	if err := reg.Register(auditCollector{dbs}); err != nil {
		return nil, nil, err
	}
	gw, err := gateway.New(cfg, gateway.Deps{Verifier: v, Policy: pol, Databases: dbs, Logger: logger, Now: now, Metrics: reg})
	if err != nil {
		dbs.Close()
		return nil, nil, err
	}
	return gw, dbs, nil
}

// spannerDatabases opens the configured databases with spannerdb, lazily,
// once each, creating spangate's tables on first use. It implements
// gateway.Opener.
type spannerDatabases struct {
	paths map[string]string
	opts  spannerdb.Options

	mu  sync.Mutex
	dbs map[string]*lazyDB
	// open holds the databases opened so far, by name, for metrics.
	open map[string]*spannerdb.DB
}

// lazyDB is one database, opened and initialised on first use; a failure
// is retried by the next request.
type lazyDB struct {
	mu sync.Mutex
	db *gatewayDB
}

func newSpannerDatabases(cfg *config.Config, opts spannerdb.Options) *spannerDatabases {
	return &spannerDatabases{paths: cfg.Databases, opts: opts, dbs: map[string]*lazyDB{}, open: map[string]*spannerdb.DB{}}
}

// Open returns the named database, opening it and creating spangate's
// tables in it the first time.
func (s *spannerDatabases) Open(ctx context.Context, name string) (gateway.Database, error) {
	path, ok := s.paths[name]
	if !ok {
		return nil, spangate.Errorf(spangate.NotFound, "unknown database %q", name)
	}
	s.mu.Lock()
	l, ok := s.dbs[name]
	if !ok {
		l = &lazyDB{}
		s.dbs[name] = l
	}
	s.mu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db != nil {
		return l.db, nil
	}
	db, err := spannerdb.Open(ctx, path, s.opts)
	if err != nil {
		return nil, err
	}
	if err := db.Init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	l.db = &gatewayDB{DB: db}
	s.mu.Lock()
	s.open[name] = db
	s.mu.Unlock()
	return l.db, nil
}

// opened returns the databases opened so far, by name.
func (s *spannerDatabases) opened() map[string]*spannerdb.DB {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.open)
}

// Close closes every opened database.
func (s *spannerDatabases) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.open)
	for _, l := range s.dbs {
		l.mu.Lock()
		if l.db != nil {
			l.db.Close()
			l.db = nil
		}
		l.mu.Unlock()
	}
}

// gatewayDB adapts a spannerdb.DB to gateway.Database.
type gatewayDB struct {
	*spannerdb.DB
}

// The gateway decides an UPDATE or DELETE against its table's key, which
// it looks up through the database (execute.Classify): without it every
// such statement would need destructive.
var _ execute.KeyLookup = (*gatewayDB)(nil)

// WithAudit returns the audited history store of the database.
func (g *gatewayDB) WithAudit(actor audit.Entry, files ...*migration.File) migration.HistoryStore {
	return g.DB.WithAudit(actor, files...)
}

// Ping reads spangate's own tables as a write would meet them, healing
// what an outage left broken (spannerdb.DB.Probe).
func (g *gatewayDB) Ping(ctx context.Context) error { return g.Probe(ctx) }
