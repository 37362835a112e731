// Package gateway is spangate's HTTP server: it exchanges CI identity tokens
// for short-lived session tokens, authorizes every request and every
// statement with the policy, and runs plans, applies, statements and audit
// reads against the configured Spanner databases, recording every decision
// and change in the audit trail.
//
// The server is stateless. Session tokens are signed and self-contained, and
// locks, history and audit live in Spanner, so any number of replicas with
// the same config (and session keys) behave as one.
//
// Endpoints (paths and JSON fields are the contract in DESIGN.md):
//
//	POST /v1/token                              RFC 8693 token exchange (form-encoded)
//	GET  /v1/databases                          databases the caller has any action on
//	GET  /v1/databases/{db}/migrations          history and status (plan or migrate)
//	POST /v1/databases/{db}/migrations:plan     {"migrations":[{"name","content"}]} (plan)
//	POST /v1/databases/{db}/migrations:apply    same body; NDJSON progress (migrate, destructive)
//	POST /v1/databases/{db}/migrations:baseline same body and "version"; adopt another tool's history (migrate)
//	POST /v1/databases/{db}/migrations:unlock   ?force=true breaks a stale migration lock (migrate)
//	POST /v1/databases/{db}:exec                {"sql","params"} (read, write, ddl, destructive)
//	GET  /v1/databases/{db}/audit               ?table=&key=&principal=&action=&since=&limit= (audit)
//	GET  /v1/databases/{db}/audit:verify        (audit)
//	GET  /healthz                               bare liveness
//
// The admin handler (AdminHandler, served on admin_listen) has /readyz and
// /metrics, which name every configured database, and /healthz.
//
// Every endpoint but the token exchange and the health checks takes
// "Authorization: Bearer <token>", where the token is a session token from
// /v1/token or a CI token itself. Run metadata travels in the Spangate-Run-*
// headers (see SetRunMetadata).
//
// Security caveats: the gateway never logs a token, a parameter value or a
// query string (nor Spanner's error text, which may quote values: see
// audit.ErrorText). A refused caller is told the decision and a reference,
// never the rules; a caller with no right on a database gets the answer of
// an unknown one, before anything is opened. Statements are measured before
// they are parsed, bodies must arrive within limits.body_timeout, and
// denials are bounded per principal and per client address. A
// session token cannot be revoked before it expires (session_ttl, at most an
// hour): remove its key from every replica to invalidate all sessions
// signed with it.
package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/config"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// TokenVerifier verifies a CI system's OIDC ID token (identity.Verifier).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (spangate.Principal, error)
}

// Policy decides what a principal may do (policy.Policy).
type Policy interface {
	Decide(pr spangate.Principal, database string, action spangate.Action) spangate.Decision
	DecideParsed(pr spangate.Principal, database string, st *sqlstmt.Statement) spangate.Decision
	DecideMigration(pr spangate.Principal, database string, stmts []sqlstmt.Statement) spangate.Decision
}

// Opener opens a configured database by its logical name. It is called on
// every request, so it should keep the databases it opened.
type Opener interface {
	Open(ctx context.Context, name string) (Database, error)
}

// Database is what the gateway needs of one database: the migration
// engine's storage, statements with their audit entry in the same
// transaction, and the audit trail.
type Database interface {
	migration.Locker
	migration.SchemaUpdater
	migration.PartitionedRunner
	migration.HistoryStore
	Auditor
	// WithAudit returns a history store that writes an audit entry made
	// from actor with each history row, in the same transaction; files
	// supply the statement texts the entries record.
	WithAudit(actor audit.Entry, files ...*migration.File) migration.HistoryStore
	// ExecParsed runs one parsed DML statement with bound params and writes the
	// audit entry e (completed with the rows and keys it touched) in the
	// same transaction. An audit write failure fails the statement with
	// kind Unavailable; a statement that fails is recorded as failed.
	ExecParsed(ctx context.Context, st *sqlstmt.Statement, params map[string]any, e audit.Entry) (int64, audit.Entry, error)
	// Query runs one query with bound params and returns at most limit
	// rows.
	Query(ctx context.Context, sql string, params map[string]any, limit int) ([]map[string]any, error)
	// BreakLock frees a migration lock whose holder is gone, writing the
	// audit entry actor in the same transaction; it refuses while the
	// lease is being renewed. Without force it only reports the lock.
	BreakLock(ctx context.Context, actor audit.Entry, force bool) (migration.LockState, error)
	// Ping checks what the next audited write would meet: it reads
	// spangate's own tables (healing what an outage left broken, such as
	// a lost session or tables missing from a re-created database).
	Ping(ctx context.Context) error
}

// Auditor reads and writes the audit trail of one database.
type Auditor interface {
	// AppendAudit seals e onto the chain and stores it.
	AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error)
	// ListAudit returns the entries f selects, newest first.
	ListAudit(ctx context.Context, f audit.Filter) ([]audit.Entry, error)
	// VerifyAudit walks the whole chain, checking that it still holds
	// the anchored entries.
	VerifyAudit(ctx context.Context, anchors ...audit.Anchor) (audit.VerifyResult, error)
}

// Deps are the gateway's collaborators.
type Deps struct {
	// Verifier verifies CI tokens. Required.
	Verifier TokenVerifier
	// Policy decides requests. Required.
	Policy Policy
	// Databases opens the configured databases. Required.
	Databases Opener
	// Logger receives one line per request and the gateway's events;
	// nil discards. Keys are constant; tokens and parameter values are
	// never logged.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Rand supplies session ids and a generated session key; nil means
	// crypto/rand.
	Rand io.Reader
	// Metrics is the registry the gateway's collectors are registered on,
	// served at /metrics; nil means a new registry of its own.
	Metrics *prometheus.Registry
	// ReadFile reads key files (session keys, the parameter hash key); nil
	// means os.ReadFile.
	ReadFile func(name string) ([]byte, error)
}

// Server is the gateway. It is safe for concurrent use; create it with New.
type Server struct {
	cfg      *config.Config
	verifier TokenVerifier
	policy   Policy
	dbs      Opener
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions
	limiter  *limiter
	// denials bounds the denials answered and recorded per principal and
	// per client address.
	denials *limiter
	rand    io.Reader
	metrics *metrics
	// params hashes parameter values for the audit trail.
	params audit.ParamHasher
	mux    *http.ServeMux
	admin  *http.ServeMux
	// paths replaces database paths by their logical names in answers.
	paths *strings.Replacer
	// stmts remembers parsed exec statements by their text.
	stmts sqlstmt.Cache
	// parseSlots bounds the large texts parsed at once (see parsing).
	parseSlots chan struct{}

	// stopping is set by Shutdown: /readyz fails and new applies are
	// refused, so a load balancer drains this replica.
	stopping atomic.Bool
	// hardStop is cancelled when Shutdown's deadline passes: running
	// applies stop at the next statement, leaving resumable state.
	hardStop   context.Context
	cancelHard context.CancelFunc
	applies    sync.WaitGroup
}

// New checks its inputs and returns a Server for cfg, which must have been
// validated (config.Load or policy.New do that).
func New(cfg *config.Config, deps Deps) (*Server, error) {
	if cfg == nil || deps.Verifier == nil || deps.Policy == nil || deps.Databases == nil {
		return nil, spangate.Errorf(spangate.Internal, "gateway.New: config, verifier, policy and databases are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Rand == nil {
		deps.Rand = rand.Reader
	}
	if deps.Metrics == nil {
		deps.Metrics = prometheus.NewRegistry()
	}
	if deps.ReadFile == nil {
		deps.ReadFile = os.ReadFile
	}
	keys, err := loadKeys(cfg, deps)
	if err != nil {
		return nil, err
	}
	params, err := loadParamHasher(cfg, deps, keys)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "register metrics: %w", err)
	}
	ttl := min(cfg.SessionTTL, config.MaxSessionTTL)
	if ttl <= 0 {
		ttl = config.DefaultSessionTTL
	}
	s := &Server{
		cfg:      cfg,
		verifier: deps.Verifier,
		policy:   deps.Policy,
		dbs:      deps.Databases,
		log:      deps.Logger,
		now:      deps.Now,
		sessions: &sessions{keys: keys, audience: cfg.SessionAudience, ttl: ttl, now: deps.Now, rand: deps.Rand},
		limiter:  newLimiter(cfg.Limits.RateLimit, cfg.Limits.RateBurst, deps.Now),
		denials:  newLimiter(cfg.Limits.DenyRate, cfg.Limits.DenyBurst, deps.Now),
		rand:     deps.Rand,
		paths:    pathReplacer(cfg.Databases),

		parseSlots: make(chan struct{}, runtime.GOMAXPROCS(0)),
		params:     params,
		metrics:    m,
	}
	s.hardStop, s.cancelHard = context.WithCancel(context.Background())
	s.routes()
	return s, nil
}

// loadParamHasher reads the parameter hash key when one is configured. A
// key that is also a session key is refused: the parameter key is handed
// to auditors and to direct-mode users, and a session key mints sessions.
func loadParamHasher(cfg *config.Config, deps Deps, sessionKeys []sessionKey) (audit.ParamHasher, error) {
	if cfg.Audit.ParamHashKeyFile == "" {
		return audit.ParamHasher{}, nil
	}
	fail := func(err error) (audit.ParamHasher, error) {
		return audit.ParamHasher{}, spangate.Errorf(spangate.Invalid, "audit.param_hash_key_file: %w", err)
	}
	key, err := readKeyFile(deps.ReadFile, cfg.Audit.ParamHashKeyFile)
	if err != nil {
		return fail(err)
	}
	for _, k := range sessionKeys {
		if hmac.Equal(k.secret, key) {
			return fail(spangate.Errorf(spangate.Invalid, "the parameter hash key is session key %q: anyone given it to check parameter hashes could mint session tokens", k.id).
				WithHint("make a separate key for parameter hashes: openssl rand -base64 32"))
		}
	}
	h, err := audit.NewParamHasher(key)
	if err != nil {
		return fail(err)
	}
	deps.Logger.Info("parameter values are hashed with a key", "key_id", h.KeyID())
	return h, nil
}

// ReadParamHasher returns the parameter hasher for the key in the file
// name (base64 text, at least 32 bytes once decoded), read with readFile.
// The CLI uses it for direct mode, with the gateway's key file.
func ReadParamHasher(readFile func(string) ([]byte, error), name string) (audit.ParamHasher, error) {
	key, err := readKeyFile(readFile, name)
	if err != nil {
		return audit.ParamHasher{}, err
	}
	h, err := audit.NewParamHasher(key)
	if err != nil {
		return audit.ParamHasher{}, spangate.Errorf(spangate.Invalid, "parameter hash key file %s: %w", name, err)
	}
	return h, nil
}

// readKeyFile reads and decodes the parameter hash key file.
func readKeyFile(readFile func(string) ([]byte, error), name string) ([]byte, error) {
	b, err := readFile(name)
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "read the parameter hash key: %w", err).
			WithHint("make the file readable by spangate; it holds a key made with openssl rand -base64 32, the same for every replica and for direct mode")
	}
	key, err := config.DecodeKey(string(b))
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "parameter hash key file %s: %w", name, err)
	}
	return key, nil
}

// loadKeys decodes the configured session keys, reading key files, or makes
// one random key when none is configured.
func loadKeys(cfg *config.Config, deps Deps) ([]sessionKey, error) {
	var keys []sessionKey
	for i, k := range cfg.SessionKeys {
		text := k.Secret
		if k.File != "" {
			b, err := deps.ReadFile(k.File)
			if err != nil {
				return nil, spangate.Errorf(spangate.Invalid, "session_keys[%d]: read key file: %w", i, err).
					WithHint("make the file readable by the gateway, or give the key inline as secret")
			}
			text = string(b)
		}
		secret, err := config.DecodeKey(text)
		if err != nil {
			return nil, spangate.Errorf(spangate.Invalid, "session_keys[%d] (%s): %w", i, k.ID, err)
		}
		keys = append(keys, sessionKey{id: k.ID, secret: secret})
	}
	if len(keys) > 0 {
		return keys, nil
	}
	secret := make([]byte, 32)
	if _, err := io.ReadFull(deps.Rand, secret); err != nil {
		return nil, spangate.Errorf(spangate.Internal, "generate a session key: %w", err)
	}
	deps.Logger.Warn("no session_keys configured: using a random key, so session tokens verify only on this process and not after a restart; configure session_keys for more than one replica")
	return []sessionKey{{id: "ephemeral", secret: secret}}, nil
}

// Handler returns the gateway's public HTTP handler: the API and a bare
// /healthz.
func (s *Server) Handler() http.Handler { return s.mux }

// AdminHandler returns the handler of the admin listener: /metrics and
// /readyz, which name every configured database and so are not served on
// the public listener, and /healthz.
func (s *Server) AdminHandler() http.Handler { return s.admin }

// Shutdown makes the server drain: /readyz fails and no new apply starts.
// It waits for running applies until ctx is done, then cancels them; the
// engine leaves an interrupted apply in a state the next apply resumes.
// Stopping the HTTP server itself (http.Server.Shutdown) is the caller's.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	done := make(chan struct{})
	go func() {
		s.applies.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancelHard()
		return nil
	case <-ctx.Done():
		s.cancelHard()
		<-done
		return ctx.Err()
	}
}

// Route names, used in metrics and logs.
const (
	routeToken       = "token"
	routeDatabases   = "databases"
	routeStatus      = "migrations_status"
	routePlan        = "migrations_plan"
	routeBaseline    = "migrations_baseline"
	routeApply       = "migrations_apply"
	routeUnlock      = "migrations_unlock"
	routeExec        = "exec"
	routeAuditList   = "audit_list"
	routeAuditVerify = "audit_verify"
	routeHealthz     = "healthz"
	routeReadyz      = "readyz"
	routeMetrics     = "metrics"
)

func (s *Server) routes() {
	mux := http.NewServeMux()
	type route struct {
		method, path, name string
		h                  func(http.ResponseWriter, *http.Request, *call) error
	}
	routes := []route{
		{"POST", "/v1/token", routeToken, s.token},
		{"GET", "/v1/databases", routeDatabases, s.databases},
		{"GET", "/v1/databases/{db}/migrations", routeStatus, s.status},
		{"POST", "/v1/databases/{db}/migrations:plan", routePlan, s.plan},
		{"POST", "/v1/databases/{db}/migrations:apply", routeApply, s.apply},
		{"POST", "/v1/databases/{db}/migrations:baseline", routeBaseline, s.baseline},
		{"POST", "/v1/databases/{db}/migrations:unlock", routeUnlock, s.unlock},
		// {db}:exec: a wildcard must fill its whole segment, so the
		// segment is split by dbVerb.
		{"POST", "/v1/databases/{dbverb}", routeExec, s.exec},
		{"GET", "/v1/databases/{db}/audit", routeAuditList, s.auditList},
		{"GET", "/v1/databases/{db}/audit:verify", routeAuditVerify, s.auditVerify},
		{"GET", "/healthz", routeHealthz, s.healthz},
	}
	seen := map[string]bool{}
	for _, r := range routes {
		mux.Handle(r.method+" "+r.path, s.wrap(r.name, r.h))
		if !seen[r.path] {
			seen[r.path] = true
			mux.Handle(r.path, s.wrap(r.name, methodNotAllowed))
		}
	}
	mux.Handle("/", s.wrap("unknown", func(http.ResponseWriter, *http.Request, *call) error {
		return spangate.Errorf(spangate.NotFound, "no such endpoint").
			WithHint("the gateway serves /v1/token, /v1/databases and /v1/databases/{db}/… (see the docs); /metrics and /readyz are on the admin listener (admin_listen)")
	}))
	s.mux = mux

	admin := http.NewServeMux()
	admin.Handle("GET /metrics", s.metrics.handler)
	admin.Handle("GET /readyz", s.wrap(routeReadyz, s.readyz))
	admin.Handle("GET /healthz", s.wrap(routeHealthz, s.healthz))
	admin.Handle("/", s.wrap("unknown", func(http.ResponseWriter, *http.Request, *call) error {
		return spangate.Errorf(spangate.NotFound, "no such endpoint").WithHint("the admin listener serves /metrics, /readyz and /healthz")
	}))
	s.admin = admin
}

// methodNotAllowed answers 405 for a known path asked with another method.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, c *call) error {
	writeJSON(w, http.StatusMethodNotAllowed, ErrorResponse{Error: ErrorBody{
		Code: spangate.Invalid.String(), Message: "method " + r.Method + " is not allowed on " + r.URL.Path,
	}})
	return nil
}

// call is the state of one request, shared by its handler and the wrapper
// that logs and counts it.
type call struct {
	// id identifies the request in the log line, the response
	// (Spangate-Request-Id) and a refusal's reference.
	id        string
	client    string
	route     string
	principal *spangate.Principal
	database  string
	action    spangate.Action
	decision  string
	run       spangate.RunMetadata
	status    int
	// params are the statement's parameter values.
	params map[string]any
	// what names what a statement needed, for the caller's refusal
	// message ("DELETE on Orders needs write, destructive").
	what string
	// explanation is the policy's full explanation of a denial: logged,
	// never sent to the caller.
	explanation string
	// auditHead is the chain head after the request's change, logged and
	// returned to the caller.
	auditHead string
	// gateAllowed is the action that let the request through the gate.
	gateAllowed spangate.Action
}

// wrap turns a handler that returns an error into an http.Handler that
// maps the error once, times the request, counts it and logs one line.
func (s *Server) wrap(route string, h func(http.ResponseWriter, *http.Request, *call) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		c := &call{route: route, decision: "none", id: s.requestID(), client: clientAddr(r)}
		w.Header().Set(HeaderRequestID, c.id)
		if r.ContentLength != 0 {
			// A body the handler leaves unread is still drained by the
			// server after it: bound that too. readLimited sets its own
			// deadline and clears it once the body is in.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.Limits.BodyTimeout))
		}
		sw := &statusWriter{ResponseWriter: w}
		err := h(sw, r, c)
		if err != nil && !sw.wrote {
			writeError(sw, err, s.publicBody(err, c.id))
		}
		// The answer goes out before the bookkeeping below: the client
		// need not wait for metrics and the log line. (writeJSON sets
		// Content-Length, so this flush sends the whole response.)
		if f, ok := w.(http.Flusher); ok && sw.wrote {
			f.Flush()
		}
		c.status = sw.status
		if c.status == 0 {
			c.status = http.StatusOK
		}
		elapsed := s.now().Sub(start)
		s.metrics.latency.WithLabelValues(route).Observe(elapsed.Seconds())
		s.metrics.requests.WithLabelValues(route, string(c.action), c.decision, statusLabel(c.status)).Inc()
		if route == routeHealthz || route == routeReadyz {
			return
		}
		attrs := []slog.Attr{
			slog.String("request_id", c.id),
			slog.String("route", route),
			slog.String("method", r.Method),
			slog.Int("status", c.status),
			slog.Duration("duration", elapsed),
		}
		if c.principal != nil {
			attrs = append(attrs, slog.String("principal", c.principal.String()))
		}
		if c.database != "" {
			attrs = append(attrs, slog.String("database", c.database))
		}
		if c.action != "" {
			attrs = append(attrs, slog.String("action", string(c.action)), slog.String("decision", c.decision))
		}
		if c.explanation != "" {
			attrs = append(attrs, slog.String("explanation", c.explanation))
		}
		if c.run.Commit != "" {
			attrs = append(attrs, slog.String("commit", c.run.Commit))
		}
		if c.auditHead != "" {
			attrs = append(attrs, slog.String("audit_head", c.auditHead))
		}
		level := slog.LevelInfo
		if err != nil {
			attrs = append(attrs, slog.String("kind", spangate.KindOf(err).String()), slog.String("err", audit.ErrorText(err)))
			if spangate.KindOf(err) == spangate.Internal {
				level = slog.LevelError
			}
		}
		s.log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// statusLabel keeps the status label's values few.
func statusLabel(code int) string {
	switch code {
	case 200, 400, 401, 403, 404, 405, 408, 409, 413, 429, 500, 503:
		return strconv.Itoa(code)
	}
	return "other"
}

// statusWriter records the status and whether a response was started.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// authenticate verifies the bearer token (a session token or a CI token)
// and applies the principal's rate limit.
func (s *Server) authenticate(ctx context.Context, r *http.Request, c *call) error {
	c.run = RunMetadataFromHeader(r.Header)
	raw, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		s.metrics.verifications.WithLabelValues("none", "refused").Inc()
		return spangate.Errorf(spangate.Unauthenticated, "no bearer token").
			WithHint("send Authorization: Bearer <token>, with a session token from POST /v1/token or the CI's ID token")
	}
	var err error
	kind := "ci"
	pr, remembered := s.sessions.remembered(raw)
	if remembered || isSession(raw) {
		kind = "session"
		if !remembered {
			pr, err = s.sessions.verify(raw)
		}
		if err == nil {
			_, known := s.cfg.Issuer(pr.Issuer)
			if !known {
				err = spangate.Errorf(spangate.Unauthenticated, "session token refused: its issuer %q is no longer trusted", pr.Issuer)
			}
		}
	} else {
		pr, err = s.verifier.Verify(ctx, raw)
	}
	s.countVerification(kind, err)
	if err != nil {
		return err
	}
	c.principal = &pr
	if err := s.rateLimit(pr); err != nil {
		return err
	}
	return checkRunMetadata(pr, c.run)
}

func (s *Server) countVerification(kind string, err error) {
	result := "ok"
	switch {
	case err == nil:
	case spangate.KindOf(err) == spangate.Unauthenticated:
		result = "refused"
	default:
		result = "unavailable"
	}
	s.metrics.verifications.WithLabelValues(kind, result).Inc()
}

func (s *Server) rateLimit(pr spangate.Principal) error {
	if ok, wait := s.limiter.allow(pr.String()); !ok {
		return rateLimited(wait)
	}
	return nil
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// openDatabase resolves the {db} name of the request for an authenticated
// caller. A caller with none of the actions in need on the database is
// refused before anything is opened, with the same answer whether the
// database is configured or not (see refuseDatabase).
func (s *Server) openDatabase(ctx context.Context, c *call, name string, need ...spangate.Action) (Database, error) {
	c.database = name
	if err := s.gate(c, name, need...); err != nil {
		return nil, err
	}
	return s.dbs.Open(ctx, name)
}

// authorize decides action for the request's principal on its database;
// a deny is audited (compactly, within the deny rate) and returned as a
// Denied error that gives the caller the decision and a reference, not
// the rules: the explanation goes to the gateway's log.
func (s *Server) authorize(ctx context.Context, db Auditor, c *call, action spangate.Action, d spangate.Decision, statement string) error {
	c.action = action
	if d.Allow {
		c.decision = "allow"
		return nil
	}
	c.decision = "deny"
	c.explanation = denyReason(d)
	if err := s.denialAllowed(c); err != nil {
		return err
	}
	e := s.entry(c, action)
	e.Statement = compactStatement(statement)
	e.Result = audit.ResultDenied
	e.Reason = c.explanation
	e.Params = s.deniedParams(c.params)
	if n := len(c.params); n > deniedMaxParams {
		e.Reason += fmt.Sprintf(" (%d parameters, not recorded)", n)
	}
	s.appendAudit(ctx, db, e)
	return denied(action, c)
}

// denyReason says which rule decided and why, naming the rule once.
func denyReason(d spangate.Decision) string {
	if d.Rule == "" || strings.Contains(d.Reason, "rule "+d.Rule) {
		return d.Reason
	}
	return "rule " + d.Rule + ": " + d.Reason
}

// denied is the caller's answer to a denial: the decision and the
// request's reference, nothing of the rules' conditions.
func denied(action spangate.Action, c *call) error {
	what := c.what
	if what == "" {
		what = string(action)
	}
	hint := "ask the gateway's operator for a rule that allows this, quoting the reference; the gateway's log explains the decision, and so does spangate policy explain --config <the gateway's config>"
	if action == sqlstmt.ActionSpangateOnly {
		hint = sqlstmt.ProtectedHint // no rule can allow it
	}
	return (&spangate.Error{Kind: spangate.Denied, Message: fmt.Sprintf("denied: %s on database %q (reference %s)", what, c.database, c.id)}).
		WithHint(hint)
}

// appendAudit records e; a failure is logged and counted but does not
// change the answer (the request was refused or made no change).
func (s *Server) appendAudit(ctx context.Context, db Auditor, e audit.Entry) {
	if _, err := db.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.metrics.auditWrites.WithLabelValues(e.Result, "error").Inc()
		s.log.Error("audit write failed", "database", e.Database, "action", e.Action, "result", e.Result, "kind", spangate.KindOf(err).String(), "err", audit.ErrorText(err))
		return
	}
	s.metrics.auditWrites.WithLabelValues(e.Result, "written").Inc()
}

// authorizedDatabase authenticates the caller, opens the database named in
// the path and checks that the caller may do action on it (a denial is
// audited). It is the common start of the database endpoints.
func (s *Server) authorizedDatabase(ctx context.Context, r *http.Request, c *call, action spangate.Action) (Database, error) {
	if err := s.authenticate(ctx, r, c); err != nil {
		return nil, err
	}
	db, err := s.openDatabase(ctx, c, r.PathValue("db"), spangate.Actions()...)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, db, c, action, s.policy.Decide(*c.principal, c.database, action), ""); err != nil {
		return nil, err
	}
	return db, nil
}

// entry starts an audit entry for the request.
func (s *Server) entry(c *call, action spangate.Action) audit.Entry {
	e := audit.Entry{
		At:       s.now(),
		Action:   string(action),
		Database: c.database,
		Run:      c.run,
	}
	if c.principal != nil {
		e.Principal = c.principal.String()
		e.Issuer = c.principal.Issuer
		e.Subject = c.principal.Subject
		e.Attributes = c.principal.Attributes
	}
	return e
}

// withTimeout bounds a request's work by the configured request timeout.
func (s *Server) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.Limits.RequestTimeout)
}

// readBody reads the request body up to the configured limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := s.cfg.Limits.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	return s.readLimited(w, r, limit)
}

// readAllSized is io.ReadAll with a first buffer of the declared length
// (when it is known and within limit), so a body of a few kilobytes, a
// token exchange's, is read without growing the buffer.
func readAllSized(r io.Reader, declared, limit int64) ([]byte, error) {
	size := int64(512)
	if declared > 0 && declared <= limit {
		size = declared + 1 // room to see EOF without growing
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// readLimited reads the request body, refusing more than limit bytes and
// a body that takes longer than limits.body_timeout to arrive.
func (s *Server) readLimited(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rc := http.NewResponseController(w)
	timeout := s.cfg.Limits.BodyTimeout
	// A server that cannot set deadlines (a test recorder) reads without
	// one; http.Server always can.
	deadlineSet := rc.SetReadDeadline(time.Now().Add(timeout)) == nil
	b, err := readAllSized(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
	if deadlineSet && err == nil {
		// Cleared once the body is in: the server's own read of the
		// connection, which notices a client that goes away, must not
		// time out during a long request. After an error the deadline
		// stays, so nothing more is read from a slow client.
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, bodyTimedOut(timeout)
		}
		return nil, spangate.Errorf(spangate.Invalid, "read the request body: %w", err)
	}
	return b, nil
}
