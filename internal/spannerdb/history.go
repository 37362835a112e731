package spannerdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/spanner"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"github.com/cloudspannerecosystem/memefish/ast"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// Table names of spangate's state in the target database.
const (
	MigrationsTable = "SpangateMigrations"
	LocksTable      = "SpangateLocks"
	// AuditTable holds the hash-chained audit trail, one row per entry.
	AuditTable = "SpangateAudit"
	// AuditHeadTable holds one row: the last seq and hash of the chain.
	AuditHeadTable = "SpangateAuditHead"
	// AuditKeysTable indexes entries by the table and primary key of each
	// row they changed.
	AuditKeysTable = "SpangateAuditKeys"
)

// migrationLock is the name of the lock row that guards migrations.
const migrationLock = "migrations"

var stateDDL = map[string]string{
	MigrationsTable: `CREATE TABLE SpangateMigrations (
  Version INT64 NOT NULL,
  Name STRING(MAX) NOT NULL,
  Checksum STRING(64) NOT NULL,
  State STRING(16) NOT NULL,
  StatementsApplied INT64 NOT NULL,
  StatementsTotal INT64 NOT NULL,
  PrefixChecksum STRING(64),
  OperationName STRING(MAX),
  OpStart INT64,
  OpCount INT64,
  Failures INT64 NOT NULL,
  AppliedBy STRING(MAX),
  CommitSha STRING(MAX),
  Pipeline STRING(MAX),
  StartedAt TIMESTAMP,
  FinishedAt TIMESTAMP,
  Error STRING(MAX),
  Fence INT64,
  UpdatedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
  Content BYTES(MAX),
) PRIMARY KEY (Version)`,
	LocksTable: `CREATE TABLE SpangateLocks (
  Name STRING(64) NOT NULL,
  Holder STRING(MAX),
  Fence INT64 NOT NULL,
  AcquiredAt TIMESTAMP,
  ExpiresAt TIMESTAMP,
  HolderHost STRING(MAX),
  HolderPid INT64,
  RenewedAt TIMESTAMP,
) PRIMARY KEY (Name)`,
	AuditTable:     auditDDL,
	AuditHeadTable: auditHeadDDL,
	AuditKeysTable: auditKeysDDL,
}

var historyColumns = []string{"Version", "Name", "Checksum", "State", "StatementsApplied", "StatementsTotal",
	"PrefixChecksum", "OperationName", "OpStart", "OpCount", "Failures", "AppliedBy", "CommitSha", "Pipeline",
	"StartedAt", "FinishedAt", "Error", "Fence", "UpdatedAt"}

// Init creates spangate's tables when they are missing, in one schema
// update. Concurrent callers are fine: a creator that loses the race sees
// the table exist and carries on.
func (d *DB) Init(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		existing, err := d.tables(ctx)
		if err != nil {
			return err
		}
		var missing []string
		for _, name := range []string{MigrationsTable, LocksTable, AuditTable, AuditHeadTable, AuditKeysTable} {
			cols, ok := existing[strings.ToLower(name)]
			if !ok {
				missing = append(missing, stateDDL[name])
				continue
			}
			// Columns added since the table was created by an older
			// spangate.
			for _, c := range addedColumns[name] {
				if !cols[strings.ToLower(c.name)] {
					missing = append(missing, "ALTER TABLE "+name+" ADD COLUMN "+c.name+" "+c.typ)
				}
			}
		}
		if len(missing) == 0 {
			return d.ensureStateRows(ctx)
		}
		op, err := d.admin.UpdateDatabaseDdl(ctx, &databasepb.UpdateDatabaseDdlRequest{Database: d.path, Statements: missing})
		if err == nil {
			err = op.Wait(ctx)
		}
		if err == nil {
			// Created: no need to read the schema again.
			return d.ensureStateRows(ctx)
		}
		// Another process created them first, or the emulator refused a
		// concurrent schema change: look again.
		if attempt < 20 && (spanner.ErrCode(err) == codes.FailedPrecondition || spanner.ErrCode(err) == codes.AlreadyExists ||
			strings.Contains(strings.ToLower(err.Error()), "duplicate name")) {
			time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
			continue
		}
		return mapErr(err, "create spangate's tables in "+d.path)
	}
}

// addedColumns are the columns of spangate's tables added after their
// first version; Init adds them to tables an older spangate created.
var addedColumns = map[string][]struct{ name, typ string }{
	LocksTable:      {{"HolderHost", "STRING(MAX)"}, {"HolderPid", "INT64"}, {"RenewedAt", "TIMESTAMP"}},
	MigrationsTable: {{"Content", "BYTES(MAX)"}},
}

// tables returns the lower-cased names of the tables in the database, each
// with the lower-cased names of its columns.
func (d *DB) tables(ctx context.Context) (map[string]map[string]bool, error) {
	stmts, err := d.Schema(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]bool{}
	for _, s := range stmts {
		st, err := sqlstmt.ParseOne(s)
		if err != nil {
			// A statement this parser does not know yet cannot be one of
			// spangate's plain CREATE TABLEs.
			continue
		}
		if ct, ok := st.Node.(*ast.CreateTable); ok {
			cols := map[string]bool{}
			for _, c := range ct.Columns {
				cols[strings.ToLower(c.Name.Name)] = true
			}
			out[strings.ToLower(st.Table)] = cols
		}
	}
	return out, nil
}

// ensureStateRows creates the migration lock row and the audit chain head
// when they are missing, in one transaction.
func (d *DB) ensureStateRows(ctx context.Context) error {
	err := d.runRW(ctx, "create the migration lock row and the audit chain head", func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
		var ms []*spanner.Mutation
		_, err := txn.ReadRow(ctx, LocksTable, spanner.Key{migrationLock}, []string{"Name"})
		switch {
		case rowMissing(err):
			ms = append(ms, spanner.Insert(LocksTable, []string{"Name", "Fence"}, []any{migrationLock, int64(0)}))
		case err != nil:
			return err
		}
		head, err := auditHeadMutation(ctx, txn)
		if err != nil {
			return err
		}
		if head != nil {
			ms = append(ms, head)
		}
		if len(ms) == 0 {
			return nil
		}
		return txn.BufferWrite(ms)
	})
	if spangate.KindOf(err) == spangate.Conflict && strings.Contains(strings.ToLower(err.Error()), "already exists") {
		return nil
	}
	return err
}

// History returns every row of the migration history, by version.
func (d *DB) History(ctx context.Context) ([]migration.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var out []migration.Record
	err := d.retryHealed(ctx, func() error {
		out = nil
		it := d.data().Single().Read(ctx, MigrationsTable, spanner.AllKeys(), historyColumns)
		defer it.Stop()
		for {
			row, err := it.Next()
			if err == iterator.Done {
				return nil
			}
			if err != nil {
				return mapErr(err, "read the migration history")
			}
			r, err := decodeRecord(row)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b migration.Record) int { return int(a.Version - b.Version) })
	return out, nil
}

func decodeRecord(row *spanner.Row) (migration.Record, error) {
	var (
		r                                     migration.Record
		state                                 string
		applied, total, failures              int64
		prefix, op, by, commit, pipeline, msg spanner.NullString
		opStart, opCount, fence               spanner.NullInt64
		started, finished                     spanner.NullTime
		updated                               time.Time
	)
	err := row.Columns(&r.Version, &r.Name, &r.Checksum, &state, &applied, &total, &prefix, &op, &opStart, &opCount,
		&failures, &by, &commit, &pipeline, &started, &finished, &msg, &fence, &updated)
	if err != nil {
		return r, spangate.Errorf(spangate.Internal, "decode a %s row: %w", MigrationsTable, err)
	}
	r.State = migration.State(state)
	r.StatementsApplied, r.StatementsTotal, r.Failures = int(applied), int(total), int(failures)
	r.PrefixChecksum, r.OperationName = prefix.StringVal, op.StringVal
	r.OpStart, r.OpCount = int(opStart.Int64), int(opCount.Int64)
	r.AppliedBy, r.Commit, r.Pipeline, r.Error = by.StringVal, commit.StringVal, pipeline.StringVal, msg.StringVal
	r.StartedAt, r.FinishedAt = started.Time, finished.Time
	return r, nil
}

// recordMutation writes r. The file's content is written when r carries
// it, and otherwise left as stored.
func recordMutation(r migration.Record, fence int64) *spanner.Mutation {
	nullTime := func(t time.Time) spanner.NullTime { return spanner.NullTime{Time: t, Valid: !t.IsZero()} }
	nullStr := func(s string) spanner.NullString { return spanner.NullString{StringVal: s, Valid: s != ""} }
	cols, vals := historyColumns, []any{
		r.Version, r.Name, r.Checksum, string(r.State), int64(r.StatementsApplied), int64(r.StatementsTotal),
		nullStr(r.PrefixChecksum), nullStr(r.OperationName), int64(r.OpStart), int64(r.OpCount), int64(r.Failures),
		nullStr(r.AppliedBy), nullStr(r.Commit), nullStr(r.Pipeline), nullTime(r.StartedAt), nullTime(r.FinishedAt),
		nullStr(r.Error), fence, spanner.CommitTimestamp,
	}
	if r.Content != nil {
		cols = append(slices.Clip(cols), "Content")
		vals = append(vals, r.Content)
	}
	return spanner.InsertOrUpdate(MigrationsTable, cols, vals)
}

// AppliedContent returns the content recorded for the history rows of
// versions, by version; rows recorded without it are left out.
func (d *DB) AppliedContent(ctx context.Context, versions []int64) (map[int64][]byte, error) {
	out := make(map[int64][]byte, len(versions))
	if len(versions) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 4*d.timeout)
	defer cancel()
	keys := make([]spanner.KeySet, len(versions))
	for i, v := range versions {
		keys[i] = spanner.Key{v}
	}
	err := d.data().Single().Read(ctx, MigrationsTable, spanner.KeySets(keys...), []string{"Version", "Content"}).Do(func(row *spanner.Row) error {
		var (
			v       int64
			content []byte
		)
		if err := row.Columns(&v, &content); err != nil {
			return err
		}
		if content != nil {
			out[v] = content
		}
		return nil
	})
	if err != nil {
		return nil, mapErr(err, "read the recorded content of applied migrations")
	}
	return out, nil
}

// checkLease fails unless l still holds the migration lock, in txn.
func checkLease(ctx context.Context, txn *spanner.ReadWriteTransaction, l migration.Lease) error {
	row, err := txn.ReadRow(ctx, LocksTable, spanner.Key{migrationLock}, []string{"Holder", "Fence", "ExpiresAt", "AcquiredAt"})
	if err != nil {
		return err
	}
	var (
		holder            spanner.NullString
		fence             int64
		expires, acquired spanner.NullTime
	)
	if err := row.Columns(&holder, &fence, &expires, &acquired); err != nil {
		return err
	}
	if holder.StringVal != l.Holder || fence != l.Fence {
		return spangate.Errorf(spangate.Blocked, "%w", &migration.LockHeldError{Holder: orNobody(holder.StringVal), Since: acquired.Time, Expires: expires.Time}).
			WithHint(fmt.Sprintf("this run's lease (fence %d) was lost; re-run apply to resume", l.Fence))
	}
	return nil
}

func orNobody(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

// Save writes history rows in one transaction, if l still holds the lock.
func (d *DB) Save(ctx context.Context, l migration.Lease, recs ...migration.Record) error {
	return d.saveHistory(ctx, "write the migration history", l, recs, nil)
}

// txnHook runs inside a history transaction, after the lease check and
// before the history rows are buffered, and appends to the audit chain
// with ap. It must be safe to run again.
type txnHook func(ctx context.Context, txn *spanner.ReadWriteTransaction, ap *appender) error

// runMaybeAudited runs fn with runAudited when audited, else with runRW
// and a nil appender.
func (d *DB) runMaybeAudited(ctx context.Context, what string, audited bool, fn txnHook) error {
	if audited {
		return d.runAudited(ctx, what, fn)
	}
	return d.runRW(ctx, what, func(ctx context.Context, txn *spanner.ReadWriteTransaction) error { return fn(ctx, txn, nil) })
}

// saveHook runs inside a history transaction, after the lease check and
// before the history rows are buffered, with the records that will be
// written and the progress stored before each, and appends to the audit
// chain with ap. It must be safe to run again.
type saveHook func(ctx context.Context, txn *spanner.ReadWriteTransaction, ap *appender, recs []migration.Record, before []progress) error

// saveHistory is Save with an optional hook that writes more in the same
// transaction (the audit entries of an AuditedHistory).
//
// A record is never written over a stored row that shows more statements
// applied than the record does. That happens only when a DML step
// committed, with its history row, although the engine saw an error (the
// commit got no answer): writing the engine's record of the failure would
// set the progress back, and the next apply would run those statements
// again. The stored row, which is the truth, is kept instead.
func (d *DB) saveHistory(ctx context.Context, what string, l migration.Lease, recs []migration.Record, hook saveHook) error {
	var kept []int64 // versions whose stored row was ahead, in the last attempt
	err := d.runMaybeAudited(ctx, what, hook != nil, func(ctx context.Context, txn *spanner.ReadWriteTransaction, ap *appender) error {
		if err := checkLease(ctx, txn, l); err != nil {
			return err
		}
		kept = kept[:0]
		saved := make([]migration.Record, 0, len(recs))
		before := make([]progress, 0, len(recs))
		versions := make([]int64, len(recs))
		for i, r := range recs {
			versions[i] = r.Version
		}
		stored, err := storedProgress(ctx, txn, versions)
		if err != nil {
			return err
		}
		for _, r := range recs {
			p := stored[r.Version]
			if p.applied > r.StatementsApplied {
				kept = append(kept, r.Version)
				continue
			}
			saved, before = append(saved, r), append(before, p)
		}
		if hook != nil {
			if err := hook(ctx, txn, ap, saved, before); err != nil {
				return err
			}
		}
		if len(saved) == 0 {
			return nil
		}
		ms := make([]*spanner.Mutation, len(saved))
		for i, r := range saved {
			ms[i] = recordMutation(r, l.Fence)
		}
		return txn.BufferWrite(ms)
	})
	if err == nil && len(kept) > 0 {
		d.logger.Warn("the migration history shows more statements applied than this run knew (a commit whose answer was lost); kept the stored rows", "versions", kept)
	}
	return err
}

// ApplyDML runs stmts and writes rec in one transaction, if l still holds
// the lock and the stored row has fromApplied statements applied. When the
// stored row already shows rec's progress (a retry after a commit whose
// answer was lost), it does nothing: the DML ran exactly once.
func (d *DB) ApplyDML(ctx context.Context, l migration.Lease, stmts []string, rec migration.Record, fromApplied int) ([]int64, error) {
	return d.applyDML(ctx, l, stmts, rec, fromApplied, false, func(ctx context.Context, txn *spanner.ReadWriteTransaction, _ *appender) ([]int64, error) {
		sts := make([]spanner.Statement, len(stmts))
		for i, s := range stmts {
			sts[i] = spanner.NewStatement(s)
		}
		counts, err := txn.BatchUpdate(ctx, sts)
		if err != nil {
			return nil, &migration.StatementError{Index: len(counts), Err: err}
		}
		return counts, nil
	})
}

// applyDML is ApplyDML with the statements run by run, which may write
// more in the same transaction (an AuditedHistory's entries, when audited).
func (d *DB) applyDML(ctx context.Context, l migration.Lease, stmts []string, rec migration.Record, fromApplied int, audited bool,
	run func(ctx context.Context, txn *spanner.ReadWriteTransaction, ap *appender) ([]int64, error)) ([]int64, error) {
	var counts []int64
	what := fmt.Sprintf("apply DML of migration %d", rec.Version)
	err := d.runMaybeAudited(ctx, what, audited, func(ctx context.Context, txn *spanner.ReadWriteTransaction, ap *appender) error {
		counts = nil
		if err := checkLease(ctx, txn, l); err != nil {
			return err
		}
		stored := 0
		row, err := txn.ReadRow(ctx, MigrationsTable, spanner.Key{rec.Version}, []string{"StatementsApplied"})
		switch {
		case rowMissing(err):
		case err != nil:
			return err
		default:
			var n int64
			if err := row.Columns(&n); err != nil {
				return err
			}
			stored = int(n)
		}
		if stored == rec.StatementsApplied {
			return nil // committed by an earlier attempt
		}
		if stored != fromApplied {
			return spangate.Errorf(spangate.Conflict, "migration %d has %d statements applied, expected %d: another run changed the history", rec.Version, stored, fromApplied)
		}
		counts, err = run(ctx, txn, ap)
		if err != nil {
			return err
		}
		return txn.BufferWrite([]*spanner.Mutation{recordMutation(rec, l.Fence)})
	})
	return counts, err
}

// PartitionedUpdate runs one UPDATE or DELETE as Partitioned DML and
// returns Spanner's lower bound of the rows it changed.
//
// The emulator fails a Partitioned DML statement that meets a concurrent
// read-write transaction (a lock renewal, say) with its non-ABORTED
// contention errors; such a failure is retried, bounded, which is safe
// because Partitioned DML must be idempotent and may run more than once per
// row anyway.
func (d *DB) PartitionedUpdate(ctx context.Context, stmt string) (int64, error) {
	wait := 20 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := d.data().PartitionedUpdate(ctx, spanner.NewStatement(stmt))
		if err == nil {
			return n, nil
		}
		if !contended(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return 0, mapErr(err, "run Partitioned DML")
		}
		d.logger.Debug("retrying contended Partitioned DML", "err", err)
		select {
		case <-ctx.Done():
			return 0, mapErr(ctx.Err(), "run Partitioned DML")
		case <-time.After(wait + rand.N(wait)):
		}
		wait = min(wait*2, time.Second)
	}
}
