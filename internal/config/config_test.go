package config_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/config"
)

func TestLoadValid(t *testing.T) {
	f, err := os.Open("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := config.Load(f, "valid.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Listen != "0.0.0.0:8479" || cfg.SessionTTL != 15*time.Minute {
		t.Errorf("listen, session_ttl = %q, %s", cfg.Listen, cfg.SessionTTL)
	}
	if len(cfg.Issuers) != 2 || cfg.Issuers[0].Provider != spangate.ProviderBitbucket || cfg.Issuers[1].Audiences[0] != "spangate" {
		t.Errorf("issuers = %+v", cfg.Issuers)
	}
	if p, ok := cfg.Database("orders"); !ok || p != "projects/acme/instances/prod/databases/orders" {
		t.Errorf("Database(orders) = %q, %v", p, ok)
	}
	if len(cfg.Rules) != 2 || cfg.Rules[1].When != "issuer == \"dev\"\n" || cfg.Rules[0].Allow[1] != spangate.ActionMigrate {
		t.Errorf("rules = %+v", cfg.Rules)
	}
	if is, ok := cfg.Issuer("http://127.0.0.1:8479/dev/oidc"); !ok || is.Name != "dev" {
		t.Errorf("Issuer by URL = %+v, %v", is, ok)
	}
	if is, ok := cfg.Issuer("bitbucket"); !ok || is.Name != "bitbucket" {
		t.Errorf("Issuer by name = %+v, %v", is, ok)
	}
	if cfg.File() != "valid.yaml" {
		t.Errorf("File() = %q", cfg.File())
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader(minimal), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != config.DefaultListen || cfg.SessionTTL != config.DefaultSessionTTL {
		t.Errorf("defaults not applied: %q %s", cfg.Listen, cfg.SessionTTL)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

const minimal = `issuers:
  - name: gh
    url: https://token.actions.githubusercontent.com
    audiences: [spangate]
databases:
  db: projects/p1/instances/i1/databases/d1
`

// TestProblems checks that every kind of mistake is reported with its file,
// line and field path, and that all problems of a file come out together.
func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each must appear as one problem line
	}{
		{
			name: "unknown top-level key",
			yaml: minimal + "listn: :80\n",
			want: []string{`c.yaml:7: listn: unknown key "listn"; did you mean "listen"? (known: listen, admin_listen, session_ttl, tls, issuers, databases, rules, session_audience, session_keys, audit, limits, tokens)`},
		},
		{
			name: "unknown nested key",
			yaml: minimal + "rules:\n  - name: r\n    when: \"true\"\n    databases: [db]\n    alow: [read]\n",
			want: []string{`c.yaml:11: rules[0].alow: unknown key "alow"; did you mean "allow"?`},
		},
		{
			name: "unknown key in issuer",
			yaml: "issuers:\n  - name: gh\n    url: https://x.example\n    audiences: [a]\n    audience: b\ndatabases:\n  db: projects/p/instances/i/databases/d\n",
			want: []string{`c.yaml:5: issuers[0].audience: unknown key "audience"; did you mean "audiences"?`},
		},
		{
			name: "bad action",
			yaml: minimal + "rules:\n  - name: r\n    when: \"true\"\n    databases: [db]\n    allow: [read, delete]\n",
			want: []string{`c.yaml:11: rules[0].allow[1]: unknown action "delete" (known: plan, migrate, read, write, ddl, destructive, audit)`},
		},
		{
			name: "unknown database in a rule",
			yaml: minimal + "rules:\n  - name: r\n    when: \"true\"\n    databases: [db, orders]\n    allow: [read]\n",
			want: []string{`c.yaml:10: rules[0].databases[1]: unknown database "orders" (known: db)`},
		},
		{
			name: "star with other databases",
			yaml: minimal + "rules:\n  - name: r\n    when: \"true\"\n    databases: [\"*\", db]\n    allow: [read]\n",
			want: []string{`c.yaml:10: rules[0].databases[0]: "*" already means every database; list it alone`},
		},
		{
			name: "duplicate rule names",
			yaml: minimal + "rules:\n  - name: r\n    when: \"true\"\n    databases: [db]\n    allow: [read]\n  - name: r\n    when: \"true\"\n    databases: [db]\n    allow: [write]\n",
			want: []string{`c.yaml:12: rules[1].name: duplicate rule name "r", already used by rules[0]; names must be unique`},
		},
		{
			name: "rule missing everything",
			yaml: minimal + "rules:\n  - name: r\n",
			want: []string{
				`c.yaml:8: rules[0].when: missing`,
				`c.yaml:8: rules[0].databases: missing`,
				`c.yaml:8: rules[0].allow: missing`,
			},
		},
		{
			name: "duplicate action and database",
			yaml: minimal + "rules:\n  - name: r\n    when: \"true\"\n    databases: [db, db]\n    allow: [read, read]\n",
			want: []string{
				`c.yaml:10: rules[0].databases[1]: database "db" is listed twice`,
				`c.yaml:11: rules[0].allow[1]: action "read" is listed twice`,
			},
		},
		{
			name: "bad durations",
			yaml: minimal + "session_ttl: 10\n",
			want: []string{`c.yaml:7: session_ttl: duration "10" has no unit; write it with one, such as 10m or 90s`},
		},
		{
			name: "garbage duration",
			yaml: minimal + "session_ttl: soon\n",
			want: []string{`c.yaml:7: session_ttl: invalid duration "soon"`},
		},
		{
			name: "negative duration",
			yaml: minimal + "session_ttl: -5m\n",
			want: []string{`c.yaml:7: session_ttl: must be positive`},
		},
		{
			name: "too long duration",
			yaml: minimal + "session_ttl: 48h\n",
			want: []string{`c.yaml:7: session_ttl: 48h0m0s is longer than the 1h0m0s maximum`},
		},
		{
			name: "missing issuers and databases",
			yaml: "listen: 127.0.0.1:1\n",
			want: []string{
				`c.yaml: issuers: no issuer is configured`,
				`c.yaml: databases: no database is configured`,
			},
		},
		{
			name: "empty file",
			yaml: "",
			want: []string{`c.yaml: issuers: no issuer is configured`},
		},
		{
			name: "issuer problems",
			yaml: "issuers:\n  - url: http://issuer.example.com\n  - name: a b\n    url: https://x.example?q=1\n    audiences: [\"\", x, x]\n    provider: circleci\ndatabases:\n  db: projects/p/instances/i/databases/d\n",
			want: []string{
				`c.yaml:2: issuers[0].name: missing`,
				`c.yaml:2: issuers[0].url: issuer URL "http://issuer.example.com" must use https`,
				`c.yaml:2: issuers[0].audiences: missing`,
				`c.yaml:3: issuers[1].name: name "a b" may only hold letters`,
				`c.yaml:4: issuers[1].url: issuer URL "https://x.example?q=1" must not have a query`,
				`c.yaml:5: issuers[1].audiences[0]: audience is empty`,
				`c.yaml:5: issuers[1].audiences[2]: audience "x" is listed twice`,
				`c.yaml:6: issuers[1].provider: unknown provider "circleci"`,
			},
		},
		{
			name: "duplicate issuer",
			yaml: "issuers:\n  - name: gh\n    url: https://a.example\n    audiences: [a]\n  - name: gh\n    url: https://a.example\n    audiences: [a]\ndatabases:\n  db: projects/p/instances/i/databases/d\n",
			want: []string{
				`c.yaml:5: issuers[1].name: issuer name "gh" is already used by issuers[0]`,
				`c.yaml:6: issuers[1].url: issuer URL "https://a.example" is already used by issuers[0]`,
			},
		},
		{
			name: "bad database path",
			yaml: "issuers:\n  - name: gh\n    url: https://x.example\n    audiences: [a]\ndatabases:\n  db: orders\n  Bad Name: projects/p/instances/i/databases/d\n  x: projects/P/instances/i/databases/d\n",
			want: []string{
				`c.yaml:6: databases.db: database path "orders" is not of the form projects/P/instances/I/databases/D`,
				`c.yaml:7: databases["Bad Name"]: name "Bad Name" may only hold letters`,
				`c.yaml:8: databases.x: database path "projects/P/instances/i/databases/d": "P" may only hold lowercase`,
			},
		},
		{
			name: "bad listen",
			yaml: minimal + "listen: localhost\n",
			want: []string{`c.yaml:7: listen: invalid address "localhost"; write host:port`},
		},
		{
			name: "tls half set",
			yaml: minimal + "tls:\n  cert_file: a.pem\n",
			want: []string{`c.yaml:7: tls: set both cert_file and key_file, or neither`},
		},
		{
			name: "wrong shapes",
			yaml: "issuers: bitbucket\ndatabases: [a, b]\nrules:\n  - name: [x]\n    when: {a: b}\n    allow: read\nlisten:\n  host: x\n",
			want: []string{
				`c.yaml:1: issuers: must be a list, such as [a, b], not a single value`,
				`c.yaml:2: databases: must be a map of name: value, not a list`,
				`c.yaml:4: rules[0].name: must be a single value, not a list`,
				`c.yaml:5: rules[0].when: must be a single value, not a map`,
				`c.yaml:6: rules[0].allow: must be a list, such as [a, b], not a single value`,
				`c.yaml:8: listen: must be a single value, not a map`,
			},
		},
		{
			name: "duplicate keys",
			yaml: minimal + "listen: a:1\nlisten: b:2\n",
			want: []string{`c.yaml:8: listen: key "listen" is set twice; keep one`},
		},
		{
			name: "duplicate database names",
			yaml: minimal + "  db: projects/p/instances/i/databases/e\n",
			want: []string{`c.yaml:7: databases.db: name "db" is set twice; keep one`},
		},
		{
			name: "anchors refused",
			yaml: minimal + "rules:\n  - &r\n    name: a\n    when: \"true\"\n    databases: [db]\n    allow: [read]\n  - *r\n",
			want: []string{
				`c.yaml:8: rules[0]: YAML anchors and aliases are not supported`,
				`c.yaml:13: rules[1]: YAML anchors and aliases are not supported`,
			},
		},
		{
			name: "top level not a map",
			yaml: "- a\n- b\n",
			want: []string{`c.yaml:1: must be a map of keys (listen, admin_listen, session_ttl, tls, issuers, databases, rules, session_audience, session_keys, audit, limits, tokens), not a list`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(strings.NewReader(tt.yaml), "c.yaml")
			if err == nil {
				t.Fatalf("Load succeeded; want problems %q", tt.want)
			}
			if k := spangate.KindOf(err); k != spangate.Invalid {
				t.Errorf("kind = %s, want invalid", k)
			}
			var ps config.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %v does not wrap config.Problems", err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range ps {
					if strings.HasPrefix(p.String(), w) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing problem %q in:\n%s", w, ps)
				}
			}
			if !strings.Contains(err.Error(), "c.yaml: ") {
				t.Errorf("message does not name the file: %v", err)
			}
		})
	}
}

func TestParseErrorsAreSyntax(t *testing.T) {
	for name, text := range map[string]string{
		"bad indentation": "issuers:\n  - name: a\n   url: b\n",
		"two documents":   minimal + "---\nlisten: x\n",
		"tab":             "issuers:\n\t- a\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse(strings.NewReader(text), "s.yaml")
			if err == nil || cfg != nil {
				t.Fatalf("Parse = %v, %v; want a syntax error", cfg, err)
			}
			if spangate.KindOf(err) != spangate.Invalid || !strings.HasPrefix(err.Error(), "s.yaml") {
				t.Errorf("error = %v (kind %s)", err, spangate.KindOf(err))
			}
		})
	}
}

func TestParseReturnsPartialConfig(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader(minimal+"extra: 1\n"), "p.yaml")
	if err == nil || cfg == nil {
		t.Fatalf("Parse = %v, %v; want the config with an error", cfg, err)
	}
	if len(cfg.Issuers) != 1 {
		t.Errorf("partial config lost the issuers: %+v", cfg)
	}
}

func TestParseTooLarge(t *testing.T) {
	big := strings.Repeat("#", config.MaxFileSize+1)
	if _, err := config.Parse(strings.NewReader(big), "big.yaml"); err == nil || spangate.KindOf(err) != spangate.Invalid {
		t.Fatalf("Parse of a huge file: %v", err)
	}
}

func TestValidateInCode(t *testing.T) {
	cfg := config.Default()
	cfg.Issuers = []config.Issuer{{Name: "a", URL: "https://a.example", Audiences: []string{"x"}}}
	cfg.Databases = map[string]string{"db": "projects/p/instances/i/databases/d"}
	cfg.Rules = []config.Rule{{Name: "r", When: "true", Databases: []string{"nope"}, Allow: []spangate.Action{"read"}}}
	err := cfg.Validate()
	var ps config.Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].String() != `rules[0].databases[0]: unknown database "nope" (known: db)` {
		t.Fatalf("Validate = %v", err)
	}
}

func TestLocateIn(t *testing.T) {
	text := minimal + "rules:\n  - name: a\n    when: claims.x == 1\n    databases: [db]\n    allow: [read]\n" +
		"  - name: b\n    when: |\n      issuer == \"gh\" &&\n        claims.y\n    databases: [db]\n    allow: [read]\n" +
		"  - name: c\n    when: \"claims.z\"\n    databases: [db]\n    allow: [read]\n" +
		"  - name: d\n    when: >-\n      issuer == \"gh\" &&\n      claims.w == 1 &&\n\n      claims.v\n    databases: [db]\n    allow: [read]\n" +
		"  - name: e\n    when: issuer == \"gh\" &&\n      claims.u\n    databases: [db]\n    allow: [read]\n"
	cfg, err := config.Load(strings.NewReader(text), "l.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path      string
		line, col int
		want      string
	}{
		{"rules[0].when", 1, 7, "l.yaml:9:18"},
		{"rules[1].when", 2, 2, "l.yaml:15:9"},
		{"rules[1].when", 1, 0, "l.yaml:14:7"},
		{"rules[2].when", 1, 7, "l.yaml:19:19"},
		// Folded: the value is `issuer == "gh" && claims.w == 1 &&\nclaims.v`.
		{"rules[3].when", 1, 0, "l.yaml:24:7"},
		{"rules[3].when", 1, 18, "l.yaml:25:7"},
		{"rules[3].when", 1, 25, "l.yaml:25:14"},
		{"rules[3].when", 2, 0, "l.yaml:27:7"},
		// Plain over two lines: `issuer == "gh" && claims.u`.
		{"rules[4].when", 1, 3, "l.yaml:31:14"},
		{"rules[4].when", 1, 18, "l.yaml:32:7"},
		{"rules[9].when", 1, 1, "l.yaml:7"}, // missing: nearest parent, rules
	}
	for _, tt := range tests {
		if got := cfg.LocateIn(tt.path, tt.line, tt.col).String(); got != tt.want {
			t.Errorf("LocateIn(%s, %d, %d) = %s, want %s", tt.path, tt.line, tt.col, got, tt.want)
		}
	}
}
