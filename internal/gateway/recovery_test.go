package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/migration"
)

// slowFiles: 0001's schema operation backfills two indexes on a table of
// many rows (it takes a while on the emulator) and creates T19, so sending
// it twice would fail with a duplicate name; 0002 and 0003 hold DML that
// must run exactly once.
var slowFiles = []string{
	"0001_table_t19.sql", `CREATE TABLE T19 (Id INT64 NOT NULL, N INT64 NOT NULL) PRIMARY KEY (Id);
CREATE INDEX BigByA ON Big (A);
CREATE INDEX BigByB ON Big (B, A);`,
	"0002_seed.sql", "INSERT INTO T19 (Id, N) VALUES (1, 0);",
	"0003_more.sql", "ALTER TABLE T19 ADD COLUMN Note STRING(MAX);\nUPDATE T19 SET N = N + 1 WHERE Id = 1;",
}

// fillBig writes n rows into Big.
func fillBig(t *testing.T, st *stack, n int) {
	t.Helper()
	var ms []*spanner.Mutation
	for i := range n {
		ms = append(ms, spanner.Insert("Big", []string{"Id", "A", "B"}, []any{int64(i), fmt.Sprint("v", i), int64(i % 97)}))
		if len(ms) == 1000 || i == n-1 {
			if _, err := st.direct.Client().Apply(t.Context(), ms); err != nil {
				t.Fatal(err)
			}
			ms = nil
		}
	}
}

// stopAtSend is a gateway database whose first schema operation is sent
// and then the gateway's work is cancelled at that moment (stop), as a
// gateway killed mid-operation: Spanner goes on with the operation (sent
// on a context that outlives the request), the gateway's call gets no
// answer. sent is closed once the operation has ended.
type stopAtSend struct {
	*adapterDB
	stop func()
	sent chan struct{}
}

func (s *stopAtSend) UpdateSchema(ctx context.Context, opID string, stmts []string) (int, error) {
	go func() {
		defer close(s.sent)
		_, _ = s.adapterDB.UpdateSchema(context.WithoutCancel(ctx), opID, stmts)
	}()
	s.stop()
	<-ctx.Done()
	return -1, spangate.Errorf(spangate.Canceled, "send schema update %s: interrupted: %w", opID, ctx.Err())
}

// wrapOpener opens the stack's database and wraps it.
type wrapOpener struct {
	inner *testDatabases
	wrap  func(*adapterDB) gateway.Database
}

func (o *wrapOpener) Open(ctx context.Context, name string) (gateway.Database, error) {
	db, err := o.inner.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return o.wrap(db.(*adapterDB)), nil
}

func planOf(t *testing.T, c *client, body map[string]any) gateway.PlanResponse {
	t.Helper()
	r := c.post("/v1/databases/"+testDB+"/migrations:plan", body)
	wantStatus(t, "plan", r, http.StatusOK)
	var p gateway.PlanResponse
	r.decode(t, &p)
	return p
}

func statusOf(t *testing.T, c *client) gateway.StatusResponse {
	t.Helper()
	r := c.get("/v1/databases/" + testDB + "/migrations")
	wantStatus(t, "status", r, http.StatusOK)
	var s gateway.StatusResponse
	r.decode(t, &s)
	return s
}

func checkPlanNotBlocked(t *testing.T, what string, p gateway.PlanResponse) {
	t.Helper()
	if p.Error != nil || p.Blocked {
		t.Errorf("%s: blocked: %+v", what, p.Error)
	}
	for _, f := range p.Findings {
		if f.Severity == migration.SeverityError {
			t.Errorf("%s: error finding %s:%d [%s] %s", what, f.File, f.Line, f.Rule, f.Message)
		}
	}
}

// TestGatewayRecoversSchemaOperationOfStoppedGateway is issue 18.1
// through the gateway: a gateway is stopped at the moment it sent a slow
// schema operation; a new gateway over the same database then plans,
// reports status and applies through itself, with no direct credential:
// the files are in flight or applied, never a schema error, and apply
// re-attaches and finishes with every DML run once.
func TestGatewayRecoversSchemaOperationOfStoppedGateway(t *testing.T) {
	st := newStack(t, "CREATE TABLE Big (Id INT64 NOT NULL, A STRING(MAX), B INT64) PRIMARY KEY (Id)")
	fillBig(t, st, 4000)
	cfg := st.config(t, nil)
	body := migrations(slowFiles...)

	// The first gateway: its apply is cut off when the operation is sent.
	deps := st.deps(t, cfg, nil)
	stopper := &stopAtSend{sent: make(chan struct{})}
	deps.Databases = &wrapOpener{inner: st.databases(t, deps.Logger), wrap: func(db *adapterDB) gateway.Database {
		stopper.adapterDB = db
		return stopper
	}}
	first, err := gateway.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	stopper.stop = func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		go first.Shutdown(ctx) // the deadline has passed: cancel running applies now
	}
	c1 := login(t, first.Handler(), st.iss.mint(t, repoAdmin, nil))
	r, lines := applyLines(t, c1, body)
	wantStatus(t, "first apply", r, http.StatusOK)
	if last := lines[len(lines)-1]; last["type"] != gateway.LineError {
		t.Fatalf("first apply ended with %v, want an error line", last)
	}

	// A new gateway over the same database.
	second := st.server(t, cfg, nil)
	c := login(t, second.Handler(), st.iss.mint(t, repoAdmin, nil))

	// While the operation may still be running.
	p := planOf(t, c, body)
	checkPlanNotBlocked(t, "plan during the operation", p)
	sts := statusOf(t, c)
	if len(sts.Migrations) != 1 || (sts.Migrations[0].State != migration.StatusApplying && sts.Migrations[0].State != migration.StatusApplied) {
		t.Errorf("status during the operation: %+v", sts.Migrations)
	}

	// Once it has ended, the history still says applying: plan and status
	// show the file applied.
	<-stopper.sent
	p = planOf(t, c, body)
	checkPlanNotBlocked(t, "plan after the operation", p)
	if fmt.Sprint(p.Applied) != "[1]" || len(p.Pending) != 2 {
		t.Errorf("plan after the operation: applied %v, pending %+v; want [1] and two pending", p.Applied, p.Pending)
	}
	found := false
	for _, f := range p.Findings {
		found = found || f.Rule == migration.RuleInFlight && strings.Contains(f.Message, "finished")
	}
	if !found {
		t.Errorf("plan does not say that the operation finished: %+v", p.Findings)
	}
	sts = statusOf(t, c)
	if len(sts.Migrations) != 1 || sts.Migrations[0].State != migration.StatusApplied {
		t.Errorf("status after the operation: %+v", sts.Migrations)
	}

	// Apply through the new gateway: re-attach, then the rest.
	r, lines = applyLines(t, c, body)
	wantStatus(t, "apply", r, http.StatusOK)
	last := lines[len(lines)-1]
	if last["type"] != gateway.LineResult || fmt.Sprint(last["applied"]) != "[2 3]" {
		t.Fatalf("apply ended with %v; want a result applying [2 3]", last)
	}
	var n int64
	row, err := st.direct.Client().Single().ReadRow(t.Context(), "T19", spanner.Key{int64(1)}, []string{"N"})
	if err != nil {
		t.Fatal(err)
	}
	if err := row.Columns(&n); err != nil || n != 1 {
		t.Errorf("T19.N = %d (%v), want 1: each DML once", n, err)
	}
	for _, m := range statusOf(t, c).Migrations {
		if m.State != migration.StatusApplied {
			t.Errorf("after apply: %+v", m)
		}
	}
	if r := c.get("/v1/databases/" + testDB + "/audit:verify"); !strings.Contains(string(r.body), `"ok":true`) {
		t.Errorf("audit verify: %s", r.body)
	}
}
