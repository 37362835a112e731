package spannerdb

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"cloud.google.com/go/spanner"
	sppb "cloud.google.com/go/spanner/apiv1/spannerpb"
	"github.com/cloudspannerecosystem/memefish/ast"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// Limits of Query.
const (
	DefaultQueryRows = 1000
	MaxQueryRows     = 10000
)

// primaryKey is a table's name as the catalog spells it and its primary-key
// columns in key order.
type primaryKey struct {
	table string
	cols  []string
	types []string // SPANNER_TYPE of each key column
}

// primaryKeyOf returns the primary key of table (optionally
// schema-qualified), from INFORMATION_SCHEMA, cached per table. It returns
// an Invalid error when the table does not exist.
func (d *DB) primaryKeyOf(ctx context.Context, table string) (primaryKey, error) {
	name := tableIndexName(table)
	if pk, ok := d.pks.Load(name); ok {
		return pk.(primaryKey), nil
	}
	schema, bare := "", table
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		schema, bare = table[:i], table[i+1:]
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	stmt := spanner.Statement{
		SQL: `SELECT TABLE_NAME, COLUMN_NAME, SPANNER_TYPE FROM INFORMATION_SCHEMA.INDEX_COLUMNS
WHERE TABLE_SCHEMA = @schema AND LOWER(TABLE_NAME) = LOWER(@table) AND INDEX_TYPE = 'PRIMARY_KEY'
ORDER BY ORDINAL_POSITION`,
		Params: map[string]any{"schema": schema, "table": bare},
	}
	var pk primaryKey
	err := d.data().Single().Query(ctx, stmt).Do(func(row *spanner.Row) error {
		var (
			col string
			typ spanner.NullString
		)
		if err := row.Columns(&pk.table, &col, &typ); err != nil {
			return err
		}
		pk.cols = append(pk.cols, col)
		pk.types = append(pk.types, typ.StringVal)
		return nil
	})
	if err != nil {
		return primaryKey{}, mapErr(err, "look up the primary key of "+table)
	}
	if len(pk.cols) == 0 {
		return primaryKey{}, spangate.Errorf(spangate.Invalid, "table %s does not exist", table)
	}
	if schema != "" {
		pk.table = schema + "." + pk.table
	}
	d.pks.Store(name, pk)
	return pk, nil
}

// KeyColumns returns the primary key columns of table, in key order
// (cached per table, like the keys DML captures). It returns an Invalid
// error when the table does not exist.
func (d *DB) KeyColumns(ctx context.Context, table string) ([]string, error) {
	pk, err := d.primaryKeyOf(ctx, table)
	if err != nil {
		return nil, err
	}
	return append([]string(nil), pk.cols...), nil
}

// thenReturn returns the THEN RETURN clause that selects the key columns.
func (pk primaryKey) thenReturn() string {
	quoted := make([]string, len(pk.cols))
	for i, c := range pk.cols {
		quoted[i] = "`" + c + "`"
	}
	return " THEN RETURN " + strings.Join(quoted, ", ")
}

func hasThenReturn(n ast.Statement) bool {
	switch n := n.(type) {
	case *ast.Insert:
		return n.ThenReturn != nil
	case *ast.Update:
		return n.ThenReturn != nil
	case *ast.Delete:
		return n.ThenReturn != nil
	}
	return false
}

// capture is a DML statement prepared to report the keys it touches.
type capture struct {
	stmt  spanner.Statement
	table string // catalog name, "" when keys are not captured
	keyed bool
	// static holds the keys read off the statement's text (see
	// staticKeys); the statement then runs without THEN RETURN.
	static []string
}

// prepareCapture rewrites st to return its rows' primary keys. When that
// is not possible (the statement has a THEN RETURN of its own, the table
// does not exist, so that the statement will fail, or the backend cannot
// answer the lookup, as the in-process fake cannot: errors of kind
// Invalid) it returns the statement unchanged with keyed false: the entry
// then records the row count, the table as written and KeysIncomplete.
// When the lookup failed otherwise (Spanner did not answer in time, the
// call was canceled, an internal error) it returns that error instead: a
// change whose keys could have been recorded is not made without them, so
// that "who changed this row" never misses one.
func (d *DB) prepareCapture(ctx context.Context, st sqlstmt.Statement, params map[string]any) (capture, error) {
	c := capture{stmt: spanner.Statement{SQL: st.SQL, Params: params}, table: st.Table}
	if hasThenReturn(st.Node) || st.Table == "" {
		return c, nil
	}
	pk, err := d.primaryKeyOf(ctx, st.Table)
	switch {
	case err == nil:
	case spangate.KindOf(err) == spangate.Invalid:
		// No such table, or a lookup the backend cannot run: nothing
		// to capture.
		return c, nil
	default:
		return capture{}, err
	}
	c.table, c.keyed = pk.table, true
	if keys, ok := staticKeys(st.Node, pk, params); ok {
		c.static = keys
		return c, nil
	}
	c.stmt.SQL = st.SQL + pk.thenReturn()
	return c, nil
}

// countOnly reports whether the statement's keys follow from its row
// count alone (they were read off its text, or are not captured), so it
// can run in a batch of DML, which returns only counts.
func (c capture) countOnly() bool { return !c.keyed || c.static != nil }

// keysOfCount returns the keys of a countOnly statement that changed n
// rows.
func (c capture) keysOfCount(n int64) (keys []string, incomplete bool) {
	switch {
	case !c.keyed:
		return nil, n > 0
	case n == 0:
		return nil, false
	case int(n) == len(c.static) && len(c.static) <= audit.MaxKeys:
		return c.static, false
	}
	// The count does not match the keys named: record what is sure.
	return nil, true
}

// entry completes e, the entry of the request, as the record of the
// statement having changed n rows with these keys.
func (c capture) entry(e audit.Entry, n int64, keys []string, incomplete bool) audit.Entry {
	e.Table, e.Result, e.Rows, e.Keys, e.KeysIncomplete = c.table, audit.ResultOK, n, keys, incomplete
	return e
}

// run executes the statement in txn and returns the rows it changed and
// the keys of up to audit.MaxKeys of them.
func (c capture) run(ctx context.Context, txn *spanner.ReadWriteTransaction) (rows int64, keys []string, incomplete bool, err error) {
	if c.countOnly() {
		n, err := txn.Update(ctx, c.stmt)
		if err != nil {
			return 0, nil, false, err
		}
		keys, incomplete := c.keysOfCount(n)
		return n, keys, incomplete, nil
	}
	it := txn.Query(ctx, c.stmt)
	defer it.Stop()
	var seen int64
	for {
		row, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return 0, nil, false, err
		}
		seen++
		if len(keys) >= audit.MaxKeys {
			incomplete = true
			continue
		}
		vals := make([]any, row.Size())
		for i := range vals {
			if vals[i], err = jsonValue(row.ColumnType(i), row.ColumnValue(i)); err != nil {
				return 0, nil, false, err
			}
		}
		k, err := audit.KeyText(vals)
		if err != nil {
			return 0, nil, false, err
		}
		keys = append(keys, k)
	}
	return max(seen, it.RowCount), keys, incomplete, nil
}

// ExecDML runs one DML statement and appends its audit entry in one
// read-write transaction: both commit or neither does.
//
// Parameters are bound, never spliced into the text. The primary keys of
// every row the statement touches are captured with a THEN RETURN of the
// table's key columns, added to the statement; the entry gets the table,
// the keys (at most audit.MaxKeys, with KeysIncomplete beyond that) and
// the row count. A statement with a THEN RETURN of its own is refused
// (Invalid): its rows would not reach the caller, and its keys could not
// be captured.
//
// e describes the request: principal, run metadata, action (default
// "write"), database. ExecDML fills in Statement (when empty), Params
// (unkeyed hashes of the values, when e.Params is nil: a caller with a
// parameter hash key sets e.Params itself and calls ExecParsed), Result,
// Rows, Table and Keys.
//
// When the statement fails, nothing of it commits; ExecDML then appends a
// "failed" entry in a transaction of its own (with parameter values
// redacted from the reason) and returns the statement's error with that
// entry. When the audit entry cannot be written, the statement does not
// commit either, and the error is of kind Unavailable.
func (d *DB) ExecDML(ctx context.Context, sql string, params map[string]any, e audit.Entry) (int64, audit.Entry, error) {
	st, err := sqlstmt.ParseOne(sql)
	if err != nil {
		return 0, audit.Entry{}, err
	}
	if e.Params == nil {
		e.Params = audit.ParamHasher{}.HashAll(params)
	}
	return d.ExecParsed(ctx, &st, params, e)
}

// ExecParsed is ExecDML for a statement already parsed by sqlstmt, so a
// caller that classified it (the gateway, for policy) does not parse it
// again. e.Params must hold the parameters' hashes (audit.ParamHasher),
// made with the caller's key: ExecParsed does not hash values itself, so
// that no entry ends up hashed without the key the caller was configured
// with.
func (d *DB) ExecParsed(ctx context.Context, st *sqlstmt.Statement, params map[string]any, e audit.Entry) (int64, audit.Entry, error) {
	if len(params) != len(e.Params) {
		return 0, audit.Entry{}, spangate.Errorf(spangate.Internal, "the audit entry hashes %d parameters, the statement has %d", len(e.Params), len(params))
	}
	if err := st.CheckCaller(); err != nil {
		return 0, audit.Entry{}, err
	}
	if st.Kind != sqlstmt.DML {
		return 0, audit.Entry{}, spangate.Errorf(spangate.Invalid, "%s is not a DML statement", st.Verb).
			WithHint("ExecDML runs INSERT, UPDATE and DELETE; queries go through Query")
	}
	if hasThenReturn(st.Node) {
		return 0, audit.Entry{}, spangate.Errorf(spangate.Invalid, "THEN RETURN is not allowed here").
			WithHint("remove THEN RETURN: spangate adds its own to record the keys of the rows the statement changes")
	}
	if e.Statement == "" {
		e.Statement = st.SQL
	}
	if e.Action == "" {
		e.Action = string(spangate.ActionWrite)
	}
	c, err := d.prepareCapture(ctx, *st, params)
	if err != nil {
		// Nothing ran: the caller may retry.
		return 0, audit.Entry{}, err
	}
	rows, sealed, dmlErr, err := d.execGrouped(ctx, c, e)
	if dmlErr != nil && c.keyed {
		// The cached key may be stale (the table was dropped and created
		// again with another key): look it up afresh and, if it changed,
		// run once more. Nothing of the failed attempt committed.
		d.pks.Delete(tableIndexName(st.Table))
		if fresh, ferr := d.prepareCapture(ctx, *st, params); ferr == nil && fresh.stmt.SQL != c.stmt.SQL {
			c = fresh
			rows, sealed, dmlErr, err = d.execCaptured(ctx, c, e)
		}
	}
	switch {
	case err == nil:
		return rows, sealed, nil
	case dmlErr == nil:
		// The statement ran; what failed is the audit read, its buffered
		// rows at commit, contention that outlasted the retries, or the
		// commit got no answer. Nothing committed and a retry may succeed,
		// except in the last case, which runAudited's error says.
		if k := spangate.KindOf(err); k != spangate.Canceled && k != spangate.Unavailable {
			err = &auditFailure{err}
		}
		return 0, audit.Entry{}, asAuditError(err)
	}
	// The statement itself failed: record the failure.
	err = callerStatementError(err, dmlErr, c, st)
	failed := e
	failed.Table = c.table
	failed.Result, failed.Reason = audit.ResultFailed, audit.ErrorText(dmlErr)
	rec, aerr := d.AppendAudit(ctx, failed)
	if aerr != nil {
		d.logger.Warn("could not record a failed statement in the audit trail", "err", aerr)
	}
	return 0, rec, err
}

// callerStatementError returns err, the error of a DML statement Spanner
// refused, as it concerns the statement the caller wrote: Spanner's own
// description, without the THEN RETURN spangate added to capture keys
// (Spanner quotes the statement's line), in a message of err's kind.
func callerStatementError(err, dmlErr error, c capture, st *sqlstmt.Statement) error {
	var se *spanner.Error
	if !errors.As(dmlErr, &se) || se.Desc == "" {
		return err
	}
	desc := se.Desc
	if added := strings.TrimPrefix(c.stmt.SQL, st.SQL); added != c.stmt.SQL && added != "" {
		desc = strings.ReplaceAll(desc, added, "")
	}
	return &spangate.Error{Kind: spangate.KindOf(err), Message: "Spanner refused the statement: " + desc, Hint: spangate.HintOf(err), Err: err}
}

// execCaptured runs c and appends its entry in one read-write transaction.
// dmlErr is set when the statement itself failed (not contention, not the
// audit write).
func (d *DB) execCaptured(ctx context.Context, c capture, e audit.Entry) (rows int64, sealed audit.Entry, dmlErr, err error) {
	err = d.runAudited(ctx, "run DML", func(ctx context.Context, txn *spanner.ReadWriteTransaction, ap *appender) error {
		rows, sealed, dmlErr = 0, audit.Entry{}, nil
		n, keys, incomplete, err := c.run(ctx, txn)
		if err != nil {
			if !contended(err) {
				dmlErr = err
			}
			return err
		}
		out, err := ap.append(ctx, txn, c.entry(e, n, keys, incomplete))
		if err != nil {
			return err
		}
		rows, sealed = n, out[0]
		return nil
	})
	return rows, sealed, dmlErr, err
}

// Query runs one query in a single-use read-only transaction and returns
// at most limit rows (DefaultQueryRows when limit ≤ 0, at most
// MaxQueryRows), each a map from column name to a JSON-friendly value (see
// jsonValue). Parameters are bound, never spliced. Anything but a query is
// refused.
func (d *DB) Query(ctx context.Context, sql string, params map[string]any, limit int) ([]map[string]any, error) {
	st, err := sqlstmt.ParseOne(sql)
	if err != nil {
		return nil, err
	}
	if err := st.CheckCaller(); err != nil {
		return nil, err
	}
	if st.Kind != sqlstmt.Query {
		return nil, spangate.Errorf(spangate.Invalid, "%s is not a query", st.Verb).
			WithHint("Query runs SELECT statements; DML goes through ExecDML")
	}
	switch {
	case limit <= 0:
		limit = DefaultQueryRows
	case limit > MaxQueryRows:
		limit = MaxQueryRows
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	it := d.data().Single().Query(ctx, spanner.Statement{SQL: st.SQL, Params: params})
	defer func() { it.Stop() }()
	var out []map[string]any
	for len(out) < limit {
		row, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil && len(out) == 0 && d.heal(ctx, err) {
			// The first read met a lost session: once more, healed.
			it.Stop()
			it = d.data().Single().Query(ctx, spanner.Statement{SQL: st.SQL, Params: params})
			row, err = it.Next()
			if err == iterator.Done {
				break
			}
		}
		if err != nil {
			return nil, mapErr(err, "run the query")
		}
		m := make(map[string]any, row.Size())
		for i, name := range row.ColumnNames() {
			if name == "" {
				name = "_" + strconv.Itoa(i)
			}
			if m[name], err = jsonValue(row.ColumnType(i), row.ColumnValue(i)); err != nil {
				return nil, spangate.Errorf(spangate.Internal, "decode column %s: %w", name, err)
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// jsonValue turns a Spanner value into one encoding/json renders
// faithfully: INT64 as int64 (exact), FLOAT64/FLOAT32 as float64 (NaN and
// infinities as the strings "NaN", "Infinity", "-Infinity"), BOOL as bool,
// JSON as json.RawMessage, ARRAY as []any, STRUCT as map[string]any, NULL
// as nil, and everything else (STRING, BYTES as base64, TIMESTAMP and DATE
// in RFC 3339, NUMERIC, UUID, …) as Spanner's own text of it.
func jsonValue(t *sppb.Type, v *structpb.Value) (any, error) {
	if v == nil {
		return nil, nil
	}
	if _, ok := v.Kind.(*structpb.Value_NullValue); ok {
		return nil, nil
	}
	switch t.GetCode() {
	case sppb.TypeCode_INT64:
		return strconv.ParseInt(v.GetStringValue(), 10, 64)
	case sppb.TypeCode_FLOAT64, sppb.TypeCode_FLOAT32:
		if s, ok := v.Kind.(*structpb.Value_StringValue); ok {
			return s.StringValue, nil
		}
		return v.GetNumberValue(), nil
	case sppb.TypeCode_BOOL:
		return v.GetBoolValue(), nil
	case sppb.TypeCode_JSON:
		s := v.GetStringValue()
		if !json.Valid([]byte(s)) {
			return s, nil
		}
		return json.RawMessage(s), nil
	case sppb.TypeCode_ARRAY:
		list := v.GetListValue().GetValues()
		out := make([]any, len(list))
		for i, x := range list {
			var err error
			if out[i], err = jsonValue(t.GetArrayElementType(), x); err != nil {
				return nil, err
			}
		}
		return out, nil
	case sppb.TypeCode_STRUCT:
		fields := t.GetStructType().GetFields()
		list := v.GetListValue().GetValues()
		out := make(map[string]any, len(fields))
		for i, f := range fields {
			if i >= len(list) {
				break
			}
			name := f.GetName()
			if name == "" {
				name = "_" + strconv.Itoa(i)
			}
			var err error
			if out[name], err = jsonValue(f.GetType(), list[i]); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if s, ok := v.Kind.(*structpb.Value_StringValue); ok {
		return s.StringValue, nil
	}
	return v.AsInterface(), nil
}
