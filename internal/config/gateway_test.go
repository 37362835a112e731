package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spangate/spangate/internal/config"
)

const key32 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes

func TestGatewaySettings(t *testing.T) {
	text := minimal + `session_audience: https://gw.example.com
session_keys:
  - id: k2
    secret: ` + key32 + `
  - id: k1
    file: /run/secrets/k1
audit:
  store_param_values: true
  param_hash_key_file: /run/secrets/param
limits:
  max_body_bytes: 1_048_576
  request_timeout: 5s
  apply_timeout: 2h
  spanner_timeout: 3s
  rate_limit: 2.5
  rate_burst: 7
  max_rows: 10
  max_statement_bytes: 65536
  max_statement_depth: 50
  body_timeout: 10s
  max_conns_per_client: 0
  deny_rate: 0.5
  deny_burst: 3
admin_listen: 127.0.0.1:9090
`
	cfg, err := config.Load(strings.NewReader(text), "g.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SessionAudience != "https://gw.example.com" || len(cfg.SessionKeys) != 2 || cfg.SessionKeys[1].File != "/run/secrets/k1" {
		t.Errorf("session settings = %q %+v", cfg.SessionAudience, cfg.SessionKeys)
	}
	want := config.Limits{MaxBodyBytes: 1 << 20, RequestTimeout: 5 * time.Second, ApplyTimeout: 2 * time.Hour,
		SpannerTimeout: 3 * time.Second, RateLimit: 2.5, RateBurst: 7, MaxRows: 10,
		MaxStatementBytes: 65536, MaxStatementDepth: 50, BodyTimeout: 10 * time.Second, MaxConnsPerClient: 0,
		DenyRate: 0.5, DenyBurst: 3}
	if cfg.AdminListen != "127.0.0.1:9090" {
		t.Errorf("admin_listen = %q", cfg.AdminListen)
	}
	if cfg.Limits != want || !cfg.Audit.StoreParamValues || cfg.Audit.ParamHashKeyFile != "/run/secrets/param" {
		t.Errorf("limits = %+v, audit = %+v", cfg.Limits, cfg.Audit)
	}
}

func TestGatewayDefaults(t *testing.T) {
	cfg, err := config.Load(strings.NewReader(minimal), "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SessionAudience != config.DefaultSessionAudience || cfg.Limits.MaxBodyBytes != config.DefaultMaxBodyBytes ||
		cfg.Limits.RateLimit != config.DefaultRateLimit || cfg.Audit.StoreParamValues ||
		cfg.Limits.MaxStatementBytes != 1<<20 || cfg.Limits.MaxStatementDepth != 200 || cfg.Limits.BodyTimeout != 30*time.Second ||
		cfg.Limits.MaxConnsPerClient != 64 || cfg.AdminListen != "127.0.0.1:8480" {
		t.Errorf("defaults = %q %+v %+v", cfg.SessionAudience, cfg.Limits, cfg.Audit)
	}
}

func TestGatewayProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"short key", "session_keys:\n  - id: a\n    secret: c2hvcnQ=\n", []string{`c.yaml:9: session_keys[0].secret: the key is 5 bytes long`}},
		{"not base64", "session_keys:\n  - id: a\n    secret: '!!!'\n", []string{`c.yaml:9: session_keys[0].secret: the key is not base64`}},
		{"both and none", "session_keys:\n  - id: a\n    secret: " + key32 + "\n    file: f\n  - id: b\n", []string{
			`c.yaml:8: session_keys[0]: set secret or file, not both`,
			`c.yaml:11: session_keys[1]: set secret (base64) or file`,
		}},
		{"duplicate id", "session_keys:\n  - id: a\n    file: f\n  - id: a\n    file: g\n", []string{`c.yaml:10: session_keys[1].id: key id "a" is already used`}},
		{"missing id", "session_keys:\n  - file: f\n", []string{`c.yaml:8: session_keys[0].id: missing`}},
		{"bad limits", "limits:\n  max_body_bytes: 0\n  request_timeout: -1s\n  rate_limit: -1\n  max_rows: 0\n", []string{
			`c.yaml:8: limits.max_body_bytes: must be from 1`,
			`c.yaml:9: limits.request_timeout: must be positive`,
			`c.yaml:10: limits.rate_limit: must not be negative`,
			`c.yaml:11: limits.max_rows: must be at least 1`,
		}},
		{"bad sql and connection limits", "limits:\n  max_statement_bytes: 0\n  max_statement_depth: 100000\n  body_timeout: 0s\n  max_conns_per_client: -1\n  deny_rate: 1\n  deny_burst: 0\n", []string{
			`c.yaml:8: limits.max_statement_bytes: must be from 1`,
			`c.yaml:9: limits.max_statement_depth: must be from 1 to 1000`,
			`c.yaml:10: limits.body_timeout: must be positive`,
			`c.yaml:11: limits.max_conns_per_client: must not be negative`,
			`c.yaml:13: limits.deny_burst: must be at least 1`,
		}},
		{"admin listener on the API's address", "listen: 127.0.0.1:8479\nadmin_listen: 127.0.0.1:8479\n", []string{
			`c.yaml:8: admin_listen: "127.0.0.1:8479" is also listen`,
		}},
		{"wrong types", "audit:\n  store_param_values: yes please\nlimits:\n  max_body_bytes: 1.5\n  rate_limit: fast\n", []string{
			`c.yaml:8: audit.store_param_values: must be true or false, not "yes please"`,
			`c.yaml:10: limits.max_body_bytes: must be a whole number, not "1.5"`,
			`c.yaml:11: limits.rate_limit: must be a number, not "fast"`,
		}},
		{"zero burst", "limits:\n  rate_burst: 0\n", []string{`c.yaml:8: limits.rate_burst: must be at least 1`}},
		{"empty audience", "session_audience: ' '\n", []string{`c.yaml:7: session_audience: must not be empty`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(strings.NewReader(minimal+tt.yaml), "c.yaml")
			var ps config.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Load = %v; want problems", err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range ps {
					found = found || strings.HasPrefix(p.String(), w)
				}
				if !found {
					t.Errorf("missing problem %q in:\n%s", w, ps)
				}
			}
		})
	}
}

func TestDecodeKey(t *testing.T) {
	k, err := config.DecodeKey("  " + key32 + "\n")
	if err != nil || string(k) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("DecodeKey = %q, %v", k, err)
	}
}
