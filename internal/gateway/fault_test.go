package gateway_test

import (
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
