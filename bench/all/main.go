// Command all runs every headline benchmark of spangate beside its anchor
// in the same run, and prints a table of the ratios and their targets:
//
//	go run ./bench/all                             # the full run (several minutes)
//	go run ./bench/all -quick                      # a short run for CI: fails only on a clear miss
//	go run ./bench/all -write docs/benchmarks.md   # the full run, written into the docs
//
// Each figure is a ratio to an anchor measured in the same run, on the
// same machine, in alternating rounds where that is possible: the RS256
// verification against raw RSA verification of the same key, the token
// exchange against verification alone, apply against wrench v1.14.0 (on a
// 40-file DDL history and on a DML-heavy one), "who changed this row"
// against a point read, and exec through the gateway against the Spanner
// client directly over a 2 ms round trip. Absolute times change with the
// machine; the ratios should not.
//
// A full run reports whether each ratio meets its target. A quick run
// (-quick: fewer rounds, smaller data) exits 1 only when a ratio misses
// its target by more than its margin (about a third), so machine noise
// does not fail CI; it prints the table either way. When wrench cannot be
// installed (no module proxy), its rows say so and are skipped.
//
// Run it from the repository root: it builds spangate, installs wrench
// into a temporary directory, starts a Spanner emulator (found like
// spangate dev finds it, or -emulator), and runs two Go benchmarks of the
// gateway and spannerdb packages with go test.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spangate/spangate/bench/internal/applybench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	quick    bool
	write    string
	emulator string
	only     string
	tmp      string
}

// errMissed is returned when a quick run finds a ratio clearly below its
// target.
var errMissed = errors.New("a ratio missed its target by more than its margin")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("all", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.BoolVar(&o.quick, "quick", false, "short run for CI: fewer rounds and smaller data; exit 1 only when a ratio misses its target by more than its margin")
	fs.StringVar(&o.write, "write", "", "write the report into this markdown file (docs/benchmarks.md) from the template")
	fs.StringVar(&o.emulator, "emulator", "", "path of emulator_main (default: found like spangate dev does)")
	fs.StringVar(&o.only, "only", "", "comma-separated groups to run: verify, plan, apply, audit, exec (default all)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.quick && o.write != "" {
		fmt.Fprintln(stderr, "bench/all: -write takes a full run; drop -quick")
		return 2
	}
	start, load, commit := time.Now(), loadAverage(), gitCommit()
	rows, err := measure(ctx, &o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "bench/all:", err)
		return 1
	}
	rep := report{rows: rows, quick: o.quick, started: start, took: time.Since(start), command: command(args),
		load: load + " → " + loadAverage(), commit: commit}
	rep.print(stdout)
	if o.write != "" {
		if err := rep.writeDoc(o.write); err != nil {
			fmt.Fprintln(stderr, "bench/all:", err)
			return 1
		}
		fmt.Fprintln(stderr, "wrote", o.write)
	}
	if o.quick && rep.failed() {
		fmt.Fprintln(stderr, "bench/all:", errMissed)
		return 1
	}
	return 0
}

func (o options) wants(group string) bool {
	if o.only == "" {
		return true
	}
	for _, g := range strings.Split(o.only, ",") {
		if strings.TrimSpace(g) == group {
			return true
		}
	}
	return false
}

// measure runs the groups in turn, the in-process ones first.
func measure(ctx context.Context, o *options, log io.Writer) ([]row, error) {
	var rows []row
	step := func(name string) { fmt.Fprintf(log, "bench/all: %s …\n", name) }
	if o.wants("verify") {
		step("RS256 verification and token exchange")
		rs, err := verifyRows(ctx, *o)
		if err != nil {
			return nil, err
		}
		rows = append(rows, rs...)
	}
	if o.wants("plan") {
		step("plan of 1,000 files")
		r, err := planRow(*o)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	if o.wants("apply") {
		step("apply against wrench (building spangate, installing " + applybench.WrenchV + ")")
		tmp, err := os.MkdirTemp("", "spangate-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		o.tmp = tmp
		tools, err := applybench.Build(ctx, tmp)
		if err != nil {
			return nil, err
		}
		if tools.WrenchErr != nil {
			fmt.Fprintf(log, "bench/all: wrench is not available, its rows are skipped: %s\n", firstLine(tools.WrenchErr.Error()))
		}
		em, err := applybench.StartEmulator(ctx, o.emulator)
		if err != nil {
			return nil, err
		}
		rs, err := applyRows(ctx, *o, tools, em)
		em.Stop(ctx)
		if err != nil {
			return nil, err
		}
		rows = append(rows, rs...)
	}
	if o.wants("audit") {
		step("who changed this row (go test -bench in internal/spannerdb)")
		r, err := whoChangedRow(ctx, *o)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	if o.wants("exec") {
		step("exec through the gateway over a 2 ms round trip (go test -bench in internal/gateway)")
		rs, err := execRows(ctx, *o)
		if err != nil {
			return nil, err
		}
		rows = append(rows, rs...)
	}
	return rows, nil
}

func command(args []string) string {
	return strings.TrimSpace("go run ./bench/all " + strings.Join(args, " "))
}
