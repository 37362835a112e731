package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spangate/spangate/internal/migration"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files under testdata")

func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update creates it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from its golden file (go test -run %s -update rewrites it)\ngot:\n%s\nwant:\n%s", name, t.Name(), got, want)
	}
}

// TestPlanMarkdownGolden pins the pull-request comment of a plan with
// pending DDL and DML and with a blocking finding.
func TestPlanMarkdownGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
	}{
		{"ready", map[string]string{
			"migrations/0001_orders.sql": "CREATE TABLE Orders (Id INT64 NOT NULL, Note STRING(MAX)) PRIMARY KEY (Id);\nCREATE INDEX OrdersByNote ON Orders (Note);",
			"migrations/0002_seed.sql":   "INSERT INTO Orders (Id, Note) VALUES (1, 'a|b');",
		}},
		{"blocked", map[string]string{
			"migrations/0001_orders.sql": "CREATE TABLE Orders (Id INT64 NOT NULL) PRIMARY KEY (Id);",
			"migrations/0002_bad.sql":    "CREATE TABL Broken (Id INT64) PRIMARY KEY (Id);",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srcs []migration.Source
			for _, n := range []string{"migrations/0001_orders.sql", "migrations/0002_seed.sql", "migrations/0002_bad.sql"} {
				if c, ok := tc.files[n]; ok {
					srcs = append(srcs, migration.Source{Name: n, Content: []byte(c)})
				}
			}
			plan := migration.NewPlan(migration.Parse(srcs), nil)
			var b bytes.Buffer
			if err := writePlanMarkdown(&b, "orders", plan); err != nil {
				t.Fatal(err)
			}
			goldenFile(t, "plan-"+tc.name+".md", b.Bytes())
		})
	}
}

func TestLogGroup(t *testing.T) {
	now := func() time.Time { return time.Unix(1700000000, 0) }
	for _, tc := range []struct{ ci, want string }{
		{"github", "::group::spangate migrate apply\nline\n::endgroup::\n"},
		{"gitlab", "\x1b[0Ksection_start:1700000000:spangate_apply[collapsed=false]\r\x1b[0Kspangate migrate apply\nline\n\x1b[0Ksection_end:1700000000:spangate_apply\r\x1b[0K\n"},
		{"bitbucket", "line\n"},
		{"", "line\n"},
	} {
		var b strings.Builder
		g := startLogGroup(&b, tc.ci, "spangate_apply", "spangate migrate apply", now)
		b.WriteString("line\n")
		g.end()
		g.end()
		if b.String() != tc.want {
			t.Errorf("%q: got %q, want %q", tc.ci, b.String(), tc.want)
		}
	}
}

func TestInsightsAnnotationsPath(t *testing.T) {
	for in, want := range map[string]string{"r.json": "r-annotations.json", "out/insights": "out/insights-annotations", "a.b/c.json": "a.b/c-annotations.json"} {
		if got := insightsAnnotationsPath(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}
