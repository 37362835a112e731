package spannerdb

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// AuditedHistory is the migration history of a DB with an audit entry
// written in the same transaction as every history write that records a
// change of the database. It implements migration.HistoryStore; pass it
// as Engine.History.
//
// What is recorded, with action "migrate" and the actor's identity:
//   - ApplyDML: one entry per DML statement, with its table, the keys of
//     the rows it changed and its row count, like ExecDML;
//   - Save, for each record whose progress advanced (a schema batch or a
//     Partitioned DML statement applied, or an interrupted batch settled):
//     one "ok" entry with the statements newly applied;
//   - Save, for each record that newly failed: one "failed" entry with the
//     statement that failed and the error.
//
// Writes that only mark a file as started record nothing: nothing changed
// in the database yet.
type AuditedHistory struct {
	db    *DB
	actor audit.Entry
	files map[int64]*migration.File
}

var _ migration.HistoryStore = (*AuditedHistory)(nil)

// WithAudit returns d's history store with audit. actor is the template of
// every entry (principal, issuer, subject, attributes, run metadata,
// database); Action defaults to "migrate". files, when given, supply the
// text of the statements a Save records; without them an entry names the
// migration and the statement numbers instead.
func (d *DB) WithAudit(actor audit.Entry, files ...*migration.File) *AuditedHistory {
	if actor.Action == "" {
		actor.Action = string(spangate.ActionMigrate)
	}
	h := &AuditedHistory{db: d, actor: actor, files: make(map[int64]*migration.File, len(files))}
	for _, f := range files {
		h.files[f.Version] = f
	}
	return h
}

// Init creates spangate's tables if they do not exist.
func (h *AuditedHistory) Init(ctx context.Context) error { return h.db.Init(ctx) }

// History returns every history row.
func (h *AuditedHistory) History(ctx context.Context) ([]migration.Record, error) {
	return h.db.History(ctx)
}

// AppliedContent returns the content recorded for the history rows of
// versions (see DB.AppliedContent).
func (h *AuditedHistory) AppliedContent(ctx context.Context, versions []int64) (map[int64][]byte, error) {
	return h.db.AppliedContent(ctx, versions)
}

// Save writes history rows and the audit entries of what they record, in
// one transaction, if l still holds the lock.
func (h *AuditedHistory) Save(ctx context.Context, l migration.Lease, recs ...migration.Record) error {
	err := h.db.saveHistory(ctx, "write the migration history and its audit", l, recs, func(ctx context.Context, txn *spanner.ReadWriteTransaction, ap *appender, recs []migration.Record, before []progress) error {
		var entries []audit.Entry
		for i, r := range recs {
			entries = append(entries, h.saveEntries(before[i], r)...)
		}
		if len(entries) == 0 {
			return nil
		}
		_, err := ap.append(ctx, txn, entries...)
		return err
	})
	return asAuditError(err)
}

// progress is the part of a stored history row that Save compares.
type progress struct {
	applied  int
	state    migration.State
	failures int
}

// storedProgress reads the stored progress of the history rows of
// versions in one read; a version without a row has zero progress.
func storedProgress(ctx context.Context, txn *spanner.ReadWriteTransaction, versions []int64) (map[int64]progress, error) {
	keys := make([]spanner.KeySet, len(versions))
	for i, v := range versions {
		keys[i] = spanner.Key{v}
	}
	out := make(map[int64]progress, len(versions))
	it := txn.Read(ctx, MigrationsTable, spanner.KeySets(keys...), []string{"Version", "StatementsApplied", "State", "Failures"})
	err := it.Do(func(row *spanner.Row) error {
		var (
			version, applied, failures int64
			state                      string
		)
		if err := row.Columns(&version, &applied, &state, &failures); err != nil {
			return err
		}
		out[version] = progress{applied: int(applied), state: migration.State(state), failures: int(failures)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (h *AuditedHistory) saveEntries(before progress, r migration.Record) []audit.Entry {
	var out []audit.Entry
	if r.StatementsApplied > before.applied {
		e := h.actor
		e.Result = audit.ResultOK
		e.Statement = h.statements(r.Version, before.applied, r.StatementsApplied)
		e.Reason = fmt.Sprintf("migration %d %s: statements %d to %d of %d applied", r.Version, r.Name,
			before.applied+1, r.StatementsApplied, r.StatementsTotal)
		if st := h.partitioned(r.Version, before.applied, r.StatementsApplied); st != nil {
			// Partitioned DML: its table, Spanner's lower bound of the
			// rows it changed, and no keys (they are not known).
			e.Table, e.Rows, e.KeysIncomplete = st.Table, r.PartitionedRows, true
		}
		out = append(out, e)
	}
	if r.State == migration.StateFailed && (before.state != migration.StateFailed || r.Failures > before.failures) {
		e := h.actor
		e.Result = audit.ResultFailed
		e.Statement = h.statements(r.Version, r.StatementsApplied, r.StatementsApplied+1)
		e.Reason = fmt.Sprintf("migration %d %s: statement %d of %d failed: %s", r.Version, r.Name,
			r.StatementsApplied+1, r.StatementsTotal, r.Error)
		out = append(out, e)
	}
	return out
}

// partitioned returns statement from of a migration when [from, to) is
// that one statement and it runs as Partitioned DML, else nil.
func (h *AuditedHistory) partitioned(version int64, from, to int) *sqlstmt.Statement {
	f := h.files[version]
	if f == nil || from < 0 || to != from+1 || to > len(f.Statements) {
		return nil
	}
	if st := &f.Statements[from]; st.Kind == sqlstmt.DML && st.Partitioned() {
		return st
	}
	return nil
}

// statements returns the text of statements [from, to) of a migration.
func (h *AuditedHistory) statements(version int64, from, to int) string {
	f := h.files[version]
	if f == nil || from < 0 || to > len(f.Statements) || from >= to {
		if to-from == 1 {
			return fmt.Sprintf("-- migration %d, statement %d", version, from+1)
		}
		return fmt.Sprintf("-- migration %d, statements %d to %d", version, from+1, to)
	}
	parts := make([]string, 0, to-from)
	for _, st := range f.Statements[from:to] {
		parts = append(parts, st.SQL)
	}
	return strings.Join(parts, ";\n")
}

// ApplyDML runs stmts and writes rec and one audit entry per statement in
// one read-write transaction, like DB.ApplyDML.
//
// Statements whose keys follow from their row counts (an INSERT of
// literal rows, a change WHERE the whole key is named, or a statement on a
// table whose keys cannot be captured) run together in one ExecuteBatchDml
// call per run of them; a statement whose keys come back through THEN
// RETURN runs on its own between such runs. The primary key of each table
// is looked up once and cached; every schema change this DB sends clears
// the cache (UpdateSchemaProto), so a key changed earlier in this apply is
// looked up again.
func (h *AuditedHistory) ApplyDML(ctx context.Context, l migration.Lease, stmts []string, rec migration.Record, fromApplied int) ([]int64, error) {
	caps := make([]capture, len(stmts))
	for i, s := range stmts {
		st, err := sqlstmt.ParseOne(s)
		if err != nil || st.Kind != sqlstmt.DML {
			// Run it as written; Spanner has the last word on it.
			caps[i] = capture{stmt: spanner.NewStatement(s)}
			continue
		}
		if caps[i], err = h.db.prepareCapture(ctx, st, nil); err != nil {
			return nil, err
		}
	}
	counts, err := h.db.applyDML(ctx, l, stmts, rec, fromApplied, true, func(ctx context.Context, txn *spanner.ReadWriteTransaction, ap *appender) ([]int64, error) {
		counts := make([]int64, len(stmts))
		entries := make([]audit.Entry, len(stmts))
		record := func(i int, n int64, keys []string, incomplete bool) {
			counts[i] = n
			e := caps[i].entry(h.actor, n, keys, incomplete)
			e.Statement = stmts[i]
			e.Reason = fmt.Sprintf("migration %d %s: statement %d of %d", rec.Version, rec.Name, fromApplied+i+1, rec.StatementsTotal)
			entries[i] = e
		}
		for i := 0; i < len(caps); {
			if !caps[i].countOnly() {
				n, keys, incomplete, err := caps[i].run(ctx, txn)
				if err != nil {
					return nil, &migration.StatementError{Index: i, Err: err}
				}
				record(i, n, keys, incomplete)
				i++
				continue
			}
			j := i
			batch := []spanner.Statement{}
			for ; j < len(caps) && caps[j].countOnly(); j++ {
				batch = append(batch, caps[j].stmt)
			}
			got, err := runBatch(ctx, txn, batch)
			if err != nil {
				// Spanner ran the statements before the failing one:
				// their counts say which one failed.
				return nil, &migration.StatementError{Index: i + len(got), Err: err}
			}
			for k, n := range got {
				keys, incomplete := caps[i+k].keysOfCount(n)
				record(i+k, n, keys, incomplete)
			}
			i = j
		}
		if _, err := ap.append(ctx, txn, entries...); err != nil {
			return nil, err
		}
		return counts, nil
	})
	return counts, asAuditError(err)
}

// runBatch runs stmts in one ExecuteBatchDml call; one statement runs as
// a plain ExecuteSql. A backend that cannot run a batch at all (the
// in-process fake of spangate dev answers Internal or Unimplemented before
// running any) gets the statements one by one, in the same transaction.
func runBatch(ctx context.Context, txn *spanner.ReadWriteTransaction, stmts []spanner.Statement) ([]int64, error) {
	if len(stmts) > 1 {
		got, err := txn.BatchUpdate(ctx, stmts)
		if err == nil || len(got) > 0 || (spanner.ErrCode(err) != codes.Internal && spanner.ErrCode(err) != codes.Unimplemented) {
			return got, err
		}
	}
	counts := make([]int64, 0, len(stmts))
	for _, st := range stmts {
		n, err := txn.Update(ctx, st)
		if err != nil {
			return counts, err
		}
		counts = append(counts, n)
	}
	return counts, nil
}
