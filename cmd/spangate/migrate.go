package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/gatewayclient"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/spannerdb"
)

// migrateFlags are the flags every migrate subcommand shares.
type migrateFlags struct {
	targetFlags
	dir         string
	format      string
	lockTimeout time.Duration
	reports     reportFlags // migrate plan's CI reports (cireport.go)
	failOnDrift bool
	// protoDescriptors is the FileDescriptorSet file for files with a
	// proto bundle statement that name none (--proto-descriptors).
	protoDescriptors string
}

// readSet reads and parses the migrations directory, with the proto
// descriptors each file sends; the sources come back with them attached,
// for sending through a gateway.
func (a *app) readSet(f *migrateFlags) ([]migration.Source, *migration.Set, error) {
	srcs, err := migration.ReadOSSources(f.dir)
	if err != nil {
		return nil, nil, err
	}
	set := migration.Parse(srcs)
	var defaults []byte
	if f.protoDescriptors != "" {
		if defaults, err = os.ReadFile(f.protoDescriptors); err != nil {
			return nil, nil, spangate.Errorf(spangate.Invalid, "--proto-descriptors: %w", err)
		}
	}
	root := os.DirFS(f.dir)
	if err := set.LoadProtoDescriptors(func(p string) ([]byte, error) { return fs.ReadFile(root, p) }, defaults); err != nil {
		return nil, nil, err
	}
	set.Dir = f.dir
	return set.AttachProtoDescriptors(srcs), set, nil
}

func (a *app) migrateCommand() *cobra.Command {
	var f migrateFlags
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Plan, apply and inspect versioned schema migrations",
		Long: `Versioned migrations live in a directory (default: migrations) as files named
<version>_<description>.sql, for example 0001_create_orders.sql; wrench's
000001.sql and golang-migrate's 1_init.up.sql are read as they are (one
convention per directory; .down.sql files are not applied). A file holds
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

Direct mode (no --gateway): the target is --database or SPANGATE_DATABASE, a
full path projects/P/instances/I/databases/D. With SPANNER_EMULATOR_HOST set,
spangate talks to that emulator (spangate dev prints the lines to set both);
otherwise to Cloud Spanner with Application Default Credentials.

Gateway mode (--gateway URL or SPANGATE_URL): the target is the database's
logical name in the gateway's config. The CLI finds the CI's ID token
(--id-token-file, SPANGATE_ID_TOKEN, BITBUCKET_STEP_OIDC_TOKEN, or GitHub
Actions' token request), exchanges it once for a session token (or uses
SPANGATE_SESSION_TOKEN from spangate login), and needs no Google credential.
The gateway decides by its policy and records the change in its audit trail.`,
	}
	cmd.PersistentFlags().StringVar(&f.dir, "dir", "migrations", "directory holding the migration files")
	cmd.PersistentFlags().StringVar(&f.protoDescriptors, "proto-descriptors", "", "serialized FileDescriptorSet sent with the proto bundle statements of files that name none with -- spangate:proto-descriptors (its bytes count in their checksums)")
	f.targetFlags.register(cmd.PersistentFlags())
	cmd.AddCommand(a.migratePlanCommand(&f), a.migrateApplyCommand(&f), a.migrateStatusCommand(&f), a.migrateUnlockCommand(&f), a.migrateBaselineCommand(&f))
	return cmd
}

func (a *app) migratePlanCommand(f *migrateFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would do: pending files, schema operations, findings",
		Long: `plan reads the migration files and the database's history, and prints the
pending files with their statement kinds, how many schema operations apply
will issue, and findings (syntax errors with file:line:column, edited applied
files, Partitioned DML that Spanner would reject…), with Spanner-aware lint
(drops, backfills, validations, large DML; errors are lifted per statement by
'-- spangate:allow <rule>'), drift of the live schema from the applied
migrations (--fail-on-drift blocks on it), and the resulting schema changes
(docs/schema.md). It changes nothing, takes
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
	cmd.Flags().BoolVar(&f.failOnDrift, "fail-on-drift", false, "treat a live schema that differs from what the applied migrations built as an error (exit 4)")
	f.reports.register(cmd.Flags())
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
	cmd.Flags().BoolVar(&f.failOnDrift, "fail-on-drift", false, "refuse to apply (exit 4) when the live schema differs from what the applied migrations built")
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

func (a *app) migrateUnlockCommand(f *migrateFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Show the migration lock, and with --force break it when its holder is gone",
		Long: `A run that was killed (kill -9, a lost machine) leaves the migration lock
held until its lease expires (30 s by default). unlock shows who holds it:
the holder, its host and process id, when the lease was last renewed, and
whether that process is gone (when it ran on this host).

With --force it breaks the lock so that the next apply need not wait, but
only when the lease has stopped being renewed (or its process is gone from
this host): a lock whose lease is still renewed belongs to a live run and is
never broken (exit 4). Breaking it is recorded in the audit trail with who
did it, and bumps the lock's fencing number, so the old holder cannot write
the history should it come back. The next apply resumes where the killed
run stopped.

Without --force nothing changes; the exit code is 0 when the lock is free
and 4 when it is held. Through a gateway it needs the migrate action.`,
		Example: `  spangate migrate unlock
  spangate migrate unlock --force --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runUnlock(cmd.Context(), f, force)
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "text", "output format: text or json")
	cmd.Flags().BoolVar(&force, "force", false, "break the lock when its lease is no longer being renewed")
	return cmd
}

func (a *app) runUnlock(ctx context.Context, f *migrateFlags, force bool) error {
	if err := checkFormat(f.format, "text", "json"); err != nil {
		return err
	}
	var (
		st   migration.LockState
		name string
	)
	err := a.onTarget(ctx, &f.targetFlags, func(c *gatewayclient.Client, db string) error {
		name = db
		resp, err := c.Unlock(ctx, db, force)
		if err == nil {
			st = resp.LockState
		}
		return err
	}, func(db *spannerdb.DB) error {
		name = db.Path()
		if err := db.Init(ctx); err != nil {
			return err
		}
		var err error
		st, err = db.BreakLock(ctx, a.directActor(db.Path()), force)
		return err
	})
	if err != nil {
		return err
	}
	if f.format == "json" {
		if err := writeJSON(a.stdout, map[string]any{"database": name, "lock": st}); err != nil {
			return err
		}
	} else {
		a.writeLockState(name, st, force)
	}
	if st.Held && !st.Broken {
		return silentError{code: exitBlocked, err: spangate.Errorf(spangate.Blocked, "the migration lock is held")}
	}
	return nil
}

func (a *app) writeLockState(name string, st migration.LockState, force bool) {
	w := a.stdout
	if !st.Held {
		fmt.Fprintf(w, "The migration lock of %s is free (fence %d).\n", name, st.Fence)
		return
	}
	verb := "is held"
	if st.Broken {
		verb = "was held"
	}
	fmt.Fprintf(w, "The migration lock of %s %s by %s\n", name, verb, st.Holder)
	fmt.Fprintf(w, "  host %s, pid %d, fence %d\n", orUnknown(st.Host), st.Pid, st.Fence)
	fmt.Fprintf(w, "  acquired %s, last renewed %s, lease expires %s\n", fmtTime(st.AcquiredAt), fmtTime(st.RenewedAt), fmtTime(st.ExpiresAt))
	switch {
	case st.Broken:
		fmt.Fprintln(w, "Broken: the lock is free, and the audit trail records who broke it. Re-run apply to resume.")
	case st.HolderGone:
		fmt.Fprintln(w, "Its process is gone from this host: spangate migrate unlock --force breaks the lock.")
	case st.Stale:
		fmt.Fprintln(w, "Its lease is no longer being renewed: spangate migrate unlock --force breaks the lock.")
	default:
		fmt.Fprintln(w, "Its lease is being renewed: that run is alive. Wait for it to finish.")
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func (a *app) migrateBaselineCommand(f *migrateFlags) *cobra.Command {
	var version int64
	cmd := &cobra.Command{
		Use:   "baseline",
		Short: "Adopt a database another tool migrated: record its files up to a version as applied",
		Long: `baseline takes over a database that wrench, golang-migrate or Liquibase
migrated. It reads that tool's history table (SchemaMigrations,
schema_migrations or DATABASECHANGELOG) for the last version applied, or
takes --version N, checks that the live schema is exactly what the files up
to that version build (any difference is reported as drift and refuses the
baseline, exit 4), and records those files as applied without running them,
in the history and, with the principal, in the audit trail. A dirty row of
the other tool (its last migration did not finish) is refused with the fix.
Through a gateway it needs the migrate action. Running it again does nothing.

For Liquibase, the N changesets it ran stand for the first N files, in
version order: convert one changeset to one file, in the order they ran.`,
		Example: `  spangate migrate baseline                 # version from wrench's SchemaMigrations
  spangate migrate baseline --version 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runBaseline(cmd.Context(), f, version)
		},
	}
	cmd.Flags().Int64Var(&version, "version", 0, "last version the database already has (default: read from the other tool's history table)")
	cmd.Flags().StringVar(&f.format, "format", "text", "output format: text or json")
	cmd.Flags().DurationVar(&f.lockTimeout, "lock-timeout", 2*time.Minute, "how long to wait for a migration lock held by another run")
	return cmd
}

func (a *app) runBaseline(ctx context.Context, f *migrateFlags, version int64) error {
	if err := checkFormat(f.format, "text", "json"); err != nil {
		return err
	}
	if version < 0 {
		return usageError{err: fmt.Errorf("--version %d must be positive", version)}
	}
	srcs, set, err := a.readSet(f)
	if err != nil {
		return err
	}
	var (
		res  gateway.BaselineResponse
		name string
	)
	err = a.onTarget(ctx, &f.targetFlags, func(c *gatewayclient.Client, db string) error {
		name = db
		r, err := c.Baseline(ctx, db, gatewayclient.Files(srcs), version)
		if err == nil {
			res = *r
		}
		return err
	}, func(db *spannerdb.DB) error {
		name = db.Path()
		r, err := a.engine(db, f, set).Baseline(ctx, set, version, db)
		if r != nil {
			res = gateway.BaselineResponse{Database: name, Version: r.Version, Source: r.Source, Recorded: r.Recorded, Findings: r.Findings}
		}
		for _, fd := range res.Findings {
			fmt.Fprintf(a.stderr, "%s: %s\n", fd.Rule, fd.Message)
		}
		return err
	})
	if err != nil {
		return err
	}
	res.Database, res.Recorded = name, nonNil(res.Recorded)
	if f.format == "json" {
		return writeJSON(a.stdout, res)
	}
	if len(res.Recorded) == 0 {
		_, err = fmt.Fprintf(a.stdout, "Nothing to record: the history of %s already has migrations up to version %d.\n", name, res.Version)
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "Baseline of %s: migrations %s recorded as applied (version %d from %s); the live schema matches them.\n",
		name, versionList(res.Recorded), res.Version, res.Source)
	return err
}

func checkFormat(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return usageError{err: fmt.Errorf("--format %q is not one of %s", format, strings.Join(allowed, ", "))}
}

// engine builds the migration engine for db in direct mode. History rows
// are written with audit entries, as the gateway writes them.
func (a *app) engine(db *spannerdb.DB, f *migrateFlags, set *migration.Set) *migration.Engine {
	return &migration.Engine{
		Locks: db, History: db.WithAudit(a.directActor(db.Path()), set.Files...), Schema: db, Partitioned: db,
		LiveSchema:  db,
		FailOnDrift: f.failOnDrift,
		Holder:      a.holder(),
		Run:         a.runMetadata(),
		LockTimeout: f.lockTimeout,
		Logger:      a.logger,
	}
}

// holder names this process in the lock and the history.
func (a *app) holder() string {
	return fmt.Sprintf("%s pid %d", a.localUser(), os.Getpid())
}

// localUser is user@host of this process.
func (a *app) localUser() string {
	name := a.getenv("USER")
	if u, err := user.Current(); err == nil && name == "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

func (a *app) runPlan(ctx context.Context, f *migrateFlags) error {
	if err := checkFormat(f.format, "text", "json", "markdown"); err != nil {
		return err
	}
	srcs, set, err := a.readSet(f)
	if err != nil {
		return err
	}
	var (
		plan *migration.Plan
		view migration.View
		name string
	)
	err = a.onTarget(ctx, &f.targetFlags, func(c *gatewayclient.Client, db string) error {
		name = db
		plan, view, err = a.planViaGateway(ctx, c, db, srcs, set, f.failOnDrift)
		return err
	}, func(db *spannerdb.DB) error {
		name = db.Path()
		plan, err = a.engine(db, f, set).Plan(ctx, set)
		if err == nil {
			view = plan.View(name)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := a.writeReports(ctx, &f.reports, view); err != nil {
		return err
	}
	switch f.format {
	case "json":
		err = writeJSON(a.stdout, view)
	case "markdown":
		err = writePlanMarkdown(a.stdout, name, plan)
	default:
		err = writePlanText(a.stdout, name, plan)
	}
	if err != nil {
		return err
	}
	if perr := plan.Err(); perr != nil {
		return silentError{code: exitCode(perr), err: perr}
	}
	return nil
}

// planViaGateway asks the gateway for the plan (it authorizes and audits
// it) and rebuilds the same plan locally from the gateway's history, for
// the step-by-step text and markdown output.
func (a *app) planViaGateway(ctx context.Context, c *gatewayclient.Client, name string, srcs []migration.Source, set *migration.Set, failOnDrift bool) (*migration.Plan, migration.View, error) {
	// The history first: files it shows applied go by checksum only.
	st, err := c.Status(ctx, name)
	if err != nil {
		return nil, migration.View{}, err
	}
	resp, err := c.Plan(ctx, name, gatewayclient.FilesAgainst(srcs, st))
	if err != nil {
		return nil, migration.View{}, err
	}
	plan := migration.NewPlan(set, historyOf(st))
	view := resp.View
	// The gateway names files by base name; show the paths the user has.
	for i := range view.Findings {
		view.Findings[i].File = displayPath(srcs, view.Findings[i].File)
	}
	// The gateway's findings are the authoritative ones: it checked drift
	// and lint against the live schema.
	if failOnDrift {
		view.Findings = migration.EscalateDrift(view.Findings)
		view.Blocked = view.Blocked || (&migration.Plan{Findings: view.Findings}).Blocked()
	}
	plan.Findings = view.Findings
	plan.SchemaChanges = view.SchemaChanges
	return plan, view, nil
}

func (a *app) runApply(ctx context.Context, f *migrateFlags) error {
	if err := checkFormat(f.format, "text", "json"); err != nil {
		return err
	}
	srcs, set, err := a.readSet(f)
	if err != nil {
		return err
	}
	rep := newProgress(a.stderr, a.isTerminal(a.stderr) && a.getenv("CI") == "")
	defer startLogGroup(a.stderr, a.runMetadata().CI, "spangate_apply", "spangate migrate apply", a.now).end()
	var (
		res       *migration.Result
		name      string
		auditHead string
	)
	err = a.onTarget(ctx, &f.targetFlags, func(c *gatewayclient.Client, db string) error {
		name = db
		if f.failOnDrift {
			if err := a.checkDriftViaGateway(ctx, c, db, srcs); err != nil {
				return err
			}
		}
		st, err := c.Status(ctx, db)
		if err != nil {
			return err
		}
		r, err := c.Apply(ctx, db, gatewayclient.FilesAgainst(srcs, st), rep.Report)
		if err == nil {
			res = &migration.Result{Applied: r.Applied, SchemaOperations: r.SchemaOperations, Statements: r.Statements,
				Duration: time.Duration(r.DurationMS) * time.Millisecond}
			auditHead = r.AuditHead
		}
		return err
	}, func(db *spannerdb.DB) error {
		name = db.Path()
		e := a.engine(db, f, set)
		e.Reporter = rep
		res, err = e.Apply(ctx, set)
		return err
	})
	rep.finish()
	if err != nil && ctx.Err() != nil && spangate.KindOf(err) != spangate.Canceled {
		// Interrupted (SIGINT, SIGTERM) while waiting on something that
		// reported the cancellation in its own words: exit 130 all the same.
		err = spangate.Errorf(spangate.Canceled, "interrupted: %w", err).
			WithHint("run spangate migrate status to see what was applied; re-run apply to resume")
	}
	if err != nil {
		return err
	}
	if auditHead != "" {
		// The chain head after the apply: kept in the CI log, it is an
		// anchor for audit verify --anchor.
		fmt.Fprintf(a.stderr, "%s=%s\n", anchorKey, auditHead)
	}
	if f.format == "json" {
		return writeJSON(a.stdout, map[string]any{
			"database":          name,
			"applied":           nonNil(res.Applied),
			"schema_operations": res.SchemaOperations,
			"statements":        res.Statements,
			"duration_ms":       res.Duration.Milliseconds(),
		})
	}
	if len(res.Applied) == 0 && res.Statements == 0 {
		_, err = fmt.Fprintf(a.stdout, "Nothing to apply: %s is up to date.\n", name)
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "Applied %d migration(s) %s: %d statements in %d schema operation(s), %s.\n",
		len(res.Applied), versionList(res.Applied), res.Statements, res.SchemaOperations, res.Duration.Round(time.Millisecond))
	return err
}

// checkDriftViaGateway asks the gateway for the plan and refuses, with
// kind Blocked, when it reports drift: --fail-on-drift through a gateway.
func (a *app) checkDriftViaGateway(ctx context.Context, c *gatewayclient.Client, db string, srcs []migration.Source) error {
	st, err := c.Status(ctx, db)
	if err != nil {
		return err
	}
	resp, err := c.Plan(ctx, db, gatewayclient.FilesAgainst(srcs, st))
	if err != nil {
		return err
	}
	p := &migration.Plan{Findings: migration.EscalateDrift(resp.View.Findings)}
	for _, fd := range p.Findings {
		if fd.Rule == migration.RuleDrift && fd.Severity == migration.SeverityError {
			return p.Err()
		}
	}
	return nil
}

func (a *app) runStatus(ctx context.Context, f *migrateFlags) error {
	if err := checkFormat(f.format, "text", "json"); err != nil {
		return err
	}
	_, set, err := a.readSet(f)
	if err != nil {
		return err
	}
	var (
		hist []migration.Record
		name string
	)
	err = a.onTarget(ctx, &f.targetFlags, func(c *gatewayclient.Client, db string) error {
		name = db
		st, err := c.Status(ctx, db)
		if err == nil {
			hist = historyOf(st)
		}
		return err
	}, func(db *spannerdb.DB) error {
		name = db.Path()
		// The history as the next apply will find it: schema operations
		// that earlier runs left are looked up (not waited for).
		hist, _, err = a.engine(db, f, set).SettledHistory(ctx, set.Files)
		return err
	})
	if err != nil {
		return err
	}
	sts := migration.Statuses(set, hist)
	if f.format == "json" {
		return writeJSON(a.stdout, map[string]any{"database": name, "migrations": nonNil(sts)})
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
		if s.Note != "" {
			fmt.Fprintf(a.stdout, "\n%d_%s %s: %s\n", s.Version, s.Name, s.State, s.Note)
		}
	}
	return nil
}

// versionList shows versions, abridged when there are many.
func versionList(vs []int64) string {
	if len(vs) <= 12 {
		return fmt.Sprint(vs)
	}
	return fmt.Sprintf("[%d %d %d … %d %d]", vs[0], vs[1], vs[2], vs[len(vs)-2], vs[len(vs)-1])
}

// historyOf returns the gateway's history rows as records.
func historyOf(st *gateway.StatusResponse) []migration.Record {
	out := make([]migration.Record, len(st.History))
	for i, h := range st.History {
		out[i] = h.Record()
	}
	return out
}

// displayPath maps a base name back to the path the user's files have.
func displayPath(srcs []migration.Source, base string) string {
	for _, s := range srcs {
		if path.Base(s.Name) == base {
			return s.Name
		}
	}
	return base
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
