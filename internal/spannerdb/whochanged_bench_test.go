package spannerdb_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate/internal/audit"
)

// BenchmarkWhoChangedVsPointRead is "who changed this row" (ListAudit of
// one row of Orders among the loaded audit entries, 10 per row) beside its
// anchor, a point read of one row of Orders by its key with the same
// client, in alternating rounds of each so that a drift of the machine's
// speed hits both alike. It reports each one's p50 and their ratio (the
// medians of the rounds' ratios). SPANGATE_BENCH_AUDIT_ENTRIES sets the
// number of entries (default 100,000). go run ./bench/all runs it.
func BenchmarkWhoChangedVsPointRead(b *testing.B) {
	entries := 100_000
	if s := os.Getenv("SPANGATE_BENCH_AUDIT_ENTRIES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			b.Fatalf("SPANGATE_BENCH_AUDIT_ENTRIES=%q: want a number ≥ 10", s)
		}
		entries = n
	}
	rows := entries / 10
	db, _ := openAudited(b)
	start := time.Now()
	loadAudit(b, db, entries, rows)
	b.Logf("loaded %d entries in %v", entries, time.Since(start))
	var ms []*spanner.Mutation
	for id := range rows {
		ms = append(ms, spanner.Insert("Orders", []string{"Id", "Note"}, []any{int64(id), "n"}))
		if len(ms) == 10_000 || id == rows-1 {
			if _, err := db.Client().Apply(b.Context(), ms); err != nil {
				b.Fatal(err)
			}
			ms = ms[:0]
		}
	}
	who := func() error {
		key := rand.IntN(rows)
		got, err := db.ListAudit(b.Context(), audit.Filter{Table: "Orders", Key: fmt.Sprint(key)})
		if err == nil && len(got) != entries/rows {
			err = fmt.Errorf("row %d: %d entries, want %d", key, len(got), entries/rows)
		}
		return err
	}
	read := func() error {
		_, err := db.Client().Single().ReadRow(b.Context(), "Orders", spanner.Key{int64(rand.IntN(rows))}, []string{"Id", "Note"})
		return err
	}
	p50 := func(op func() error, n int) float64 {
		lat := make([]time.Duration, 0, n)
		for range n {
			t0 := time.Now()
			if err := op(); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		return float64(lat[len(lat)/2].Microseconds()) / 1000
	}
	for range 20 { // warm up
		p50(who, 1)
		p50(read, 1)
	}
	var whos, reads, ratios []float64
	for r := 0; b.Loop(); r++ {
		var w, p float64
		if r%2 == 0 {
			w, p = p50(who, 50), p50(read, 50)
		} else {
			p, w = p50(read, 50), p50(who, 50)
		}
		whos, reads, ratios = append(whos, w), append(reads, p), append(ratios, w/p)
	}
	med := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	b.ReportMetric(med(whos), "who_p50_ms")
	b.ReportMetric(med(reads), "read_p50_ms")
	b.ReportMetric(med(ratios), "ratio")
	b.ReportMetric(float64(entries), "entries")
}
