package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/config"
)

// TestBodyLimit: bodies over limits.max_body_bytes get 413, whether the
// length is announced or not.
func TestBodyLimit(t *testing.T) {
	st := newStack(t, "CREATE TABLE T (Id INT64 NOT NULL, S STRING(MAX)) PRIMARY KEY (Id)")
	h := st.server(t, st.config(t, func(c *config.Config) { c.Limits.MaxBodyBytes = 1024 }), nil).Handler()
	c := login(t, h, st.iss.mint(t, repoAdmin, nil))
	big := strings.Repeat("x", 2048)
	for name, r := range map[string]response{
		"exec":  exec(c, "INSERT INTO T (Id, S) VALUES (1, @s)", map[string]any{"s": big}),
		"plan":  c.post("/v1/databases/"+testDB+"/migrations:plan", migrations("0001_a.sql", "-- "+big)),
		"apply": c.post("/v1/databases/"+testDB+"/migrations:apply", migrations("0001_a.sql", "-- "+big)),
	} {
		if r.status != http.StatusRequestEntityTooLarge || r.errBody(t).Code != "invalid" {
			t.Errorf("%s: %d %s; want 413", name, r.status, r.body)
		}
	}
	// Unannounced length (chunked): the limit still holds.
	req, _ := http.NewRequest("POST", "/v1/databases/"+testDB+":exec", io.MultiReader(strings.NewReader(`{"sql":"SELECT 1","params":{"s":"`), strings.NewReader(big), strings.NewReader(`"}}`)))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+c.token)
	rec := newRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked: %d %s", rec.Code, rec.Body)
	}
	wantStatus(t, "small exec", exec(c, "SELECT 1", nil), 200)
}

// TestRoutes calls every path of the contract, and a few that are not.
func TestRoutes(t *testing.T) {
	st := newStack(t)
	h := st.server(t, st.config(t, nil), nil).Handler()
	c := login(t, h, st.iss.mint(t, repoAdmin, nil))
	body := migrations(createOrders, ordersDDL)
	tests := []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/v1/databases", nil, 200},
		{"GET", "/v1/databases/app/migrations", nil, 200},
		{"POST", "/v1/databases/app/migrations:plan", body, 200},
		{"POST", "/v1/databases/app/migrations:apply", body, 200},
		{"POST", "/v1/databases/app:exec", map[string]any{"sql": "SELECT 1"}, 200},
		{"GET", "/v1/databases/app/audit", nil, 200},
		{"GET", "/v1/databases/app/audit:verify", nil, 200},
		{"GET", "/healthz", nil, 200},
		{"GET", "/readyz", nil, 404},
		{"GET", "/metrics", nil, 404},
		{"GET", "/v1/databases/app:exec", nil, 405},
		{"POST", "/v1/databases/app/migrations", body, 405},
		{"GET", "/v1/databases/app/migrations:apply", nil, 405},
		{"GET", "/v1/token", nil, 405},
		{"POST", "/v1/databases/app:drop", map[string]any{"sql": "SELECT 1"}, 404},
		{"POST", "/v1/databases/app", map[string]any{"sql": "SELECT 1"}, 404},
		{"POST", "/v1/databases/:exec", map[string]any{"sql": "SELECT 1"}, 404},
		{"POST", "/v1/databases/nope:exec", map[string]any{"sql": "SELECT 1"}, 403},
		{"GET", "/v1/databases/nope/audit", nil, 403},
		{"GET", "/v1/databases/app/migrations:status", nil, 404},
		{"GET", "/v2/anything", nil, 404},
		{"GET", "/v1/databases/app/audit?since=yesterday", nil, 400},
		{"GET", "/v1/databases/app/audit?limit=0", nil, 400},
		{"GET", "/v1/databases/app/audit?key=1", nil, 400},
		{"POST", "/v1/databases/app:exec", map[string]any{"sql": "SELECT 1", "extra": true}, 400},
	}
	for _, tt := range tests {
		var r response
		if tt.body != nil {
			r = c.post(tt.path, tt.body)
			if tt.method != "POST" {
				r = c.do(tt.method, tt.path, nil, "")
			}
		} else {
			r = c.do(tt.method, tt.path, nil, "")
		}
		if r.status != tt.status {
			t.Errorf("%s %s: %d, want %d; body %s", tt.method, tt.path, r.status, tt.status, r.body)
			continue
		}
		if tt.status >= 400 && !bytes.Contains(r.body, []byte(`{"error":{"code":`)) {
			t.Errorf("%s %s: error body %s is not the contract's shape", tt.method, tt.path, r.body)
		}
	}
}

// TestRateLimit: a principal over its bucket gets 429 with Retry-After;
// another principal is not affected; the bucket refills.
func TestRateLimit(t *testing.T) {
	st := newStack(t)
	clk := newClock()
	h := st.server(t, st.config(t, func(c *config.Config) {
		c.Limits.RateLimit = 1
		c.Limits.RateBurst = 2
	}), clk.now).Handler()
	a := &client{t: t, h: h, token: st.iss.mint(t, repoAdmin, nil)}
	b := &client{t: t, h: h, token: st.iss.mint(t, repoWriter, nil)}
	wantStatus(t, "1st", a.get("/v1/databases"), 200)
	wantStatus(t, "2nd", a.get("/v1/databases"), 200)
	r := a.get("/v1/databases")
	wantStatus(t, "3rd", r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") != "1" || r.errBody(t).Code != "unavailable" {
		t.Errorf("429: Retry-After %q, body %s", r.header.Get("Retry-After"), r.body)
	}
	wantStatus(t, "another principal", b.get("/v1/databases"), 200)
	clk.advance(time.Second)
	wantStatus(t, "after a second", a.get("/v1/databases"), 200)
}

// TestLogsHoldNoSecrets captures every log line of a session (exchange,
// exec with parameters, a failing statement that quotes its value, a
// denial, a refused token) and checks that no token and no parameter value
// appears.
func TestLogsHoldNoSecrets(t *testing.T) {
	st := newStack(t, "CREATE TABLE T (Id STRING(64) NOT NULL, S STRING(MAX)) PRIMARY KEY (Id)")
	h := st.server(t, st.config(t, nil), nil).Handler()
	ci := st.iss.mint(t, repoAdmin, nil)
	c := login(t, h, ci)
	const v1, v2 = "s3cr3t-key-4711", "private-note-0815"
	wantStatus(t, "insert", exec(c, "INSERT INTO T (Id, S) VALUES (@id, @s)", map[string]any{"id": v1, "s": v2}), 200)
	r := exec(c, "INSERT INTO T (Id, S) VALUES (@id, @s)", map[string]any{"id": v1, "s": v2})
	if r.status == 200 {
		t.Fatalf("duplicate insert succeeded: %s", r.body)
	}
	wantStatus(t, "select", exec(c, "SELECT S FROM T WHERE Id = @id", map[string]any{"id": v1}), 200)
	nobody := login(t, h, st.iss.mint(t, repoNobody, nil))
	wantStatus(t, "denied", exec(nobody, "UPDATE T SET S = @s WHERE Id = @id", map[string]any{"id": v1, "s": v2}), 403)
	wantStatus(t, "bad bearer", (&client{t: t, h: h, token: tamper(c.token)}).get("/v1/databases"), 401)
	wantStatus(t, "bad exchange", (&client{t: t, h: h}).exchange(ci+"x"), 401)

	logs := st.logs.String()
	if !strings.Contains(logs, `Spanner error AlreadyExists`) {
		t.Errorf("the failed insert's logged error does not give Spanner's code in place of its text:\n%s", logs)
	}
	if !strings.Contains(logs, `"route":"exec"`) {
		t.Fatalf("no request lines logged:\n%s", logs)
	}
	secrets := map[string]string{"CI token": ci, "session token": c.token, "parameter id": v1, "parameter s": v2}
	for _, part := range strings.Split(ci, ".") {
		secrets["CI token part"] = part
	}
	for _, part := range strings.Split(c.token, ".")[1:] {
		secrets["session token part"] = part
	}
	for name, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds the %s:\n%s", name, logs)
		}
	}
}

// TestMetricsAndHealth: /metrics has the gateway's series; /readyz checks
// the database and fails once shutting down; shutdown refuses new applies.
func TestMetricsAndHealth(t *testing.T) {
	st := newStack(t)
	s := st.server(t, st.config(t, nil), nil)
	h := s.Handler()
	c := login(t, h, st.iss.mint(t, repoAdmin, nil))
	if r, _ := applyLines(t, c, migrations(createOrders, ordersDDL)); r.status != 200 {
		t.Fatal(r.status)
	}
	wantStatus(t, "exec", exec(c, "UPDATE Orders SET Qty = 1 WHERE Id = 1", nil), 200)
	nobody := login(t, h, st.iss.mint(t, repoNobody, nil))
	exec(nobody, "SELECT 1", nil)

	admin := &client{t: t, h: s.AdminHandler()}
	r := admin.get("/metrics")
	wantStatus(t, "metrics", r, 200)
	for _, want := range []string{
		`spangate_requests_total{action="write",decision="allow",route="exec",status="200"} 1`,
		`spangate_requests_total{action="",decision="deny",route="exec",status="403"} 1`,
		`spangate_token_verifications_total{kind="session",result="ok"}`,
		`spangate_token_verifications_total{kind="ci",result="ok"} 2`,
		`spangate_schema_operations_total{database="app"} 1`,
		`spangate_audit_writes_total{result="ok",write="written"}`,
		`spangate_request_duration_seconds_bucket{route="exec"`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	wantStatus(t, "healthz", c.get("/healthz"), 200)
	wantStatus(t, "admin healthz", admin.get("/healthz"), 200)
	if r := c.get("/healthz"); string(r.body) != "{\"status\":\"ok\"}\n" {
		t.Errorf("public healthz = %q; want it bare", r.body)
	}
	wantStatus(t, "readyz on the public listener", c.get("/readyz"), 404)
	r = admin.get("/readyz")
	wantStatus(t, "readyz", r, 200)
	if !strings.Contains(string(r.body), `"app":"ok"`) {
		t.Errorf("readyz = %s", r.body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "readyz while stopping", admin.get("/readyz"), 503)
	wantStatus(t, "apply while stopping", c.post("/v1/databases/"+testDB+"/migrations:apply", migrations(createOrders, ordersDDL)), 503)
	wantStatus(t, "exec while stopping", exec(c, "SELECT 1", nil), 200)
}

// TestKeyedParamHashes: with audit.param_hash_key_file, the entries of an
// exec and of a denial hold HMAC hashes under that key, which a hasher
// with the same key reproduces and the unkeyed hash does not; a key file
// that is missing, too short or a session key stops the gateway from
// starting, naming the setting.
func TestKeyedParamHashes(t *testing.T) {
	st := newStack(t, "CREATE TABLE T (Id INT64 NOT NULL, S STRING(MAX)) PRIMARY KEY (Id)")
	const paramKey = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=" // 32 bytes
	keyFile := filepath.Join(t.TempDir(), "param.key")
	writeFile(t, keyFile, paramKey+"\n")
	cfg := st.config(t, func(c *config.Config) { c.Audit.ParamHashKeyFile = keyFile })
	h := st.server(t, cfg, nil).Handler()
	admin := login(t, h, st.iss.mint(t, repoAdmin, nil))
	wantStatus(t, "insert", exec(admin, "INSERT INTO T (Id, S) VALUES (@id, @s)", map[string]any{"id": 7, "s": "x"}), 200)
	planner := login(t, h, st.iss.mint(t, repoPlanner, nil))
	wantStatus(t, "denied", exec(planner, "UPDATE T SET S = @s WHERE Id = @id", map[string]any{"id": 7, "s": "y"}), 403)

	key, err := config.DecodeKey(paramKey)
	if err != nil {
		t.Fatal(err)
	}
	keyed, err := audit.NewParamHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	var got []audit.Entry
	if err := st.direct.ScanAudit(t.Context(), func(e audit.Entry) error {
		if e.Params != nil {
			got = append(got, e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Result != audit.ResultOK || got[1].Result != audit.ResultDenied {
		t.Fatalf("entries with params: %+v", got)
	}
	for _, e := range got {
		if e.Params["id"] != keyed.Hash("id", int64(7)) || !strings.HasPrefix(e.Params["id"], "hmac-sha256:"+keyed.KeyID()+":") ||
			e.Params["id"] == (audit.ParamHasher{}).Hash("id", int64(7)) {
			t.Errorf("entry %d params = %v; want HMAC hashes under key %s", e.Seq, e.Params, keyed.KeyID())
		}
	}

	short := filepath.Join(t.TempDir(), "short.key")
	writeFile(t, short, "c2hvcnQ=\n")
	session := filepath.Join(t.TempDir(), "session.key")
	writeFile(t, session, key1) // the test config's session key k1
	for file, want := range map[string]string{
		filepath.Join(t.TempDir(), "missing.key"): "no such file",
		short:   "5 bytes long",
		session: `is session key "k1"`,
	} {
		_, err := gatewayNew(t, st, st.config(t, func(c *config.Config) { c.Audit.ParamHashKeyFile = file }))
		if err == nil || spangate.KindOf(err) != spangate.Invalid || !strings.Contains(err.Error(), "audit.param_hash_key_file") || !strings.Contains(err.Error(), want) {
			t.Errorf("key file %s: err = %v; want one naming the setting and saying %q", file, err, want)
		}
	}
}
