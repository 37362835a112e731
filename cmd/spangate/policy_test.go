package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const testConfig = `issuers:
  - name: bitbucket
    url: https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc
    audiences: ["ari:cloud:bitbucket::workspace/0d2b"]
databases:
  orders: projects/acme/instances/prod/databases/orders
rules:
  - name: orders-deploy
    when: issuer == "bitbucket" && claims.repositoryUuid == "{7c1e}" && claims.deploymentEnvironmentUuid == "{a12f}"
    databases: [orders]
    allow: [plan, migrate]
  - name: orders-backfill
    when: issuer == "bitbucket" && claims.repositoryUuid == "{7c1e}"
    databases: [orders]
    allow: [read, write]
`

// runPolicy runs `spangate policy ARGS` in-process and returns its exit
// code, stdout and stderr.
func runPolicy(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := newApp(func(string) (string, bool) { return "", false }, strings.NewReader(""), &stdout, &stderr)
	root := a.rootCommand()
	if cmd, _, err := root.Find([]string{"policy"}); err != nil || cmd == root {
		root.AddCommand(a.policyCommand())
	}
	root.SetArgs(append([]string{"policy"}, args...))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	err := root.ExecuteContext(context.Background())
	code := reportError(&stderr, err)
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPolicyCheck(t *testing.T) {
	good := writeFile(t, "spangate.yaml", testConfig)
	code, out, errOut := runPolicy(t, "check", "--config", good)
	if code != 0 || !strings.Contains(out, "spangate.yaml: ok") || !strings.Contains(out, "rules:     2") {
		t.Errorf("check good = %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	bad := writeFile(t, "bad.yaml", testConfig+
		"  - name: orders-deploy\n    when: claims.x ==\n    databases: [orders, nope]\n    allow: [delete]\n    owner: me\n")
	code, out, errOut = runPolicy(t, "check", "--config", bad)
	if code != 2 || out != "" {
		t.Errorf("check bad = %d, stdout %q", code, out)
	}
	for _, want := range []string{
		"bad.yaml: 5 problems:",
		"bad.yaml:20: rules[2].owner: unknown key \"owner\"",
		"bad.yaml:16: rules[2].name: duplicate rule name \"orders-deploy\", already used by rules[0]",
		"bad.yaml:18: rules[2].databases[1]: unknown database \"nope\" (known: orders)",
		"bad.yaml:19: rules[2].allow[0]: unknown action \"delete\"",
		"bad.yaml:17:22: rules[2].when: rule \"orders-deploy\": Syntax error",
		"hint: fix every problem listed",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	for name, args := range map[string][]string{
		"no config flag": {"check"},
		"missing file":   {"check", "--config", filepath.Join(t.TempDir(), "absent.yaml")},
		"unknown flag":   {"check", "--conf", good},
	} {
		if code, _, errOut := runPolicy(t, args...); code != 2 {
			t.Errorf("%s: exit %d, want 2; stderr %s", name, code, errOut)
		}
	}
}

func TestPolicyExplainClaims(t *testing.T) {
	cfg := writeFile(t, "spangate.yaml", testConfig)
	prod := writeFile(t, "prod.json", `{"iss": "bitbucket", "sub": "{p}", "repositoryUuid": "{7c1e}", "deploymentEnvironmentUuid": "{a12f}"}`)
	test := writeFile(t, "test.json", `{"iss": "https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc", "sub": "{p}", "repositoryUuid": "{7c1e}", "deploymentEnvironmentUuid": "{b3}"}`)
	foreign := writeFile(t, "foreign.json", `{"iss": "https://evil.example", "sub": "x"}`)
	noIss := writeFile(t, "noiss.json", `{"sub": "x"}`)
	notJSON := writeFile(t, "bad.json", `[1, 2]`)

	tests := []struct {
		name     string
		args     []string
		code     int
		decision string
		rule     any
		reason   string
	}{
		{"allow", []string{"--claims", prod, "--database", "orders", "--action", "migrate"}, 0, "allow", "orders-deploy", "rule orders-deploy grants migrate on orders"},
		{"deny names the failed condition", []string{"--claims", test, "--database", "orders", "--action", "migrate"}, 3, "deny", "orders-deploy",
			`rule orders-deploy: condition false: claims.deploymentEnvironmentUuid == "{a12f}" (token has "{b3}")`},
		{"unknown issuer", []string{"--claims", foreign, "--database", "orders", "--action", "plan"}, 3, "deny", nil, `issuer "https://evil.example" is not configured (configured: bitbucket)`},
		{"no iss", []string{"--claims", noIss, "--database", "orders", "--action", "plan"}, 3, "deny", nil, "the claims have no iss"},
		{"unknown database", []string{"--claims", prod, "--database", "payments", "--action", "plan"}, 3, "deny", nil, `unknown database "payments"`},
		{"sql allowed", []string{"--claims", test, "--database", "orders", "--action", "write", "--sql", "UPDATE t SET x = 1 WHERE id = 1", "--key-columns", "id"}, 0, "allow", "orders-backfill", "UPDATE on t needs write"},
		{"sql with an unknown key", []string{"--claims", test, "--database", "orders", "--action", "write", "--sql", "UPDATE t SET x = 1 WHERE id = 1"}, 3, "deny", "orders-backfill", "the table's primary key is not known"},
		{"sql off the key", []string{"--claims", test, "--database", "orders", "--action", "write", "--sql", "UPDATE t SET x = 1 WHERE x = 1", "--key-columns", "id"}, 3, "deny", "orders-backfill", "does not fix the primary key's first column id"},
		{"sql on spangate's tables", []string{"--claims", test, "--database", "orders", "--action", "read", "--sql", "SELECT * FROM SpangateAudit"}, 3, "deny", nil, "belongs to spangate"},
		{"sql destructive", []string{"--claims", test, "--database", "orders", "--action", "write", "--sql", "DELETE FROM t WHERE TRUE"}, 3, "deny", "orders-backfill", "needs write, destructive: rule orders-backfill matches this token but grants only read, write on orders, not destructive"},
		{"sql in a migration", []string{"--claims", prod, "--database", "orders", "--action", "migrate", "--sql", "CREATE TABLE t (id INT64) PRIMARY KEY (id); INSERT INTO t (id) VALUES (1)"}, 0, "allow", "orders-deploy", "the migration needs migrate"},
		{"sql to plan", []string{"--claims", prod, "--database", "orders", "--action", "plan", "--sql", "DROP TABLE t"}, 0, "allow", "orders-deploy", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"explain", "--config", cfg, "--format", "json"}, tt.args...)
			code, out, errOut := runPolicy(t, args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %s", code, tt.code, errOut)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
			}
			if len(got) != 3 || got["decision"] != tt.decision || got["rule"] != tt.rule || !strings.Contains(got["reason"].(string), tt.reason) {
				t.Errorf("got %v\nwant decision=%s rule=%v reason containing %q", got, tt.decision, tt.rule, tt.reason)
			}
			if errOut != "" {
				t.Errorf("stderr should be empty for a decision: %s", errOut)
			}
		})
	}

	t.Run("text format", func(t *testing.T) {
		code, out, _ := runPolicy(t, "explain", "--config", cfg, "--claims", test, "--database", "orders", "--action", "migrate")
		if code != 3 || !strings.Contains(out, "decision:  deny\n") || !strings.Contains(out, "principal: bitbucket:{p}\n") ||
			!strings.Contains(out, "rule:      orders-deploy\n") || !strings.Contains(out, "reason:    rule orders-deploy: condition false") {
			t.Errorf("exit %d, stdout:\n%s", code, out)
		}
	})

	invalid := []struct {
		name string
		args []string
		want string
	}{
		{"no identity", []string{"--database", "orders", "--action", "plan"}, "pass exactly one of --token FILE or --claims FILE.json"},
		{"both identities", []string{"--claims", prod, "--token", prod, "--database", "orders", "--action", "plan"}, "exactly one"},
		{"missing flags", []string{"--claims", prod}, "missing --database, --action"},
		{"bad action", []string{"--claims", prod, "--database", "orders", "--action", "delete"}, `unknown --action "delete"`},
		{"bad format", []string{"--claims", prod, "--database", "orders", "--action", "plan", "--format", "yaml"}, `unknown --format "yaml"`},
		{"claims not an object", []string{"--claims", notJSON, "--database", "orders", "--action", "plan"}, "claims must be a JSON object"},
		{"two statements", []string{"--claims", prod, "--database", "orders", "--action", "read", "--sql", "SELECT 1; DROP TABLE t"}, "exactly one is allowed"},
		{"action does not fit the statement", []string{"--claims", prod, "--database", "orders", "--action", "read", "--sql", "DELETE FROM t WHERE true"}, "--action read does not fit the statement: a DELETE needs write and destructive; pass --action write"},
		{"sql with audit", []string{"--claims", prod, "--database", "orders", "--action", "audit", "--sql", "SELECT 1"}, "--sql does not apply"},
		{"bad sql", []string{"--claims", prod, "--database", "orders", "--action", "read", "--sql", "SELEC 1"}, "error:"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runPolicy(t, append([]string{"explain", "--config", cfg}, tt.args...)...)
			if code != 2 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, tt.want)
			}
		})
	}
}

// testIssuer is an OIDC issuer on httptest with a real RSA key.
type testIssuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &testIssuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

func (is *testIssuer) mint(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestPolicyExplainToken(t *testing.T) {
	is := newTestIssuer(t)
	cfg := writeFile(t, "spangate.yaml", strings.Replace(testConfig,
		"https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc", is.srv.URL, 1))
	now := time.Now()
	claims := func(env string, exp time.Time) map[string]any {
		return map[string]any{
			"iss": is.srv.URL, "sub": "{p}", "aud": "ari:cloud:bitbucket::workspace/0d2b",
			"iat": now.Unix(), "exp": exp.Unix(),
			"repositoryUuid": "{7c1e}", "deploymentEnvironmentUuid": env,
		}
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		token    string
		code     int
		decision string
		reason   string
	}{
		{"verified token allowed", is.mint(t, is.key, claims("{a12f}", now.Add(time.Hour))), 0, "allow", "rule orders-deploy grants migrate"},
		{"verified token denied", is.mint(t, is.key, claims("{b3}", now.Add(time.Hour))), 3, "deny", `(token has "{b3}")`},
		{"expired token", is.mint(t, is.key, claims("{a12f}", now.Add(-time.Hour))), 3, "deny", "token rejected: "},
		{"foreign key", is.mint(t, other, claims("{a12f}", now.Add(time.Hour))), 3, "deny", "token rejected: "},
		{"not a token", "hello", 3, "deny", "token rejected: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := writeFile(t, "token.jwt", tt.token+"\n")
			code, out, errOut := runPolicy(t, "explain", "--config", cfg, "--token", tok, "--database", "orders", "--action", "migrate", "--format", "json")
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %s", code, tt.code, errOut)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("stdout: %v\n%s", err, out)
			}
			if got["decision"] != tt.decision || !strings.Contains(got["reason"].(string), tt.reason) {
				t.Errorf("got %v; want %s with %q", got, tt.decision, tt.reason)
			}
			if strings.Contains(out, tt.token) && len(tt.token) > 10 {
				t.Errorf("output echoes the token")
			}
		})
	}
}

func TestPolicyHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"check", "--help"}, {"explain", "--help"}} {
		code, out, _ := runPolicy(t, args...)
		if code != 0 || !strings.Contains(out, "spangate policy") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	_, out, _ := runPolicy(t, "explain", "--help")
	for _, want := range []string{"--claims FILE.json", "Examples:", "Exit status: 0 allow, 3 deny"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain --help lacks %q", want)
		}
	}
}
