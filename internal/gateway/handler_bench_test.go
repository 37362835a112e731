package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// BenchmarkExecHandler measures what the gateway itself spends on one exec
// request, in process and without Spanner: reading the request, the
// session token, the policy decision, the statement's class, the audit
// entry's fields, the metrics, the log line and the JSON answer. The
// database is a stub whose ExecParsed returns at once, so the figure is
// the gateway's CPU per request (compare runs with benchstat).
func BenchmarkExecHandler(b *testing.B) {
	st := &stack{iss: newIssuer(b), path: "projects/p/instances/i/databases/bench"}
	cfg := st.config(b, nil)
	deps := st.deps(b, cfg, nil) // st.logs is nil: the log lines are formatted and discarded
	deps.Databases = stubDatabases{}
	s, err := gateway.New(cfg, deps)
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	token := login(b, h, st.iss.mint(b, repoAdmin, nil)).token
	body := []byte(`{"sql":"UPDATE Items SET N = N + 1 WHERE Id = @id","params":{"id":3}}`)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/databases/"+testDB+":exec", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("exec: %d %s", rec.Code, rec.Body)
		}
	}
}

// stubDatabases opens stubDB for every name.
type stubDatabases struct{}

func (stubDatabases) Open(context.Context, string) (gateway.Database, error) { return stubDB{}, nil }

// stubDB answers ExecParsed at once, as if one row changed; the gateway
// calls nothing else of it on an allowed exec.
type stubDB struct{ gateway.Database }

func (stubDB) ExecParsed(_ context.Context, _ *sqlstmt.Statement, _ map[string]any, e audit.Entry) (int64, audit.Entry, error) {
	return 1, e, nil
}
