// Package config reads and checks the gateway's configuration file: where it
// listens, which OIDC issuers it trusts, which Spanner databases it fronts and
// the policy rules that grant actions on them.
//
// A Config is a plain struct. Default returns one with every default set;
// Parse fills it from YAML without side effects and refuses unknown keys and
// values of the wrong type; Validate then reports every remaining problem.
// Each problem names the field path (rules[1].allow[0]) and the file and line
// it comes from, so a person can fix a whole file in one pass. Load does all
// three.
//
// CEL conditions are not compiled here: the policy package compiles them and
// uses Config.Locate to point its errors at the right line and column.
package config

import (
	"time"

	"github.com/spangate/spangate"
)

// Defaults of the optional settings.
const (
	// DefaultListen is the gateway's default listen address.
	DefaultListen = "127.0.0.1:8479"
	// DefaultAdminListen is the default address of the admin listener
	// (/metrics, /readyz): loopback only.
	DefaultAdminListen = "127.0.0.1:8480"
	// DefaultSessionTTL is the default lifetime of a gateway session token.
	DefaultSessionTTL = 10 * time.Minute
	// MaxSessionTTL bounds session_ttl: a session token cannot be revoked, so
	// it must stay short-lived.
	MaxSessionTTL = time.Hour
	// MaxFileSize bounds the size of a config file Parse accepts.
	MaxFileSize = 4 << 20
)

// AllDatabases in a rule's databases list matches every configured database.
const AllDatabases = "*"

// Config is the gateway's configuration file.
//
// Fields are mapped to YAML keys by their yaml tags; Parse decodes exactly
// these keys and refuses any other. To add a setting (the gateway's session
// signing keys or audit options, say), add a field with a yaml tag to Config
// or to a nested struct such as TLS, give it a default in Default and check
// it in Validate: the decoder, the unknown-key check and the positions of
// problems follow from the struct.
type Config struct {
	// Listen is the gateway's host:port. It serves the API and /healthz.
	Listen string `yaml:"listen"`
	// AdminListen is the host:port of the admin listener, which serves
	// /metrics and /readyz (both name every configured database) and
	// /healthz. Keep it on loopback or an operators' network; "off" serves
	// no admin listener.
	AdminListen string `yaml:"admin_listen"`
	// SessionTTL is how long a gateway session token stays valid.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// TLS, when set, makes the gateway serve HTTPS.
	TLS TLS `yaml:"tls"`
	// Issuers is the allow-list of OIDC issuers whose tokens are accepted.
	Issuers []Issuer `yaml:"issuers"`
	// Databases maps a logical database name, used by clients and rules, to
	// its full path projects/P/instances/I/databases/D.
	Databases map[string]string `yaml:"databases"`
	// Rules grant actions on databases to principals whose token satisfies
	// the rule's condition. Nothing is allowed unless a rule allows it.
	Rules []Rule `yaml:"rules"`
	// SessionAudience is the aud of the gateway's session tokens; a session
	// token is accepted only by gateways configured with the same audience
	// and one of its keys. Default "spangate".
	SessionAudience string `yaml:"session_audience"`
	// SessionKeys sign and verify the gateway's session tokens
	// (HMAC-SHA256). The first key signs; every key listed verifies, so a
	// key is rotated by listing the new key first and keeping the old one
	// second for at least session_ttl. Every replica behind one load
	// balancer needs the same keys. With no key, the gateway makes a random
	// one at start: its session tokens then verify only on that process.
	SessionKeys []SessionKey `yaml:"session_keys"`
	// Audit tunes what the audit trail records.
	Audit Audit `yaml:"audit"`
	// Limits protect the gateway and the databases from oversized, slow or
	// too frequent requests.
	Limits Limits `yaml:"limits"`
	// Tokens tunes the checks of CI tokens: their maximum lifetime and
	// the clock leeway.
	Tokens Tokens `yaml:"tokens"`

	// file is the name the config was read from, for messages.
	file string
	// nodes records where each field path was found in the file.
	nodes map[string]location
}

// TLS names the gateway's certificate and private key, both PEM files. Both
// are set or neither.
type TLS struct {
	// CertFile is the certificate chain, leaf first.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the certificate's private key.
	KeyFile string `yaml:"key_file"`
}

// Issuer is one trusted OIDC issuer.
type Issuer struct {
	// Name is the issuer's short name, the value of the CEL variable
	// issuer in rules.
	Name string `yaml:"name"`
	// URL is the issuer URL; it must equal the iss claim of its tokens.
	URL string `yaml:"url"`
	// Audiences lists the accepted aud values; a token must carry one.
	Audiences []string `yaml:"audiences"`
	// Provider selects the claim set used to describe principals
	// (bitbucket, github, gitlab or oidc); empty lets the verifier detect it.
	Provider spangate.Provider `yaml:"provider"`
}

// Rule grants actions on databases to the principals whose token satisfies
// When.
type Rule struct {
	// Name identifies the rule in decisions and audit records.
	Name string `yaml:"name"`
	// When is a CEL expression over issuer, subject and claims that must
	// evaluate to true.
	When string `yaml:"when"`
	// Databases lists logical database names, or "*" for all.
	Databases []string `yaml:"databases"`
	// Allow lists the granted actions.
	Allow []spangate.Action `yaml:"allow"`
}

// Default returns a Config with every default set and nothing else.
func Default() *Config {
	return &Config{
		Listen:          DefaultListen,
		AdminListen:     DefaultAdminListen,
		SessionTTL:      DefaultSessionTTL,
		SessionAudience: DefaultSessionAudience,
		Tokens:          Tokens{MaxLifetime: DefaultMaxTokenLifetime, ClockLeeway: DefaultClockLeeway},
		Limits: Limits{
			MaxBodyBytes:   DefaultMaxBodyBytes,
			RequestTimeout: DefaultRequestTimeout,
			ApplyTimeout:   DefaultApplyTimeout,
			SpannerTimeout: DefaultSpannerTimeout,
			RateLimit:      DefaultRateLimit,
			RateBurst:      DefaultRateBurst,
			MaxRows:        DefaultMaxRows,

			MaxStatementBytes: DefaultMaxStatementBytes,
			MaxStatementDepth: DefaultMaxStatementDepth,
			BodyTimeout:       DefaultBodyTimeout,
			MaxConnsPerClient: DefaultMaxConnsPerClient,
			DenyRate:          DefaultDenyRate,
			DenyBurst:         DefaultDenyBurst,
		},
	}
}

// AdminListenOff is the admin_listen value that turns the admin listener
// off.
const AdminListenOff = "off"

// File returns the name the config was read from, or "" for a config built
// in code.
func (c *Config) File() string { return c.file }

// Database returns the full path of the logical database name.
func (c *Config) Database(name string) (string, bool) {
	p, ok := c.Databases[name]
	return p, ok
}

// Issuer returns the configured issuer whose name or URL is nameOrURL.
func (c *Config) Issuer(nameOrURL string) (Issuer, bool) {
	for _, is := range c.Issuers {
		if is.Name == nameOrURL || is.URL == nameOrURL {
			return is, true
		}
	}
	return Issuer{}, false
}
