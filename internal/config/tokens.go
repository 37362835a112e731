package config

import "time"

// Defaults and bounds of the token settings.
const (
	// DefaultMaxTokenLifetime is the default of tokens.max_lifetime.
	DefaultMaxTokenLifetime = 24 * time.Hour
	// DefaultClockLeeway is the default of tokens.clock_leeway.
	DefaultClockLeeway = 30 * time.Second
	// MaxClockLeeway bounds tokens.clock_leeway.
	MaxClockLeeway = 2 * time.Minute
)

// Tokens tunes how CI tokens are checked, for every issuer.
type Tokens struct {
	// MaxLifetime is the longest lifetime a CI token may claim (exp - iat;
	// for a token without iat, exp - now). A token that lives for days is
	// what a stolen signing key produces. Default 24h.
	MaxLifetime time.Duration `yaml:"max_lifetime"`
	// ClockLeeway is the clock skew tolerated between the issuer and the
	// gateway on exp, nbf and iat. Default 30s, at most 2m.
	ClockLeeway time.Duration `yaml:"clock_leeway"`
}

func (c *Config) validateTokens(add func(path, format string, args ...any)) {
	if c.Tokens.MaxLifetime <= 0 {
		add("tokens.max_lifetime", "must be positive, such as 24h")
	}
	switch {
	case c.Tokens.ClockLeeway <= 0:
		add("tokens.clock_leeway", "must be positive, such as 30s")
	case c.Tokens.ClockLeeway > MaxClockLeeway:
		add("tokens.clock_leeway", "%s is more than the %s maximum: a large leeway keeps expired tokens valid", c.Tokens.ClockLeeway, MaxClockLeeway)
	}
}
