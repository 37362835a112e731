package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/config"
	"github.com/spangate/spangate/internal/devoidc"
	"github.com/spangate/spangate/internal/emulator"
	"github.com/spangate/spangate/internal/emulator/spannerfake"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/policy"
	"github.com/spangate/spangate/internal/spannerdb"
)

// The instance and database `spangate dev` creates.
const (
	devProject  = "spangate-dev"
	devInstance = "dev"
	devDatabase = "projects/" + devProject + "/instances/" + devInstance + "/databases/dev"
)

// envEmulatorHost is read by the Spanner client libraries to reach an
// emulator instead of Cloud Spanner.
const envEmulatorHost = "SPANNER_EMULATOR_HOST"

// devShutdownTimeout bounds stopping the HTTP server and the emulator.
const devShutdownTimeout = 10 * time.Second

// devOptions are the flags of `spangate dev`.
type devOptions struct {
	addr         string
	spannerAddr  string
	emulatorPath string
	configPath   string
	adminAddr    string
}

// findFunc locates the emulator binary; emulator.Find in production, a stub
// in tests that exercise the fallback to the fake.
type findFunc func(explicit string, lookupEnv func(string) (string, bool)) (string, error)

func (a *app) devCommand() *cobra.Command {
	return a.newDevCommand(emulator.Find)
}

func (a *app) newDevCommand(find findFunc) *cobra.Command {
	var opts devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a complete local stack: the Spanner emulator, an instance and a database, and the gateway",
		Long: `dev starts a local stack for trying spangate and for development:

  - the official Cloud Spanner emulator as a child process at --spanner-addr,
    found through --emulator, SPANGATE_EMULATOR, PATH or the gcloud SDK;
    if SPANNER_EMULATOR_HOST is set, that emulator is used instead;
    if no emulator is installed, the in-process fake (spannertest), which
    lacks many of Spanner's guarantees and says which;
  - the instance projects/spangate-dev/instances/dev and the database
    projects/spangate-dev/instances/dev/databases/dev in it;
  - an HTTP server at --addr (health check, the gateway's API and the dev
    OIDC issuer), and the gateway's admin listener (/metrics, /readyz) at
    --admin-addr, loopback by default.

It prints shell lines to paste into another shell (export
SPANNER_EMULATOR_HOST=… and export SPANGATE_DATABASE=…) and runs until
interrupted. Data lives in memory and is gone at exit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDev(cmd.Context(), opts, find)
		},
	}
	cmd.AddCommand(a.devTokenCommand())
	f := cmd.Flags()
	f.StringVar(&opts.addr, "addr", "127.0.0.1:8479", "address the gateway and the dev OIDC issuer listen on (port 0 picks a free one)")
	f.StringVar(&opts.spannerAddr, "spanner-addr", "127.0.0.1:9010", "address the Spanner emulator serves gRPC on (port 0 picks a free one)")
	f.StringVar(&opts.emulatorPath, "emulator", "", "path to the emulator binary, emulator_main (default: SPANGATE_EMULATOR, PATH, then the gcloud SDK)")
	f.StringVar(&opts.configPath, "config", "", "gateway config file (YAML); the dev issuer and database are added to it")
	f.StringVar(&opts.adminAddr, "admin-addr", "127.0.0.1:0", "address of the admin listener: /metrics and /readyz (port 0 picks a free one)")
	return cmd
}

// runDev starts the stack, prints how to use it, and serves until ctx ends
// or the Spanner backend dies.
func (a *app) runDev(ctx context.Context, opts devOptions, find findFunc) error {
	logger := a.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.configPath != "" {
		if _, err := os.Stat(opts.configPath); err != nil {
			return spangate.Errorf(spangate.Invalid, "--config: %w", err).WithHint("give the path of a readable gateway config file, or leave --config out")
		}
	}

	s, err := a.startDevStack(ctx, opts, find, logger)
	if err != nil {
		return err
	}
	// Stopping must finish even though ctx is already cancelled by then.
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), devShutdownTimeout)
		defer cancel()
		s.stop(stopCtx)
	}()

	s.printBanner(a.stdout)

	select {
	case <-ctx.Done():
		logger.Info("shutting down", "reason", context.Cause(ctx))
		return nil
	case <-s.spannerDone:
		err := s.spannerErr()
		logger.Error("the Spanner emulator stopped unexpectedly; shutting down", "err", err)
		return err
	case err := <-s.serveErr:
		return spangate.Errorf(spangate.Unavailable, "the dev HTTP server on %s failed: %w", s.httpAddr, err)
	}
}

// devStack is a running `spangate dev`: a Spanner backend with the dev
// database and an HTTP server whose mux carries every handler of the stack.
type devStack struct {
	logger *slog.Logger

	// Spanner backend: exactly one of emulator (started here), fake
	// (fallback) or neither (an external emulator named by
	// SPANNER_EMULATOR_HOST).
	spannerHost string
	emulator    *emulator.Process
	fake        *spannerfake.Fake
	external    bool
	reused      bool          // the dev database existed already (external emulator)
	spannerDone chan struct{} // closed if the started emulator dies

	database   string
	configPath string

	// issuer is the dev OIDC issuer at http://<addr>/dev/oidc; config is
	// the gateway config (the dev issuer and database, and either an
	// allow-all rule or the rules of --config), written to configFile.
	issuer     *devoidc.Issuer
	config     *config.Config
	configFile string
	tempDir    string

	// gateway serves /v1/ here and /readyz and /metrics on the admin
	// listener; gatewayDBs are its open databases.
	gateway    *gateway.Server
	gatewayDBs *spannerDatabases
	admin      *http.Server
	adminAddr  string

	mux      *http.ServeMux
	server   *http.Server
	httpAddr string
	serveErr chan error
}

// startDevStack listens on opts.addr, brings up Spanner with the dev
// database, mounts the handlers and starts serving. On error nothing is
// left running.
func (a *app) startDevStack(ctx context.Context, opts devOptions, find findFunc, logger *slog.Logger) (_ *devStack, err error) {
	s := &devStack{
		logger:      logger,
		database:    devDatabase,
		configPath:  opts.configPath,
		mux:         http.NewServeMux(),
		spannerDone: make(chan struct{}),
		serveErr:    make(chan error, 1),
	}
	// Listen first: a taken --addr fails before an emulator is started.
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", opts.addr)
	if err != nil {
		return nil, spangate.Errorf(spangate.Unavailable, "listen on --addr %s: %w", opts.addr, err).
			WithHint("stop whatever listens there (another spangate dev?) or pick another --addr; port 0 picks a free one")
	}
	s.httpAddr = lis.Addr().String()
	defer func() {
		if err != nil {
			lis.Close()
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), devShutdownTimeout)
			defer cancel()
			s.stopSpanner(stopCtx)
		}
	}()

	if err := a.startSpanner(ctx, s, opts, find); err != nil {
		return nil, err
	}
	if err := s.createDatabase(ctx); err != nil {
		return nil, err
	}
	if err := s.setUpIdentity(); err != nil {
		return nil, err
	}
	if err := s.mountHandlers(); err != nil {
		return nil, err
	}
	var adminLis net.Listener
	if adminLis, err = lc.Listen(ctx, "tcp", opts.adminAddr); err != nil {
		return nil, spangate.Errorf(spangate.Unavailable, "listen on --admin-addr %s: %w", opts.adminAddr, err).
			WithHint("pick another --admin-addr; port 0 picks a free one")
	}
	s.adminAddr = adminLis.Addr().String()
	s.admin = newHTTPServer(s.gateway.AdminHandler(), logger)
	go func() { _ = s.admin.Serve(adminLis) }()
	lis = gateway.LimitConnsPerClient(lis, s.config.Limits.MaxConnsPerClient, nil)
	s.server = newHTTPServer(s.mux, logger)
	go func() {
		if err := s.server.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- err
		}
	}()
	logger.Info("dev stack ready", "http", s.httpAddr, "spanner", s.spannerHost, "database", s.database)
	return s, nil
}

// startSpanner picks and starts the Spanner backend: the emulator named by
// SPANNER_EMULATOR_HOST, else the emulator binary, else the fake.
func (a *app) startSpanner(ctx context.Context, s *devStack, opts devOptions, find findFunc) error {
	if host := a.getenv(envEmulatorHost); host != "" {
		s.spannerHost = host
		s.external = true
		s.logger.Info("using the emulator named by "+envEmulatorHost+"; not starting one", "addr", host)
		return nil
	}
	path, err := find(opts.emulatorPath, a.lookupEnv)
	if err != nil {
		_, fromEnv := a.lookupEnv(emulator.EnvEmulator)
		if opts.emulatorPath != "" || fromEnv || spangate.KindOf(err) != spangate.NotFound {
			// The user named an emulator that is not usable: say so
			// rather than quietly running the much weaker fake.
			return err
		}
		s.logger.Warn("Cloud Spanner emulator not found; falling back to the in-process fake, which lacks many of Spanner's guarantees",
			"err", err, "hint", spangate.HintOf(err))
		f, err := spannerfake.Start(ctx, opts.spannerAddr, s.logger)
		if err != nil {
			return err
		}
		s.fake = f
		s.spannerHost = f.Addr()
		return nil
	}
	var output io.Writer
	if s.logger.Enabled(ctx, slog.LevelDebug) {
		output = a.stderr
	}
	p, err := emulator.Start(ctx, emulator.Options{Path: path, Addr: opts.spannerAddr, Logger: s.logger, Output: output})
	if err != nil {
		return err
	}
	s.emulator = p
	s.spannerHost = p.Addr()
	go func() {
		<-p.Done()
		if p.Err() != nil {
			close(s.spannerDone)
		}
	}()
	return nil
}

// createDatabase creates the dev instance and database. The fake serves one
// database under any name and has no admin API for either, so there is
// nothing to create on it.
func (s *devStack) createDatabase(ctx context.Context) error {
	if s.fake != nil {
		return nil
	}
	if err := emulator.CreateInstance(ctx, s.spannerHost, devProject, devInstance); err != nil {
		return err
	}
	err := emulator.CreateDatabase(ctx, s.spannerHost, s.database, nil)
	if s.external && status.Code(err) == codes.AlreadyExists {
		s.reused = true
		s.logger.Info("the dev database exists already on the external emulator; using it as it is", "database", s.database)
		return nil
	}
	return err
}

// mountHandlers puts every HTTP handler of the dev stack on s.mux. The
// gateway's API (under /v1/) and the dev OIDC issuer (devoidc.Handler()
// under /dev/oidc/) are mounted here, next to /healthz; the gateway's
// /readyz and /metrics are on the admin listener.
func (s *devStack) mountHandlers() error {
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle(s.issuer.MountPath(), s.issuer.Handler())
	pol, err := policy.New(s.config)
	if err != nil {
		return err
	}
	// The fake does not roll back a failed transaction's DML, so nothing
	// may run a transaction body again on spangate's own account there.
	backend := spannerdb.Options{EmulatorHost: s.spannerHost, NoRollback: s.fake != nil}
	gw, dbs, err := newGateway(s.config, pol, backend, time.Now, s.logger)
	if err != nil {
		return err
	}
	s.gateway, s.gatewayDBs = gw, dbs
	s.mux.Handle("/v1/", gw.Handler())
	return nil
}

// setUpIdentity creates the dev OIDC issuer, whose URL carries the real
// HTTP port, and the gateway config that trusts it.
func (s *devStack) setUpIdentity() error {
	iss, err := devoidc.New("http://"+s.httpAddr+"/dev/oidc", devoidc.Options{Logger: s.logger})
	if err != nil {
		return err
	}
	s.issuer = iss
	dir, err := os.MkdirTemp("", "spangate-dev-")
	if err != nil {
		return spangate.Errorf(spangate.Internal, "create a temporary directory for the dev config: %w", err)
	}
	s.tempDir = dir
	s.config, s.configFile, err = devConfig(s.configPath, dir, s.httpAddr, iss)
	return err
}

// healthz reports whether the Spanner backend is up.
func (s *devStack) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	select {
	case <-s.spannerDone:
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"status":"spanner emulator stopped"}`+"\n")
	default:
		io.WriteString(w, `{"status":"ok"}`+"\n")
	}
}

// spannerErr returns why the started emulator stopped.
func (s *devStack) spannerErr() error {
	if s.emulator == nil {
		return nil
	}
	return s.emulator.Err()
}

// printBanner writes the lines a user pastes into another shell, and what
// to do next. Everything but the export lines is a shell comment, so the
// whole block can be pasted.
func (s *devStack) printBanner(w io.Writer) {
	var b strings.Builder
	switch {
	case s.external:
		fmt.Fprintf(&b, "# Using the Spanner emulator at %s (from %s); spangate did not start one.\n", s.spannerHost, envEmulatorHost)
	case s.fake != nil:
		fmt.Fprintf(&b, "# WARNING: the Cloud Spanner emulator is not installed; serving the in-process fake (spannertest) at %s.\n", s.spannerHost)
		b.WriteString("# These Spanner guarantees are NOT real on it:\n")
		for _, l := range spannerfake.Limitations() {
			fmt.Fprintf(&b, "#   - %s\n", l)
		}
		fmt.Fprintf(&b, "# Install the emulator for a faithful local Spanner: %s.\n", emulator.InstallHint)
	default:
		fmt.Fprintf(&b, "# Cloud Spanner emulator running at %s (pid %d).\n", s.spannerHost, s.emulator.Pid())
	}
	fmt.Fprintf(&b, "export %s=%s\n", envEmulatorHost, s.spannerHost)
	fmt.Fprintf(&b, "export SPANGATE_DATABASE=%s\n", s.database)
	if s.reused {
		b.WriteString("# The dev database existed already on that emulator and is used as it is.\n")
	}
	if s.external {
		b.WriteString("# Data lives in the emulator's memory only and is gone when that emulator stops.\n")
	} else {
		b.WriteString("# Data lives in memory only and is gone when spangate dev exits.\n")
	}
	fmt.Fprintf(&b, "# HTTP (gateway, dev OIDC issuer): http://%s  (health: http://%s/healthz)\n", s.httpAddr, s.httpAddr)
	fmt.Fprintf(&b, "# Admin (metrics, readiness; keep it private): http://%s/metrics  http://%s/readyz\n", s.adminAddr, s.adminAddr)
	fmt.Fprintf(&b, "# Dev OIDC issuer: %s (mints tokens shaped like Bitbucket, GitHub and GitLab ones)\n", s.issuer.URL())
	if s.configPath == "" {
		fmt.Fprintf(&b, "# Policy: %s trusts the dev issuer and allows every action on database %q.\n", s.configFile, devDatabaseName)
	} else {
		fmt.Fprintf(&b, "# Policy: the rules of %s, with the dev issuer and database %q added, in %s.\n", s.configPath, devDatabaseName, s.configFile)
	}
	fmt.Fprintf(&b, "# Get a CI-shaped token: spangate dev token --gateway http://%s --provider bitbucket\n", s.httpAddr)
	fmt.Fprintf(&b, "# Explain a decision:    spangate policy explain --config %s --token FILE --database %s --action migrate\n", s.configFile, devDatabaseName)
	b.WriteString("# Next, in another shell after pasting the export lines above:\n")
	b.WriteString("#   spangate migrate plan --dir migrations\n")
	b.WriteString("#   spangate migrate apply --dir migrations\n")
	io.WriteString(w, b.String())
}

// stop shuts the HTTP server down and stops the Spanner backend spangate
// started; an external emulator is left running.
func (s *devStack) stop(ctx context.Context) {
	if s.gateway != nil {
		go s.gateway.Shutdown(ctx)
	}
	if s.admin != nil {
		s.admin.Close()
	}
	if s.server != nil {
		if err := s.server.Shutdown(ctx); err != nil {
			s.logger.Warn("HTTP server did not shut down cleanly", "err", err)
			s.server.Close()
		}
	}
	if s.gatewayDBs != nil {
		s.gatewayDBs.Close()
	}
	s.stopSpanner(ctx)
}

// stopSpanner stops the emulator or fake spangate started, if any, and
// removes the dev config.
func (s *devStack) stopSpanner(ctx context.Context) {
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
	}
	if s.emulator != nil {
		if err := s.emulator.Stop(ctx); err != nil {
			s.logger.Warn("stopping the emulator", "err", err)
		}
	}
	if s.fake != nil {
		if err := s.fake.Stop(ctx); err != nil {
			s.logger.Warn("stopping the fake", "err", err)
		}
	}
}
