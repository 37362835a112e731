package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
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
	params, err := decodeParams(req.Params)
	if err != nil {
		return err
	}
	c.params = params
	st, err := sqlstmt.ParseOne(req.SQL)
	if err != nil {
		return err
	}
	action := primaryAction(&st)
	if err := s.authorize(ctx, db, c, action, s.policy.DecideParsed(*c.principal, c.database, &st), st.SQL); err != nil {
		return err
	}
	e := s.entry(c, action)
	e.Statement = st.SQL
	e.Table = st.Table
	e.Params = audit.HashParams(params)

	switch st.Kind {
	case sqlstmt.Query:
		rows, err := db.Query(ctx, st.SQL, params, s.cfg.Limits.MaxRows)
		if err != nil {
			s.auditFailure(ctx, db, e, err, params)
			return err
		}
		e.Result = audit.ResultOK
		e.Rows = int64(len(rows))
		if _, err := db.AppendAudit(ctx, e); err != nil {
			// Fail closed: what cannot be audited is not answered.
			s.metrics.auditWrites.WithLabelValues(e.Result, "error").Inc()
			return auditUnavailable(err)
		}
		s.metrics.auditWrites.WithLabelValues(e.Result, "written").Inc()
		if rows == nil {
			rows = []map[string]any{}
		}
		writeJSON(w, http.StatusOK, ExecResponse{RowCount: int64(len(rows)), Rows: rows})
		return nil
	case sqlstmt.DML:
		if st.Partitioned() {
			return spangate.Errorf(spangate.Invalid, "-- spangate:partitioned runs only in migrations").
				WithHint("put the statement in a migration file, or remove the directive to run it in one transaction")
		}
		e.Result = audit.ResultOK
		n, _, err := db.ExecDML(ctx, st.SQL, params, e)
		if err != nil {
			// ExecDML recorded a failed statement itself; Unavailable
			// means the audit entry could not be written, and nothing
			// committed.
			if spangate.KindOf(err) == spangate.Unavailable {
				s.metrics.auditWrites.WithLabelValues(audit.ResultOK, "error").Inc()
			} else {
				s.metrics.auditWrites.WithLabelValues(audit.ResultFailed, "written").Inc()
			}
			return err
		}
		s.metrics.auditWrites.WithLabelValues(audit.ResultOK, "written").Inc()
		writeJSON(w, http.StatusOK, ExecResponse{RowCount: n, Rows: []map[string]any{}})
		return nil
	default: // DDL
		if len(params) > 0 {
			return spangate.Errorf(spangate.Invalid, "schema statements take no parameters")
		}
		// A schema change cannot share a transaction with the audit
		// entry, so the entry is written first: no DDL runs unrecorded.
		// A change that then fails gets a second, failed entry.
		e.Result = audit.ResultOK
		e.Reason = "schema change sent"
		if _, err := db.AppendAudit(ctx, e); err != nil {
			s.metrics.auditWrites.WithLabelValues(e.Result, "error").Inc()
			return auditUnavailable(err)
		}
		s.metrics.auditWrites.WithLabelValues(e.Result, "written").Inc()
		s.metrics.schemaOps.WithLabelValues(c.database).Inc()
		if _, err := db.UpdateSchema(ctx, newOperationID(), []string{st.SQL}); err != nil {
			s.auditFailure(ctx, db, e, err, params)
			return err
		}
		writeJSON(w, http.StatusOK, ExecResponse{Rows: []map[string]any{}})
		return nil
	}
}

// auditFailure records a statement that failed.
func (s *Server) auditFailure(ctx context.Context, db Auditor, e audit.Entry, err error, params map[string]any) {
	e.Result = audit.ResultFailed
	e.Reason = redact(err.Error(), params)
	s.appendAudit(ctx, db, e)
}

func auditUnavailable(err error) error {
	return spangate.Errorf(spangate.Unavailable, "the audit trail could not be written, so the request was not carried out: %w", err).
		WithHint("retry later; the gateway's operator should check the database")
}

// primaryAction is the action an exec is audited and counted under: the
// statement's class, or destructive for a destructive statement.
func primaryAction(st *sqlstmt.Statement) spangate.Action {
	acts := st.RequiredActions()
	return acts[len(acts)-1]
}

// dbVerb splits the "{db}:verb" path segment.
func dbVerb(seg string) (db, verb string, ok bool) {
	i := strings.LastIndexByte(seg, ':')
	if i <= 0 || i == len(seg)-1 {
		return "", "", false
	}
	return seg[:i], seg[i+1:], true
}

// newOperationID returns a fresh schema operation id for a DDL exec.
func newOperationID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "spangate_exec_" + hex.EncodeToString(b[:])
}

// decodeParams turns the JSON parameter values into the Go values the
// Spanner client binds: string, int64, float64, bool, nil, or a slice of
// one of those types.
func decodeParams(raw map[string]json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(raw))
	for name, v := range raw {
		if !validParamName(name) {
			return nil, spangate.Errorf(spangate.Invalid, "parameter name %q is not an identifier", name).
				WithHint("name parameters with letters, digits and _ (and write @name in the SQL)")
		}
		val, err := decodeParam(v)
		if err != nil {
			return nil, spangate.Errorf(spangate.Invalid, "parameter %s: %w", name, err)
		}
		out[name] = val
	}
	return out, nil
}

func validParamName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func decodeParam(raw json.RawMessage) (any, error) {
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case []any:
		return decodeArray(x)
	case map[string]any:
		return nil, fmt.Errorf("objects are not supported; use a string, number, boolean, null or an array")
	default:
		return scalar(x)
	}
}

func scalar(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool:
		return x, nil
	case json.Number:
		if i, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s is out of range", x)
		}
		return f, nil
	}
	return nil, fmt.Errorf("nested arrays and objects are not supported")
}

func decodeArray(xs []any) (any, error) {
	vals := make([]any, len(xs))
	for i, x := range xs {
		v, err := scalar(x)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	kind := ""
	for _, v := range vals {
		k := fmt.Sprintf("%T", v)
		if v == nil {
			continue
		}
		if k == "int64" && kind == "float64" || k == "float64" && kind == "int64" {
			k = "float64"
		} else if kind != "" && k != kind {
			return nil, fmt.Errorf("array elements must all have one type")
		}
		kind = k
	}
	switch kind {
	case "int64":
		out := make([]*int64, len(vals))
		for i, v := range vals {
			if v != nil {
				n := v.(int64)
				out[i] = &n
			}
		}
		return out, nil
	case "float64":
		out := make([]*float64, len(vals))
		for i, v := range vals {
			switch n := v.(type) {
			case int64:
				f := float64(n)
				out[i] = &f
			case float64:
				out[i] = &n
			}
		}
		return out, nil
	case "bool":
		out := make([]*bool, len(vals))
		for i, v := range vals {
			if v != nil {
				b := v.(bool)
				out[i] = &b
			}
		}
		return out, nil
	default: // strings, or only nulls
		out := make([]*string, len(vals))
		for i, v := range vals {
			if v != nil {
				str := v.(string)
				out[i] = &str
			}
		}
		return out, nil
	}
}

// valueTexts returns the texts a parameter value may show as in a message.
func valueTexts(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case []*string:
		var out []string
		for _, p := range x {
			if p != nil {
				out = append(out, *p)
			}
		}
		return out
	case []*int64:
		var out []string
		for _, p := range x {
			if p != nil {
				out = append(out, strconv.FormatInt(*p, 10))
			}
		}
		return out
	case []*float64:
		var out []string
		for _, p := range x {
			if p != nil {
				out = append(out, fmt.Sprint(*p))
			}
		}
		return out
	default:
		return []string{fmt.Sprint(x)}
	}
}
