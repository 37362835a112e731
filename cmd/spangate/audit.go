package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/execute"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/gatewayclient"
	"github.com/spangate/spangate/internal/spannerdb"
)

type auditFlags struct {
	targetFlags
	format    string
	table     string
	key       string
	principal string
	action    string
	since     string
	limit     int
	anchors   []string
}

func (a *app) auditCommand() *cobra.Command {
	var f auditFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List and verify the audit trail of a database",
		Long: `Every decision and change made through spangate is recorded in the target
database's audit trail (SpangateAudit), in the same transaction as the change:
who (the verified principal and the claims that matter for its provider),
from which run (commit, pipeline, as the CI reported them), the statement,
hashed parameter values, the result, and for DML the table and primary keys
of every row it touched. Entries are hash-chained, so editing, deleting or
reordering one is detected by audit verify.

Through a gateway (--gateway or SPANGATE_URL) the caller needs the audit
action; directly, a Google credential that can read the database.`,
	}
	f.targetFlags.register(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVar(&f.format, "format", "text", "output format: text or json")

	list := &cobra.Command{
		Use:   "list",
		Short: "List audit entries, newest first; --table and --key answer \"who changed this row\"",
		Example: `  spangate audit list --table Orders --key '[1,42]'
  spangate audit list --principal 'bitbucket:{7c1e…}' --since 2026-11-01T00:00:00Z
  spangate audit list --action migrate --limit 20 --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.runAuditList(cmd.Context(), &f) },
	}
	lf := list.Flags()
	lf.StringVar(&f.table, "table", "", "only entries that changed this table")
	lf.StringVar(&f.key, "key", "", "with --table: only entries that changed the row with this primary key, as a JSON array ([1,\"a\"]) or a bare value for a one-column key")
	lf.StringVar(&f.principal, "principal", "", "only entries of this principal (as shown in the list)")
	lf.StringVar(&f.action, "action", "", "only entries of this action: plan, migrate, read, write, ddl, destructive or audit")
	lf.StringVar(&f.since, "since", "", "only entries at or after this time (RFC 3339, e.g. 2026-11-26T00:00:00Z)")
	lf.IntVar(&f.limit, "limit", audit.DefaultLimit, fmt.Sprintf("at most this many entries, read in pages of %d; the output says when more match", audit.MaxLimit))

	verify := &cobra.Command{
		Use:   "verify",
		Short: "Walk the hash chain and report the first entry edited, deleted or reordered (exit 4)",
		Long: `verify walks the whole chain in sequence order and checks every entry's hash,
its link to the previous entry, and the chain head row. The first entry
found edited, deleted or reordered is reported (exit 4, "ok": false,
"first_bad").

Someone able to write the database could still rewrite the end of the chain
together with its head row. To catch that, keep the head that verify prints
(SEQ:HASH) somewhere the database's writers cannot reach (a CI log, an
artifact, a ticket) and pass it back with --anchor to a later verify: the
chain must still hold that entry with that hash.`,
		Example: `  spangate audit verify
  spangate audit verify --format json            # "head": {"seq": …, "hash": …}
  spangate audit verify --anchor 1042:3f5c…e9a1  # still holds entry 1042 as recorded`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.runAuditVerify(cmd.Context(), &f) },
	}
	verify.Flags().StringArrayVar(&f.anchors, "anchor", nil, "an entry the chain must still hold, as SEQ:HASH from the head of an earlier verify or audit anchor, or a gateway log line or answer carrying audit_head (repeatable)")
	anchor := &cobra.Command{
		Use:   "anchor",
		Short: "Print the audit chain's head (SEQ:HASH), to keep outside the database for a later verify --anchor",
		Long: `anchor prints the newest entry of the audit chain as audit_head=SEQ:HASH: keep
the line somewhere the database's writers cannot reach (a CI log, an
artifact, a ticket) and pass it to a later audit verify --anchor, which
then detects a rewrite of the chain's tail made together with its head
row. The gateway puts the same head in every change's answer (header
Spangate-Audit-Head, field audit_head), prints it after exec, and logs it
on the request's line; audit verify --anchor takes any of those forms.

It does not check the chain: run audit verify for that.`,
		Example: `  spangate audit anchor >> anchors.txt
  spangate audit anchor --format json   # {"database", "seq", "hash", "anchor"}
  spangate audit verify --anchor "$(tail -1 anchors.txt)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.runAuditAnchor(cmd.Context(), &f) },
	}
	var keyFile string
	hashParam := &cobra.Command{
		Use:   "hash-param [NAME=VALUE]...",
		Short: "Print the hash an audit entry records for a parameter value, to check a claimed value",
		Long: `hash-param prints what an audit entry's params hold for NAME=VALUE: the hash
of the value, salted with the parameter's name. VALUE is read as exec's
--param reads it (JSON when it is valid JSON, a string otherwise), so the
hash matches the entry of a statement run with the same --param. With no
arguments it reads NAME=VALUE lines from standard input, which keeps the
values out of the shell's history and the process list.

Entries written by a gateway with audit.param_hash_key_file hold
"hmac-sha256:<key id>:<hex>" hashes: pass the same key file (--key-file or
SPANGATE_PARAM_HASH_KEY_FILE) to reproduce them. Without a key the hash is
"sha256:<hex>". Nothing is read from the database.`,
		Example: `  spangate audit hash-param id=42 email=ada@example.com
  spangate audit hash-param --key-file /run/secrets/param-key id=42 --format json
  printf 'email=%s\n' "$EMAIL" | spangate audit hash-param --key-file /run/secrets/param-key`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.runAuditHashParam(args, keyFile, f.format) },
	}
	hashParam.Flags().StringVar(&keyFile, "key-file", "", "the parameter hash key file (base64; env SPANGATE_PARAM_HASH_KEY_FILE)")
	cmd.AddCommand(list, verify, anchor, hashParam)
	return cmd
}

func (a *app) runAuditHashParam(args []string, keyFile, format string) error {
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	if len(args) == 0 {
		sc := bufio.NewScanner(a.stdin)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if line := strings.TrimRight(sc.Text(), "\r"); line != "" {
				args = append(args, line)
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("read NAME=VALUE lines from standard input: %w", err)
		}
		if len(args) == 0 {
			return usageError{err: fmt.Errorf("no parameter: give NAME=VALUE arguments, or NAME=VALUE lines on standard input")}
		}
	}
	raw, err := parseParams(args)
	if err != nil {
		return err
	}
	params, err := execute.DecodeParams(raw)
	if err != nil {
		return err
	}
	hasher, err := a.paramHasher(keyFile)
	if err != nil {
		return err
	}
	hashes := hasher.HashAll(params)
	if format == "json" {
		return writeJSON(a.stdout, hashes)
	}
	for _, name := range slices.Sorted(maps.Keys(hashes)) {
		if _, err := fmt.Fprintf(a.stdout, "%s\t%s\n", name, hashes[name]); err != nil {
			return err
		}
	}
	return nil
}

func (f *auditFlags) filter() (audit.Filter, error) {
	flt := audit.Filter{Table: f.table, Key: f.key, Principal: f.principal, Action: f.action, Limit: f.limit}
	if f.key != "" && f.table == "" {
		return flt, usageError{err: fmt.Errorf("--key needs --table")}
	}
	if f.limit < 1 {
		return flt, usageError{err: fmt.Errorf("--limit %d is not a positive number", f.limit)}
	}
	if f.action != "" && !spangate.Action(f.action).Valid() {
		return flt, usageError{err: fmt.Errorf("--action %q is not one of plan, migrate, read, write, ddl, destructive, audit", f.action)}
	}
	if f.since != "" {
		t, err := time.Parse(time.RFC3339, f.since)
		if err != nil {
			return flt, usageError{err: fmt.Errorf("--since %q is not an RFC 3339 time such as 2026-11-26T00:00:00Z", f.since)}
		}
		flt.Since = t
	}
	return flt, nil
}

func (a *app) runAuditList(ctx context.Context, f *auditFlags) error {
	if err := checkFormat(f.format, "text", "json"); err != nil {
		return err
	}
	flt, err := f.filter()
	if err != nil {
		return err
	}
	var (
		entries   []audit.Entry
		truncated bool
	)
	err = a.onTarget(ctx, &f.targetFlags, func(c *gatewayclient.Client, name string) error {
		entries, truncated, err = a.auditPages(flt, func(page audit.Filter) ([]audit.Entry, error) {
			q := url.Values{}
			for k, v := range map[string]string{"table": f.table, "key": f.key, "principal": f.principal, "action": f.action, "since": f.since} {
				if v != "" {
					q.Set(k, v)
				}
			}
			q.Set("limit", strconv.Itoa(page.Limit))
			if page.Before > 0 {
				q.Set("before", strconv.FormatInt(page.Before, 10))
			}
			resp, err := c.AuditList(ctx, name, q)
			if err != nil {
				return nil, err
			}
			return resp.Entries, nil
		})
		return err
	}, func(db *spannerdb.DB) error {
		if err := db.Init(ctx); err != nil {
			return err
		}
		entries, truncated, err = a.auditPages(flt, func(page audit.Filter) ([]audit.Entry, error) {
			return db.ListAudit(ctx, page)
		})
		return err
	})
	if err != nil {
		return err
	}
	if f.format == "json" {
		return writeJSON(a.stdout, map[string]any{"entries": nonNil(entries), "truncated": truncated})
	}
	if truncated {
		defer fmt.Fprintf(a.stdout, "\nMore entries match: these are the newest %d; raise --limit, or narrow the search with --since, --action or --principal.\n", len(entries))
	}
	if len(entries) == 0 {
		_, err := fmt.Fprintln(a.stdout, "No audit entries match.")
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tAT\tPRINCIPAL\tACTION\tRESULT\tTABLE\tKEYS\tCOMMIT\tPIPELINE\tSTATEMENT")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.UTC().Format(time.RFC3339), e.Principal, e.Action,
			e.Result, e.Table, abbreviate(strings.Join(e.Keys, " "), 40), abbreviate(e.Run.Commit, 12), e.Run.PipelineRef(),
			abbreviate(strings.Join(strings.Fields(e.Statement), " "), 60))
	}
	return tw.Flush()
}

// auditPages reads up to flt.Limit entries, newest first, a page of at
// most a.auditPage (default audit.MaxLimit) at a time, each page after the
// last entry of the one before. truncated says that more entries match
// than were read.
func (a *app) auditPages(flt audit.Filter, list func(audit.Filter) ([]audit.Entry, error)) (entries []audit.Entry, truncated bool, err error) {
	pageSize := a.auditPage
	if pageSize <= 0 || pageSize > audit.MaxLimit {
		pageSize = audit.MaxLimit
	}
	want := flt.Limit
	page := flt
	for {
		// Ask for one more than wanted on the last page: it says whether
		// the result was cut.
		page.Limit = min(want-len(entries)+1, pageSize)
		got, err := list(page)
		if err != nil {
			return nil, false, err
		}
		if len(entries)+len(got) > want {
			return append(entries, got[:want-len(entries)]...), true, nil
		}
		entries = append(entries, got...)
		if len(got) < page.Limit || len(entries) == want {
			// Fewer than asked: nothing more matches. (Exactly want read
			// with a full page: ask once more whether anything follows.)
			if len(got) == page.Limit && len(entries) == want {
				more, err := list(audit.Filter{Table: flt.Table, Key: flt.Key, Principal: flt.Principal, Action: flt.Action,
					Since: flt.Since, Limit: 1, Before: entries[len(entries)-1].Seq})
				return entries, err == nil && len(more) > 0, err
			}
			return entries, false, nil
		}
		page.Before = got[len(got)-1].Seq
	}
}

func (a *app) runAuditVerify(ctx context.Context, f *auditFlags) error {
	if err := checkFormat(f.format, "text", "json"); err != nil {
		return err
	}
	var anchors []audit.Anchor
	for _, s := range f.anchors {
		an, err := parseAnchorArg(s)
		if err != nil {
			return usageError{err: fmt.Errorf("--anchor: %w", err)}
		}
		anchors = append(anchors, an)
	}
	var res audit.VerifyResult
	err := a.onTarget(ctx, &f.targetFlags, func(c *gatewayclient.Client, name string) error {
		r, err := c.AuditVerify(ctx, name, anchors...)
		if err == nil {
			res = *r
		}
		return err
	}, func(db *spannerdb.DB) error {
		if err := db.Init(ctx); err != nil {
			return err
		}
		var err error
		res, err = db.VerifyAudit(ctx, anchors...)
		return err
	})
	if err != nil {
		return err
	}
	if f.format == "json" {
		if err := writeJSON(a.stdout, res); err != nil {
			return err
		}
	} else if res.OK {
		fmt.Fprintf(a.stdout, "OK: %d audit entries, the hash chain is intact", res.Entries)
		if len(anchors) > 0 {
			fmt.Fprintf(a.stdout, " and holds the %d anchored entries", len(anchors))
		}
		fmt.Fprintln(a.stdout, ".")
		if res.Head != nil {
			fmt.Fprintf(a.stdout, "Head: %s (keep it outside the database; a later verify --anchor %s shows a rewritten tail)\n", res.Head, res.Head)
		}
	} else {
		fmt.Fprintf(a.stdout, "BROKEN: %s\n", res.String())
	}
	if !res.OK {
		// The finding is on stdout already; exit 4 without repeating it.
		return silentError{code: exitBlocked, err: spangate.Errorf(spangate.Blocked, "audit chain broken: %s", res.String())}
	}
	return nil
}

// AnchorJSON is the --format json output of audit anchor.
type AnchorJSON struct {
	Database string `json:"database"`
	Seq      int64  `json:"seq"`
	Hash     string `json:"hash"`
	Anchor   string `json:"anchor"`
}

func (a *app) runAuditAnchor(ctx context.Context, f *auditFlags) error {
	if err := checkFormat(f.format, "text", "json"); err != nil {
		return err
	}
	var newest []audit.Entry
	var database string
	err := a.onTarget(ctx, &f.targetFlags, func(c *gatewayclient.Client, name string) error {
		database = name
		resp, err := c.AuditList(ctx, name, url.Values{"limit": {"1"}})
		if err == nil {
			newest = resp.Entries
		}
		return err
	}, func(db *spannerdb.DB) error {
		if err := db.Init(ctx); err != nil {
			return err
		}
		database = db.Path()
		var err error
		newest, err = db.ListAudit(ctx, audit.Filter{Limit: 1})
		return err
	})
	if err != nil {
		return err
	}
	if len(newest) == 0 {
		return spangate.Errorf(spangate.NotFound, "the audit trail of %s has no entries yet, so there is no head to anchor", database).
			WithHint("anchor after the first change")
	}
	head := audit.Anchor{Seq: newest[0].Seq, Hash: newest[0].Hash}
	if f.format == "json" {
		return writeJSON(a.stdout, AnchorJSON{Database: database, Seq: head.Seq, Hash: head.Hash, Anchor: head.String()})
	}
	_, err = fmt.Fprintf(a.stdout, "%s=%s\n", anchorKey, head)
	return err
}

// anchorKey names the chain head in the gateway's log lines, its answers
// (audit_head) and audit anchor's output.
const anchorKey = "audit_head"

// parseAnchorArg reads an --anchor value: SEQ:HASH, or any text that
// carries the head after audit_head (audit anchor's output, a gateway log
// line in text or JSON, an exec answer) or Spangate-Audit-Head (a response
// header line).
func parseAnchorArg(s string) (audit.Anchor, error) {
	for _, key := range []string{anchorKey, gateway.HeaderAuditHead} {
		i := strings.Index(strings.ToLower(s), strings.ToLower(key))
		if i < 0 {
			continue
		}
		rest := strings.TrimLeft(s[i+len(key):], `"'=: `)
		end := strings.IndexFunc(rest, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == ':')
		})
		if end >= 0 {
			rest = rest[:end]
		}
		return audit.ParseAnchor(rest)
	}
	return audit.ParseAnchor(s)
}

// abbreviate cuts s to n characters with an ellipsis.
func abbreviate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
