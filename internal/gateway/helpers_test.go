package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/config"
	"github.com/spangate/spangate/internal/devoidc"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/identity"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/policy"
	"github.com/spangate/spangate/internal/spannerdb"
)

func TestMain(m *testing.M) { emulatortest.Main(m) }

// Repositories named in the test policy's rules: tokens minted for them
// (devoidc GitHub tokens with the repository claim overridden) get exactly
// the actions of their rule.
const (
	repoAdmin   = "spangate-dev/app"                             // every action
	repoPlanner = "acme/planner"                                 // plan
	repoWriter  = "acme/writer"                                  // read, write
	repoMigrate = "acme/migrator"                                // plan, migrate
	repoNobody  = "acme/nobody"                                  // nothing
	testDB      = "app"                                          // logical database name
	key1        = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	key2        = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=" // 32 bytes
)

// issuer is a dev OIDC issuer served by httptest, minting real RS256
// tokens.
type issuer struct {
	*devoidc.Issuer
	srv *httptest.Server
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss, err := devoidc.New(srv.URL+"/dev/oidc", devoidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(iss.MountPath(), iss.Handler())
	return &issuer{Issuer: iss, srv: srv}
}

// mint returns a GitHub-shaped token for repo.
func (i *issuer) mint(t testing.TB, repo string, overrides map[string]string) string {
	t.Helper()
	o := map[string]string{"repository": repo}
	for k, v := range overrides {
		o[k] = v
	}
	tok, err := i.Mint(spangate.ProviderGitHub, o, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// stack is one database on the test emulator with its issuer; servers are
// gateways in front of it.
type stack struct {
	iss    *issuer
	path   string
	host   string // the emulator's address for the stack's clients
	logs   *syncBuffer
	direct *spannerdb.DB
	// served holds the databases of each server made, in order.
	served []*testDatabases
}

func newStack(t testing.TB, ddl ...string) *stack {
	t.Helper()
	return newStackVia(t, emulatortest.Host(), ddl...)
}

// newStackVia is newStack with every Spanner client of the stack (direct
// and the gateways') connecting to the emulator at host, such as a proxy
// in front of it; the database is created on the emulator itself.
func newStackVia(t testing.TB, host string, ddl ...string) *stack {
	t.Helper()
	st := &stack{iss: newIssuer(t), path: emulatortest.NewDatabase(t, ddl...), host: host, logs: &syncBuffer{}}
	db, err := spannerdb.Open(context.Background(), st.path, spannerdb.Options{EmulatorHost: host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st.direct = db
	return st
}

// config returns the test config; edit may change it before it is
// validated.
func (st *stack) config(t testing.TB, edit func(*config.Config)) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Issuers = []config.Issuer{{Name: "dev", URL: st.iss.URL(), Audiences: st.iss.Audiences()}}
	cfg.Databases = map[string]string{testDB: st.path}
	rule := func(name, repo string, acts ...spangate.Action) config.Rule {
		return config.Rule{Name: name, When: `claims.repository == "` + repo + `"`, Databases: []string{testDB}, Allow: acts}
	}
	cfg.Rules = []config.Rule{
		rule("admin", repoAdmin, spangate.Actions()...),
		rule("planner", repoPlanner, spangate.ActionPlan),
		rule("writer", repoWriter, spangate.ActionRead, spangate.ActionWrite),
		rule("migrator", repoMigrate, spangate.ActionPlan, spangate.ActionMigrate),
	}
	cfg.SessionKeys = []config.SessionKey{{ID: "k1", Secret: key1}}
	cfg.Limits.RateLimit = 0
	cfg.Limits.DenyRate = 0 // tests deny often; TestDenialFlood sets its own budget
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// server returns a gateway for cfg over the stack's database.
func (st *stack) server(t testing.TB, cfg *config.Config, now func() time.Time) *gateway.Server {
	t.Helper()
	s, err := st.newServer(t, cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// gatewayNew is gateway.New with the stack's dependencies and the real
// clock.
func gatewayNew(t testing.TB, st *stack, cfg *config.Config) (*gateway.Server, error) {
	return st.newServer(t, cfg, nil)
}

func writeFile(t testing.TB, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (st *stack) newServer(t testing.TB, cfg *config.Config, now func() time.Time) (*gateway.Server, error) {
	t.Helper()
	deps := st.deps(t, cfg, now)
	dbs := st.databases(t, deps.Logger)
	st.served = append(st.served, dbs)
	deps.Databases = dbs
	return gateway.New(cfg, deps)
}

// deps returns the gateway's dependencies for cfg but its databases: the
// policy, a verifier trusting the stack's issuer, and a logger writing to
// st.logs.
func (st *stack) deps(t testing.TB, cfg *config.Config, now func() time.Time) gateway.Deps {
	t.Helper()
	pol, err := policy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	issuers := []identity.IssuerConfig{{Name: "dev", URL: st.iss.URL(), Audiences: st.iss.Audiences()}}
	v, err := identity.NewVerifier(issuers, identity.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	logs := io.Writer(io.Discard)
	if st.logs != nil {
		logs = st.logs
	}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return gateway.Deps{Verifier: v, Policy: pol, Logger: logger, Now: now}
}

// databases returns an opener of the stack's database, closed when the
// test ends.
func (st *stack) databases(t testing.TB, logger *slog.Logger) *testDatabases {
	dbs := &testDatabases{path: st.path, host: st.host, logger: logger}
	t.Cleanup(dbs.close)
	return dbs
}

// testDatabases opens the one test database once (the same adapter as
// cmd/spangate's, which the test cannot import).
type testDatabases struct {
	path   string
	host   string
	logger *slog.Logger
	mu     sync.Mutex
	db     *adapterDB
}

func (d *testDatabases) Open(ctx context.Context, name string) (gateway.Database, error) {
	if name != testDB {
		return nil, spangate.Errorf(spangate.NotFound, "unknown database %q", name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db != nil {
		return d.db, nil
	}
	db, err := spannerdb.Open(ctx, d.path, spannerdb.Options{EmulatorHost: d.host, Logger: d.logger})
	if err != nil {
		return nil, err
	}
	if err := db.Init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	d.db = &adapterDB{DB: db}
	return d.db, nil
}

func (d *testDatabases) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db != nil {
		d.db.Close()
	}
}

type adapterDB struct{ *spannerdb.DB }

func (d *adapterDB) WithAudit(actor audit.Entry, files ...*migration.File) migration.HistoryStore {
	return d.DB.WithAudit(actor, files...)
}

func (d *adapterDB) Ping(ctx context.Context) error { return d.Probe(ctx) }

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// client calls one gateway handler in process.
type client struct {
	t     testing.TB
	h     http.Handler
	token string
	run   spangate.RunMetadata
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) errBody(t testing.TB) gateway.ErrorBody {
	t.Helper()
	var e gateway.ErrorResponse
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return e.Error
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

func (c *client) do(method, path string, body io.Reader, contentType string) response {
	c.t.Helper()
	req := httptest.NewRequest(method, path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	gateway.SetRunMetadata(req.Header, c.run)
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func (c *client) get(path string) response { return c.do("GET", path, nil, "") }

func (c *client) post(path string, v any) response {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do("POST", path, bytes.NewReader(b), "application/json")
}

// exchange posts the RFC 8693 form for subject and returns the response.
func (c *client) exchange(subject string) response {
	form := url.Values{
		"grant_type":         {gateway.GrantTypeTokenExchange},
		"subject_token":      {subject},
		"subject_token_type": {gateway.TokenTypeIDToken},
	}
	return c.do("POST", "/v1/token", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

// login exchanges subject and returns a client holding the session token.
func login(t testing.TB, h http.Handler, subject string) *client {
	t.Helper()
	c := &client{t: t, h: h}
	r := c.exchange(subject)
	if r.status != http.StatusOK {
		t.Fatalf("token exchange: %d %s", r.status, r.body)
	}
	var tr gateway.TokenResponse
	r.decode(t, &tr)
	return &client{t: t, h: h, token: tr.AccessToken}
}

func exec(c *client, sql string, params map[string]any) response {
	return c.post("/v1/databases/"+testDB+":exec", map[string]any{"sql": sql, "params": params})
}

func migrations(files ...string) map[string]any {
	var ms []map[string]string
	for i := 0; i+1 < len(files); i += 2 {
		ms = append(ms, map[string]string{"name": files[i], "content": files[i+1]})
	}
	return map[string]any{"migrations": ms}
}

func wantStatus(t testing.TB, what string, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
