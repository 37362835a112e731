package schema

import (
	"fmt"
	"strings"
	"testing"
)

// benchSchema returns the DDL of n tables (a third interleaved in the one
// before), each with 8 columns, 2 indexes and a named check; with
// changed, every tenth table gets a new column, a wider column, another
// index and a new check, and the last 5% are dropped.
func benchSchema(n int, changed bool) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if changed && i >= n-n/20 {
			continue
		}
		keys := fmt.Sprintf("K%d INT64 NOT NULL", i)
		pk := fmt.Sprintf("K%d", i)
		interleave := ""
		if i%3 == 1 && !(changed && i-1 >= n-n/20) {
			keys = fmt.Sprintf("K%d INT64 NOT NULL, %s", i-1, keys)
			pk = fmt.Sprintf("K%d, K%d", i-1, i)
			interleave = fmt.Sprintf(", INTERLEAVE IN PARENT T%d ON DELETE CASCADE", i-1)
		}
		size := 64
		extra := ""
		if changed && i%10 == 0 {
			size = 128
			extra = ", Added BOOL"
		}
		fmt.Fprintf(&b, "CREATE TABLE T%d (%s, Name STRING(%d), Note STRING(MAX), Qty INT64, Price NUMERIC, Ts TIMESTAMP OPTIONS (allow_commit_timestamp = true), Flag BOOL, Data BYTES(MAX)%s, CONSTRAINT Ck%d CHECK (Qty >= 0)) PRIMARY KEY (%s)%s;\n",
			i, keys, size, extra, i, pk, interleave)
		fmt.Fprintf(&b, "CREATE INDEX T%dByName ON T%d (Name) STORING (Qty);\nCREATE INDEX T%dByQty ON T%d (Qty DESC);\n", i, i, i, i)
		if changed && i%10 == 0 {
			fmt.Fprintf(&b, "CREATE INDEX T%dByFlag ON T%d (Flag);\nALTER TABLE T%d ADD CONSTRAINT Ck%dB CHECK (Qty < 1000000);\n", i, i, i, i)
		}
	}
	return b.String()
}

// BenchmarkDiff500 diffs two 500-table schemas (target: under 200 ms).
func BenchmarkDiff500(b *testing.B) {
	from, err := Parse("a.sql", benchSchema(500, false))
	if err != nil {
		b.Fatal(err)
	}
	to, err := Parse("b.sql", benchSchema(500, true))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		r := Diff(from, to)
		if len(r.Changes) == 0 || len(r.Refused) > 0 {
			b.Fatalf("changes %d, refused %v", len(r.Changes), r.Refused)
		}
	}
}

// BenchmarkBuild10k builds the model from 10,000 DDL statements, parsing
// included (target: under 1 s).
func BenchmarkBuild10k(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 2500; i++ {
		fmt.Fprintf(&sb, "CREATE TABLE T%d (Id INT64 NOT NULL, Name STRING(64), Qty INT64) PRIMARY KEY (Id);\n", i)
		fmt.Fprintf(&sb, "CREATE INDEX T%dByName ON T%d (Name);\n", i, i)
		fmt.Fprintf(&sb, "ALTER TABLE T%d ADD COLUMN Note STRING(MAX);\n", i)
		fmt.Fprintf(&sb, "ALTER TABLE T%d ALTER COLUMN Name STRING(128);\n", i)
	}
	text := sb.String()
	b.ResetTimer()
	for b.Loop() {
		s, err := Parse("big.sql", text)
		if err != nil || len(s.tables) != 2500 {
			b.Fatal(err)
		}
	}
}
