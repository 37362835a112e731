package migration_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/spannerdb"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// userSchema returns the live schema without spangate's own tables.
func userSchema(t *testing.T, db *spannerdb.DB) []string {
	t.Helper()
	ddl, err := db.Schema(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range ddl {
		if !strings.Contains(s, "Spangate") {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// TestHistoriesOfOtherTools (issue 13): one history in wrench's,
// golang-migrate's and Liquibase's conventions (testdata/histories) applies
// as it is, a second apply does nothing, and the schema it leaves is the
// one the plain DDL gives.
func TestHistoriesOfOtherTools(t *testing.T) {
	plain, err := os.ReadFile(filepath.Join("testdata", "histories", "plain.ddl"))
	if err != nil {
		t.Fatal(err)
	}
	stmts, err := sqlstmt.Parse("plain.ddl", string(plain))
	if err != nil {
		t.Fatal(err)
	}
	var ddl []string
	for _, st := range stmts {
		ddl = append(ddl, st.SQL)
	}
	ref, err := spannerdb.Open(t.Context(), emulatortest.NewDatabase(t, ddl...), spannerdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	want := userSchema(t, ref)

	for _, tool := range []string{"wrench", "golang-migrate", "liquibase"} {
		t.Run(tool, func(t *testing.T) {
			set, err := migration.ReadOSDir(filepath.Join("testdata", "histories", tool))
			if err != nil {
				t.Fatal(err)
			}
			db := openDB(t)
			e := engineFor(db, tool)
			e.LiveSchema = db
			res, err := e.Apply(t.Context(), set)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Applied) != 5 || res.SchemaOperations != 2 {
				t.Errorf("first apply: %+v; want 5 files in 2 schema operations", res)
			}
			again, err := e.Apply(t.Context(), set)
			if err != nil || len(again.Applied) != 0 || again.Statements != 0 || again.SchemaOperations != 0 {
				t.Errorf("second apply: %+v %v; want nothing done", again, err)
			}
			if got := userSchema(t, db); !slices.Equal(got, want) {
				t.Errorf("schema after %s's history:\n%s\nwant (plain DDL):\n%s", tool, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if n := count(t, db, "SELECT COUNT(*) FROM Players WHERE Country = 'DE'"); n != 10 {
				t.Errorf("%d players in DE, want 10", n)
			}
			p, err := e.Plan(t.Context(), set)
			if err != nil || len(p.Pending) != 0 || p.Blocked() {
				t.Fatalf("plan after apply: %+v %v", p, err)
			}
			for _, f := range p.Findings {
				if f.Rule == migration.RuleDrift {
					t.Errorf("drift: %+v", f)
				}
			}
		})
	}
}

// TestWrenchHistoryWithProtoBundle: a wrench directory whose first file
// creates a proto bundle with the descriptors its directive names
// (testdata/histories/wrench-proto) applies as it is, re-applies as a
// no-op, and ends with the schema its plain DDL gives when sent with the
// same descriptors.
func TestWrenchHistoryWithProtoBundle(t *testing.T) {
	dir := filepath.Join("testdata", "histories", "wrench-proto")
	set, err := migration.ReadOSDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.LoadProtoDescriptors(func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, p)) }, nil); err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	e := engineFor(db, "wrench-proto")
	e.LiveSchema = db
	if res, err := e.Apply(t.Context(), set); err != nil || len(res.Applied) != 3 {
		t.Fatalf("apply: %+v %v", res, err)
	}
	if again, err := e.Apply(t.Context(), set); err != nil || len(again.Applied) != 0 || again.Statements != 0 {
		t.Errorf("second apply: %+v %v; want nothing done", again, err)
	}
	pb, err := os.ReadFile(filepath.Join(dir, "shop.pb"))
	if err != nil {
		t.Fatal(err)
	}
	ref := openDB(t)
	if _, err := ref.UpdateSchemaProto(t.Context(), "plain", []string{
		"CREATE PROTO BUNDLE (examples.shop.Item, examples.shop.Color)",
		"CREATE TABLE Orders (OrderId INT64 NOT NULL, Item examples.shop.Item, Color examples.shop.Color) PRIMARY KEY (OrderId)",
	}, pb); err != nil {
		t.Fatal(err)
	}
	if got, want := userSchema(t, db), userSchema(t, ref); !slices.Equal(got, want) {
		t.Errorf("schema:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := count(t, db, "SELECT COUNT(*) FROM Orders"); n != 1 {
		t.Errorf("%d orders, want 1", n)
	}
}
