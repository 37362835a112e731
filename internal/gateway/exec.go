package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/execute"
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
// (query), and the rows of a query.
type ExecResponse struct {
	RowCount int64            `json:"row_count"`
	Rows     []map[string]any `json:"rows"`
}

// exec is POST /v1/databases/{db}:exec.
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
	db, err := s.openDatabase(ctx, c, name)
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
	st, err := s.stmts.ParseOne(req.SQL)
	if err != nil {
		return err
	}
	// Decide on the statement as classified against its table's key.
	if st, err = execute.Classify(ctx, db, st, params); err != nil {
		return err
	}
	action := execute.Action(&st)
	if err := s.authorize(ctx, db, c, action, s.policy.DecideParsed(*c.principal, c.database, &st), st.SQL); err != nil {
		return err
	}
	res, err := execute.Run(ctx, db, &st, params, s.entry(c, action), execute.Options{
		MaxRows: s.cfg.Limits.MaxRows, StoreParamValues: s.cfg.Audit.StoreParamValues, ParamHasher: s.params,
		Observer: execObserver{s, c.database, params}})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ExecResponse(res))
	return nil
}

// execObserver counts what an exec wrote in the gateway's metrics, and
// logs failed writes with the request's parameter values redacted (a
// Spanner error at commit may quote them).
type execObserver struct {
	s        *Server
	database string
	params   map[string]any
}

func (o execObserver) AuditWrite(result string, err error) {
	outcome := "written"
	switch {
	case errors.Is(err, spangate.ErrOutcomeUnknown):
		outcome = "unknown"
		o.s.log.Warn("commit got no answer: the change and its audit entry may or may not have been written", "database", o.database, "result", result, "err", audit.Redact(err.Error(), o.params))
	case err != nil:
		outcome = "error"
		o.s.log.Error("audit write failed", "database", o.database, "result", result, "kind", spangate.KindOf(err).String(), "err", audit.Redact(err.Error(), o.params))
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
