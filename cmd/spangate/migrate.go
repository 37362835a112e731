package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/spannerdb"
)

// migrateFlags are the flags every migrate subcommand shares.
type migrateFlags struct {
	dir         string
	format      string
	database    string
	lockTimeout time.Duration
}

func (a *app) migrateCommand() *cobra.Command {
	var f migrateFlags
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Plan, apply and inspect versioned schema migrations",
		Long: `Versioned migrations live in a directory (default: migrations) as files named
<version>_<description>.sql, for example 0001_create_orders.sql. A file holds
one or more statements separated by ';' and may mix DDL and DML:

  CREATE TABLE Orders (Id INT64 NOT NULL, Note STRING(MAX)) PRIMARY KEY (Id);
  CREATE INDEX OrdersByNote ON Orders (Note);
  INSERT INTO Orders (Id, Note) VALUES (1, 'first');
  -- spangate:partitioned
  UPDATE Orders SET Note = '' WHERE Note IS NULL;

Consecutive DDL, across files, is sent in as few schema operations as Spanner
allows (at most 10 statements needing validation or an index backfill per
operation). The DML of a file commits in one transaction together with the
file's history row. '-- spangate:partitioned' runs the next UPDATE or DELETE
as Partitioned DML (it must be idempotent).

History and a lease lock live in the target database (SpangateMigrations,
SpangateLocks). An applied file is identified by its SHA-256: editing it
blocks plan and apply (exit 4) until it is reverted.

The target is --database or SPANGATE_DATABASE, a full path
projects/P/instances/I/databases/D. With SPANNER_EMULATOR_HOST set, spangate
talks to that emulator (spangate dev prints the lines to set both);
otherwise to Cloud Spanner with Application Default Credentials.`,
	}
	cmd.PersistentFlags().StringVar(&f.dir, "dir", "migrations", "directory holding the migration files")
	cmd.PersistentFlags().StringVar(&f.database, "database", "", "database path projects/P/instances/I/databases/D (default $SPANGATE_DATABASE)")
	cmd.AddCommand(a.migratePlanCommand(&f), a.migrateApplyCommand(&f), a.migrateStatusCommand(&f))
	return cmd
}

func (a *app) migratePlanCommand(f *migrateFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would do: pending files, schema operations, findings",
		Long: `plan reads the migration files and the database's history, and prints the
pending files with their statement kinds, how many schema operations apply
will issue, and findings (syntax errors with file:line:column, edited applied
files, Partitioned DML that Spanner would reject…). It changes nothing, takes
no lock, and exits 2 for invalid files, 4 when the plan is blocked.

Use --format markdown for a pull-request comment, --format json for machines.`,
		Example: `  spangate migrate plan
  spangate migrate plan --dir db/migrations --format markdown > plan.md
  spangate migrate plan --format json | jq .schema_operations`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPlan(cmd.Context(), f)
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "text", "output format: text, json or markdown")
	return cmd
}

func (a *app) migrateApplyCommand(f *migrateFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Apply pending migrations under the database's migration lock",
		Long: `apply takes the migration lock (a lease renewed while it runs), then applies
every pending statement in version order. Progress goes to stderr: a live
line on a terminal, plain lines in CI. After a failure or an interruption
(Ctrl-C), the history records exactly which statements were applied; the
next apply resumes at the first statement not applied, and re-attaches to a
schema operation that was sent but not seen to finish.`,
		Example: `  spangate migrate apply
  spangate migrate apply --lock-timeout 10m --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runApply(cmd.Context(), f)
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "text", "output format: text or json")
	cmd.Flags().DurationVar(&f.lockTimeout, "lock-timeout", 2*time.Minute, "how long to wait for a migration lock held by another run")
	return cmd
}

func (a *app) migrateStatusCommand(f *migrateFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List every migration with its state: applied, pending, failed or modified",
		Args:  cobra.NoArgs,
		Example: `  spangate migrate status
  spangate migrate status --format json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStatus(cmd.Context(), f)
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "text", "output format: text or json")
	return cmd
}

func checkFormat(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return usageError{err: fmt.Errorf("--format %q is not one of %s", format, strings.Join(allowed, ", "))}
}

// openTarget opens the database named by --database or SPANGATE_DATABASE.
func (a *app) openTarget(ctx context.Context, f *migrateFlags) (*spannerdb.DB, error) {
	path := f.database
	if path == "" {
		path = a.getenv("SPANGATE_DATABASE")
	}
	if path == "" {
		return nil, spangate.Errorf(spangate.Invalid, "no database given").
			WithHint("pass --database projects/P/instances/I/databases/D or set SPANGATE_DATABASE (spangate dev prints the line to paste)")
	}
	return spannerdb.Open(ctx, path, spannerdb.Options{
		EmulatorHost: a.getenv("SPANNER_EMULATOR_HOST"),
		Logger:       a.logger,
	})
}

// engine builds the migration engine for db.
func (a *app) engine(db *spannerdb.DB, f *migrateFlags) *migration.Engine {
	return &migration.Engine{
		Locks: db, History: db, Schema: db, Partitioned: db,
		Holder:      a.holder(),
		LockTimeout: f.lockTimeout,
		Logger:      a.logger,
	}
}

// holder names this process in the lock and the history.
func (a *app) holder() string {
	name := a.getenv("USER")
	if u, err := user.Current(); err == nil && name == "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s pid %d", name, host, os.Getpid())
}

func (a *app) runPlan(ctx context.Context, f *migrateFlags) error {
	if err := checkFormat(f.format, "text", "json", "markdown"); err != nil {
		return err
	}
	set, err := migration.ReadOSDir(f.dir)
	if err != nil {
		return err
	}
	db, err := a.openTarget(ctx, f)
	if err != nil {
		return err
	}
	defer db.Close()
	plan, err := a.engine(db, f).Plan(ctx, set)
	if err != nil {
		return err
	}
	switch f.format {
	case "json":
		err = writeJSON(a.stdout, plan.View(db.Path()))
	case "markdown":
		err = writePlanMarkdown(a.stdout, db.Path(), plan)
	default:
		err = writePlanText(a.stdout, db.Path(), plan)
	}
	if err != nil {
		return err
	}
	if perr := plan.Err(); perr != nil {
		return silentError{code: exitCode(perr), err: perr}
	}
	return nil
}

func (a *app) runApply(ctx context.Context, f *migrateFlags) error {
	if err := checkFormat(f.format, "text", "json"); err != nil {
		return err
	}
	set, err := migration.ReadOSDir(f.dir)
	if err != nil {
		return err
	}
	db, err := a.openTarget(ctx, f)
	if err != nil {
		return err
	}
	defer db.Close()
	e := a.engine(db, f)
	rep := newProgress(a.stderr, a.isTerminal(a.stderr) && a.getenv("CI") == "")
	e.Reporter = rep
	res, err := e.Apply(ctx, set)
	rep.finish()
	if err != nil {
		return err
	}
	if f.format == "json" {
		return writeJSON(a.stdout, map[string]any{
			"database":          db.Path(),
			"applied":           nonNil(res.Applied),
			"schema_operations": res.SchemaOperations,
			"statements":        res.Statements,
			"duration_ms":       res.Duration.Milliseconds(),
		})
	}
	if len(res.Applied) == 0 && res.Statements == 0 {
		_, err = fmt.Fprintf(a.stdout, "Nothing to apply: %s is up to date.\n", db.Path())
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "Applied %d migration(s) %v: %d statements in %d schema operation(s), %s.\n",
		len(res.Applied), res.Applied, res.Statements, res.SchemaOperations, res.Duration.Round(time.Millisecond))
	return err
}

func (a *app) runStatus(ctx context.Context, f *migrateFlags) error {
	if err := checkFormat(f.format, "text", "json"); err != nil {
		return err
	}
	set, err := migration.ReadOSDir(f.dir)
	if err != nil {
		return err
	}
	db, err := a.openTarget(ctx, f)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Init(ctx); err != nil {
		return err
	}
	hist, err := db.History(ctx)
	if err != nil {
		return err
	}
	sts := migration.Statuses(set, hist)
	if f.format == "json" {
		return writeJSON(a.stdout, map[string]any{"database": db.Path(), "migrations": nonNil(sts)})
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT\tAPPLIED BY\n")
	for _, s := range sts {
		at := ""
		if s.AppliedAt != nil {
			at = s.AppliedAt.UTC().Format(time.RFC3339)
		}
		state := s.State
		if s.Progress != "" {
			state += " (" + s.Progress + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", s.Version, s.Name, state, at, s.AppliedBy)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range sts {
		if s.Error != "" {
			fmt.Fprintf(a.stdout, "\n%d_%s last failed: %s\n", s.Version, s.Name, s.Error)
		}
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// isTerminal reports whether w is a character device (a terminal).
func (a *app) isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
