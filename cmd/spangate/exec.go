package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/execute"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/gatewayclient"
	"github.com/spangate/spangate/internal/spannerdb"
	"github.com/spangate/spangate/internal/sqlstmt"
	"github.com/spf13/cobra"
)

type execFlags struct {
	targetFlags
	sql          string
	params       []string
	format       string
	paramKeyFile string
}

func (a *app) execCommand() *cobra.Command {
	var f execFlags
	cmd := &cobra.Command{
		Use:   "exec",
		Short: "Run one SQL statement (query, DML or DDL), authorized and audited",
		Long: `exec runs exactly one statement. A request holding more than one statement is
refused, so nothing can be smuggled behind a harmless first statement.

Through a gateway the statement needs, by its class: read (a query), write
(DML), ddl (a schema change), and also destructive when it drops a table,
column or index, or updates or deletes every row (WHERE true). DML commits in
one transaction together with its audit entry, which records the table and
the primary keys of every row it touched.

Parameters are bound, never spliced into the text: write @name in the SQL
and pass --param name=VALUE. VALUE is read as JSON when it is valid JSON
(42, 4.5, true, null, "text", [1,2]) and as a string otherwise. Parameter
values are never logged; the audit trail keeps only their hashes: with a key
(the gateway's audit.param_hash_key_file, or --param-hash-key-file in direct
mode) HMAC-SHA-256 hashes that nobody without the key can test candidates
against.`,
		Example: `  spangate exec --sql "SELECT OrderId, Total FROM Orders WHERE CustomerId = @c" --param c=1
  spangate exec --sql "UPDATE Orders SET Note = @n WHERE CustomerId = 1 AND OrderId = 1" --param n=checked
  spangate exec --gateway https://spangate.example.com --database orders --sql "DELETE FROM Carts WHERE ExpiresAt < CURRENT_TIMESTAMP()" --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.runExec(cmd.Context(), &f) },
	}
	f.targetFlags.register(cmd.Flags())
	cmd.Flags().StringVar(&f.sql, "sql", "", "the statement to run (required)")
	cmd.Flags().StringArrayVar(&f.params, "param", nil, "a parameter NAME=VALUE (repeatable)")
	cmd.Flags().StringVar(&f.format, "format", "text", "output format: text or json (row_count, rows)")
	cmd.Flags().StringVar(&f.paramKeyFile, "param-hash-key-file", "", "direct mode: hash parameter values with the key in this file (base64, as the gateway's audit.param_hash_key_file; env SPANGATE_PARAM_HASH_KEY_FILE)")
	return cmd
}

// parseParams turns NAME=VALUE flags into JSON values.
func parseParams(flags []string) (map[string]json.RawMessage, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := make(map[string]json.RawMessage, len(flags))
	for _, p := range flags {
		name, value, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return nil, usageError{err: fmt.Errorf("parameter %q is not NAME=VALUE", p)}
		}
		name = strings.TrimPrefix(name, "@")
		if _, dup := out[name]; dup {
			return nil, usageError{err: fmt.Errorf("parameter %s is given twice", name)}
		}
		raw := json.RawMessage(value)
		if !json.Valid(raw) {
			raw, _ = json.Marshal(value)
		}
		out[name] = raw
	}
	return out, nil
}

func (a *app) runExec(ctx context.Context, f *execFlags) error {
	if err := checkFormat(f.format, "text", "json"); err != nil {
		return err
	}
	if strings.TrimSpace(f.sql) == "" {
		return usageError{err: fmt.Errorf("--sql is required: the one statement to run")}
	}
	params, err := parseParams(f.params)
	if err != nil {
		return err
	}
	if f.paramKeyFile != "" && a.gatewayURL(&f.targetFlags) != "" {
		return usageError{err: fmt.Errorf("--param-hash-key-file applies to direct mode only, and --gateway or SPANGATE_URL chose the gateway, which hashes with its own audit.param_hash_key_file: drop the flag, or unset SPANGATE_URL to run directly")}
	}
	var hasher audit.ParamHasher
	if a.gatewayURL(&f.targetFlags) == "" {
		if hasher, err = a.paramHasher(f.paramKeyFile); err != nil {
			return err
		}
	}
	var res execute.Result
	err = a.onTarget(ctx, &f.targetFlags, func(c *gatewayclient.Client, name string) error {
		r, err := c.Exec(ctx, name, f.sql, params)
		if err == nil {
			res = execute.Result{RowCount: r.RowCount, Rows: r.Rows}
			if r.AuditHead != "" {
				// The chain head after the change: kept in the CI log, it
				// is an anchor for audit verify --anchor.
				fmt.Fprintf(a.stderr, "audit_head=%s\n", r.AuditHead)
			}
		}
		return err
	}, func(db *spannerdb.DB) error {
		var err error
		res, err = a.execDirect(ctx, db, f.sql, params, hasher)
		return err
	})
	if err != nil {
		return err
	}
	if res.Rows == nil {
		res.Rows = []map[string]any{}
	}
	if f.format == "json" {
		return writeJSON(a.stdout, res)
	}
	return writeRows(a, res)
}

// writeRows prints query rows as a table, or the DML row count.
func writeRows(a *app, res execute.Result) error {
	if len(res.Rows) == 0 {
		_, err := fmt.Fprintf(a.stdout, "%d row(s).\n", res.RowCount)
		return err
	}
	var cols []string
	for c := range res.Rows[0] {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range res.Rows {
		vals := make([]string, len(cols))
		for i, c := range cols {
			b, _ := json.Marshal(r[c])
			vals[i] = abbreviate(strings.Trim(string(b), `"`), 60)
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(a.stdout, "%d row(s).\n", res.RowCount)
	return err
}

// execDirect runs the statement on Spanner with this process's Google
// credentials, writing the same audit entries as the gateway does. There
// is no spangate policy in direct mode: Spanner's IAM decides.
func (a *app) execDirect(ctx context.Context, db *spannerdb.DB, sql string, raw map[string]json.RawMessage, hasher audit.ParamHasher) (execute.Result, error) {
	params, err := execute.DecodeParams(raw)
	if err != nil {
		return execute.Result{}, err
	}
	st, err := sqlstmt.ParseOne(sql)
	if err != nil {
		return execute.Result{}, err
	}
	if err := db.Init(ctx); err != nil {
		return execute.Result{}, err
	}
	return execute.Run(ctx, db, &st, params, a.directActor(db.Path()), execute.Options{ParamHasher: hasher})
}

// envParamHashKeyFile names the parameter hash key file when
// --param-hash-key-file (exec) or --key-file (audit hash-param) is not
// given.
const envParamHashKeyFile = "SPANGATE_PARAM_HASH_KEY_FILE"

// paramHasher returns the hasher for the key in file, or in the file
// SPANGATE_PARAM_HASH_KEY_FILE names when file is empty; without either,
// the unkeyed hasher.
func (a *app) paramHasher(file string) (audit.ParamHasher, error) {
	if file = cmp.Or(file, a.getenv(envParamHashKeyFile)); file == "" {
		return audit.ParamHasher{}, nil
	}
	return gateway.ReadParamHasher(os.ReadFile, file)
}
