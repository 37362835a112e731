package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// HeaderRequestID is the response header that carries the request's id,
// the reference a refusal quotes and the gateway's log line records.
const HeaderRequestID = "Spangate-Request-Id"

// requestID returns a fresh random request id.
func (s *Server) requestID() string {
	var b [8]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "unknown"
	}
	return hex.EncodeToString(b[:])
}

// clientAddr is the IP address the request came from.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// gate lets a request reach the database name only when the caller holds
// one of need on it (any action when need is empty). Nothing is opened
// before: no Spanner session, no spangate table. The refusal is the same
// for a database that is not configured, so a caller cannot find out which
// names exist; it is logged (with the policy's explanation) but not written
// to the database's audit trail, which only callers with some right on the
// database can reach.
func (s *Server) gate(c *call, name string, need ...spangate.Action) error {
	if len(need) == 0 {
		need = spangate.Actions()
	}
	if _, ok := s.cfg.Database(name); ok {
		for _, a := range need {
			if s.policy.Decide(*c.principal, name, a).Allow {
				c.gateAllowed = a
				return nil
			}
		}
		c.explanation = fmt.Sprintf("no rule gives %s any of %s on database %s", c.principal, actionNames(need), name)
	} else {
		c.explanation = fmt.Sprintf("database %q is not configured", name)
	}
	c.decision = "deny"
	if err := s.denialAllowed(c); err != nil {
		return err
	}
	return refuseDatabase(name, c.id)
}

// refuseDatabase is the answer to a caller with no right on a database, or
// naming a database that is not configured: the two are the same.
func refuseDatabase(name, ref string) error {
	return (&spangate.Error{Kind: spangate.Denied,
		Message: fmt.Sprintf("denied: you have no right on database %q, or no such database is configured (reference %s)", name, ref)}).
		WithHint("GET /v1/databases (or spangate login) lists the databases you may use; ask the gateway's operator, quoting the reference")
}

func actionNames(acts []spangate.Action) string {
	names := make([]string, len(acts))
	for i, a := range acts {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

// denialAllowed takes a denial from the principal's and the client
// address's deny budgets. Over either, the request gets 429 and its denial
// is neither recorded nor explained, so denied requests cannot flood the
// audit trail or the log.
func (s *Server) denialAllowed(c *call) error {
	if c.principal != nil {
		if ok, wait := s.denials.allow("principal:" + c.principal.String()); !ok {
			s.metrics.deniedDropped.Inc()
			return deniedTooOften(wait)
		}
	}
	if ok, wait := s.denials.allow("address:" + c.client); !ok {
		s.metrics.deniedDropped.Inc()
		return deniedTooOften(wait)
	}
	return nil
}

func deniedTooOften(wait time.Duration) error {
	return spangate.Errorf(spangate.Unavailable, "too many denied requests from this identity or address; retry in %s: %w",
		wait.Round(time.Millisecond), &rateLimitError{retryAfter: wait}).
		WithHint("stop sending requests the policy denies; the operator can raise limits.deny_rate and limits.deny_burst")
}

// Bounds of what a denial records.
const (
	// deniedStatementPrefix is how much of a denied statement's text is
	// recorded, in bytes.
	deniedStatementPrefix = 256
	// deniedMaxParams is the most parameter hashes a denial records.
	deniedMaxParams = 16
)

// compactStatement returns what a denial records of a statement: the text
// when it is short, otherwise its first bytes, its length and its SHA-256,
// enough to recognise the statement without storing it.
func compactStatement(sql string) string {
	if len(sql) <= deniedStatementPrefix {
		return sql
	}
	cut := deniedStatementPrefix
	for cut > 0 && !utf8.RuneStart(sql[cut]) {
		cut--
	}
	sum := sha256.Sum256([]byte(sql))
	return fmt.Sprintf("%s… [%d bytes, sha256:%s]", sql[:cut], len(sql), hex.EncodeToString(sum[:]))
}

// deniedParams returns the parameter hashes a denial records: all of
// them, up to deniedMaxParams, and none beyond.
func (s *Server) deniedParams(params map[string]any) map[string]string {
	if len(params) == 0 || len(params) > deniedMaxParams {
		return nil
	}
	return s.params.HashAll(params)
}

// checkRunMetadata refuses a request whose reported commit contradicts
// the commit its verified token names (GitHub's and GitLab's sha claim).
// The two are recorded apart in the audit entry (the claim in Attributes,
// the report in Run); a report that disagrees with the token is a false
// record, not a detail.
func checkRunMetadata(pr spangate.Principal, run spangate.RunMetadata) error {
	claimed := pr.Attributes["sha"]
	if claimed == "" || run.Commit == "" || strings.EqualFold(claimed, run.Commit) {
		return nil
	}
	return spangate.Errorf(spangate.Invalid, "the reported commit %s (header %s) contradicts the commit %s of the token's sha claim", run.Commit, HeaderRunCommit, claimed).
		WithHint("send the commit the CI job runs (GITHUB_SHA, CI_COMMIT_SHA), or leave the header out; the token's claim is recorded either way")
}

// bodyTimedOut is the error of a request body that did not arrive in
// time.
func bodyTimedOut(timeout time.Duration) error {
	return spangate.Errorf(spangate.Invalid, "the request body did not arrive within %s: %w", timeout, errBodyTimeout).
		WithHint("send the body at once; the operator can raise limits.body_timeout in the gateway config")
}

// errBodyTimeout marks a body that took too long (408).
var errBodyTimeout = fmt.Errorf("request body timeout")

// sqlLimitError names the config key of the limit a statement passed.
func sqlLimitError(where string, le *sqlstmt.LimitError) error {
	key := "limits.max_statement_bytes"
	if le.Limit == sqlstmt.LimitDepth {
		key = "limits.max_statement_depth"
	}
	msg := le.Error()
	if where != "" {
		msg = where + ": " + msg
	}
	return spangate.Errorf(spangate.Invalid, "%s (the gateway's %s is %d); it was not parsed", msg, key, le.Max).
		WithHint("split or simplify the statement, or ask the gateway's operator to raise " + key)
}
