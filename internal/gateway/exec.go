package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/execute"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// ExecRequest is the body of POST /v1/databases/{db}:exec: exactly one
// statement and its parameters, bound by name (@name in the SQL), never
// spliced into the text. Parameter values are JSON: strings, numbers
// (integers become INT64, others FLOAT64), booleans, null, or arrays of one
// of those.
type ExecRequest struct {
	SQL    string                     `json:"sql"`
	Params map[string]json.RawMessage `json:"params,omitempty"`
}

// ExecResponse is the answer of an exec: the rows changed (DML) or returned
// (query), the rows of a query, and for a change the audit chain's head
// after it (see HeaderAuditHead).
type ExecResponse struct {
	RowCount  int64            `json:"row_count"`
	Rows      []map[string]any `json:"rows"`
	AuditHead string           `json:"audit_head,omitempty"`
}

// HeaderAuditHead is the response header of every change (an exec of DML
// or DDL, an apply) that carries the audit chain's head after it, as
// SEQ:HASH: record it outside the database (a CI log) and pass it later
// to audit verify --anchor to detect a rewrite of the chain's tail.
const HeaderAuditHead = "Spangate-Audit-Head"

// execRights are the actions a statement can need: a caller with none of
// them on the database is refused before its statement is parsed.
var execRights = []spangate.Action{spangate.ActionRead, spangate.ActionWrite, spangate.ActionDDL, spangate.ActionDestructive}

// exec is POST /v1/databases/{db}:exec. What can be decided without the
// statement is decided first: a caller needs some right to run statements
// on the database before the body is read, and the statement is measured
// (limits.max_statement_bytes, limits.max_statement_depth) in one linear
// pass before it is parsed, since the parser cannot be interrupted.
func (s *Server) exec(w http.ResponseWriter, r *http.Request, c *call) error {
	name, verb, ok := dbVerb(r.PathValue("dbverb"))
	if !ok || verb != "exec" {
		return spangate.Errorf(spangate.NotFound, "no such endpoint").
			WithHint("statements go to POST /v1/databases/{db}:exec")
	}
	ctx, cancel := s.withTimeout(r.Context())
	defer cancel()
	if err := s.authenticate(ctx, r, c); err != nil {
		return err
	}
	// The statement rights first: the gate then usually answers
	// canRunStatements too.
	db, err := s.openDatabase(ctx, c, name, execRights[0], execRights[1], execRights[2], execRights[3],
		spangate.ActionPlan, spangate.ActionMigrate, spangate.ActionAudit)
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	var req ExecRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	params, err := execute.DecodeParams(req.Params)
	if err != nil {
		return err
	}
	c.params = params
	if err := s.canRunStatements(ctx, db, c, req.SQL); err != nil {
		return err
	}
	if err := s.checkSQL("", req.SQL); err != nil {
		return err
	}
	var st sqlstmt.Statement
	err = s.parsing(ctx, len(req.SQL), func() (err error) {
		st, err = s.stmts.ParseOne(req.SQL)
		return err
	})
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return spangate.Errorf(spangate.Unavailable, "the request took longer than limits.request_timeout: %w", err)
	}
	// Decide on the statement as classified against its table's key.
	if st, err = execute.Classify(ctx, db, st, params); err != nil {
		return err
	}
	action := execute.Action(&st)
	d := s.policy.DecideParsed(*c.principal, c.database, &st)
	if !d.Allow {
		c.what = statementNeeds(&st) // only a refusal names what was needed
	}
	if err := s.authorize(ctx, db, c, action, d, st.SQL); err != nil {
		return err
	}
	rec := &headRecorder{Database: db}
	res, err := execute.Run(ctx, rec, &st, params, s.entry(c, action), execute.Options{
		MaxRows: s.cfg.Limits.MaxRows, StoreParamValues: s.cfg.Audit.StoreParamValues, ParamHasher: s.params,
		Observer: execObserver{s, c.database}})
	if err != nil {
		return err
	}
	resp := ExecResponse{RowCount: res.RowCount, Rows: res.Rows}
	if st.Kind != sqlstmt.Query && rec.head != "" {
		c.auditHead, resp.AuditHead = rec.head, rec.head
		w.Header().Set(HeaderAuditHead, rec.head)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// canRunStatements refuses, before the statement is parsed, a caller who
// holds none of the actions a statement can need on the database. The
// denial is recorded as a denied read with the statement's compact form.
func (s *Server) canRunStatements(ctx context.Context, db Auditor, c *call, sql string) error {
	if slices.Contains(execRights, c.gateAllowed) {
		return nil
	}
	for _, a := range execRights {
		if s.policy.Decide(*c.principal, c.database, a).Allow {
			return nil
		}
	}
	c.what = "a statement (it needs one of " + actionNames(execRights) + ")"
	d := spangate.Decision{Reason: fmt.Sprintf("no rule gives %s any of %s on database %s; the statement was not parsed", c.principal, actionNames(execRights), c.database)}
	return s.authorize(ctx, db, c, spangate.ActionRead, d, sql)
}

// largeSQL is the length from which a text waits for a parse slot.
const largeSQL = 16 << 10

// parsing runs parse, a parse of n bytes of SQL. A large text first waits
// for one of the gateway's parse slots (one per CPU), within the request's
// deadline: the parser cannot be interrupted, so many large statements at
// once are parsed a few at a time, and one whose request has timed out
// while it waited is not parsed at all.
func (s *Server) parsing(ctx context.Context, n int, parse func() error) error {
	if n >= largeSQL {
		select {
		case s.parseSlots <- struct{}{}:
			defer func() { <-s.parseSlots }()
		case <-ctx.Done():
			return spangate.Errorf(spangate.Unavailable, "the gateway is busy parsing other large statements, past this request's timeout: %w", ctx.Err()).
				WithHint("retry later; the operator can raise limits.request_timeout")
		}
	}
	return parse()
}

// checkSQL refuses text over the gateway's statement limits before it is
// parsed; where names the text (a migration file) in the message.
func (s *Server) checkSQL(where, text string) error {
	err := sqlstmt.CheckLimits(text, sqlstmt.Limits{MaxStatementBytes: s.cfg.Limits.MaxStatementBytes, MaxDepth: s.cfg.Limits.MaxStatementDepth})
	var le *sqlstmt.LimitError
	if errors.As(err, &le) {
		return sqlLimitError(where, le)
	}
	return err
}

// statementNeeds says what a statement needs, for a refusal: its verb,
// its table and the actions, nothing of the rules.
func statementNeeds(st *sqlstmt.Statement) string {
	what := st.Verb
	if st.Table != "" {
		what += " on " + st.Table
	}
	if err := st.CheckCaller(); err != nil {
		// A statement on spangate's own objects is refused whatever the
		// rules say: the caller is told why, which names no rule.
		return what + " (" + err.Error() + ")"
	}
	needs := actionNames(st.RequiredActions())
	if st.Destructive && st.DestructiveReason != "" {
		needs += "; destructive: " + st.DestructiveReason
	}
	return what + " (needs " + needs + ")"
}

// migrationNeeds says what a migration's pending statements need, for a
// refusal: the first statement on spangate's own objects, or the first
// destructive one.
func migrationNeeds(stmts []sqlstmt.Statement) string {
	for i := range stmts {
		if stmts[i].CheckCaller() != nil {
			return "the migration's statement " + statementNeeds(&stmts[i])
		}
	}
	for i := range stmts {
		if stmts[i].Destructive {
			return fmt.Sprintf("the migration's statement at line %d, %s", stmts[i].Line, statementNeeds(&stmts[i]))
		}
	}
	return "the migration"
}

// headRecorder passes a statement's audit writes through to its database
// and keeps the chain head the last one sealed.
type headRecorder struct {
	Database
	head string
}

func (h *headRecorder) AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	sealed, err := h.Database.AppendAudit(ctx, e)
	if err == nil && sealed.Hash != "" {
		h.head = audit.Anchor{Seq: sealed.Seq, Hash: sealed.Hash}.String()
	}
	return sealed, err
}

func (h *headRecorder) ExecParsed(ctx context.Context, st *sqlstmt.Statement, params map[string]any, e audit.Entry) (int64, audit.Entry, error) {
	n, sealed, err := h.Database.ExecParsed(ctx, st, params, e)
	if err == nil && sealed.Hash != "" {
		h.head = audit.Anchor{Seq: sealed.Seq, Hash: sealed.Hash}.String()
	}
	return n, sealed, err
}

// execObserver counts what an exec wrote in the gateway's metrics, and
// logs failed writes with the error's code and spangate's own message,
// never Spanner's text (which may quote parameter values).
type execObserver struct {
	s        *Server
	database string
}

func (o execObserver) AuditWrite(result string, err error) {
	outcome := "written"
	switch {
	case errors.Is(err, spangate.ErrOutcomeUnknown):
		outcome = "unknown"
		o.s.log.Warn("commit got no answer: the change and its audit entry may or may not have been written", "database", o.database, "result", result, "err", audit.ErrorText(err))
	case err != nil:
		outcome = "error"
		o.s.log.Error("audit write failed", "database", o.database, "result", result, "kind", spangate.KindOf(err).String(), "err", audit.ErrorText(err))
	}
	o.s.metrics.auditWrites.WithLabelValues(result, outcome).Inc()
}

func (o execObserver) SchemaOperation() { o.s.metrics.schemaOps.WithLabelValues(o.database).Inc() }

// dbVerb splits the "{db}:verb" path segment.
func dbVerb(seg string) (db, verb string, ok bool) {
	i := strings.LastIndexByte(seg, ':')
	if i <= 0 || i == len(seg)-1 {
		return "", "", false
	}
	return seg[:i], seg[i+1:], true
}
