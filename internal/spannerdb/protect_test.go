package spannerdb_test

import (
	"strings"
	"testing"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/spannerdb"
)

// TestAppendRefusesAnUnverifiedHead rewrites the chain head behind
// spangate's back (as a caller's statement did before spangate's tables
// were closed to callers) and checks that the next append, which reads the
// head, refuses to chain onto it: the change does not commit, and the
// error says why.
func TestAppendRefusesAnUnverifiedHead(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *spannerdb.DB, last audit.Entry)
		want   string
	}{
		{"head names a deleted entry", func(t *testing.T, db *spannerdb.DB, last audit.Entry) {
			apply(t, db, spanner.Delete(spannerdb.AuditTable, spanner.Key{last.Seq}))
		}, "does not exist"},
		{"head hash rewritten", func(t *testing.T, db *spannerdb.DB, last audit.Entry) {
			apply(t, db, spannerdb.AuditHeadMutation(last.Seq, strings.Repeat("ab", 32)))
		}, "does not match"},
		{"entries deleted and the head moved back onto a forged hash", func(t *testing.T, db *spannerdb.DB, last audit.Entry) {
			apply(t, db, spanner.Delete(spannerdb.AuditTable, spanner.Key{last.Seq}),
				spannerdb.AuditHeadMutation(last.Seq-1, strings.Repeat("cd", 32)))
		}, "does not match"},
		{"entry edited under its hash", func(t *testing.T, db *spannerdb.DB, last audit.Entry) {
			apply(t, db, spanner.Update(spannerdb.AuditTable, []string{"Seq", "Principal"}, []any{last.Seq, "someone else"}))
		}, "does not match"},
		{"empty chain head with a hash", func(t *testing.T, db *spannerdb.DB, last audit.Entry) {
			apply(t, db, spanner.Delete(spannerdb.AuditTable, spanner.AllKeys()), spannerdb.AuditHeadMutation(0, strings.Repeat("ef", 32)))
		}, "names no entry"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, path := openAudited(t)
			ctx := t.Context()
			for i := range 2 {
				if _, _, err := db.ExecDML(ctx, "INSERT INTO Orders (Id) VALUES (@id)", map[string]any{"id": int64(i + 1)}, actor("ci")); err != nil {
					t.Fatal(err)
				}
			}
			all := entries(t, db)
			tc.tamper(t, db, all[len(all)-1])
			// A fresh client has no remembered head: it reads and checks it.
			fresh := openPath(t, path)
			_, _, err := fresh.ExecDML(ctx, "INSERT INTO Orders (Id) VALUES (9)", nil, actor("ci"))
			if spangate.KindOf(err) != spangate.Unavailable || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "refusing to chain onto it") {
				t.Fatalf("err = %v (kind %v); want Unavailable saying %q", err, spangate.KindOf(err), tc.want)
			}
			if n := countRows(t, fresh, "SELECT COUNT(*) FROM Orders WHERE Id = 9"); n != 0 {
				t.Fatal("the change committed onto a head nobody verified")
			}
			if _, err := fresh.AppendAudit(ctx, actor("ci")); spangate.KindOf(err) != spangate.Unavailable {
				t.Fatalf("AppendAudit: %v, want Unavailable", err)
			}
		})
	}
}

// TestVerifyChecksTheKeysIndex deletes and adds rows of the index of
// changed rows, which the chain itself does not cover: verify must say the
// trail is not intact, naming the entry.
func TestVerifyChecksTheKeysIndex(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *spannerdb.DB)
		bad    int64
	}{
		{"a key row deleted", func(t *testing.T, db *spannerdb.DB) {
			apply(t, db, spanner.Delete(spannerdb.AuditKeysTable, spanner.Key{"orders", "[2]", int64(2)}))
		}, 2},
		{"every key row of a table deleted", func(t *testing.T, db *spannerdb.DB) {
			apply(t, db, spanner.Delete(spannerdb.AuditKeysTable, spanner.KeyRange{Start: spanner.Key{"orders"}, End: spanner.Key{"orders"}, Kind: spanner.ClosedClosed}))
		}, 1},
		{"a key row pinned on another entry", func(t *testing.T, db *spannerdb.DB) {
			apply(t, db, spanner.Insert(spannerdb.AuditKeysTable, []string{"TableName", "KeyText", "Seq"}, []any{"orders", "[3]", int64(1)}))
		}, 1},
		{"a key row for no entry", func(t *testing.T, db *spannerdb.DB) {
			apply(t, db, spanner.Insert(spannerdb.AuditKeysTable, []string{"TableName", "KeyText", "Seq"}, []any{"orders", "[7]", int64(70)}))
		}, 70},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openAudited(t)
			ctx := t.Context()
			for i := range 3 {
				if _, _, err := db.ExecDML(ctx, "INSERT INTO Orders (Id) VALUES (@id)", map[string]any{"id": int64(i + 1)}, actor("ci")); err != nil {
					t.Fatal(err)
				}
			}
			if r := verify(t, db); !r.OK {
				t.Fatalf("before: %+v", r)
			}
			tc.tamper(t, db)
			r := verify(t, db)
			if r.OK || r.FirstBad == nil || *r.FirstBad != tc.bad || !strings.Contains(r.Problem, spannerdb.AuditKeysTable) {
				t.Fatalf("verify = %+v; want a failure at entry %d naming %s", r, tc.bad, spannerdb.AuditKeysTable)
			}
		})
	}
}

// TestStatementErrorShowsTheCallersStatement: Spanner quotes the statement
// it refused; the caller sees the statement it sent, not spangate's
// rewrite of it (THEN RETURN of the key columns), and no escaped newlines.
func TestStatementErrorShowsTheCallersStatement(t *testing.T) {
	db, _ := openAudited(t)
	for _, sql := range []string{
		"UPDATE Orders SET Note = 'x' WHERE Nope > 1",
		"DELETE FROM Orders\nWHERE Id > 0\n  AND Nope = 2",
	} {
		_, _, err := db.ExecDML(t.Context(), sql, nil, actor("ci"))
		if err == nil {
			t.Fatalf("%s: no error", sql)
		}
		msg := err.Error()
		if strings.Contains(msg, "THEN RETURN") || strings.Contains(msg, `\n`) || !strings.Contains(msg, "Nope") || spangate.KindOf(err) != spangate.Invalid {
			t.Errorf("%s: error %q (kind %v); want Spanner's description of the caller's statement", sql, msg, spangate.KindOf(err))
		}
	}
}
