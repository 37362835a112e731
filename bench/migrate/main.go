// Command migrate compares spangate with wrench on the same migration
// history, side by side in one run, on fresh databases of one Spanner
// emulator: wall time and schema operations of each, and their ratios.
//
//	go run ./bench/migrate [-runs 5] [-emulator PATH]
//
// It installs wrench v1.14.0 with `go install` into a temporary directory
// (nothing is vendored), builds spangate from this checkout, writes a
// 40-file history (30 CREATE TABLE, then 10 CREATE INDEX, one statement per
// file) and applies it with each tool. Schema operations are counted from
// UpdateDatabaseDdl calls seen by a gRPC proxy in front of the emulator,
// not from either tool's own report.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spangate/spangate/bench/internal/applybench"
	"github.com/spangate/spangate/internal/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate-bench", flag.ContinueOnError)
	runs := fs.Int("runs", 5, "applies per tool (fresh database each)")
	emu := fs.String("emulator", "", "path of emulator_main (default: found like spangate dev does)")
	large := fs.Bool("large", false, "also apply a 1,000-file, 5,000-statement history with spangate and report its wall time and peak memory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "spangate-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintln(stderr, "building spangate and installing", applybench.WrenchV, "…")
	tools, err := applybench.Build(ctx, tmp)
	if err != nil {
		return err
	}
	if tools.WrenchErr != nil {
		return tools.WrenchErr
	}
	dir := filepath.Join(tmp, "project")
	if err := applybench.WriteDDLHistory(dir); err != nil {
		return err
	}
	emu2, err := applybench.StartEmulator(ctx, *emu)
	if err != nil {
		return err
	}
	defer emu2.Stop(ctx)
	sg, wr, err := emu2.Compare(ctx, tools, dir, "h", *runs)
	if err != nil {
		return err
	}
	report(stdout, *runs, sg, wr)
	if *large {
		return runLarge(ctx, stdout, tools.Spangate, tmp, emu2.Host)
	}
	return nil
}

// runLarge applies a 1,000-file history of 5 statements per file (CREATE
// TABLE, CREATE INDEX, ADD COLUMN, two INSERTs) and reports peak memory.
func runLarge(ctx context.Context, w io.Writer, bin, tmp, host string) error {
	dir := filepath.Join(tmp, "large")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := 1; i <= 1000; i++ {
		sql := fmt.Sprintf("CREATE TABLE L%d (Id INT64 NOT NULL, Name STRING(MAX)) PRIMARY KEY (Id);\n"+
			"CREATE INDEX L%dByName ON L%d (Name);\nALTER TABLE L%d ADD COLUMN Note STRING(100);\n"+
			"INSERT INTO L%d (Id, Name) VALUES (1, 'a');\nINSERT INTO L%d (Id, Name) VALUES (2, 'b');\n", i, i, i, i, i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d_l%d.sql", i, i)), []byte(sql), 0o644); err != nil {
			return err
		}
	}
	dbPath := applybench.DatabasePath("large")
	if err := emulator.CreateDatabase(ctx, host, dbPath, nil); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "migrate", "apply", "--dir", dir, "--database", dbPath, "--format", "json")
	cmd.Env = append(os.Environ(), "SPANNER_EMULATOR_HOST="+host, "CI=true")
	var out bytes.Buffer
	cmd.Stdout = &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("large apply: %w\n%s", err, out.String())
	}
	wall := time.Since(start)
	var res struct {
		Applied          []int64 `json:"applied"`
		SchemaOperations int     `json:"schema_operations"`
		Statements       int     `json:"statements"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return fmt.Errorf("large apply output: %w", err)
	}
	rss := int64(0)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss / 1024 // KiB → MiB on Linux
	}
	fmt.Fprintf(w, "\nlarge history: %d files, %d statements, %d schema operations applied in %s; peak RSS %d MiB (target < 200 MB)\n",
		len(res.Applied), res.Statements, res.SchemaOperations, wall.Round(time.Millisecond), rss)
	return nil
}

func report(w io.Writer, runs int, sg, wr []applybench.Sample) {
	s, r := applybench.Median(sg), applybench.Median(wr)
	fmt.Fprintf(w, "40-file history (30 CREATE TABLE + 10 CREATE INDEX, one statement per file), %d fresh databases per tool, same emulator\n\n", runs)
	fmt.Fprintf(w, "%-10s %14s %20s\n", "tool", "median wall", "schema operations")
	fmt.Fprintf(w, "%-10s %14s %20d\n", "spangate", s.Wall.Round(time.Millisecond), s.Ops)
	fmt.Fprintf(w, "%-10s %14s %20d\n", "wrench", r.Wall.Round(time.Millisecond), r.Ops)
	fmt.Fprintf(w, "\nwall time: wrench/spangate = %.2fx   (target ≥ 2x)\n", float64(r.Wall)/float64(s.Wall))
	if s.Ops > 0 {
		fmt.Fprintf(w, "schema operations: wrench/spangate = %.1fx (%d vs %d; target spangate ≤ 2)\n", float64(r.Ops)/float64(s.Ops), r.Ops, s.Ops)
	}
	fmt.Fprintf(w, "all runs (ms): spangate %v, wrench %v\n", applybench.Walls(sg), applybench.Walls(wr))
}
