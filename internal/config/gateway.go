package config

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Defaults and bounds of the gateway's settings.
const (
	// DefaultSessionAudience is the aud of session tokens when
	// session_audience is not set.
	DefaultSessionAudience = "spangate"
	// MinSessionKeyBytes is the shortest session signing key accepted:
	// HMAC-SHA256 needs at least 256 bits of key.
	MinSessionKeyBytes = 32
	// DefaultMaxBodyBytes bounds a request body (4 MiB).
	DefaultMaxBodyBytes = 4 << 20
	// MaxMaxBodyBytes is the largest max_body_bytes accepted (64 MiB).
	MaxMaxBodyBytes = 64 << 20
	// DefaultRequestTimeout bounds every request except apply.
	DefaultRequestTimeout = 60 * time.Second
	// DefaultApplyTimeout bounds a migration apply.
	DefaultApplyTimeout = time.Hour
	// DefaultSpannerTimeout bounds each short call to Spanner.
	DefaultSpannerTimeout = 15 * time.Second
	// DefaultRateLimit is the sustained requests per second allowed to one
	// principal.
	DefaultRateLimit = 50
	// DefaultRateBurst is the number of requests one principal may make at
	// once before the rate limit applies.
	DefaultRateBurst = 100
	// DefaultMaxRows bounds the rows an exec of a query returns.
	DefaultMaxRows = 10000
	// DefaultMaxStatementBytes bounds one SQL statement (1 MiB, Spanner's
	// own limit on a statement's text).
	DefaultMaxStatementBytes = 1 << 20
	// MaxMaxStatementBytes is the largest max_statement_bytes accepted.
	MaxMaxStatementBytes = 10 << 20
	// DefaultMaxStatementDepth bounds the nesting of a statement:
	// parentheses, brackets and CASE expressions. Hand-written SQL rarely
	// nests 20 deep.
	DefaultMaxStatementDepth = 200
	// MaxMaxStatementDepth is the largest max_statement_depth accepted:
	// the parser's work grows faster than linearly with depth.
	MaxMaxStatementDepth = 1000
	// DefaultBodyTimeout bounds the time to read a request body.
	DefaultBodyTimeout = 30 * time.Second
	// DefaultMaxConnsPerClient bounds the open connections of one client
	// address.
	DefaultMaxConnsPerClient = 64
	// DefaultDenyRate is the sustained number of denied requests per
	// second recorded for one principal, and for one client address.
	DefaultDenyRate = 1
	// DefaultDenyBurst is how many denials a principal or a client
	// address may have at once before the deny rate applies.
	DefaultDenyBurst = 20
)

// SessionKey is one session signing key: inline (secret, base64) or read
// from a file holding the base64 text (file). Exactly one of the two is set.
//
// Security caveat: anyone holding a session key can mint a session for any
// principal. Prefer file, readable only by the gateway, over an inline
// secret in a config file that is shared more widely.
type SessionKey struct {
	// ID names the key in the kid header of the tokens it signs.
	ID string `yaml:"id"`
	// Secret is the key, base64 (standard or URL alphabet, padding
	// optional), at least MinSessionKeyBytes bytes once decoded.
	Secret string `yaml:"secret"`
	// File is the path of a file holding the key as base64 text.
	File string `yaml:"file"`
}

// Audit tunes what the audit trail records.
type Audit struct {
	// StoreParamValues records the raw values of statement parameters next
	// to their hashes. Off by default: parameter values may be personal
	// data, and the hashes are enough to check a claimed value.
	StoreParamValues bool `yaml:"store_param_values"`
	// ParamHashKeyFile names a file holding a secret key (base64, at least
	// 32 bytes, such as the output of openssl rand -base64 32). With it,
	// parameter values are hashed with HMAC-SHA-256 under that key
	// ("hmac-sha256:<key id>:<hex>"), so that nobody without the key can
	// find a value by hashing candidates; without it, with plain SHA-256.
	// Every replica must use the same key.
	ParamHashKeyFile string `yaml:"param_hash_key_file"`
}

// Limits protect the gateway and the databases.
type Limits struct {
	// MaxBodyBytes bounds a request body; larger requests get 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// RequestTimeout bounds every request except a migration apply.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// ApplyTimeout bounds a migration apply.
	ApplyTimeout time.Duration `yaml:"apply_timeout"`
	// SpannerTimeout bounds each short call to Spanner (reads, audit and
	// history writes, lock operations).
	SpannerTimeout time.Duration `yaml:"spanner_timeout"`
	// RateLimit is the sustained number of requests per second one
	// principal may make (a token bucket per principal); 0 turns the
	// limit off.
	RateLimit float64 `yaml:"rate_limit"`
	// RateBurst is the bucket size: how many requests a principal may make
	// at once.
	RateBurst int `yaml:"rate_burst"`
	// MaxRows bounds the rows a query run through exec returns.
	MaxRows int `yaml:"max_rows"`
	// MaxStatementBytes bounds the length of one SQL statement (exec, or
	// a statement of a migration file). It is checked in one linear pass
	// before the statement is parsed.
	MaxStatementBytes int `yaml:"max_statement_bytes"`
	// MaxStatementDepth bounds how deeply a statement nests parentheses,
	// brackets and CASE expressions, checked with the statement's length.
	MaxStatementDepth int `yaml:"max_statement_depth"`
	// BodyTimeout bounds the time to read a request's body; a client that
	// sends it slower is cut off with 408.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// MaxConnsPerClient bounds the open connections from one client IP
	// address; more are closed as they arrive. 0 turns the bound off (for
	// a gateway behind a load balancer, whose address every connection
	// has: bound connections at the load balancer then).
	MaxConnsPerClient int `yaml:"max_conns_per_client"`
	// DenyRate is the sustained number of denied requests per second
	// recorded and answered for one principal, and separately for one
	// client address; denials over it get 429 and no audit entry. 0 turns
	// the bound off.
	DenyRate float64 `yaml:"deny_rate"`
	// DenyBurst is how many denials a principal or an address may have at
	// once before DenyRate applies.
	DenyBurst int `yaml:"deny_burst"`
}

// DecodeKey decodes the base64 text of a secret key (a session key inline
// or read from its file, or the parameter hash key's file; surrounding
// white space is ignored) and checks that it has at least 32 bytes.
func DecodeKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(text); err == nil {
			if len(key) < MinSessionKeyBytes {
				return nil, fmt.Errorf("the key is %d bytes long; use at least %d random bytes, such as the output of: openssl rand -base64 32", len(key), MinSessionKeyBytes)
			}
			return key, nil
		}
	}
	return nil, fmt.Errorf("the key is not base64; make one with: openssl rand -base64 32")
}

func (c *Config) validateGateway(add func(path, format string, args ...any)) {
	if strings.TrimSpace(c.SessionAudience) == "" {
		add("session_audience", "must not be empty; leave it out for %q", DefaultSessionAudience)
	}
	ids := map[string]int{}
	for i, k := range c.SessionKeys {
		p := fmt.Sprintf("session_keys[%d]", i)
		if k.ID == "" {
			add(p+".id", "missing; name the key, such as 2026-07, so tokens can say which key signed them")
		} else if err := checkName(k.ID); err != "" {
			add(p+".id", "%s", err)
		} else if j, dup := ids[k.ID]; dup {
			add(p+".id", "key id %q is already used by session_keys[%d]; ids must be unique", k.ID, j)
		} else {
			ids[k.ID] = i
		}
		switch {
		case k.Secret != "" && k.File != "":
			add(p, "set secret or file, not both")
		case k.Secret == "" && k.File == "":
			add(p, "set secret (base64) or file (a file holding the base64 key)")
		case k.Secret != "":
			if _, err := DecodeKey(k.Secret); err != nil {
				add(p+".secret", "%s", err)
			}
		}
	}
	l := c.Limits
	if l.MaxBodyBytes <= 0 || l.MaxBodyBytes > MaxMaxBodyBytes {
		add("limits.max_body_bytes", "must be from 1 to %d bytes", MaxMaxBodyBytes)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"request_timeout", l.RequestTimeout}, {"apply_timeout", l.ApplyTimeout}, {"spanner_timeout", l.SpannerTimeout}} {
		if d.v <= 0 {
			add("limits."+d.key, "must be positive, such as 30s")
		}
	}
	if l.RateLimit < 0 {
		add("limits.rate_limit", "must not be negative; 0 turns the rate limit off")
	}
	if l.RateLimit > 0 && l.RateBurst < 1 {
		add("limits.rate_burst", "must be at least 1 when rate_limit is set")
	}
	if l.MaxRows < 1 {
		add("limits.max_rows", "must be at least 1")
	}
	if l.MaxStatementBytes < 1 || l.MaxStatementBytes > MaxMaxStatementBytes {
		add("limits.max_statement_bytes", "must be from 1 to %d bytes", MaxMaxStatementBytes)
	}
	if l.MaxStatementDepth < 1 || l.MaxStatementDepth > MaxMaxStatementDepth {
		add("limits.max_statement_depth", "must be from 1 to %d: the SQL parser's work grows faster than the depth", MaxMaxStatementDepth)
	}
	if l.BodyTimeout <= 0 {
		add("limits.body_timeout", "must be positive, such as 30s")
	}
	if l.MaxConnsPerClient < 0 {
		add("limits.max_conns_per_client", "must not be negative; 0 turns the bound off")
	}
	if l.DenyRate < 0 {
		add("limits.deny_rate", "must not be negative; 0 turns the bound off")
	}
	if l.DenyRate > 0 && l.DenyBurst < 1 {
		add("limits.deny_burst", "must be at least 1 when deny_rate is set")
	}
}
