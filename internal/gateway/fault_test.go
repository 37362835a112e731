package gateway_test

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// failingAudit is a database whose audit writes fail, as when the audit
// table cannot be written.
type failingAudit struct{ gateway.Database }

func (f failingAudit) AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	return audit.Entry{}, spangate.Errorf(spangate.Unavailable, "audit write refused by the test")
}

func (f failingAudit) ExecParsed(ctx context.Context, st *sqlstmt.Statement, params map[string]any, e audit.Entry) (int64, audit.Entry, error) {
	return 0, audit.Entry{}, spangate.Errorf(spangate.Unavailable, "audit write refused by the test")
}

type failingOpener struct{ inner *testDatabases }

func (o failingOpener) Open(ctx context.Context, name string) (gateway.Database, error) {
	db, err := o.inner.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return failingAudit{db}, nil
}

// TestAuditFailureFailsClosed: when the audit cannot be written, a query
// returns no rows, DML changes nothing and the caller gets 503.
func TestAuditFailureFailsClosed(t *testing.T) {
	st := newStack(t, "CREATE TABLE T (Id INT64 NOT NULL) PRIMARY KEY (Id)")
	cfg := st.config(t, nil)
	deps := st.deps(t, cfg, nil)
	inner := st.databases(t, deps.Logger)
	deps.Databases = failingOpener{inner}
	s, err := gateway.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	c := login(t, s.Handler(), st.iss.mint(t, repoAdmin, nil))
	for _, sql := range []string{"SELECT Id FROM T", "INSERT INTO T (Id) VALUES (1)", "CREATE INDEX TById ON T (Id)"} {
		r := exec(c, sql, nil)
		if r.status != http.StatusServiceUnavailable || r.errBody(t).Code != "unavailable" {
			t.Errorf("%s: %d %s; want 503", sql, r.status, r.body)
		}
	}
	rows, err := inner.db.Query(t.Context(), "SELECT Id FROM T", nil, 10)
	if err != nil || len(rows) != 0 {
		t.Errorf("rows after refused audit: %v, %v", rows, err)
	}
	ddl, err := inner.db.Schema(t.Context())
	if err != nil || containsIndex(ddl) {
		t.Errorf("schema after refused audit: %v, %v", ddl, err)
	}
}

func containsIndex(ddl []string) bool {
	for _, s := range ddl {
		if strings.Contains(s, "TById") {
			return true
		}
	}
	return false
}

// unansweredCommit is a database whose DML commits get no answer.
type unansweredCommit struct{ gateway.Database }

func (u unansweredCommit) ExecParsed(ctx context.Context, st *sqlstmt.Statement, params map[string]any, e audit.Entry) (int64, audit.Entry, error) {
	return 0, audit.Entry{}, spangate.Errorf(spangate.Unavailable, "run DML: the commit got no answer, so whether it was made is unknown: %w", spangate.ErrOutcomeUnknown)
}

// TestUnknownOutcomeSaysSo: an exec whose commit got no answer is 503
// with "outcome": "unknown" in the error body, so a client can tell it
// from a failure after which nothing committed, and it is counted as an
// audit write of unknown outcome, not as a failed one.
func TestUnknownOutcomeSaysSo(t *testing.T) {
	st := &stack{iss: newIssuer(t), path: "projects/p/instances/i/databases/d"}
	cfg := st.config(t, nil)
	deps := st.deps(t, cfg, nil)
	deps.Databases = openerOf{unansweredCommit{}}
	s, err := gateway.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	c := login(t, s.Handler(), st.iss.mint(t, repoAdmin, nil))
	r := exec(c, "UPDATE T SET N = N + 1 WHERE Id = 1", nil)
	if b := r.errBody(t); r.status != http.StatusServiceUnavailable || b.Outcome != "unknown" || b.Code != "unavailable" {
		t.Errorf("exec = %d %s; want 503 with outcome unknown", r.status, r.body)
	}
	r = (&client{t: t, h: s.AdminHandler()}).get("/metrics")
	if !strings.Contains(string(r.body), `spangate_audit_writes_total{result="ok",write="unknown"} 1`) {
		t.Errorf("metrics lack the unknown write:\n%s", r.body)
	}
	// A failure after which nothing committed carries no outcome.
	deps = st.deps(t, cfg, nil)
	deps.Databases = openerOf{failingAudit{}}
	s, err = gateway.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	c = login(t, s.Handler(), st.iss.mint(t, repoAdmin, nil))
	if b := exec(c, "UPDATE T SET N = N + 1 WHERE Id = 1", nil).errBody(t); b.Outcome != "" {
		t.Errorf("a failed audit write has outcome %q", b.Outcome)
	}
}

// openerOf opens db for every name.
type openerOf struct{ gateway.Database }

func (o openerOf) Open(context.Context, string) (gateway.Database, error) { return o.Database, nil }

// quotingCommit is a database whose commits fail with a Spanner error that
// quotes a parameter value, escaped as Spanner escapes it, as a constraint
// checked at commit may.
type quotingCommit struct{ gateway.Database }

func (q quotingCommit) ExecParsed(ctx context.Context, st *sqlstmt.Statement, params map[string]any, e audit.Entry) (int64, audit.Entry, error) {
	cause := status.Errorf(codes.FailedPrecondition, "foreign key violated: cannot find referenced values (%q)", params["ref"])
	return 0, audit.Entry{}, spangate.Errorf(spangate.Unavailable, "commit: %w", cause)
}

// TestFailedWriteLogsNoValue: the log line of a failed audited write gives
// Spanner's code, not its text, which quotes the parameter value escaped
// (a quote, a newline) so that no text substitution could find it.
func TestFailedWriteLogsNoValue(t *testing.T) {
	st := &stack{iss: newIssuer(t), path: "projects/p/instances/i/databases/d", logs: &syncBuffer{}}
	cfg := st.config(t, nil)
	deps := st.deps(t, cfg, nil)
	deps.Databases = openerOf{quotingCommit{}}
	s, err := gateway.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	c := login(t, s.Handler(), st.iss.mint(t, repoAdmin, nil))
	const secret = "ref-\"secret\"\n4711"
	wantStatus(t, "exec", exec(c, "UPDATE T SET Ref = @ref WHERE Id = 1", map[string]any{"ref": secret}), http.StatusServiceUnavailable)
	logs := st.logs.String()
	for _, part := range []string{"secret", "4711"} {
		if strings.Contains(logs, part) {
			t.Errorf("the logs quote the parameter value (%q):\n%s", part, logs)
		}
	}
	if !strings.Contains(logs, "commit: Spanner error FailedPrecondition") {
		t.Errorf("the failed write's log line lacks spangate's message and Spanner's code:\n%s", logs)
	}
}
