package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/spangate/spangate/internal/audit"
)

// TestDenyPaths checks every action's refusal: 403, code denied, a message
// naming the rule and reason, and an audit entry with result denied.
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
		action  string
		message string // part of the message
	}{
		{"plan", nobody, func(c *client) response {
			return c.post("/v1/databases/"+testDB+"/migrations:plan", migrations(createOrders, ordersDDL))
		}, "plan", "plan"},
		{"status", nobody, func(c *client) response { return c.get("/v1/databases/" + testDB + "/migrations") }, "plan", "plan"},
		{"migrate", planner, func(c *client) response {
			return c.post("/v1/databases/"+testDB+"/migrations:apply", migrations(createOrders, ordersDDL))
		}, "migrate", "denied: migrate: rule admin: condition false"},
		{"destructive migration", migrator, func(c *client) response {
			return c.post("/v1/databases/"+testDB+"/migrations:apply", dropFile)
		}, "destructive", "destructive"},
		{"read", planner, func(c *client) response { return exec(c, "SELECT * FROM Orders", nil) }, "read", "read"},
		{"write", planner, func(c *client) response {
			return exec(c, "INSERT INTO Orders (Id) VALUES (@id)", map[string]any{"id": 99})
		}, "write", "write"},
		{"ddl", writer, func(c *client) response {
			return exec(c, "CREATE TABLE X (Id INT64) PRIMARY KEY (Id)", nil)
		}, "ddl", "denied: ddl: CREATE TABLE on X needs ddl: rule admin"},
		{"destructive exec", writer, func(c *client) response { return exec(c, "DELETE FROM Orders WHERE TRUE", nil) }, "destructive", "destructive"},
		{"drop table", writer, func(c *client) response { return exec(c, "DROP TABLE Orders", nil) }, "destructive", "needs ddl, destructive"},
		{"audit list", writer, func(c *client) response { return c.get("/v1/databases/" + testDB + "/audit") }, "audit", "audit"},
		{"audit verify", writer, func(c *client) response { return c.get("/v1/databases/" + testDB + "/audit:verify") }, "audit", "audit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.call(tt.c)
			wantStatus(t, tt.name, r, http.StatusForbidden)
			e := r.errBody(t)
			if e.Code != "denied" || !strings.Contains(e.Message, tt.message) || e.Hint == "" {
				t.Errorf("error = %+v; want code denied and a message with %q", e, tt.message)
			}
		})
	}

	// Every denial is in the audit trail.
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
		}
	}
	for _, tt := range tests {
		if denied[tt.action] == 0 {
			t.Errorf("no denied %s entry in the audit trail: %v", tt.action, denied)
		}
	}
	// The denied statements changed nothing.
	r = exec(admin, "SELECT COUNT(*) AS n FROM Orders", nil)
	if !strings.Contains(string(r.body), `"n":1`) && !strings.Contains(string(r.body), `"n":"1"`) {
		t.Errorf("Orders after denials: %s", r.body)
	}
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
