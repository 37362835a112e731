package migration_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/migration"
)

func TestParseFileName(t *testing.T) {
	tests := []struct {
		name       string
		version    int64
		desc       string
		convention migration.Convention
		down       bool
		wantErr    string
	}{
		{"0001_init.sql", 1, "init", migration.ConventionSpangate, false, ""},
		{"42_add-orders.v2.sql", 42, "add-orders.v2", migration.ConventionSpangate, false, ""},
		{"000000000000000000001_x.sql", 1, "x", migration.ConventionSpangate, false, ""},
		{"000001.sql", 1, "", migration.ConventionWrench, false, ""},
		{"1.sql", 1, "", migration.ConventionWrench, false, ""},
		{"1_init.up.sql", 1, "init", migration.ConventionGolangMigrate, false, ""},
		{"0002_add_x.down.sql", 2, "add_x", migration.ConventionGolangMigrate, true, ""},
		{"0000_zero.sql", 0, "", "", false, "positive integer"},
		{"000000.sql", 0, "", "", false, "positive integer"},
		{"abc_init.sql", 0, "", "", false, "positive integer"},
		{"abc.sql", 0, "", "", false, "<version>.sql as wrench"},
		{"1_.sql", 0, "", "", false, "<version>_<description>.sql"},
		{"1.up.sql", 0, "", "", false, "<version>_<description>.up.sql"},
		{"1_.down.sql", 0, "", "", false, "<version>_<description>.up.sql"},
		{"_init.sql", 0, "", "", false, "positive integer"},
		{"-1_init.sql", 0, "", "", false, "positive integer"},
		{"1_in it.sql", 0, "", "", false, "description"},
		{"99999999999999999999_big.sql", 0, "", "", false, "below 2^63"},
		{"0001_init.SQL", 0, "", "", false, ".sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn, err := migration.ParseFileName(tt.name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			want := migration.FileName{Version: tt.version, Description: tt.desc, Convention: tt.convention, Down: tt.down}
			if err != nil || fn != want {
				t.Fatalf("= %+v, %v; want %+v", fn, err, want)
			}
		})
	}
}

// nameIn writes fn back as a file name in its convention.
func nameIn(fn migration.FileName) string {
	switch {
	case fn.Convention == migration.ConventionWrench:
		return fmt.Sprintf("%06d.sql", fn.Version)
	case fn.Convention == migration.ConventionGolangMigrate && fn.Down:
		return fmt.Sprintf("%d_%s.down.sql", fn.Version, fn.Description)
	case fn.Convention == migration.ConventionGolangMigrate:
		return fmt.Sprintf("%d_%s.up.sql", fn.Version, fn.Description)
	}
	return fmt.Sprintf("%d_%s.sql", fn.Version, fn.Description)
}

func FuzzParseFileName(f *testing.F) {
	for _, s := range []string{"0001_init.sql", "1_a.sql", "x.sql", "007_a-b.c.sql", "1__.sql", "000001.sql",
		"1_init.up.sql", "1_init.down.sql", "1.up.sql", "2_a.up.up.sql", "3_x.down.up.sql"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		fn, err := migration.ParseFileName(name)
		if err != nil {
			return
		}
		if fn.Version <= 0 || (fn.Description == "") != (fn.Convention == migration.ConventionWrench) {
			t.Fatalf("accepted %q as %+v", name, fn)
		}
		if fn.Down && fn.Convention != migration.ConventionGolangMigrate {
			t.Fatalf("%q: a down migration outside golang-migrate's convention: %+v", name, fn)
		}
		// What was accepted must round-trip.
		again, err := migration.ParseFileName(nameIn(fn))
		if err != nil || again != fn {
			t.Fatalf("round trip of %q (%+v): %+v %v", name, fn, again, err)
		}
	})
}

// TestNamingConventions: wrench and golang-migrate directories are read as
// they are; a down migration is an info finding, not a migration; a
// directory that mixes conventions is refused, naming a file of each.
func TestNamingConventions(t *testing.T) {
	tests := []struct {
		name     string
		files    []string
		versions []int64
		wantErr  string
		info     string
	}{
		{"wrench", []string{"000001.sql", "000002.sql", "000010.sql"}, []int64{1, 2, 10}, "", ""},
		{"golang-migrate", []string{"1_init.up.sql", "1_init.down.sql", "2_more.up.sql", "2_more.down.sql"}, []int64{1, 2}, "", "1_init.down.sql is a golang-migrate down migration"},
		{"spangate", []string{"0001_init.sql", "0002_more.sql"}, []int64{1, 2}, "", ""},
		{"wrench and spangate", []string{"000001.sql", "0002_more.sql"}, []int64{1, 2}, "000001.sql is named the wrench way (<version>.sql) and 0002_more.sql the spangate way", ""},
		{"golang-migrate and spangate", []string{"0001_init.sql", "2_more.up.sql"}, []int64{1, 2}, "0001_init.sql is named the spangate way (<version>_<description>.sql) and 2_more.up.sql the golang-migrate way", ""},
		{"golang-migrate down and wrench", []string{"000001.sql", "2_more.down.sql"}, []int64{1}, "mixes file naming conventions", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for i, n := range tt.files {
				fsys["m/"+n] = &fstest.MapFile{Data: []byte(fmt.Sprintf("CREATE TABLE T%d (Id INT64 NOT NULL) PRIMARY KEY (Id);", i))}
			}
			set, err := migration.ReadDir(fsys, "m")
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, f := range set.Files {
				got = append(got, f.Version)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.versions) {
				t.Errorf("versions %v, want %v", got, tt.versions)
			}
			errs := set.Errors()
			if tt.wantErr == "" && len(errs) > 0 {
				t.Fatalf("errors: %+v", errs)
			}
			if tt.wantErr != "" {
				if len(errs) != 1 || errs[0].Rule != migration.RuleMixedNames || !strings.Contains(errs[0].Message, tt.wantErr) {
					t.Fatalf("errors %+v; want one %s mentioning %q", errs, migration.RuleMixedNames, tt.wantErr)
				}
				if p := migration.NewPlan(set, nil); spangate.KindOf(p.Err()) != spangate.Invalid {
					t.Errorf("plan error %v; want Invalid (exit 2)", p.Err())
				}
			}
			if tt.info != "" {
				found := false
				for _, f := range set.Findings {
					found = found || f.Severity == migration.SeverityInfo && f.Rule == migration.RuleDownMigration && strings.Contains(f.Message, tt.info)
				}
				if !found {
					t.Errorf("no down-migration info finding in %+v", set.Findings)
				}
			}
		})
	}
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

// TestClientCommands: the JDBC driver's batch commands that Liquibase
// changesets carry are ignored with an info finding at their line; SET
// PROTO_DESCRIPTORS is refused, named, with the directive to use instead.
func TestClientCommands(t *testing.T) {
	tests := []struct {
		name       string
		content    string
		statements int
		infoLines  []int
		errLine    int
		errWant    string
	}{
		{"batch", "-- liquibase formatted sql\n-- changeset alice:1\nSTART BATCH DDL;\nCREATE TABLE A (Id INT64 NOT NULL) PRIMARY KEY (Id);\n" +
			"CREATE INDEX AById ON A (Id);\nRUN BATCH;\n", 2, []int{3, 6}, 0, ""},
		{"lower case, comments", "start /* x */ batch ddl ;\nCREATE TABLE A (Id INT64 NOT NULL) PRIMARY KEY (Id);\n-- done\nabort\nbatch;", 1, []int{1, 4}, 0, ""},
		{"statement after keeps its line", "START BATCH DDL;\nCREATE TABLE A (Id INT64 NOT NULL) PRIMARY KEY (Id);\nRUN BATCH;\nINSERT INTO A (Id) VALUES (1);", 2, []int{1, 3}, 0, ""},
		{"proto descriptors", "CREATE TABLE A (Id INT64 NOT NULL) PRIMARY KEY (Id);\nSET PROTO_DESCRIPTORS = 'CgRmb28=';\nCREATE PROTO BUNDLE (x.Y);", 0, nil, 2, "spangate:proto-descriptors"},
		{"a string holding the words", "INSERT INTO A (Id, S) VALUES (1, 'START BATCH DDL');", 1, nil, 0, ""},
		{"a batch word alone stays a syntax error", "START BATCH;", 0, nil, 1, "syntax error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := migration.Parse([]migration.Source{{Name: "m/0001_x.sql", Content: []byte(tt.content)}})
			var infos []int
			var errs []migration.Finding
			for _, f := range set.Findings {
				if f.Severity == migration.SeverityInfo && f.Rule == migration.RuleClientCommand {
					infos = append(infos, f.Line)
				}
				if f.Severity == migration.SeverityError {
					errs = append(errs, f)
				}
			}
			if fmt.Sprint(infos) != fmt.Sprint(tt.infoLines) {
				t.Errorf("info findings at lines %v, want %v", infos, tt.infoLines)
			}
			if tt.errWant != "" {
				if len(errs) == 0 || errs[0].Line != tt.errLine || !strings.Contains(errs[0].Message, tt.errWant) {
					t.Fatalf("errors %+v; want one at line %d mentioning %q", errs, tt.errLine, tt.errWant)
				}
				return
			}
			if len(errs) > 0 || len(set.Files) != 1 {
				t.Fatalf("errors %+v, files %d", errs, len(set.Files))
			}
			f := set.Files[0]
			if len(f.Statements) != tt.statements {
				t.Fatalf("%d statements, want %d", len(f.Statements), tt.statements)
			}
			if tt.name == "statement after keeps its line" && f.Statements[1].Line != 4 {
				t.Errorf("the INSERT is at line %d, want 4", f.Statements[1].Line)
			}
		})
	}
}
