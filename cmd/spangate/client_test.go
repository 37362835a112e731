package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/emulator"
)

// cli runs one spangate command line in-process with env and returns its
// stdout, stderr and exit code.
func cli(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	err := run(context.Background(), args, lookup, strings.NewReader(""), &out, &errb)
	code := reportError(&errb, err)
	return out.String(), errb.String(), code
}

func writeMigrations(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var cliMigrations = map[string]string{
	"0001_orders.sql": "CREATE TABLE Orders (Id INT64 NOT NULL, Note STRING(MAX)) PRIMARY KEY (Id);\nCREATE INDEX OrdersByNote ON Orders (Note);",
	"0002_seed.sql":   "INSERT INTO Orders (Id, Note) VALUES (1, 'first'), (2, 'second');",
}

// TestGatewayModeEndToEnd drives the whole product the way a pipeline
// does: spangate dev, a CI-shaped token from its issuer, then plan, apply,
// status, exec, audit list and verify through the gateway, with the run
// metadata of a Bitbucket step recorded in the audit trail.
func TestGatewayModeEndToEnd(t *testing.T) {
	d := startDev(t, map[string]string{"PATH": "/usr/bin:/bin"}, emulator.Find, "--addr", "127.0.0.1:0", "--spanner-addr", "127.0.0.1:0")
	url := "http://" + d.httpAddr
	tok, stderr, code := cli(t, map[string]string{}, "dev", "token", "--gateway", url, "--provider", "bitbucket")
	if code != 0 {
		t.Fatalf("dev token: %d %s", code, stderr)
	}
	dir := writeMigrations(t, cliMigrations)
	env := map[string]string{
		"SPANGATE_URL": url, "SPANGATE_DATABASE": "dev", "SPANGATE_ID_TOKEN": strings.TrimSpace(tok),
		"BITBUCKET_BUILD_NUMBER": "42", "BITBUCKET_COMMIT": "0123456789abcdef", "BITBUCKET_REPO_FULL_NAME": "acme/orders",
		"BITBUCKET_BRANCH": "main", "BITBUCKET_PIPELINE_UUID": "{p-1}", "CI": "true",
	}

	out, stderr, code := cli(t, env, "migrate", "plan", "--dir", dir, "--format", "json")
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, stderr)
	}
	var plan struct {
		Pending          []any `json:"pending"`
		SchemaOperations int   `json:"schema_operations"`
		Blocked          bool  `json:"blocked"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil || len(plan.Pending) != 2 || plan.SchemaOperations != 1 || plan.Blocked {
		t.Fatalf("plan = %+v (%v)\n%s", plan, err, out)
	}

	out, stderr, code = cli(t, env, "migrate", "apply", "--dir", dir, "--format", "json")
	if code != 0 || !strings.Contains(out, `"schema_operations": 1`) {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "applied 0002_seed") {
		t.Errorf("apply progress was not streamed to stderr:\n%s", stderr)
	}
	if !strings.Contains(stderr, "audit_head=") {
		t.Errorf("apply printed no chain head on stderr:\n%s", stderr)
	}

	out, _, code = cli(t, env, "migrate", "status", "--dir", dir, "--format", "json")
	if code != 0 || strings.Count(out, `"state": "applied"`) != 2 {
		t.Fatalf("status: exit %d\n%s", code, out)
	}

	out, stderr, code = cli(t, env, "exec", "--sql", "UPDATE Orders SET Note = @n WHERE Id = @id", "--param", "n=secret-value", "--param", "id=2", "--format", "json")
	if code != 0 || !strings.Contains(out, `"row_count": 1`) {
		t.Fatalf("exec: exit %d\n%s\n%s", code, out, stderr)
	}
	// The change's answer carries the chain head, printed on stderr where
	// a CI log keeps it; audit anchor prints the same head.
	execHead := strings.TrimSpace(stderr)
	if !strings.HasPrefix(execHead, "audit_head=") {
		t.Fatalf("exec printed no chain head on stderr: %q", stderr)
	}
	out, _, code = cli(t, env, "audit", "anchor")
	if code != 0 || strings.TrimSpace(out) != execHead {
		t.Errorf("audit anchor: exit %d %q; want %q", code, out, execHead)
	}
	out, _, code = cli(t, env, "audit", "anchor", "--format", "json")
	if code != 0 || !strings.Contains(out, `"anchor": "`+strings.TrimPrefix(execHead, "audit_head=")+`"`) {
		t.Errorf("audit anchor --format json: exit %d\n%s", code, out)
	}

	out, _, code = cli(t, env, "audit", "list", "--table", "Orders", "--key", "2", "--format", "json")
	if code != 0 {
		t.Fatalf("audit list: exit %d", code)
	}
	var list struct {
		Entries []struct {
			Action, Statement, Commit, Pipeline, Principal string
			Keys                                           []string
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Entries) != 2 {
		t.Fatalf("who changed Orders [2]: %v\n%s", err, out)
	}
	latest := list.Entries[0]
	if latest.Action != "write" || latest.Commit != "0123456789abcdef" || !strings.Contains(latest.Pipeline, "42") || latest.Principal == "" {
		t.Errorf("latest entry = %+v; want the write with the step's commit and build", latest)
	}
	if strings.Contains(out, "secret-value") {
		t.Error("a parameter value reached the audit trail")
	}

	out, _, code = cli(t, env, "audit", "verify", "--format", "json")
	if code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
	// The head it prints anchors a later verify; a malformed anchor is a
	// usage error.
	var vr audit.VerifyResult
	if err := json.Unmarshal([]byte(out), &vr); err != nil || vr.Head == nil {
		t.Fatalf("verify json has no head: %v\n%s", err, out)
	}
	// --anchor takes the head as exec printed it and as a gateway log
	// line carries it, JSON or text.
	for _, form := range []string{execHead, `{"level":"INFO","msg":"request","audit_head":"` + strings.TrimPrefix(execHead, "audit_head=") + `","status":200}`,
		`time=2026-12-06T08:00:00Z level=INFO msg=request route=exec ` + execHead + ` status=200`} {
		if out, stderr, code := cli(t, env, "audit", "verify", "--anchor", form); code != 0 || !strings.Contains(out, "holds the 1 anchored entries") {
			t.Errorf("verify --anchor %q: exit %d\n%s%s", form, code, out, stderr)
		}
	}
	out, _, code = cli(t, env, "audit", "verify", "--anchor", vr.Head.String())
	if code != 0 || !strings.Contains(out, "holds the 1 anchored entries") || !strings.Contains(out, "Head: "+vr.Head.String()) {
		t.Errorf("verify --anchor: exit %d\n%s", code, out)
	}
	if _, stderr, code := cli(t, env, "audit", "verify", "--anchor", "12:zz"); code != exitInvalid || !strings.Contains(stderr, "SEQ:HASH") && !strings.Contains(stderr, "hex") {
		t.Errorf("bad anchor: exit %d\n%s", code, stderr)
	}

	// The gateway's metrics show how its audited transactions went, per
	// database.
	resp, err := http.Get("http://" + d.adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"groups", "grouped_statements", "group_fallbacks", "stale_heads", "transaction_reruns"} {
		if !strings.Contains(string(body), "spangate_audit_"+name+`_total{database="dev"}`) {
			t.Errorf("/metrics has no spangate_audit_%s_total for database dev", name)
		}
	}

	// Smuggling a second statement is refused as invalid input.
	if _, _, code := cli(t, env, "exec", "--sql", "SELECT 1; DROP TABLE Orders"); code != exitInvalid {
		t.Errorf("smuggled statement: exit %d, want %d", code, exitInvalid)
	}
	// A token whose signature does not verify: exit 3. (A value that is not
	// a JWT at all is refused before any call, as invalid input: exit 2.)
	forged := strings.TrimSpace(tok)
	forged = forged[:len(forged)-4] + "AAAA"
	bad := map[string]string{"SPANGATE_URL": url, "SPANGATE_DATABASE": "dev", "SPANGATE_ID_TOKEN": forged}
	if _, _, code := cli(t, bad, "migrate", "status", "--dir", dir); code != exitDenied {
		t.Errorf("bad token: exit %d, want %d", code, exitDenied)
	}
	// An edited applied file blocks the plan: exit 4, also through the gateway.
	if err := os.WriteFile(filepath.Join(dir, "0001_orders.sql"), []byte(cliMigrations["0001_orders.sql"]+"\n-- edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, code := cli(t, env, "migrate", "plan", "--dir", dir); code != exitBlocked {
		t.Errorf("edited applied file: exit %d, want %d", code, exitBlocked)
	}

	// Direct mode on the same database sees the same history and audit
	// trail, and adds to the same chain.
	direct := map[string]string{"SPANNER_EMULATOR_HOST": d.spannerHost, "SPANGATE_DATABASE": d.database, "USER": "tester"}
	if _, stderr, code := cli(t, direct, "exec", "--sql", "DELETE FROM Orders WHERE Id = 1"); code != 0 {
		t.Fatalf("direct exec: exit %d\n%s", code, stderr)
	}
	out, _, code = cli(t, direct, "audit", "list", "--table", "Orders", "--key", "1", "--format", "json")
	if code != 0 || !strings.Contains(out, `"principal": "direct:tester@`) {
		t.Errorf("direct audit list: exit %d\n%s", code, out)
	}
	out, _, code = cli(t, direct, "audit", "verify")
	if code != 0 || !strings.HasPrefix(out, "OK:") {
		t.Errorf("direct verify: exit %d\n%s", code, out)
	}
}

func TestParseParams(t *testing.T) {
	got, err := parseParams([]string{"n=42", "s=Ada", "z=007", "q=\"42\"", "b=true", "a=[1,2]", "@at=x"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"n": "42", "s": `"Ada"`, "z": `"007"`, "q": `"42"`, "b": "true", "a": "[1,2]", "at": `"x"`}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
	for _, bad := range [][]string{{"noequals"}, {"=v"}, {"a=1", "a=2"}} {
		if _, err := parseParams(bad); err == nil {
			t.Errorf("parseParams(%q) accepted", bad)
		}
	}
}

// TestMigrateOnTheFake applies DDL, DML and Partitioned DML on the
// in-process fallback that spangate dev serves when no emulator is
// installed: the migrate commands work there too (without the guarantees
// the fake lacks, which spangate dev lists).
func TestMigrateOnTheFake(t *testing.T) {
	d := startDevOnFake(t)
	dir := writeMigrations(t, map[string]string{
		"0001_a.sql": "CREATE TABLE Orders (Id INT64 NOT NULL, Note STRING(MAX)) PRIMARY KEY (Id);",
		"0002_b.sql": "INSERT INTO Orders (Id, Note) VALUES (1, 'x');",
		"0003_c.sql": "-- spangate:partitioned\nUPDATE Orders SET Note = 'y' WHERE Id = 1;",
	})
	env := map[string]string{"SPANNER_EMULATOR_HOST": d.spannerHost, "SPANGATE_DATABASE": d.database}
	if _, stderr, code := cli(t, env, "migrate", "apply", "--dir", dir); code != 0 {
		t.Fatalf("apply on the fake: exit %d\n%s", code, stderr)
	}
	out, _, code := cli(t, env, "migrate", "status", "--dir", dir, "--format", "json")
	if code != 0 || strings.Count(out, `"state": "applied"`) != 3 {
		t.Fatalf("status on the fake: exit %d\n%s", code, out)
	}
}

// TestParamHashKeyDirectMode: exec in direct mode with
// --param-hash-key-file records an HMAC hash that audit hash-param
// reproduces with the same key (flag or environment) and not without it;
// the flag is refused in gateway mode.
func TestParamHashKeyDirectMode(t *testing.T) {
	d := startDevOnFake(t)
	keyFile := filepath.Join(t.TempDir(), "param.key")
	if err := os.WriteFile(keyFile, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SPANNER_EMULATOR_HOST": d.spannerHost, "SPANGATE_DATABASE": d.database}
	if _, stderr, code := cli(t, env, "exec", "--sql", "CREATE TABLE T (Id INT64 NOT NULL) PRIMARY KEY (Id)"); code != 0 {
		t.Fatalf("create table: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := cli(t, env, "exec", "--sql", "INSERT INTO T (Id) VALUES (@id)", "--param", "id=42", "--param-hash-key-file", keyFile); code != 0 {
		t.Fatalf("insert: exit %d\n%s", code, stderr)
	}
	out, stderr, code := cli(t, env, "audit", "list", "--action", "write", "--format", "json")
	if code != 0 {
		t.Fatalf("audit list: exit %d\n%s", code, stderr)
	}
	var list struct {
		Entries []audit.Entry `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Entries) != 1 {
		t.Fatalf("audit list = %s (%v)", out, err)
	}
	stored := list.Entries[0].Params["id"]
	hashOf := func(env map[string]string, args ...string) string {
		t.Helper()
		out, stderr, code := cli(t, env, append([]string{"audit", "hash-param", "--format", "json"}, args...)...)
		var got map[string]string
		if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
			t.Fatalf("hash-param %v: exit %d\n%s%s", args, code, out, stderr)
		}
		return got["id"]
	}
	if !strings.HasPrefix(stored, "hmac-sha256:") || hashOf(nil, "--key-file", keyFile, "id=42") != stored ||
		hashOf(map[string]string{"SPANGATE_PARAM_HASH_KEY_FILE": keyFile}, "id=42") != stored {
		t.Errorf("stored %q; hash-param with the key does not reproduce it", stored)
	}
	if plain := hashOf(nil, "id=42"); plain == stored || !strings.HasPrefix(plain, "sha256:") {
		t.Errorf("hash-param without a key = %q", plain)
	}
	if _, stderr, code := cli(t, env, "exec", "--gateway", "http://127.0.0.1:1", "--database", "dev", "--sql", "SELECT 1", "--param-hash-key-file", keyFile); code != 2 || !strings.Contains(stderr, "direct mode only") {
		t.Errorf("the key file in gateway mode: exit %d\n%s", code, stderr)
	}
}
