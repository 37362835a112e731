package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/migration"
)

const (
	createOrders = "0001_create_orders.sql"
	ordersDDL    = `CREATE TABLE Orders (Id INT64 NOT NULL, Note STRING(MAX), Qty INT64) PRIMARY KEY (Id);
CREATE INDEX OrdersByNote ON Orders (Note);
INSERT INTO Orders (Id, Note, Qty) VALUES (1, 'seed', 0);`
)

// applyLines posts an apply and returns the NDJSON lines of the stream.
func applyLines(t *testing.T, c *client, body map[string]any) (response, []map[string]any) {
	t.Helper()
	r := c.post("/v1/databases/"+testDB+"/migrations:apply", body)
	if r.status != http.StatusOK {
		return r, nil
	}
	if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("apply Content-Type = %q", ct)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("apply line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return r, lines
}

// TestEndToEnd runs the whole flow in process: dev issuer → token →
// exchange → plan → apply (NDJSON) → exec → audit list by row → verify →
// tamper with one audit row behind the gateway's back → verify names it.
func TestEndToEnd(t *testing.T) {
	st := newStack(t)
	s := st.server(t, st.config(t, nil), nil)
	h := s.Handler()
	c := login(t, h, st.iss.mint(t, repoAdmin, map[string]string{"sha": "c0ffee"}))
	c.run = spangate.RunMetadata{CI: "github", Commit: "c0ffee", Pipeline: "deploy", Build: "42", Repository: repoAdmin}

	// Databases.
	var dbs gateway.DatabasesResponse
	r := c.get("/v1/databases")
	wantStatus(t, "databases", r, 200)
	r.decode(t, &dbs)
	if len(dbs.Databases) != 1 || dbs.Databases[0].Name != testDB || len(dbs.Databases[0].Actions) != len(spangate.Actions()) {
		t.Fatalf("databases = %+v", dbs)
	}

	// Plan.
	body := migrations(createOrders, ordersDDL)
	r = c.post("/v1/databases/"+testDB+"/migrations:plan", body)
	wantStatus(t, "plan", r, 200)
	var plan gateway.PlanResponse
	r.decode(t, &plan)
	if plan.Database != testDB || len(plan.Pending) != 1 || plan.Pending[0].Statements != 3 || plan.Blocked || plan.Error != nil || plan.SchemaOperations != 1 {
		t.Fatalf("plan = %s", r.body)
	}

	// Apply, streamed.
	r, lines := applyLines(t, c, body)
	wantStatus(t, "apply", r, 200)
	last := lines[len(lines)-1]
	if last["type"] != gateway.LineResult || last["database"] != testDB || last["statements"] != float64(3) || last["schema_operations"] != float64(1) {
		t.Fatalf("apply last line = %v (all: %s)", last, r.body)
	}
	if len(lines) < 2 || lines[0]["type"] != "lock" {
		t.Errorf("apply progress lines = %s", r.body)
	}

	// Status.
	r = c.get("/v1/databases/" + testDB + "/migrations")
	wantStatus(t, "status", r, 200)
	var status gateway.StatusResponse
	r.decode(t, &status)
	if len(status.Migrations) != 1 || status.Migrations[0].State != migration.StatusApplied || len(status.History) != 1 {
		t.Fatalf("status = %s", r.body)
	}
	set := migration.Parse([]migration.Source{{Name: createOrders, Content: []byte(ordersDDL)}})
	if sts := migration.Statuses(set, []migration.Record{status.History[0].Record()}); sts[0].State != migration.StatusApplied {
		t.Errorf("client-side status from the history = %+v", sts)
	}

	// A second plan is up to date.
	r = c.post("/v1/databases/"+testDB+"/migrations:plan", body)
	r.decode(t, &plan)
	if len(plan.Pending) != 0 || len(plan.Applied) != 1 {
		t.Fatalf("plan after apply = %s", r.body)
	}

	// Exec: insert, update, query.
	r = exec(c, "INSERT INTO Orders (Id, Note, Qty) VALUES (@id, @note, @qty)", map[string]any{"id": 7, "note": "new order", "qty": 2})
	wantStatus(t, "insert", r, 200)
	var er gateway.ExecResponse
	r.decode(t, &er)
	if er.RowCount != 1 {
		t.Fatalf("insert = %s", r.body)
	}
	r = exec(c, "UPDATE Orders SET Qty = Qty + @n WHERE Id = @id", map[string]any{"id": 7, "n": 3})
	wantStatus(t, "update", r, 200)
	r = exec(c, "SELECT Id, Note, Qty FROM Orders WHERE Id = @id", map[string]any{"id": 7})
	wantStatus(t, "select", r, 200)
	r.decode(t, &er)
	if er.RowCount != 1 || len(er.Rows) != 1 || er.Rows[0]["Qty"] != float64(5) && er.Rows[0]["Qty"] != "5" {
		t.Fatalf("select = %s", r.body)
	}

	// Audit by row: the insert and the update of Orders [7].
	r = c.get("/v1/databases/" + testDB + "/audit?table=Orders&key=7")
	wantStatus(t, "audit list", r, 200)
	var al struct {
		Entries []audit.Entry `json:"entries"`
	}
	r.decode(t, &al)
	if len(al.Entries) != 2 || !strings.HasPrefix(al.Entries[0].Statement, "UPDATE") || !strings.HasPrefix(al.Entries[1].Statement, "INSERT") {
		t.Fatalf("audit list = %s", r.body)
	}
	for _, e := range al.Entries {
		if e.Principal == "" || e.Run.Commit != "c0ffee" || e.Result != audit.ResultOK || e.Database != testDB || len(e.Params) == 0 {
			t.Errorf("entry = %+v", e)
		}
		if e.Params["id"] != (audit.ParamHasher{}).Hash("id", int64(7)) {
			t.Errorf("params = %v; want hashed values", e.Params)
		}
	}
	// The migration's history was audited too.
	r = c.get("/v1/databases/" + testDB + "/audit?action=migrate")
	r.decode(t, &al)
	if len(al.Entries) == 0 {
		t.Errorf("no migrate entries: %s", r.body)
	}

	// Verify, tamper, verify.
	r = c.get("/v1/databases/" + testDB + "/audit:verify")
	wantStatus(t, "verify", r, 200)
	var vr struct {
		OK       bool   `json:"ok"`
		Entries  int64  `json:"entries"`
		FirstBad *int64 `json:"first_bad"`
	}
	r.decode(t, &vr)
	if !vr.OK || vr.Entries < 3 || vr.FirstBad != nil {
		t.Fatalf("verify = %s", r.body)
	}
	r = c.get("/v1/databases/" + testDB + "/audit?table=Orders&key=7")
	r.decode(t, &al)
	victim := al.Entries[1].Seq
	_, err := st.direct.Client().Apply(t.Context(), []*spanner.Mutation{
		spanner.Update("SpangateAudit", []string{"Seq", "Statement"}, []any{victim, "INSERT INTO Orders (Id) VALUES (8)"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	r = c.get("/v1/databases/" + testDB + "/audit:verify")
	wantStatus(t, "verify after tampering", r, 200)
	r.decode(t, &vr)
	if vr.OK || vr.FirstBad == nil || *vr.FirstBad != victim {
		t.Fatalf("verify after tampering with seq %d = %s", victim, r.body)
	}
}

// TestApplyRefusesBlockedPlan: an edited applied file blocks apply (409,
// code blocked) and plan answers 200 with the plan and the error.
func TestApplyRefusesBlockedPlan(t *testing.T) {
	st := newStack(t)
	h := st.server(t, st.config(t, nil), nil).Handler()
	c := login(t, h, st.iss.mint(t, repoAdmin, nil))
	if r, _ := applyLines(t, c, migrations(createOrders, ordersDDL)); r.status != 200 {
		t.Fatalf("apply: %d %s", r.status, r.body)
	}
	edited := migrations(createOrders, ordersDDL+"\nINSERT INTO Orders (Id) VALUES (2);")
	r := c.post("/v1/databases/"+testDB+"/migrations:plan", edited)
	wantStatus(t, "plan", r, 200)
	var plan gateway.PlanResponse
	r.decode(t, &plan)
	if !plan.Blocked || plan.Error == nil || plan.Error.Code != "blocked" {
		t.Fatalf("plan of an edited file = %s", r.body)
	}
	r, _ = applyLines(t, c, edited)
	wantStatus(t, "apply", r, http.StatusConflict)
	if e := r.errBody(t); e.Code != "blocked" {
		t.Fatalf("apply error = %+v", e)
	}
	bad := migrations("0002_bad.sql", "CREATE TABLE (")
	r = c.post("/v1/databases/"+testDB+"/migrations:plan", bad)
	r.decode(t, &plan)
	if plan.Error == nil || plan.Error.Code != "invalid" {
		t.Fatalf("plan of a bad file = %s", r.body)
	}
}

// TestVerifyAnchor rewrites the last audit entry consistently (re-sealed
// and with the head row updated), which the chain alone cannot reveal, and
// checks that a verify anchored on the head printed before names it.
func TestVerifyAnchor(t *testing.T) {
	st := newStack(t, "CREATE TABLE Orders (Id INT64 NOT NULL) PRIMARY KEY (Id)")
	h := st.server(t, st.config(t, nil), nil).Handler()
	c := login(t, h, st.iss.mint(t, repoAdmin, nil))
	for id := range 3 {
		if r := exec(c, "INSERT INTO Orders (Id) VALUES (@id)", map[string]any{"id": id}); r.status != 200 {
			t.Fatalf("insert: %d %s", r.status, r.body)
		}
	}
	verify := func(query string) audit.VerifyResult {
		t.Helper()
		r := c.get("/v1/databases/" + testDB + "/audit:verify" + query)
		wantStatus(t, "verify"+query, r, 200)
		var vr audit.VerifyResult
		r.decode(t, &vr)
		return vr
	}
	before := verify("")
	if !before.OK || before.Head == nil || before.Head.Seq != 3 {
		t.Fatalf("verify = %+v", before)
	}

	// Rewrite entry 3 behind the gateway's back, consistently.
	r := c.get("/v1/databases/" + testDB + "/audit?limit=1")
	var al struct {
		Entries []audit.Entry `json:"entries"`
	}
	r.decode(t, &al)
	e := al.Entries[0]
	e.Statement = "INSERT INTO Orders (Id) VALUES (99)"
	e.Seal(e.PrevHash)
	if _, err := st.direct.Client().Apply(t.Context(), []*spanner.Mutation{
		spanner.Update("SpangateAudit", []string{"Seq", "Statement", "EntryHash"}, []any{e.Seq, e.Statement, e.Hash}),
		spanner.Update("SpangateAuditHead", []string{"Id", "LastHash"}, []any{int64(0), e.Hash}),
	}); err != nil {
		t.Fatal(err)
	}

	if vr := verify(""); !vr.OK {
		t.Fatalf("without an anchor the consistent rewrite should pass unseen: %+v", vr)
	}
	vr := verify("?anchor=" + before.Head.String())
	if vr.OK || vr.FirstBad == nil || *vr.FirstBad != 3 || !strings.Contains(vr.Problem, "anchored") {
		t.Fatalf("anchored verify = %+v; want entry 3 named", vr)
	}
	r = c.get("/v1/databases/" + testDB + "/audit:verify?anchor=3:nothex")
	wantStatus(t, "malformed anchor", r, http.StatusBadRequest)
}
