package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing/fstest"
	"time"

	"github.com/spangate/spangate/bench/internal/applybench"
	"github.com/spangate/spangate/internal/migration"
)

// row is one line of the table: a headline figure beside its anchor.
type row struct {
	name    string
	subject string // the figure measured
	anchor  string // what it is measured against, in the same run
	ratio   float64
	unit    string // how the ratio reads: "×" (subject/anchor), "× faster", "%", "ms"
	target  string
	// met says whether the ratio meets its target; fails says whether it
	// misses it by the margin that makes a quick run fail.
	met, fails bool
	// floor is the regression guard of a target not reached yet: the
	// row says missed, and a run fails only below floor (0: never).
	floor   float64
	skipped string // why the row was not measured
	note    string
}

// atMost and atLeast fill met and fails for a target with a margin
// factor: a ratio worse than target×margin (or target/margin) fails.
func (r *row) atMost(target, margin float64) {
	r.met, r.fails = r.ratio <= target, r.ratio > target*margin
}

func (r *row) atLeast(target, margin float64) {
	r.met, r.fails = r.ratio >= target, r.ratio < target/margin
}

// towards is atLeast for a target the code does not reach yet (its issue
// is open): the row says missed, and a run fails only when the ratio falls
// below floor, the level reached so far less the machine's noise, so that
// CI catches a regression without failing every run on the open target.
// floor 0 checks nothing (a history too small for a verdict).
func (r *row) towards(target, floor float64) {
	r.met = r.ratio >= target
	r.floor = floor
	r.fails = !r.met && floor > 0 && r.ratio < floor
}

func (r row) ratioText() string {
	if r.skipped != "" {
		return "–"
	}
	switch r.unit {
	case "%":
		return fmt.Sprintf("%.1f%%", r.ratio)
	case "ms":
		return fmt.Sprintf("%+.2f ms", r.ratio)
	case "× faster":
		return fmt.Sprintf("%.2f× faster", r.ratio)
	case "s":
		return fmt.Sprintf("%.0f ms", r.ratio*1000)
	}
	return fmt.Sprintf("%.2f×", r.ratio)
}

func (r row) status() string {
	switch {
	case r.skipped != "":
		return "skipped: " + r.skipped
	case r.met:
		return "met"
	case r.fails && r.floor > 0:
		return fmt.Sprintf("MISSED, below the regression floor of %.1f×", r.floor)
	case r.fails:
		return "MISSED by more than the margin"
	case r.floor > 0:
		return fmt.Sprintf("missed (target open; above the regression floor of %.1f×)", r.floor)
	case r.unit == "× faster" && r.floor == 0 && !r.met:
		return "missed (not checked: this history is too small for a verdict)"
	}
	return "missed (within the margin)"
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// verifyRows measures RS256 verification against raw RSA and the token
// exchange against verification alone.
func verifyRows(ctx context.Context, o options) ([]row, error) {
	tb, err := newTokenBench(ctx)
	if err != nil {
		return nil, err
	}
	defer tb.close()
	raw, err := tb.rawRSAOp()
	if err != nil {
		return nil, err
	}
	rounds, seg := 15, 300*time.Millisecond
	if o.quick {
		rounds, seg = 7, 100*time.Millisecond
	}
	v, r, ratio, err := interleaved(rounds, seg, tb.verifyOp(ctx), raw)
	if err != nil {
		return nil, err
	}
	verify := row{
		name:    "RS256 verification (GitHub-shaped token, keys cached, one core)",
		subject: fmt.Sprintf("%s = %.0f/s", fmtDur(v), float64(time.Second)/float64(v)),
		anchor:  fmt.Sprintf("raw rsa.VerifyPKCS1v15, same key and token: %s = %.0f/s", fmtDur(r), float64(time.Second)/float64(r)),
		ratio:   ratio, unit: "×", target: "≤ 1.5× raw",
	}
	verify.atMost(1.5, 1.35)

	ex, err := tb.exchangeOp(ctx)
	if err != nil {
		return nil, err
	}
	e, v2, ratio2, err := interleaved(rounds, seg, ex, tb.verifyOp(ctx))
	if err != nil {
		return nil, err
	}
	exchange := row{
		name:    "token exchange, POST /v1/token in process (one core)",
		subject: fmt.Sprintf("%s = %.0f/s", fmtDur(e), float64(time.Second)/float64(e)),
		anchor:  fmt.Sprintf("verification alone: %s", fmtDur(v2)),
		ratio:   ratio2, unit: "×", target: "≤ 2× verification",
	}
	exchange.atMost(2, 1.35)
	return []row{verify, exchange}, nil
}

// planRow plans 1,000 files of 5 statements (CREATE TABLE, CREATE INDEX,
// ADD COLUMN, INSERT, partitioned UPDATE), read from memory: the median of
// a few plans. Its target is absolute: < 1 s, some 20 times what it takes.
func planRow(o options) (row, error) {
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
	runs := 7
	if o.quick {
		runs = 3
	}
	var ds []time.Duration
	for range runs {
		start := time.Now()
		set, err := migration.ReadDir(fs.FS(fsys), "m")
		if err != nil {
			return row{}, err
		}
		if errs := set.Errors(); len(errs) > 0 {
			return row{}, fmt.Errorf("plan benchmark history: %v", errs)
		}
		p := migration.NewPlan(set, nil)
		ds = append(ds, time.Since(start))
		if p.Statements != 5000 {
			return row{}, fmt.Errorf("planned %d statements, want 5000", p.Statements)
		}
	}
	d := median(ds)
	r := row{
		name:    "plan of 1,000 files (5,000 statements), schema model and lint",
		subject: fmtDur(d), anchor: "– (absolute target)",
		ratio: d.Seconds(), unit: "s", target: "< 1 s",
	}
	r.met, r.fails = d < time.Second, d > 1500*time.Millisecond
	return r, nil
}

// applyRows compares spangate with wrench on the 40-file DDL history and
// on a DML-heavy history: 40 files of 50 INSERTs (20 of 20 in a quick
// run: the emulator takes minutes over the full one).
func applyRows(ctx context.Context, o options, tools applybench.Tools, em *applybench.Emulator) ([]row, error) {
	files, rowsPer, ddlRuns, dmlRuns := 40, 50, 7, 3
	if o.quick {
		files, rowsPer, ddlRuns, dmlRuns = 20, 20, 3, 3
	}
	histories := []struct {
		name, id, desc string
		runs           int
		write          func(string) error
	}{
		{"ddl", "d", "apply of the 40-file history (30 CREATE TABLE + 10 CREATE INDEX)", ddlRuns, applybench.WriteDDLHistory},
		{"dml", "m", fmt.Sprintf("apply of a DML-heavy history (1 CREATE TABLE + %d files of %d INSERTs)", files, rowsPer), dmlRuns,
			func(dir string) error { return applybench.WriteDMLHistory(dir, files, rowsPer) }},
	}
	var rows []row
	for _, h := range histories {
		r := row{name: h.desc, unit: "× faster", target: "≥ 3× faster than wrench v1.14.0"}
		if tools.WrenchErr != nil {
			r.skipped = "wrench could not be installed (" + firstLine(tools.WrenchErr.Error()) + ")"
			rows = append(rows, r)
			continue
		}
		dir := filepath.Join(o.tmp, h.name)
		if err := h.write(dir); err != nil {
			return nil, err
		}
		sg, wr, err := em.Compare(ctx, tools, dir, h.id, h.runs)
		if err != nil {
			return nil, err
		}
		s, w := applybench.Median(sg), applybench.Median(wr)
		r.subject = fmt.Sprintf("spangate %s, %d schema operations", fmtDur(s.Wall), s.Ops)
		r.anchor = fmt.Sprintf("wrench %s, %d schema operations", fmtDur(w.Wall), w.Ops)
		r.ratio = float64(w.Wall) / float64(s.Wall)
		r.note = fmt.Sprintf("medians of %d runs each, taking turns; all runs (ms): spangate %v, wrench %v", h.runs, applybench.Walls(sg), applybench.Walls(wr))
		// The ≥ 3× target is open (docs/benchmarks.md). The 40-file
		// history measures 1.75–2.3× faster than wrench here, so a run
		// fails below 1.4×, a regression like the one that took it to
		// 1.36×. The DML-heavy history measures 0.88× on a quiet machine
		// (more under load, which slows wrench more): a full run fails
		// below 0.6×; the quick one (20 files) is dominated by process
		// start-up on both sides and is only reported.
		floor := 1.4
		if h.name == "dml" {
			floor = 0.6
			if o.quick {
				floor = 0
			}
		}
		r.towards(3, floor)
		rows = append(rows, r)
	}
	return rows, nil
}

// goBench runs one benchmark of a package with go test and returns its
// result line's metrics by unit, for the last line whose name has suffix.
func goBench(ctx context.Context, env []string, pkg, bench, benchtime, suffix string) (map[string]float64, string, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", bench, "-benchtime", benchtime, "-v", pkg)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, "", fmt.Errorf("go test -bench %s %s: %w\n%s", bench, pkg, err, out.String())
	}
	var metrics map[string]float64
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 { // the GOMAXPROCS suffix
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		if !strings.HasSuffix(name, suffix) {
			continue
		}
		metrics = map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				metrics[f[i+1]] = v
			}
		}
	}
	if metrics == nil {
		return nil, out.String(), fmt.Errorf("go test -bench %s %s: no result for %s\n%s", bench, pkg, suffix, out.String())
	}
	return metrics, out.String(), nil
}

// whoChangedRow runs "who changed this row" beside a point read (a Go
// benchmark of internal/spannerdb, which loads the audit entries through
// spannerdb's own mutations).
func whoChangedRow(ctx context.Context, o options) (row, error) {
	entries, rounds := 100_000, "15x"
	if o.quick {
		entries, rounds = 5_000, "5x"
	}
	m, _, err := goBench(ctx, []string{fmt.Sprintf("SPANGATE_BENCH_AUDIT_ENTRIES=%d", entries)},
		"./internal/spannerdb", "^BenchmarkWhoChangedVsPointRead$", rounds, "WhoChangedVsPointRead")
	if err != nil {
		return row{}, err
	}
	r := row{
		name:    fmt.Sprintf("who changed this row, %d audit entries (10 per row)", entries),
		subject: fmt.Sprintf("p50 %.2f ms", m["who_p50_ms"]),
		anchor:  fmt.Sprintf("point read of one row, same client: p50 %.2f ms", m["read_p50_ms"]),
		ratio:   m["ratio"], unit: "×", target: "≤ 15× a point read",
	}
	r.atMost(15, 1.35)
	return r, nil
}

// execRows runs the gateway's side-by-side exec benchmark over a 2 ms
// round trip (a Go benchmark of internal/gateway: direct Spanner client,
// audited, and through the gateway, in alternating rounds).
func execRows(ctx context.Context, o options) ([]row, error) {
	clients := []int{1, 8}
	rounds := "9x"
	if o.quick {
		clients, rounds = []int{1}, "3x"
	}
	var rows []row
	for _, c := range clients {
		sub := fmt.Sprintf("rtt=2ms/clients=%d", c)
		m, _, err := goBench(ctx, nil, "./internal/gateway", "^BenchmarkExecSideBySideRTT$/^"+strings.ReplaceAll(sub, "/", "$/^")+"$", rounds, sub)
		if err != nil {
			return nil, err
		}
		tp := row{
			name:    fmt.Sprintf("exec through the gateway, %d client(s), 2 ms round trip: throughput", c),
			subject: fmt.Sprintf("gateway %.0f ops/s", m["gateway_ops/s"]),
			anchor:  fmt.Sprintf("direct Spanner client %.0f ops/s", m["direct_ops/s"]),
			ratio:   m["gateway_pct"], unit: "%", target: "≥ 70% of direct",
		}
		tp.atLeast(70, 1.25)
		lat := row{
			name:    fmt.Sprintf("exec through the gateway, %d client(s), 2 ms round trip: p50 added", c),
			subject: fmt.Sprintf("gateway p50 %.2f ms", m["gateway_p50_ms"]),
			anchor:  fmt.Sprintf("direct p50 %.2f ms", m["direct_p50_ms"]),
			ratio:   m["gateway_added_ms"], unit: "ms", target: "≤ +1 ms",
		}
		// The added p50 is a difference, not a ratio: a busy machine
		// stretches both paths, so the margin grows with direct's p50.
		lat.met, lat.fails = lat.ratio <= 1, lat.ratio > 1+0.35*m["direct_p50_ms"]
		rows = append(rows, tp, lat)
	}
	return rows, nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s { // insertion sort: a handful of values
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
