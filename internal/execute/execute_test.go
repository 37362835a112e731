package execute_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/execute"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// target records what Run asked of it; each step can be made to fail.
type target struct {
	calls                              []string
	entries                            []audit.Entry
	queryErr, dmlErr, auditErr, ddlErr error
	ddlLost                            bool // UpdateSchema reports the outcome unknown (-1)
}

func (t *target) Query(ctx context.Context, sql string, params map[string]any, limit int) ([]map[string]any, error) {
	t.calls = append(t.calls, "query")
	return []map[string]any{{"n": int64(1)}}, t.queryErr
}

func (t *target) ExecParsed(ctx context.Context, st *sqlstmt.Statement, params map[string]any, e audit.Entry) (int64, audit.Entry, error) {
	t.calls = append(t.calls, "dml")
	if t.dmlErr != nil {
		return 0, e, t.dmlErr
	}
	t.entries = append(t.entries, e)
	return 3, e, nil
}

func (t *target) AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	t.calls = append(t.calls, "audit:"+e.Result)
	if t.auditErr != nil {
		return e, t.auditErr
	}
	t.entries = append(t.entries, e)
	return e, nil
}

func (t *target) UpdateSchema(ctx context.Context, opID string, stmts []string) (int, error) {
	t.calls = append(t.calls, "ddl")
	if t.ddlLost {
		return -1, spangate.Errorf(spangate.Unavailable, "connection lost (test)")
	}
	return len(stmts), t.ddlErr
}

func run(t *testing.T, tg *target, sql string, params map[string]any) (execute.Result, error) {
	t.Helper()
	st, err := sqlstmt.ParseOne(sql)
	if err != nil {
		t.Fatal(err)
	}
	return execute.Run(context.Background(), tg, &st, params, audit.Entry{Principal: "p"}, execute.Options{})
}

func TestRun(t *testing.T) {
	boom := errors.New("boom with secret-value")
	unavailable := spangate.Errorf(spangate.Unavailable, "audit head missing")
	tests := []struct {
		name      string
		sql       string
		params    map[string]any
		tg        target
		wantCalls []string
		wantKind  spangate.Kind // 0 with wantOK
		wantOK    bool
		wantRows  int64
		// wantUnknown: the error says the outcome is unknown.
		wantUnknown bool
	}{
		{name: "query is answered after it is recorded", sql: "SELECT 1", wantCalls: []string{"query", "audit:ok"}, wantOK: true, wantRows: 1},
		{name: "query not answered when the audit fails", sql: "SELECT 1", tg: target{auditErr: boom}, wantCalls: []string{"query", "audit:ok"}, wantKind: spangate.Unavailable},
		{name: "failed query recorded as failed", sql: "SELECT 1", tg: target{queryErr: boom}, wantCalls: []string{"query", "audit:failed"}, wantKind: spangate.Internal},
		{name: "DML commits with its entry", sql: "UPDATE T SET A = 1 WHERE Id = @id", params: map[string]any{"id": int64(1)}, wantCalls: []string{"dml"}, wantOK: true, wantRows: 3},
		{name: "DML whose audit fails", sql: "DELETE FROM T WHERE Id = 1", tg: target{dmlErr: unavailable}, wantCalls: []string{"dml"}, wantKind: spangate.Unavailable},
		{name: "partitioned DML refused outside migrations", sql: "-- spangate:partitioned\nUPDATE T SET A = 1 WHERE A IS NULL", wantKind: spangate.Invalid},
		{name: "DDL recorded before it is sent", sql: "CREATE TABLE X (Id INT64) PRIMARY KEY (Id)", wantCalls: []string{"audit:ok", "ddl"}, wantOK: true},
		{name: "DDL not sent when the audit fails", sql: "DROP TABLE X", tg: target{auditErr: boom}, wantCalls: []string{"audit:ok"}, wantKind: spangate.Unavailable},
		{name: "failed DDL gets a second entry", sql: "DROP TABLE X", tg: target{ddlErr: boom}, wantCalls: []string{"audit:ok", "ddl", "audit:failed"}, wantKind: spangate.Internal},
		{name: "DDL whose outcome is unknown gets no failed entry", sql: "DROP TABLE X", tg: target{ddlLost: true}, wantCalls: []string{"audit:ok", "ddl"}, wantKind: spangate.Unavailable, wantUnknown: true},
		{name: "DDL takes no parameters", sql: "DROP TABLE X", params: map[string]any{"a": "b"}, wantKind: spangate.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := tt.tg
			res, err := run(t, &tg, tt.sql, tt.params)
			if tt.wantOK {
				if err != nil || res.RowCount != tt.wantRows {
					t.Fatalf("Run = %+v, %v; want %d rows", res, err, tt.wantRows)
				}
			} else if k := spangate.KindOf(err); err == nil || k != tt.wantKind {
				t.Fatalf("Run error = %v (kind %v), want kind %v", err, k, tt.wantKind)
			}
			if got := errors.Is(err, spangate.ErrOutcomeUnknown); got != tt.wantUnknown {
				t.Errorf("outcome unknown = %v (%v), want %v", got, err, tt.wantUnknown)
			}
			if got, _ := json.Marshal(tg.calls); string(got) != mustJSON(tt.wantCalls) {
				t.Errorf("calls = %s, want %s", got, mustJSON(tt.wantCalls))
			}
			for _, e := range tg.entries {
				if e.Action == "" || e.Statement == "" || e.Principal != "p" {
					t.Errorf("entry lacks action, statement or principal: %+v", e)
				}
				if e.Result == audit.ResultFailed && e.Reason == "" {
					t.Errorf("failed entry without a reason")
				}
			}
		})
	}
}

func TestRunRecordsActionAndHashedParams(t *testing.T) {
	tg := &target{}
	if _, err := run(t, tg, "DELETE FROM T WHERE true", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if tg.entries[0].Action != string(spangate.ActionDestructive) {
		t.Errorf("action = %s, want destructive", tg.entries[0].Action)
	}
	tg = &target{}
	if _, err := run(t, tg, "UPDATE T SET S = @s WHERE Id = 1", map[string]any{"s": "secret-value"}); err != nil {
		t.Fatal(err)
	}
	if p := tg.entries[0].Params["s"]; p == "" || p == "secret-value" {
		t.Errorf("param recorded as %q, want its hash", p)
	}
}

func TestDecodeParams(t *testing.T) {
	raw := map[string]json.RawMessage{"i": json.RawMessage(`42`), "f": json.RawMessage(`4.5`), "s": json.RawMessage(`"x"`),
		"b": json.RawMessage(`true`), "n": json.RawMessage(`null`), "a": json.RawMessage(`[1,null,3]`)}
	got, err := execute.DecodeParams(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["i"].(int64); !ok {
		t.Errorf("i = %T, want int64", got["i"])
	}
	if _, ok := got["f"].(float64); !ok {
		t.Errorf("f = %T, want float64", got["f"])
	}
	if a, ok := got["a"].([]*int64); !ok || len(a) != 3 || a[1] != nil {
		t.Errorf("a = %#v, want []*int64 with a nil", got["a"])
	}
	for _, bad := range []map[string]json.RawMessage{
		{"o": json.RawMessage(`{"k":1}`)}, {"m": json.RawMessage(`[1,"x"]`)}, {"1bad": json.RawMessage(`1`)}, {"x": json.RawMessage(`[[1]]`)},
	} {
		if _, err := execute.DecodeParams(bad); spangate.KindOf(err) != spangate.Invalid {
			t.Errorf("DecodeParams(%s) = %v, want invalid", bad, err)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// keyTarget is a target that knows the tables' keys.
type keyTarget struct {
	target
	keys map[string][]string
}

func (k *keyTarget) KeyColumns(_ context.Context, table string) ([]string, error) {
	if cols, ok := k.keys[table]; ok {
		return cols, nil
	}
	return nil, spangate.Errorf(spangate.Invalid, "table %s does not exist", table)
}

// TestGuards: Run refuses spangate's tables and missing parameters before
// anything is sent, and records DML under the action its classification
// against the table's key gives.
func TestGuards(t *testing.T) {
	tests := []struct {
		name   string
		sql    string
		params map[string]any
		kind   spangate.Kind
		msg    string
		action string
	}{
		{name: "audit trail", sql: "SELECT * FROM SpangateAudit", kind: spangate.Denied, msg: "belongs to spangate"},
		{name: "history write", sql: "DELETE FROM SpangateMigrations WHERE Version = 1", kind: spangate.Denied, msg: "belongs to spangate"},
		{name: "missing parameter", sql: "UPDATE Orders SET Note = @note WHERE Id = @id", params: map[string]any{"id": int64(1)}, kind: spangate.Invalid, msg: "@note"},
		{name: "every parameter missing", sql: "SELECT @a, @b", kind: spangate.Invalid, msg: "@a, @b"},
		{name: "parameter names ignore case", sql: "UPDATE Orders SET Note = 'x' WHERE Id = @ID", params: map[string]any{"id": int64(1)}, action: "write"},
		{name: "bounded by the key", sql: "DELETE FROM Orders WHERE Id = 1", action: "write"},
		{name: "not bounded by the key", sql: "DELETE FROM Orders WHERE Note = 'x'", action: "destructive"},
		{name: "unknown table", sql: "DELETE FROM Nope WHERE Id = 1", action: "destructive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := &keyTarget{keys: map[string][]string{"Orders": {"Id"}}}
			st, err := sqlstmt.ParseOne(tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			_, err = execute.Run(context.Background(), tg, &st, tt.params, audit.Entry{Principal: "p"}, execute.Options{})
			if tt.kind != 0 {
				if spangate.KindOf(err) != tt.kind || err == nil || !strings.Contains(err.Error(), tt.msg) || len(tg.calls) != 0 {
					t.Fatalf("err = %v (kind %v), calls %v; want %v naming %q and nothing sent", err, spangate.KindOf(err), tg.calls, tt.kind, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tg.entries) != 1 || tg.entries[0].Action != tt.action {
				t.Fatalf("entries %+v; want one with action %s", tg.entries, tt.action)
			}
		})
	}
}
