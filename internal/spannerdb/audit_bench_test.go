package spannerdb_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/spannerdb"
)

// loadAudit writes n sealed entries straight into the audit tables in
// batches of mutations, each entry changing one of rows keys of Orders,
// and moves the chain head to the last one.
func loadAudit(b *testing.B, db *spannerdb.DB, n, rows int) {
	b.Helper()
	const batch = 2500 // 2,500 entries × 24 cells stays under 80,000 mutations
	prev := ""
	at := time.Now().Add(-time.Duration(n) * time.Second)
	var ms []*spanner.Mutation
	for i := 1; i <= n; i++ {
		e := actor(fmt.Sprintf("loader%d", i%7))
		e.Seq, e.At = int64(i), at.Add(time.Duration(i)*time.Second)
		e.Statement = "UPDATE Orders SET Note = @note WHERE Id = @id"
		e.Result, e.Rows, e.Table, e.Keys = audit.ResultOK, 1, "Orders", []string{fmt.Sprintf("[%d]", i%rows)}
		e.Seal(prev)
		prev = e.Hash
		m, err := spannerdb.AuditRowMutations(e)
		if err != nil {
			b.Fatal(err)
		}
		ms = append(ms, m...)
		if i%batch == 0 || i == n {
			if i == n {
				ms = append(ms, spannerdb.AuditHeadMutation(int64(n), prev))
			}
			if _, err := db.Client().Apply(b.Context(), ms); err != nil {
				b.Fatal(err)
			}
			ms = ms[:0]
		}
	}
}

// BenchmarkWhoChangedThisRow looks up the entries that changed one row of
// Orders among 100,000 audit entries (10 entries per row) and reports the
// latency percentiles. Run it with:
//
//	go test -run '^$' -bench WhoChangedThisRow -benchtime 2000x ./internal/spannerdb/
func BenchmarkWhoChangedThisRow(b *testing.B) {
	const entries, rows = 100_000, 10_000
	db, _ := openAudited(b)
	start := time.Now()
	loadAudit(b, db, entries, rows)
	b.Logf("loaded %d entries in %v", entries, time.Since(start))

	var lat []time.Duration
	for b.Loop() {
		key := fmt.Sprint(rand.IntN(rows))
		t0 := time.Now()
		got, err := db.ListAudit(b.Context(), audit.Filter{Table: "Orders", Key: key})
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != entries/rows {
			b.Fatalf("row %s: %d entries, want %d", key, len(got), entries/rows)
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkVerifyAudit verifies a trail of 100,000 entries, each with one
// key row, the keys index checked against the entries included. Run it
// with:
//
//	go test -run '^$' -bench VerifyAudit -benchtime 3x ./internal/spannerdb/
func BenchmarkVerifyAudit(b *testing.B) {
	const entries, rows = 100_000, 10_000
	db, _ := openAudited(b)
	loadAudit(b, db, entries, rows)
	for b.Loop() {
		r, err := db.VerifyAudit(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if !r.OK || r.Entries != entries {
			b.Fatalf("verify = %+v", r)
		}
	}
	b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
