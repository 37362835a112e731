package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/spangate/spangate"
)

// Validate checks the config and reports every problem it finds, each with
// its field path and file position, as one *spangate.Error of kind Invalid
// wrapping Problems. It does not compile rule conditions; policy.New does.
func (c *Config) Validate() error {
	var ps Problems
	add := func(path, format string, args ...any) {
		ps = append(ps, c.problem(path, format, args...))
	}

	if host, port, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen", "invalid address %q; write host:port, such as 127.0.0.1:8479", c.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		add("listen", "invalid port %q in %q; use a number from 0 to 65535", port, c.Listen)
	} else if strings.ContainsAny(host, " /") {
		add("listen", "invalid host %q in %q", host, c.Listen)
	}
	if c.AdminListen != AdminListenOff {
		if _, port, err := net.SplitHostPort(c.AdminListen); err != nil {
			add("admin_listen", "invalid address %q; write host:port, such as 127.0.0.1:8480, or off", c.AdminListen)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			add("admin_listen", "invalid port %q in %q; use a number from 0 to 65535", port, c.AdminListen)
		} else if c.AdminListen == c.Listen && n != 0 {
			add("admin_listen", "%q is also listen; the admin listener needs an address of its own", c.AdminListen)
		}
	}
	switch {
	case c.SessionTTL <= 0:
		add("session_ttl", "must be positive, such as 10m")
	case c.SessionTTL > MaxSessionTTL:
		add("session_ttl", "%s is longer than the %s maximum: session tokens cannot be revoked, so keep them short", c.SessionTTL, MaxSessionTTL)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls", "set both cert_file and key_file, or neither")
	}

	c.validateIssuers(add)
	c.validateTokens(add)
	c.validateDatabases(add)
	c.validateRules(add)
	c.validateGateway(add)
	return ps.Err(c.file)
}

func (c *Config) validateIssuers(add func(path, format string, args ...any)) {
	if len(c.Issuers) == 0 {
		add("issuers", "no issuer is configured, so no token can be accepted; add one with name, url and audiences")
		return
	}
	names := map[string]int{}
	urls := map[string]int{}
	for i, is := range c.Issuers {
		p := fmt.Sprintf("issuers[%d]", i)
		if is.Name == "" {
			add(p+".name", "missing; give the issuer a short name such as bitbucket, used as issuer in rules")
		} else if err := checkName(is.Name); err != "" {
			add(p+".name", "%s", err)
		} else if j, dup := names[is.Name]; dup {
			add(p+".name", "issuer name %q is already used by issuers[%d]; names must be unique", is.Name, j)
		} else {
			names[is.Name] = i
		}
		if is.URL == "" {
			add(p+".url", "missing; set the issuer URL exactly as its tokens' iss claim")
		} else if err := checkIssuerURL(is.URL); err != "" {
			add(p+".url", "%s", err)
		} else if j, dup := urls[is.URL]; dup {
			add(p+".url", "issuer URL %q is already used by issuers[%d]; a token's iss must select one issuer", is.URL, j)
		} else {
			urls[is.URL] = i
		}
		if len(is.Audiences) == 0 {
			add(p+".audiences", "missing; list the audiences (aud) this issuer's tokens must carry for spangate")
		}
		seen := map[string]bool{}
		for j, aud := range is.Audiences {
			ap := fmt.Sprintf("%s.audiences[%d]", p, j)
			switch {
			case strings.TrimSpace(aud) == "":
				add(ap, "audience is empty")
			case seen[aud]:
				add(ap, "audience %q is listed twice", aud)
			}
			seen[aud] = true
		}
		switch is.Provider {
		case "", spangate.ProviderBitbucket, spangate.ProviderGitHub, spangate.ProviderGitLab, spangate.ProviderGeneric:
		default:
			add(p+".provider", "unknown provider %q (known: bitbucket, github, gitlab, oidc; leave it out to detect it)", is.Provider)
		}
	}
}

func (c *Config) validateDatabases(add func(path, format string, args ...any)) {
	if len(c.Databases) == 0 {
		add("databases", "no database is configured; map a logical name to projects/P/instances/I/databases/D")
		return
	}
	for _, name := range slices.Sorted(maps.Keys(c.Databases)) {
		p := joinKey("databases", name)
		if err := checkName(name); err != "" {
			add(p, "%s", err)
		}
		if err := checkDatabasePath(c.Databases[name]); err != "" {
			add(p, "%s", err)
		}
	}
}

func (c *Config) validateRules(add func(path, format string, args ...any)) {
	names := map[string]int{}
	for i, r := range c.Rules {
		p := fmt.Sprintf("rules[%d]", i)
		if r.Name == "" {
			add(p+".name", "missing; every rule needs a name, shown in decisions and audit records")
		} else if err := checkName(r.Name); err != "" {
			add(p+".name", "%s", err)
		} else if j, dup := names[r.Name]; dup {
			add(p+".name", "duplicate rule name %q, already used by rules[%d]; names must be unique", r.Name, j)
		} else {
			names[r.Name] = i
		}
		if strings.TrimSpace(r.When) == "" {
			add(p+".when", `missing; write a CEL condition over issuer, subject and claims (write "true" to match every verified token)`)
		}
		if len(r.Databases) == 0 {
			add(p+".databases", `missing; list the logical database names this rule applies to, or ["*"] for all`)
		}
		seenDB := map[string]bool{}
		for j, db := range r.Databases {
			dp := fmt.Sprintf("%s.databases[%d]", p, j)
			_, known := c.Databases[db]
			switch {
			case seenDB[db]:
				add(dp, "database %q is listed twice", db)
			case db == AllDatabases && len(r.Databases) > 1:
				add(dp, `"*" already means every database; list it alone`)
			case db != AllDatabases && !known:
				add(dp, "unknown database %q (known: %s)", db, knownList(c.Databases))
			}
			seenDB[db] = true
		}
		if len(r.Allow) == 0 {
			add(p+".allow", "missing; list the actions this rule grants (%s)", actionList())
		}
		seenAction := map[spangate.Action]bool{}
		for j, a := range r.Allow {
			ap := fmt.Sprintf("%s.allow[%d]", p, j)
			switch {
			case !a.Valid():
				add(ap, "unknown action %q (known: %s)", a, actionList())
			case seenAction[a]:
				add(ap, "action %q is listed twice", a)
			}
			seenAction[a] = true
		}
	}
}

// checkName checks a name used for issuers, databases and rules: it shows in
// URLs, decisions and audit records, so it is kept to a plain character set.
func checkName(name string) string {
	if len(name) > 64 {
		return fmt.Sprintf("name %q is longer than 64 characters", name)
	}
	for _, r := range name {
		if !(r == '_' || r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Sprintf("name %q may only hold letters, digits, '.', '_' and '-'", name)
		}
	}
	return ""
}

func checkIssuerURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Sprintf("invalid issuer URL %q; write it as https://host/path, exactly as the iss claim", raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Sprintf("issuer URL %q must use https (plain http is allowed only for localhost, as in spangate dev)", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Sprintf("issuer URL %q must not have a query, fragment or user name", raw)
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkDatabasePath checks projects/P/instances/I/databases/D.
func checkDatabasePath(path string) string {
	const form = "projects/P/instances/I/databases/D"
	parts := strings.Split(path, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "instances" || parts[4] != "databases" {
		return fmt.Sprintf("database path %q is not of the form %s", path, form)
	}
	for _, id := range []string{parts[1], parts[3], parts[5]} {
		if id == "" {
			return fmt.Sprintf("database path %q has an empty segment; write it as %s", path, form)
		}
		for _, r := range id {
			if !(r == '_' || r == '-' || r == '.' || r == ':' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
				return fmt.Sprintf("database path %q: %q may only hold lowercase letters, digits, '-', '_', '.' and ':'", path, id)
			}
		}
	}
	return ""
}

func actionList() string {
	names := make([]string, 0, len(spangate.Actions()))
	for _, a := range spangate.Actions() {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}

func knownList(m map[string]string) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}
