package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/gateway"
)

// TestDenyPaths checks every action's refusal: 403, code denied, a message
// that gives the decision and a reference but nothing of the rules, the
// full explanation in the gateway's log under that reference, and an audit
// entry with result denied for every caller that holds some right on the
// database (a caller with none is refused before the database is opened).
func TestDenyPaths(t *testing.T) {
	st := newStack(t)
	h := st.server(t, st.config(t, nil), nil).Handler()
	admin := login(t, h, st.iss.mint(t, repoAdmin, nil))
	if r, _ := applyLines(t, admin, migrations(createOrders, ordersDDL)); r.status != 200 {
		t.Fatalf("setup apply: %d %s", r.status, r.body)
	}
	planner := login(t, h, st.iss.mint(t, repoPlanner, nil))
	writer := login(t, h, st.iss.mint(t, repoWriter, nil))
	migrator := login(t, h, st.iss.mint(t, repoMigrate, nil))
	nobody := login(t, h, st.iss.mint(t, repoNobody, nil))
	dropFile := migrations(createOrders, ordersDDL, "0002_drop_index.sql", "-- spangate:allow drop-index\nDROP INDEX OrdersByNote;")

	tests := []struct {
		name    string
		c       *client
		call    func(c *client) response
		action  string // audited action, "" when the denial is not audited
		message string // part of the message
		logged  string // part of the logged explanation
	}{
		{"plan", nobody, func(c *client) response {
			return c.post("/v1/databases/"+testDB+"/migrations:plan", migrations(createOrders, ordersDDL))
		}, "", `no right on database "app"`, "any of plan, migrate"},
		{"status", nobody, func(c *client) response { return c.get("/v1/databases/" + testDB + "/migrations") }, "", `no right on database "app"`, "any of plan"},
		{"migrate", planner, func(c *client) response {
			return c.post("/v1/databases/"+testDB+"/migrations:apply", migrations(createOrders, ordersDDL))
		}, "migrate", `denied: migrate on database "app"`, "rule admin: condition false"},
		{"destructive migration", migrator, func(c *client) response {
			return c.post("/v1/databases/"+testDB+"/migrations:apply", dropFile)
		}, "destructive", "destructive", "destructive"},
		{"read", planner, func(c *client) response { return exec(c, "SELECT * FROM Orders", nil) }, "read", "needs one of read, write", "the statement was not parsed"},
		{"write", planner, func(c *client) response {
			return exec(c, "INSERT INTO Orders (Id) VALUES (@id)", map[string]any{"id": 99})
		}, "read", "needs one of read, write", "the statement was not parsed"},
		{"ddl", writer, func(c *client) response {
			return exec(c, "CREATE TABLE X (Id INT64) PRIMARY KEY (Id)", nil)
		}, "ddl", "denied: CREATE TABLE on X (needs ddl)", "rule admin"},
		{"destructive exec", writer, func(c *client) response { return exec(c, "DELETE FROM Orders WHERE TRUE", nil) }, "destructive", "destructive", "destructive"},
		{"drop table", writer, func(c *client) response { return exec(c, "DROP TABLE Orders", nil) }, "destructive", "needs ddl, destructive", "rule admin"},
		{"audit list", writer, func(c *client) response { return c.get("/v1/databases/" + testDB + "/audit") }, "audit", "denied: audit", "rule"},
		{"audit verify", writer, func(c *client) response { return c.get("/v1/databases/" + testDB + "/audit:verify") }, "audit", "denied: audit", "rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.call(tt.c)
			wantStatus(t, tt.name, r, http.StatusForbidden)
			e := r.errBody(t)
			if e.Code != "denied" || !strings.Contains(e.Message, tt.message) || e.Hint == "" {
				t.Errorf("error = %+v; want code denied and a message with %q", e, tt.message)
			}
			// The caller learns the decision and a reference, not the
			// rules' names, conditions or the claims they expect.
			for _, leak := range []string{"rule ", "claims", "condition", "repository", "admin", "planner", "writer"} {
				if strings.Contains(e.Message, leak) || strings.Contains(e.Hint, leak+" ") && leak != "rule " {
					t.Errorf("the refusal tells the caller %q: %+v", leak, e)
				}
			}
			if e.Reference == "" || r.header.Get(gateway.HeaderRequestID) != e.Reference || !strings.Contains(e.Message, e.Reference) {
				t.Errorf("reference %q, header %q, message %q: want the request id in all three", e.Reference, r.header.Get(gateway.HeaderRequestID), e.Message)
			}
			// The operator finds the full explanation under the reference.
			if line := logLine(t, st.logs.String(), e.Reference); !strings.Contains(line, tt.logged) {
				t.Errorf("log line of %s lacks %q: %s", e.Reference, tt.logged, line)
			}
		})
	}

	// Every denial of a caller with some right is in the audit trail.
	r := admin.get("/v1/databases/" + testDB + "/audit?limit=100")
	var al struct {
		Entries []audit.Entry `json:"entries"`
	}
	r.decode(t, &al)
	denied := map[string]int{}
	for _, e := range al.Entries {
		if e.Result == audit.ResultDenied {
			denied[e.Action]++
			if e.Reason == "" || e.Principal == "" {
				t.Errorf("denied entry without reason or principal: %+v", e)
			}
			if e.Principal == "dev:repo:"+repoNobody+":environment:production" {
				t.Errorf("a caller with no right on the database was audited in it: %+v", e)
			}
		}
	}
	for _, tt := range tests {
		if tt.action != "" && denied[tt.action] == 0 {
			t.Errorf("no denied %s entry in the audit trail: %v", tt.action, denied)
		}
	}
	// The denied statements changed nothing.
	r = exec(admin, "SELECT COUNT(*) AS n FROM Orders", nil)
	if !strings.Contains(string(r.body), `"n":1`) && !strings.Contains(string(r.body), `"n":"1"`) {
		t.Errorf("Orders after denials: %s", r.body)
	}
}

// logLine returns the request log line with the request id.
func logLine(t *testing.T, logs, id string) string {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"request_id":"`+id+`"`) {
			return l
		}
	}
	t.Fatalf("no log line for request %s in:\n%s", id, logs)
	return ""
}

// TestDatabasesListsOnlyAllowed: a principal with no rule sees no database.
func TestDatabasesListsOnlyAllowed(t *testing.T) {
	st := newStack(t)
	h := st.server(t, st.config(t, nil), nil).Handler()
	r := login(t, h, st.iss.mint(t, repoNobody, nil)).get("/v1/databases")
	wantStatus(t, "databases", r, 200)
	if strings.TrimSpace(string(r.body)) != `{"databases":[]}` {
		t.Errorf("nobody's databases = %s", r.body)
	}
	r = login(t, h, st.iss.mint(t, repoWriter, nil)).get("/v1/databases")
	if strings.TrimSpace(string(r.body)) != `{"databases":[{"name":"app","actions":["read","write"]}]}` {
		t.Errorf("writer's databases = %s", r.body)
	}
}

// TestSmuggledStatements: exec runs exactly one statement.
func TestSmuggledStatements(t *testing.T) {
	st := newStack(t, "CREATE TABLE T (Id INT64) PRIMARY KEY (Id)")
	h := st.server(t, st.config(t, nil), nil).Handler()
	c := login(t, h, st.iss.mint(t, repoAdmin, nil))
	for _, sql := range []string{
		"SELECT 1; DROP TABLE T",
		"SELECT 1; DROP TABLE T;",
		"INSERT INTO T (Id) VALUES (1); DELETE FROM T WHERE TRUE",
		"SELECT 1 /* ; */ ; DROP TABLE T",
		"",
		"-- only a comment",
		"SELEC 1",
	} {
		r := exec(c, sql, nil)
		if r.status != http.StatusBadRequest || r.errBody(t).Code != "invalid" {
			t.Errorf("exec %q: %d %s; want 400 invalid", sql, r.status, r.body)
		}
	}
	// T survived, and a literal ';' inside a string is one statement.
	r := exec(c, "SELECT 'a; DROP TABLE T' AS s FROM T", nil)
	wantStatus(t, "select with ; in a literal", r, 200)
}

// TestParamsAreBound: a parameter value that looks like SQL is data.
func TestParamsAreBound(t *testing.T) {
	st := newStack(t, "CREATE TABLE T (Id INT64 NOT NULL, S STRING(MAX)) PRIMARY KEY (Id)")
	h := st.server(t, st.config(t, nil), nil).Handler()
	c := login(t, h, st.iss.mint(t, repoAdmin, nil))
	evil := "x'); DROP TABLE T; --"
	wantStatus(t, "insert", exec(c, "INSERT INTO T (Id, S) VALUES (@id, @s)", map[string]any{"id": 1, "s": evil}), 200)
	r := exec(c, "SELECT S FROM T WHERE Id = @id", map[string]any{"id": 1})
	if !strings.Contains(string(r.body), `x'); DROP TABLE T; --`) {
		t.Errorf("select = %s", r.body)
	}
	for name, params := range map[string]map[string]any{
		"object value": {"id": map[string]any{"a": 1}},
		"bad name":     {"1x": 1},
		"mixed array":  {"id": []any{1, "a"}},
	} {
		if r := exec(c, "SELECT @id", params); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	wantStatus(t, "array param", exec(c, "SELECT Id FROM T WHERE Id IN UNNEST(@ids)", map[string]any{"ids": []any{1, 2}}), 200)
}
