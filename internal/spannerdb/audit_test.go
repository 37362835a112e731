package spannerdb_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/spannerdb"
)

func TestMain(m *testing.M) { emulatortest.Main(m) }

// userTables are the tables the DML tests change: a plain key, a
// composite key with a DESC part, and a string key.
var userTables = []string{
	"CREATE TABLE Orders (Id INT64 NOT NULL, Note STRING(MAX)) PRIMARY KEY (Id)",
	"CREATE TABLE Lines (OrderId INT64 NOT NULL, Sku STRING(32) NOT NULL, Qty INT64) PRIMARY KEY (OrderId, Sku DESC)",
	"CREATE TABLE Tags (Name STRING(64) NOT NULL, Color STRING(16)) PRIMARY KEY (Name)",
}

// openAudited opens a fresh database with the user tables and spangate's
// tables, and returns a path so that tests can open a second client.
func openAudited(t testing.TB) (*spannerdb.DB, string) {
	t.Helper()
	path := emulatortest.NewDatabase(t, userTables...)
	return openPath(t, path), path
}

func openPath(t testing.TB, path string) *spannerdb.DB {
	t.Helper()
	db, err := spannerdb.Open(context.Background(), path, spannerdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func actor(principal string) audit.Entry {
	return audit.Entry{
		Principal: principal, Issuer: "github", Subject: "repo:acme/orders:ref:refs/heads/main",
		Attributes: map[string]string{"repository": "acme/orders"},
		Run:        spangate.RunMetadata{CI: "github", Commit: "abc123", Pipeline: "deploy", Build: "7"},
		Action:     "write", Database: "orders",
	}
}

func verify(t testing.TB, db *spannerdb.DB) audit.VerifyResult {
	t.Helper()
	r, err := db.VerifyAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAppendAuditChainVerifies(t *testing.T) {
	db, _ := openAudited(t)
	ctx := t.Context()
	var prev string
	for i := range 5 {
		e := actor(fmt.Sprintf("p%d", i))
		e.Action, e.Result, e.Reason = "read", audit.ResultDenied, "no rule allows read"
		got, err := db.AppendAudit(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if got.Seq != int64(i+1) || got.PrevHash != prev || got.Hash == "" {
			t.Fatalf("entry %d: seq %d prev %q hash %q; want seq %d prev %q", i, got.Seq, got.PrevHash, got.Hash, i+1, prev)
		}
		prev = got.Hash
	}
	if r := verify(t, db); !r.OK || r.Entries != 5 {
		t.Fatalf("verify = %+v; want ok with 5 entries", r)
	}
	var seqs []int64
	if err := db.ScanAudit(ctx, func(e audit.Entry) error { seqs = append(seqs, e.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("scan = %v", seqs)
	}
}

func TestExecDMLRecordsKeys(t *testing.T) {
	db, _ := openAudited(t)
	ctx := t.Context()
	tests := []struct {
		name   string
		sql    string
		params map[string]any
		rows   int64
		table  string
		keys   []string
	}{
		{"insert", "INSERT INTO Orders (Id, Note) VALUES (1, 'a'), (2, @note)", map[string]any{"note": "secret"}, 2, "Orders", []string{"[1]", "[2]"}},
		{"update", "UPDATE Orders SET Note = 'b' WHERE Id = @id", map[string]any{"id": int64(2)}, 1, "Orders", []string{"[2]"}},
		{"composite desc insert", "INSERT INTO Lines (OrderId, Sku, Qty) VALUES (1, 'x', 1), (1, 'y', 2), (2, 'x', 3)", nil, 3, "Lines", []string{`[1,"y"]`, `[1,"x"]`, `[2,"x"]`}},
		{"composite delete", "DELETE FROM Lines WHERE OrderId = 1 AND Sku = 'x'", nil, 1, "Lines", []string{`[1,"x"]`}},
		{"string key, lower-case table", "insert into tags (Name) values ('red')", nil, 1, "Tags", []string{`["red"]`}},
		{"no rows", "UPDATE Orders SET Note = 'z' WHERE Id = 99", nil, 0, "Orders", nil},
		{"delete", "DELETE FROM Orders WHERE Id = 1", nil, 1, "Orders", []string{"[1]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, e, err := db.ExecDML(ctx, tc.sql, tc.params, actor("ci"))
			if err != nil {
				t.Fatal(err)
			}
			if rows != tc.rows || e.Rows != tc.rows || e.Table != tc.table || e.KeysIncomplete {
				t.Errorf("rows %d, entry rows %d table %q incomplete %v; want %d, %q", rows, e.Rows, e.Table, e.KeysIncomplete, tc.rows, tc.table)
			}
			if !sameSet(e.Keys, tc.keys) {
				t.Errorf("keys = %v, want %v", e.Keys, tc.keys)
			}
			if e.Result != audit.ResultOK || e.Statement == "" {
				t.Errorf("entry = %+v", e)
			}
			for name, v := range e.Params {
				if !strings.HasPrefix(v, "sha256:") || strings.Contains(v, "secret") {
					t.Errorf("param %s stored as %q", name, v)
				}
			}
		})
	}
	if r := verify(t, db); !r.OK || r.Entries != int64(len(tests)) {
		t.Fatalf("verify = %+v", r)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

var _ = time.Now
var _ = spanner.Key{}
