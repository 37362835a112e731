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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spangate/spangate/internal/emulator"
)

const (
	project  = "bench"
	instance = "bench"
	wrenchV  = "github.com/cloudspannerecosystem/wrench@v1.14.0"
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

type sample struct {
	wall time.Duration
	ops  int
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

	fmt.Fprintln(stderr, "building spangate and installing", wrenchV, "…")
	spangateBin := filepath.Join(tmp, "spangate")
	if err := command(ctx, nil, "go", "build", "-o", spangateBin, "./cmd/spangate"); err != nil {
		return fmt.Errorf("build spangate (run from the repository root): %w", err)
	}
	gobin := filepath.Join(tmp, "bin")
	if err := command(ctx, []string{"GOBIN=" + gobin}, "go", "install", wrenchV); err != nil {
		return fmt.Errorf("install wrench: %w", err)
	}
	wrenchBin := filepath.Join(gobin, "wrench")

	dir := filepath.Join(tmp, "project")
	if err := writeHistory(filepath.Join(dir, "migrations")); err != nil {
		return err
	}

	path, err := emulator.Find(*emu, os.LookupEnv)
	if err != nil {
		return err
	}
	proc, err := emulator.Start(ctx, emulator.Options{Path: path, Addr: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer proc.Stop(context.WithoutCancel(ctx))
	host := proc.Addr()
	if err := emulator.CreateInstance(ctx, host, project, instance); err != nil {
		return err
	}
	proxy, err := startProxy(host)
	if err != nil {
		return err
	}
	defer proxy.stop()

	var sg, wr []sample
	for i := range *runs {
		for _, tool := range []string{"spangate", "wrench"} {
			id := fmt.Sprintf("%s%d", tool[:2], i)
			dbPath := fmt.Sprintf("projects/%s/instances/%s/databases/%s", project, instance, id)
			if err := emulator.CreateDatabase(ctx, host, dbPath, nil); err != nil {
				return err
			}
			var cmd *exec.Cmd
			if tool == "spangate" {
				cmd = exec.CommandContext(ctx, spangateBin, "migrate", "apply", "--dir", filepath.Join(dir, "migrations"), "--database", dbPath, "--format", "json")
			} else {
				cmd = exec.CommandContext(ctx, wrenchBin, "migrate", "up", "--directory", dir)
			}
			cmd.Env = append(os.Environ(), "SPANNER_EMULATOR_HOST="+proxy.addr, "SPANNER_PROJECT_ID="+project,
				"SPANNER_INSTANCE_ID="+instance, "SPANNER_DATABASE_ID="+id, "CI=true")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s apply: %w\n%s", tool, err, out.String())
			}
			wall := time.Since(start)
			s := sample{wall: wall, ops: proxy.count(dbPath)}
			if tool == "spangate" {
				sg = append(sg, s)
			} else {
				wr = append(wr, s)
			}
			_ = emulator.DropDatabase(ctx, host, dbPath)
		}
	}
	report(stdout, *runs, sg, wr)
	if *large {
		return runLarge(ctx, stdout, spangateBin, tmp, host)
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
	dbPath := fmt.Sprintf("projects/%s/instances/%s/databases/large", project, instance)
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

// writeHistory writes 30 CREATE TABLE files then 10 CREATE INDEX files.
func writeHistory(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	v := 0
	for i := 1; i <= 30; i++ {
		v++
		sql := fmt.Sprintf("CREATE TABLE T%02d (\n  Id INT64 NOT NULL,\n  Name STRING(MAX),\n  Amount INT64,\n) PRIMARY KEY (Id);\n", i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%06d_create_t%02d.sql", v, i)), []byte(sql), 0o644); err != nil {
			return err
		}
	}
	for i := 1; i <= 10; i++ {
		v++
		sql := fmt.Sprintf("CREATE INDEX T%02dByName ON T%02d (Name);\n", i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%06d_index_t%02d.sql", v, i)), []byte(sql), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func median(ss []sample) sample {
	w := make([]time.Duration, len(ss))
	o := make([]int, len(ss))
	for i, s := range ss {
		w[i], o[i] = s.wall, s.ops
	}
	slices.Sort(w)
	slices.Sort(o)
	return sample{wall: w[len(w)/2], ops: o[len(o)/2]}
}

func report(w io.Writer, runs int, sg, wr []sample) {
	s, r := median(sg), median(wr)
	fmt.Fprintf(w, "40-file history (30 CREATE TABLE + 10 CREATE INDEX, one statement per file), %d fresh databases per tool, same emulator\n\n", runs)
	fmt.Fprintf(w, "%-10s %14s %20s\n", "tool", "median wall", "schema operations")
	fmt.Fprintf(w, "%-10s %14s %20d\n", "spangate", s.wall.Round(time.Millisecond), s.ops)
	fmt.Fprintf(w, "%-10s %14s %20d\n", "wrench", r.wall.Round(time.Millisecond), r.ops)
	fmt.Fprintf(w, "\nwall time: wrench/spangate = %.2fx   (target ≥ 2x)\n", float64(r.wall)/float64(s.wall))
	if s.ops > 0 {
		fmt.Fprintf(w, "schema operations: wrench/spangate = %.1fx (%d vs %d; target spangate ≤ 2)\n", float64(r.ops)/float64(s.ops), r.ops, s.ops)
	}
	fmt.Fprintf(w, "all runs (ms): spangate %v, wrench %v\n", walls(sg), walls(wr))
}

func walls(ss []sample) []int64 {
	out := make([]int64, len(ss))
	for i, s := range ss {
		out[i] = s.wall.Milliseconds()
	}
	return out
}

func command(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
