package migration_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/migration"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		name    string
		version int64
		desc    string
		wantErr string
	}{
		{"0001_init.sql", 1, "init", ""},
		{"42_add-orders.v2.sql", 42, "add-orders.v2", ""},
		{"000000000000000000001_x.sql", 1, "x", ""},
		{"0000_zero.sql", 0, "", "positive integer"},
		{"abc_init.sql", 0, "", "positive integer"},
		{"1.sql", 0, "", "<version>_<description>"},
		{"1_.sql", 0, "", "<version>_<description>"},
		{"_init.sql", 0, "", "positive integer"},
		{"-1_init.sql", 0, "", "positive integer"},
		{"1_in it.sql", 0, "", "description"},
		{"99999999999999999999_big.sql", 0, "", "below 2^63"},
		{"0001_init.SQL", 0, "", ".sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, d, err := migration.ParseName(tt.name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || v != tt.version || d != tt.desc {
				t.Fatalf("= %d, %q, %v; want %d, %q", v, d, err, tt.version, tt.desc)
			}
		})
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"0001_init.sql", "1_a.sql", "x.sql", "007_a-b.c.sql", "1__.sql"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		v, d, err := migration.ParseName(name)
		if err != nil {
			return
		}
		if v <= 0 || d == "" {
			t.Fatalf("accepted %q as version %d, name %q", name, v, d)
		}
		// What was accepted must round-trip.
		v2, d2, err := migration.ParseName(fmt.Sprintf("%d_%s.sql", v, d))
		if err != nil || v2 != v || d2 != d {
			t.Fatalf("round trip of %q: %d %q %v", name, v2, d2, err)
		}
	})
}

func TestReadDirProblems(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		wantErr  string // an error of ReadDir itself
		wantRule string // else: a finding with this rule
		wantFile string
	}{
		{name: "no directory", files: nil, wantErr: "does not exist"},
		{name: "no sql files", files: map[string]string{"README.md": "x"}, wantErr: "no migration files"},
		{name: "malformed name", files: map[string]string{"init.sql": "SELECT 1"}, wantRule: migration.RuleFileName, wantFile: "migrations/init.sql"},
		{name: "duplicate version", files: map[string]string{"1_a.sql": "CREATE TABLE A (Id INT64) PRIMARY KEY (Id)", "0001_b.sql": "CREATE TABLE B (Id INT64) PRIMARY KEY (Id)"},
			wantRule: migration.RuleDuplicateVersion},
		{name: "empty file", files: map[string]string{"1_a.sql": "-- only a comment\n"}, wantRule: migration.RuleEmptyFile, wantFile: "migrations/1_a.sql"},
		{name: "syntax error", files: map[string]string{"1_a.sql": "CREATE TABLE A (Id INT64) PRIMARY KEY (Id);\nCREATE TABEL B"}, wantRule: migration.RuleSyntax, wantFile: "migrations/1_a.sql"},
		{name: "query in migration", files: map[string]string{"1_a.sql": "SELECT 1"}, wantRule: migration.RuleQueryInMigration},
		{name: "partitioned insert", files: map[string]string{"1_a.sql": "-- spangate:partitioned\nINSERT INTO A (Id) VALUES (1)"}, wantRule: migration.RulePartitionedInsert},
		{name: "partitioned ddl", files: map[string]string{"1_a.sql": "-- spangate:partitioned\nCREATE TABLE A (Id INT64) PRIMARY KEY (Id)"}, wantRule: migration.RulePartitionedInsert},
		{name: "misspelled directive", files: map[string]string{"1_a.sql": "-- spangate:partitoned\nUPDATE A SET X = 1 WHERE X IS NULL"}, wantRule: migration.RuleUnknownDirective},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for n, c := range tt.files {
				fsys["migrations/"+n] = &fstest.MapFile{Data: []byte(c)}
			}
			set, err := migration.ReadDir(fsys, "migrations")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || spangate.KindOf(err) != spangate.Invalid {
					t.Fatalf("err = %v, want an invalid error with %q", err, tt.wantErr)
				}
				if spangate.HintOf(err) == "" {
					t.Errorf("error %v has no hint", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			errs := set.Errors()
			if len(errs) == 0 || errs[0].Rule != tt.wantRule {
				t.Fatalf("findings = %+v, want rule %s", set.Findings, tt.wantRule)
			}
			if tt.wantFile != "" && errs[0].File != tt.wantFile {
				t.Errorf("finding names %s, want %s", errs[0].File, tt.wantFile)
			}
			if k := spangate.KindOf((&migration.Plan{Findings: errs}).Err()); k != spangate.Invalid {
				t.Errorf("plan error kind %v, want invalid (exit 2)", k)
			}
		})
	}
}

func TestBatching(t *testing.T) {
	table := func(i int) string {
		return fmt.Sprintf("CREATE TABLE T%d (Id INT64, V STRING(MAX)) PRIMARY KEY (Id);\n", i)
	}
	index := func(i int) string { return fmt.Sprintf("CREATE INDEX T%dByV ON T%d (V);\n", i, i) }
	tests := []struct {
		name    string
		files   []string
		history []migration.Record
		ops     int
		steps   []migration.StepKind
		heavy   []int
	}{
		{
			name:  "tables and their indexes in one batch",
			files: []string{table(1) + table(2), index(1), index(2)},
			ops:   1, steps: []migration.StepKind{migration.StepDDL}, heavy: []int{0},
		},
		{
			name: "indexes on existing tables split at ten",
			files: func() []string {
				var fs []string
				for i := range 12 {
					fs = append(fs, index(i))
				}
				return fs
			}(),
			ops: 2, steps: []migration.StepKind{migration.StepDDL, migration.StepDDL}, heavy: []int{10, 2},
		},
		{
			name:  "DML between DDL splits batches",
			files: []string{table(1), "INSERT INTO T1 (Id) VALUES (1);\nINSERT INTO T1 (Id) VALUES (2);", table(2)},
			ops:   2, steps: []migration.StepKind{migration.StepDDL, migration.StepDML, migration.StepDDL},
		},
		{
			name:  "index on a table created before intervening DML needs backfill",
			files: []string{table(1), "INSERT INTO T1 (Id) VALUES (1)", index(1)},
			ops:   2, steps: []migration.StepKind{migration.StepDDL, migration.StepDML, migration.StepDDL}, heavy: []int{0, 1},
		},
		{
			name:  "partitioned DML is its own step",
			files: []string{table(1) + "-- spangate:partitioned\nUPDATE T1 SET V = '' WHERE V IS NULL;\nALTER TABLE T1 ADD COLUMN W STRING(MAX)"},
			ops:   2, steps: []migration.StepKind{migration.StepDDL, migration.StepPartitioned, migration.StepDDL},
		},
		{
			name:    "resume skips applied statements",
			files:   []string{table(1) + table(2) + table(3)},
			history: []migration.Record{{Version: 1, State: migration.StateFailed, StatementsApplied: 2}},
			ops:     1, steps: []migration.StepKind{migration.StepDDL},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srcs []migration.Source
			for i, c := range tt.files {
				srcs = append(srcs, migration.Source{Name: fmt.Sprintf("%04d_f.sql", i+1), Content: []byte(c)})
			}
			set := migration.Parse(srcs)
			if errs := set.Errors(); len(errs) > 0 {
				t.Fatalf("findings: %+v", errs)
			}
			hist := tt.history
			for i := range hist {
				f := set.Files[hist[i].Version-1]
				hist[i].Checksum = f.Checksum
				hist[i].PrefixChecksum = migration.PrefixChecksum(f, hist[i].StatementsApplied)
			}
			p := migration.NewPlan(set, hist)
			if p.SchemaOperations != tt.ops {
				t.Errorf("schema operations = %d, want %d", p.SchemaOperations, tt.ops)
			}
			var kinds []migration.StepKind
			var heavy []int
			for _, s := range p.Steps {
				kinds = append(kinds, s.Kind)
				if s.Kind == migration.StepDDL {
					heavy = append(heavy, s.Heavy)
				}
			}
			if fmt.Sprint(kinds) != fmt.Sprint(tt.steps) {
				t.Errorf("steps = %v, want %v", kinds, tt.steps)
			}
			if tt.heavy != nil && fmt.Sprint(heavy) != fmt.Sprint(tt.heavy) {
				t.Errorf("heavy per batch = %v, want %v", heavy, tt.heavy)
			}
			if tt.history != nil && p.Statements != 1 {
				t.Errorf("resume plans %d statements, want 1", p.Statements)
			}
		})
	}
}

// BenchmarkPlan1000Files reads and plans 1,000 files of 5 statements each
// (target: under 1 s per plan).
func BenchmarkPlan1000Files(b *testing.B) {
	fsys := fstest.MapFS{}
	for i := 1; i <= 1000; i++ {
		var sb strings.Builder
		fmt.Fprintf(&sb, "-- file %d\nCREATE TABLE T%d (Id INT64 NOT NULL, Name STRING(MAX), Amount NUMERIC) PRIMARY KEY (Id);\n", i, i)
		fmt.Fprintf(&sb, "CREATE INDEX T%dByName ON T%d (Name);\n", i, i)
		fmt.Fprintf(&sb, "ALTER TABLE T%d ADD COLUMN Note STRING(100);\n", i)
		fmt.Fprintf(&sb, "INSERT INTO T%d (Id, Name) VALUES (1, 'a;b');\n", i)
		fmt.Fprintf(&sb, "-- spangate:partitioned\nUPDATE T%d SET Note = '' WHERE Note IS NULL;\n", i)
		fsys[fmt.Sprintf("m/%04d_t%d.sql", i, i)] = &fstest.MapFile{Data: []byte(sb.String())}
	}
	b.ReportAllocs()
	for b.Loop() {
		set, err := migration.ReadDir(fsys, "m")
		if err != nil || len(set.Errors()) > 0 {
			b.Fatal(err, set.Errors())
		}
		p := migration.NewPlan(set, nil)
		if p.Statements != 5000 {
			b.Fatalf("planned %d statements", p.Statements)
		}
	}
}
