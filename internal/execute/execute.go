// Package execute runs one parsed SQL statement against a database together
// with its audit entry, the same way for the gateway and for the CLI's
// direct mode: a query is answered and then recorded (what cannot be
// recorded is not answered); DML commits in one transaction with its entry,
// which lists the primary keys of the rows it touched; a schema change,
// which cannot share a transaction, is recorded before it is sent, and a
// failure gets a second entry. It also decodes and redacts the bound
// parameters, whose values are never stored or logged.
package execute

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// Target is the database a statement runs on.
type Target interface {
	// Query runs a query and returns at most limit rows.
	Query(ctx context.Context, sql string, params map[string]any, limit int) ([]map[string]any, error)
	// ExecParsed runs a parsed DML statement and writes e, completed with
	// the rows and keys it touched, in the same transaction; an audit
	// failure is kind Unavailable and nothing commits.
	ExecParsed(ctx context.Context, st *sqlstmt.Statement, params map[string]any, e audit.Entry) (int64, audit.Entry, error)
	// AppendAudit seals e onto the audit chain.
	AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error)
	// UpdateSchema sends a schema change and waits for it; it returns the
	// statements applied, or -1 when the change was sent and its outcome
	// is unknown.
	UpdateSchema(ctx context.Context, opID string, stmts []string) (int, error)
}

// Observer is told what Run wrote; the gateway counts it in its metrics.
// A nil Observer is fine.
type Observer interface {
	// AuditWrite reports one audit write of an entry with result, and the
	// error when it failed (wrapping spangate.ErrOutcomeUnknown when the
	// write's commit got no answer, so the entry may exist).
	AuditWrite(result string, err error)
	// SchemaOperation reports a schema change sent.
	SchemaOperation()
}

// Result is what a statement returned: the rows changed (DML) or returned
// (query), and the rows of a query.
type Result struct {
	RowCount int64            `json:"row_count"`
	Rows     []map[string]any `json:"rows"`
}

// Action is the action a statement is audited and counted under: its
// class (read, write, ddl), or destructive for a destructive statement.
func Action(st *sqlstmt.Statement) spangate.Action {
	acts := st.RequiredActions()
	return acts[len(acts)-1]
}

// Options tune Run.
type Options struct {
	// MaxRows caps the rows of a query (the Target's default when zero).
	MaxRows int
	// StoreParamValues records parameter values next to their hashes.
	StoreParamValues bool
	// ParamHasher hashes the parameter values; the zero value uses plain
	// SHA-256.
	ParamHasher audit.ParamHasher
	// Observer is told what Run wrote; nil for nobody.
	Observer Observer
}

// KeyLookup looks up the primary key columns of a table, in key order.
// An error of kind Invalid says the table does not exist (or the backend
// cannot say).
type KeyLookup interface {
	KeyColumns(ctx context.Context, table string) ([]string, error)
}

// Classify returns st classified against its table's primary key, which
// it looks up when st's classification depends on it (an UPDATE or DELETE
// whose WHERE may fix the key; see sqlstmt.Statement.WithKeys) and db is a
// KeyLookup. A statement whose key cannot be looked up (no such table, a
// backend that cannot say, a db that is no KeyLookup) stays destructive:
// authorization fails closed. Other lookup errors are returned. Decide on
// the statement Classify returns.
//
// It first refuses a statement whose parameters lack a value (CheckParams),
// so a request that cannot run is answered as such before it is decided.
func Classify(ctx context.Context, db any, st sqlstmt.Statement, params map[string]any) (sqlstmt.Statement, error) {
	if err := CheckParams(&st, params); err != nil {
		return st, err
	}
	kl, ok := db.(KeyLookup)
	if !st.KeyDependent() || !ok {
		return st, nil
	}
	keys, err := kl.KeyColumns(ctx, st.Table)
	switch {
	case err == nil:
		return st.WithKeys(keys, params), nil
	case spangate.KindOf(err) == spangate.Invalid:
		return st, nil
	}
	return st, err
}

// CheckParams refuses a statement that names a parameter params has no
// value for, before it is sent: Spanner would refuse it too, with less to
// go on.
func CheckParams(st *sqlstmt.Statement, params map[string]any) error {
	given := make(map[string]bool, len(params))
	for name := range params {
		given[strings.ToLower(name)] = true
	}
	var missing []string
	for _, name := range st.Params() {
		if !given[strings.ToLower(name)] {
			missing = append(missing, "@"+name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return spangate.Errorf(spangate.Invalid, "the statement uses %s but no value was given for %s", strings.Join(missing, ", "), plural(len(missing), "it", "them")).
		WithHint(fmt.Sprintf("pass each parameter: --param %s=VALUE (or \"params\": {\"%s\": …} in the request)", missing[0][1:], missing[0][1:]))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Run runs st with params on t and records it in the audit trail with e
// (who, from which run; Run fills in the statement, table, action and
// parameters). A statement that names one of spangate's own tables is
// refused (sqlstmt.Statement.CheckCaller) before anything runs.
func Run(ctx context.Context, t Target, st *sqlstmt.Statement, params map[string]any, e audit.Entry, opts Options) (Result, error) {
	obs := opts.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	if err := st.CheckCaller(); err != nil {
		return Result{}, err
	}
	if err := CheckParams(st, params); err != nil {
		return Result{}, err
	}
	if st.KeyDependent() {
		classified, err := Classify(ctx, t, *st, params)
		if err != nil {
			return Result{}, err
		}
		st = &classified
	}
	maxRows := opts.MaxRows
	e.Action = string(Action(st))
	e.Statement = st.SQL
	e.Table = st.Table
	e.Params = opts.ParamHasher.Record(params, opts.StoreParamValues)

	switch st.Kind {
	case sqlstmt.Query:
		rows, err := t.Query(ctx, st.SQL, params, maxRows)
		if err != nil {
			recordFailure(ctx, t, e, err, params, obs)
			return Result{}, err
		}
		e.Result = audit.ResultOK
		e.Rows = int64(len(rows))
		if _, err := t.AppendAudit(ctx, e); err != nil {
			// Fail closed: what cannot be audited is not answered.
			obs.AuditWrite(e.Result, err)
			return Result{}, auditUnavailable(err)
		}
		obs.AuditWrite(e.Result, nil)
		if rows == nil {
			rows = []map[string]any{}
		}
		return Result{RowCount: int64(len(rows)), Rows: rows}, nil
	case sqlstmt.DML:
		if st.Partitioned() {
			return Result{}, spangate.Errorf(spangate.Invalid, "-- spangate:partitioned runs only in migrations").
				WithHint("put the statement in a migration file, or remove the directive to run it in one transaction")
		}
		e.Result = audit.ResultOK
		n, _, err := t.ExecParsed(ctx, st, params, e)
		if err != nil {
			switch {
			case errors.Is(err, spangate.ErrOutcomeUnknown):
				// The commit, entry included, got no answer: the entry
				// may have been written with the change.
				obs.AuditWrite(audit.ResultOK, err)
			case spangate.KindOf(err) == spangate.Canceled:
				// Interrupted before anything committed: nothing written.
			case spangate.KindOf(err) == spangate.Unavailable:
				// The entry, or Spanner, could not be written or reached:
				// nothing committed.
				obs.AuditWrite(audit.ResultOK, err)
			default:
				// ExecParsed recorded the failed statement itself.
				obs.AuditWrite(audit.ResultFailed, nil)
			}
			return Result{}, err
		}
		obs.AuditWrite(audit.ResultOK, nil)
		return Result{RowCount: n, Rows: []map[string]any{}}, nil
	default: // DDL
		if len(params) > 0 {
			return Result{}, spangate.Errorf(spangate.Invalid, "schema statements take no parameters")
		}
		// A schema change cannot share a transaction with the audit
		// entry, so the entry is written first: no DDL runs unrecorded.
		// A change that then fails gets a second, failed entry.
		e.Result = audit.ResultOK
		e.Reason = "schema change sent"
		if _, err := t.AppendAudit(ctx, e); err != nil {
			obs.AuditWrite(e.Result, err)
			return Result{}, auditUnavailable(err)
		}
		obs.AuditWrite(e.Result, nil)
		obs.SchemaOperation()
		opID := newOperationID()
		if applied, err := t.UpdateSchema(ctx, opID, []string{st.SQL}); err != nil {
			if applied < 0 {
				// Sent, and no answer: Spanner may still apply it. The
				// entry written above says it was sent; a failed entry
				// would be a guess.
				return Result{}, spangate.Errorf(spangate.KindOf(err), "the schema change got no answer, so whether it was made is unknown (operation %s): %w", opID, spangate.OutcomeUnknown(err)).
					WithHint("check the live schema (spangate schema dump) before you send it again")
			}
			recordFailure(ctx, t, e, err, params, obs)
			return Result{}, err
		}
		return Result{Rows: []map[string]any{}}, nil
	}
}

// recordFailure records a statement that failed, even when ctx is done.
func recordFailure(ctx context.Context, t Target, e audit.Entry, err error, params map[string]any, obs Observer) {
	e.Result = audit.ResultFailed
	e.Reason = audit.ErrorText(err)
	_, aerr := t.AppendAudit(context.WithoutCancel(ctx), e)
	obs.AuditWrite(e.Result, aerr)
}

func auditUnavailable(err error) error {
	return spangate.Errorf(spangate.Unavailable, "the audit trail could not be written, so the request was not carried out: %w", err).
		WithHint("retry later; the database's audit tables must be writable")
}

// newOperationID returns a fresh schema operation id for one statement.
func newOperationID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "spangate_exec_" + hex.EncodeToString(b[:])
}

type nopObserver struct{}

func (nopObserver) AuditWrite(string, error) {}
func (nopObserver) SchemaOperation()         {}

// DecodeParams turns the JSON parameter values into the Go values the
// Spanner client binds: string, int64, float64, bool, nil, or a slice of
// one of those types.
func DecodeParams(raw map[string]json.RawMessage) (map[string]any, error) {
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
	dec := json.NewDecoder(bytes.NewReader(raw))
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
