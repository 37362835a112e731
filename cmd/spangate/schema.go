package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/schema"
	"github.com/spangate/spangate/internal/spannerdb"
)

// schemaFlags are the flags of the schema commands.
type schemaFlags struct {
	targetFlags
	format   string
	from, to string
	drops    string
}

const schemaSourceHelp = `A schema source (--from, --to) is one of:

  migrations/                       a migrations directory: the schema its files
                                    build, applied in version order
  schema.sql                        a file of DDL statements separated by ';'
  db:projects/P/instances/I/databases/D
                                    a live database (GetDatabaseDdl), read directly
                                    with Google credentials, or from the emulator
                                    when SPANNER_EMULATOR_HOST is set
  db:                               the live database named by --database or
                                    SPANGATE_DATABASE
  empty                             an empty schema

spangate's own tables (Spangate*) are left out of live schemas.`

func (a *app) schemaCommand() *cobra.Command {
	var f schemaFlags
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Dump the live schema, or diff two schemas into a migration",
		Long: `schema works with spangate's model of a Spanner schema, built by parsing DDL
(tables, columns, keys, interleaving, indexes, constraints, views, change
streams, sequences, roles and grants).

` + schemaSourceHelp + `

The schema commands read live databases directly, never through a gateway:
the gateway's HTTP API has no schema endpoint. With --gateway or SPANGATE_URL
set, a live source is refused; files and directories work anywhere.`,
	}
	f.targetFlags.register(cmd.PersistentFlags())
	cmd.AddCommand(a.schemaDumpCommand(&f), a.schemaDiffCommand(&f))
	return cmd
}

func (a *app) schemaDumpCommand(f *schemaFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dump",
		Short: "Print the live schema as canonical DDL (without spangate's tables)",
		Long: `dump reads the live schema (GetDatabaseDdl) of --database and prints it as
canonical DDL in a deterministic order that re-applies cleanly: sequences,
tables (parents before children, referenced tables first), indexes, views,
change streams, roles and grants. spangate's own tables are left out.`,
		Example: `  spangate schema dump --database projects/P/instances/I/databases/D > schema.sql
  spangate schema dump --format json | jq '.tables[].name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(f.format, "sql", "json"); err != nil {
				return err
			}
			s, _, err := a.loadSchema(cmd.Context(), f, "db:")
			if err != nil {
				return err
			}
			if f.format == "json" {
				return writeJSON(a.stdout, s)
			}
			_, err = fmt.Fprint(a.stdout, s.String())
			return err
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "sql", "output format: sql or json")
	return cmd
}

func (a *app) schemaDiffCommand(f *schemaFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diff --from A --to B",
		Short: "Print the statements that turn schema A into schema B",
		Long: `diff prints the DDL statements that turn schema A into schema B, in an
order Spanner accepts: every statement is placed by one dependency graph of
both schemas (tables, columns, constraints, indexes, views, change streams,
sequences, proto types, locality groups, named schemas, roles and grants), so
a drop comes after whatever stops using what it drops, in any table, and a
create after what it needs. Removals come first, then additions and changes,
then indexes, views, change streams and grants. Indexes, foreign keys and
views that must go for a change (a NOT NULL change of an index key, a type
change a foreign key or view blocks) are dropped and created again around it.
The output is a migration, ready to be saved as the next file.

Changes Spanner cannot make in place (a primary key, an interleave parent,
most column type changes, HIDDEN on a column that holds data, dropping an
anonymous constraint) are refused with an explanation and exit 2: spangate
never drops and recreates a table or a column that holds data. A new NOT NULL
column gets a default for its type that is dropped right after (the output
says which).

--drops says what to do with removals (drops of what B does not have):
  annotate  (default) print each one under a comment that says what is lost,
            with the '-- spangate:allow <rule>' directive migrate plan needs,
            so the output plans green once reviewed and accepted
  include   print them bare; migrate plan blocks them until allowed
  omit      leave them out (and what cannot run without them: a create that
            reuses a dropped name) and list them on stderr

` + schemaSourceHelp,
		Example: `  spangate schema diff --from migrations/ --to schema.sql > migrations/0042_next.sql
  spangate schema diff --from db: --to migrations/ --database projects/P/instances/I/databases/D
  spangate schema diff --from empty --to schema.sql --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runSchemaDiff(cmd.Context(), f)
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "sql", "output format: sql or json")
	cmd.Flags().StringVar(&f.from, "from", "", "the schema to start from (see the list of sources above)")
	cmd.Flags().StringVar(&f.to, "to", "", "the schema to reach")
	cmd.Flags().StringVar(&f.drops, "drops", "annotate", "removals: annotate (with the allow directive), include, or omit (listed on stderr)")
	return cmd
}

func (a *app) runSchemaDiff(ctx context.Context, f *schemaFlags) error {
	if err := checkFormat(f.format, "sql", "json"); err != nil {
		return err
	}
	switch f.drops {
	case "annotate", "include", "omit":
	default:
		return usageError{err: fmt.Errorf("--drops must be annotate, include or omit, not %q", f.drops)}
	}
	if f.from == "" || f.to == "" {
		return usageError{err: errors.New("schema diff needs --from and --to (a migrations directory, a DDL file, db:<database path> or empty)")}
	}
	from, fromName, err := a.loadSchema(ctx, f, f.from)
	if err != nil {
		return err
	}
	to, toName, err := a.loadSchema(ctx, f, f.to)
	if err != nil {
		return err
	}
	res := schema.Diff(from, to)
	derr := res.Err()
	var omitted []schema.Change
	if f.drops == "omit" {
		res.Changes, omitted = res.WithoutRemovals()
	}
	if f.format == "json" {
		doc := map[string]any{
			"from": fromName, "to": toName, "statements": nonNil(res.Statements()), "changes": nonNil(res.Changes), "refused": res.Refused,
		}
		if f.drops == "omit" {
			doc["omitted"] = nonNil(omitted)
		}
		if err := writeJSON(a.stdout, doc); err != nil {
			return err
		}
		if derr != nil {
			return silentError{code: exitCode(derr), err: derr}
		}
		return nil
	}
	if derr != nil {
		return derr
	}
	for _, c := range omitted {
		fmt.Fprintf(a.stderr, "omitted (--drops=omit): %s;\n", c.SQL)
	}
	if len(res.Changes) == 0 {
		if len(omitted) == 0 {
			fmt.Fprintf(a.stderr, "no differences: %s and %s hold the same schema\n", fromName, toName)
		}
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "-- spangate schema diff --from %s --to %s\n", fromName, toName)
	for _, c := range res.Changes {
		b.WriteString(annotation(c, f.drops))
		b.WriteString(c.SQL + ";\n")
	}
	_, err = fmt.Fprint(a.stdout, b.String())
	return err
}

// annotation returns the comment lines printed before a change: what a
// removal loses and the allow directive migrate plan needs for it
// (--drops=annotate), and any warning.
func annotation(c schema.Change, drops string) string {
	var b strings.Builder
	if c.Warning != "" {
		fmt.Fprintf(&b, "-- warning: %s\n", c.Warning)
	}
	if drops != "annotate" {
		return b.String()
	}
	if c.Lost != "" {
		fmt.Fprintf(&b, "-- loses: %s\n", c.Lost)
	} else if c.Detail != "" && len(c.Rules) > 0 {
		fmt.Fprintf(&b, "-- %s\n", c.Detail)
	}
	if len(c.Rules) > 0 {
		fmt.Fprintf(&b, "-- spangate:allow %s\n", strings.Join(c.Rules, " "))
	}
	return b.String()
}

// loadSchema builds the schema a source names (see schemaSourceHelp) and
// returns it with a name for messages.
func (a *app) loadSchema(ctx context.Context, f *schemaFlags, src string) (*schema.Schema, string, error) {
	switch {
	case src == "empty":
		return schema.New(), "empty", nil
	case strings.HasPrefix(src, "db:"):
		return a.liveSchema(ctx, f, strings.TrimPrefix(src, "db:"))
	}
	st, err := os.Stat(src)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", spangate.Errorf(spangate.Invalid, "schema source %s does not exist", src).
				WithHint("give a migrations directory, a .sql file, db:projects/P/instances/I/databases/D, db: (for --database) or empty")
		}
		return nil, "", spangate.Errorf(spangate.Invalid, "schema source %s: %w", src, err)
	}
	if st.IsDir() {
		s, err := migrationsSchema(src)
		return s, src, err
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return nil, "", spangate.Errorf(spangate.Invalid, "read %s: %w", src, err)
	}
	s, err := schema.Parse(src, string(b))
	if err != nil {
		return nil, "", err
	}
	return s, src, nil
}

// migrationsSchema builds the schema the files of a migrations directory
// build, in version order.
func migrationsSchema(dir string) (*schema.Schema, error) {
	set, err := migration.ReadOSDir(dir)
	if err != nil {
		return nil, err
	}
	if errs := set.Errors(); len(errs) > 0 {
		return nil, (&migration.Plan{Findings: errs}).Err()
	}
	s := schema.New()
	for _, f := range set.Files {
		for i := range f.Statements {
			if err := s.Apply(f.Path, &f.Statements[i]); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// liveSchema reads a live database's schema directly (path, or --database
// when path is empty), without spangate's tables.
func (a *app) liveSchema(ctx context.Context, f *schemaFlags, path string) (*schema.Schema, string, error) {
	if a.gatewayURL(&f.targetFlags) != "" {
		return nil, "", spangate.Errorf(spangate.Invalid, "the schema commands read a live database directly, and a gateway is set (--gateway or SPANGATE_URL)").
			WithHint("the gateway's HTTP API has no schema endpoint: unset SPANGATE_URL and run with Google credentials (or SPANNER_EMULATOR_HOST), or diff files and directories only")
	}
	t := f.targetFlags
	if path != "" {
		t.database = path
	}
	db, err := a.openDirect(ctx, &t)
	if err != nil {
		return nil, "", err
	}
	defer db.Close()
	return readLiveSchema(ctx, db)
}

func readLiveSchema(ctx context.Context, db *spannerdb.DB) (*schema.Schema, string, error) {
	ddl, err := db.Schema(ctx)
	if err != nil {
		return nil, "", err
	}
	facts, err := schema.ReadLiveFacts(ctx, db)
	if err != nil {
		return nil, "", err
	}
	s, err := schema.FromLive(db.Path(), ddl, facts)
	if err != nil {
		return nil, "", err
	}
	return s.WithoutInternal(), "db:" + db.Path(), nil
}
