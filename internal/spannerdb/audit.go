package spannerdb

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/iterator"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
)

// The audit trail lives in three tables:
//
//   - SpangateAudit, one row per entry, keyed by Seq. Every field of the
//     entry is stored as sealed (maps and run metadata as JSON text, so
//     they read back byte for byte), plus the commit timestamp, which is
//     not part of the hash because it is only known after the commit.
//   - SpangateAuditHead, a single row (Id 0) with the last Seq and Hash,
//     rewritten by every append in the same read-write transaction as the
//     change it records. The entry row is written with an Insert, so two
//     writers can never store entries under one Seq: the chain never forks
//     (chain.go explains how an append finds the head). The head also lets
//     verify notice entries deleted from the end of the chain.
//   - SpangateAuditKeys, one row per (table, primary key, seq) of every row
//     a DML statement changed, newest first, so "who changed this row" is a
//     key-range read rather than a scan of the trail.
const (
	auditDDL = `CREATE TABLE SpangateAudit (
  Seq INT64 NOT NULL,
  CreatedAt TIMESTAMP NOT NULL,
  Principal STRING(MAX) NOT NULL,
  Issuer STRING(MAX),
  Subject STRING(MAX),
  Attributes STRING(MAX),
  Run STRING(MAX),
  CommitSha STRING(MAX),
  Action STRING(MAX) NOT NULL,
  DatabaseName STRING(MAX),
  Statement STRING(MAX),
  Params STRING(MAX),
  Result STRING(16) NOT NULL,
  Reason STRING(MAX),
  RowCount INT64 NOT NULL,
  TableName STRING(MAX),
  Keys ARRAY<STRING(MAX)>,
  KeysIncomplete BOOL NOT NULL,
  PrevHash STRING(64) NOT NULL,
  EntryHash STRING(64) NOT NULL,
  CommittedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
) PRIMARY KEY (Seq)`
	auditHeadDDL = `CREATE TABLE SpangateAuditHead (
  Id INT64 NOT NULL,
  LastSeq INT64 NOT NULL,
  LastHash STRING(64) NOT NULL,
  UpdatedAt TIMESTAMP OPTIONS (allow_commit_timestamp = true),
) PRIMARY KEY (Id)`
	auditKeysDDL = `CREATE TABLE SpangateAuditKeys (
  TableName STRING(MAX) NOT NULL,
  KeyText STRING(MAX) NOT NULL,
  Seq INT64 NOT NULL,
) PRIMARY KEY (TableName, KeyText, Seq DESC)`
)

var auditColumns = []string{"Seq", "CreatedAt", "Principal", "Issuer", "Subject", "Attributes", "Run", "CommitSha",
	"Action", "DatabaseName", "Statement", "Params", "Result", "Reason", "RowCount", "TableName", "Keys",
	"KeysIncomplete", "PrevHash", "EntryHash", "CommittedAt"}

// maxKeyText is the longest key text stored as is in SpangateAuditKeys;
// longer ones are stored as "sha256:<hex>" of the text, which keeps the
// row under Spanner's 8 KiB key limit and is still an exact lookup.
const maxKeyText = 2048

// maxEntryBytes bounds one entry's stored size. A larger entry is refused
// as an audit failure, so the change it records does not commit.
const maxEntryBytes = 4 << 20

// maxKeyHistory bounds how many entries of one row a filtered lookup
// considers (the newest ones).
const maxKeyHistory = 100_000

func keyIndexText(k string) string {
	if len(k) <= maxKeyText {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func tableIndexName(table string) string { return strings.ToLower(table) }

// auditFailure marks an error of the audit write inside a transaction
// body. It is not a *spangate.Error, so runRW still retries it when it is
// contention; otherwise it becomes Unavailable: the change did not commit.
type auditFailure struct{ err error }

func (e *auditFailure) Error() string { return "write the audit entry: " + e.err.Error() }
func (e *auditFailure) Unwrap() error { return e.err }

// asAuditError returns err as an Unavailable *spangate.Error when it is a
// failure of the audit write, else err unchanged.
func asAuditError(err error) error {
	var af *auditFailure
	if err == nil || !errors.As(err, &af) {
		return err
	}
	return spangate.Errorf(spangate.Unavailable, "the audit entry could not be written, so nothing was committed: %w", err).
		WithHint("retry later; if it keeps failing, run `spangate audit verify` and check the SpangateAuditHead row")
}

// auditHeadMutation returns the Insert of the audit chain head when the
// row is missing, or nil when it exists. A missing head over existing
// entries is an error: it must not restart the chain.
func auditHeadMutation(ctx context.Context, txn *spanner.ReadWriteTransaction) (*spanner.Mutation, error) {
	_, err := txn.ReadRow(ctx, AuditHeadTable, spanner.Key{int64(0)}, []string{"Id"})
	if !rowMissing(err) {
		return nil, err
	}
	it := txn.Read(ctx, AuditTable, spanner.AllKeys(), []string{"Seq"})
	defer it.Stop()
	if _, err := it.Next(); err != iterator.Done {
		if err == nil {
			return nil, spangate.Errorf(spangate.Internal, "the audit chain head row is missing but %s has entries", AuditTable).
				WithHint("restore the SpangateAuditHead row (Id 0) with the last entry's Seq and EntryHash; `spangate audit verify` shows them")
		}
		return nil, err
	}
	return spanner.Insert(AuditHeadTable, []string{"Id", "LastSeq", "LastHash", "UpdatedAt"}, []any{int64(0), int64(0), "", spanner.CommitTimestamp}), nil
}

// AppendAudit seals e as the next entry of the chain and writes it in its
// own read-write transaction; it is for entries that record no change of
// their own (decisions, denials, queries, failures). It returns the sealed
// entry. A zero e.At is set to now.
func (d *DB) AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	var sealed audit.Entry
	err := d.runAudited(ctx, "write an audit entry", func(ctx context.Context, txn *spanner.ReadWriteTransaction, ap *appender) error {
		out, err := ap.append(ctx, txn, e)
		if err != nil {
			return err
		}
		sealed = out[0]
		return nil
	})
	if err != nil {
		if spangate.KindOf(err) != spangate.Canceled && !errors.Is(err, spangate.ErrOutcomeUnknown) {
			err = &auditFailure{err}
		}
		return audit.Entry{}, asAuditError(err)
	}
	return sealed, nil
}

// append appends entries to the chain inside txn: it seals each entry
// after the previous one, starting after the remembered head or the head
// read in txn, and buffers the entry rows, their key rows and the new head.
// It changes nothing outside txn, so the transaction body that calls it
// may run again. Its errors are *auditFailure.
//
// Reads in a transaction do not see its own buffered writes, so all of a
// transaction's entries must be appended in one call.
func (ap *appender) append(ctx context.Context, txn *spanner.ReadWriteTransaction, entries ...audit.Entry) ([]audit.Entry, error) {
	fail := func(err error) ([]audit.Entry, error) { return nil, &auditFailure{err} }
	if len(entries) == 0 {
		return nil, nil
	}
	// The turn is taken only if free: the transaction holds locks by now,
	// and waiting for the turn with them could wait on a transaction that
	// waits for those locks. Without the turn, the head is read.
	if !ap.held && ap.db.chain.tryAcquire() {
		ap.held = true
	}
	var (
		seq  int64
		prev string
	)
	if ap.held && !ap.forceRead && !ap.db.noRollback {
		seq, prev, ap.usedCache = ap.db.chain.head(time.Now())
	}
	if !ap.usedCache {
		row, err := txn.ReadRow(ctx, AuditHeadTable, spanner.Key{int64(0)}, []string{"LastSeq", "LastHash"})
		if rowMissing(err) {
			return fail(errors.New("the audit chain head row (SpangateAuditHead, Id 0) is missing"))
		}
		if err != nil {
			return fail(err)
		}
		if err := row.Columns(&seq, &prev); err != nil {
			return fail(err)
		}
		if err := checkHead(ctx, txn, seq, prev); err != nil {
			return fail(err)
		}
	}
	now := time.Now()
	out := make([]audit.Entry, len(entries))
	var ms []*spanner.Mutation
	for i, e := range entries {
		seq++
		e.Seq = seq
		if e.At.IsZero() {
			e.At = now
		}
		e.Keys = slices.Clone(e.Keys)
		e.Seal(prev)
		prev = e.Hash
		m, err := auditMutation(e)
		if err != nil {
			return fail(err)
		}
		ms = append(ms, m)
		ms = append(ms, keyMutations(e)...)
		out[i] = e
	}
	// The head is written blind: the Insert of the first entry is what
	// stops a transaction that sealed after a stale head.
	ms = append(ms, spanner.Update(AuditHeadTable, []string{"Id", "LastSeq", "LastHash", "UpdatedAt"},
		[]any{int64(0), seq, prev, spanner.CommitTimestamp}))
	if err := txn.BufferWrite(ms); err != nil {
		return fail(err)
	}
	ap.appended, ap.lastSeq, ap.lastHash = true, seq, prev
	return out, nil
}

// checkHead verifies, in txn, the chain head an append is about to chain
// onto: the entry it names must exist, hold the hash the head records, and
// match its own content. A head that fails is not chained onto: whoever
// wrote it was not spangate, and an entry sealed after it would hide that.
func checkHead(ctx context.Context, txn *spanner.ReadWriteTransaction, seq int64, hash string) error {
	if seq == 0 {
		if hash != "" {
			return fmt.Errorf("the audit chain head (SpangateAuditHead) names no entry but a hash %.12s…: it was written outside spangate; refusing to chain onto it", hash)
		}
		return nil
	}
	row, err := txn.ReadRow(ctx, AuditTable, spanner.Key{seq}, auditColumns)
	if rowMissing(err) {
		return fmt.Errorf("the audit chain head (SpangateAuditHead) names entry %d, which does not exist: the head or the trail was changed outside spangate; refusing to chain onto it", seq)
	}
	if err != nil {
		return err
	}
	e, err := decodeEntry(row)
	if err != nil {
		return err
	}
	if e.Hash != hash || e.ComputeHash() != e.Hash {
		return fmt.Errorf("the audit chain head (SpangateAuditHead) names entry %d with hash %.12s…, which that entry does not match: the head or the entry was changed outside spangate; refusing to chain onto it", seq, hash)
	}
	return nil
}

func nullStr(s string) spanner.NullString { return spanner.NullString{StringVal: s, Valid: s != ""} }

func jsonText(v any, empty bool) (spanner.NullString, error) {
	if empty {
		return spanner.NullString{}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return spanner.NullString{}, err
	}
	return spanner.NullString{StringVal: string(b), Valid: true}, nil
}

func auditMutation(e audit.Entry) (*spanner.Mutation, error) {
	attrs, err := jsonText(e.Attributes, len(e.Attributes) == 0)
	if err != nil {
		return nil, err
	}
	params, err := jsonText(e.Params, len(e.Params) == 0)
	if err != nil {
		return nil, err
	}
	run, err := jsonText(e.Run, e.Run == (spangate.RunMetadata{}))
	if err != nil {
		return nil, err
	}
	size := len(e.Statement) + len(e.Reason) + len(attrs.StringVal) + len(params.StringVal) + len(run.StringVal)
	for _, k := range e.Keys {
		size += len(k)
	}
	if size > maxEntryBytes {
		return nil, fmt.Errorf("entry %d is %d bytes, more than the %d an entry may hold", e.Seq, size, maxEntryBytes)
	}
	vals := []any{
		e.Seq, e.At, e.Principal, nullStr(e.Issuer), nullStr(e.Subject), attrs, run, nullStr(e.Run.Commit),
		e.Action, nullStr(e.Database), nullStr(e.Statement), params, e.Result, nullStr(e.Reason), e.Rows,
		nullStr(e.Table), e.Keys, e.KeysIncomplete, e.PrevHash, e.Hash, spanner.CommitTimestamp,
	}
	// NULL columns are left out: an Insert stores them as NULL anyway,
	// and the commit carries less.
	cols := make([]string, 0, len(auditColumns))
	kept := vals[:0]
	for i, v := range vals {
		switch v := v.(type) {
		case spanner.NullString:
			if !v.Valid {
				continue
			}
		case []string:
			if len(v) == 0 {
				continue
			}
		}
		cols = append(cols, auditColumns[i])
		kept = append(kept, v)
	}
	return spanner.Insert(AuditTable, cols, kept), nil
}

func keyMutations(e audit.Entry) []*spanner.Mutation {
	if e.Table == "" || len(e.Keys) == 0 {
		return nil
	}
	table := tableIndexName(e.Table)
	seen := make(map[string]bool, len(e.Keys))
	ms := make([]*spanner.Mutation, 0, len(e.Keys))
	for _, k := range e.Keys {
		k = keyIndexText(k)
		if seen[k] {
			continue
		}
		seen[k] = true
		ms = append(ms, spanner.Insert(AuditKeysTable, []string{"TableName", "KeyText", "Seq"}, []any{table, k, e.Seq}))
	}
	return ms
}

// decodeEntry reads a row of auditColumns.
func decodeEntry(row *spanner.Row) (audit.Entry, error) {
	var (
		e                                                          audit.Entry
		issuer, subject, attrs, run, commit, db, stmt, params, why spanner.NullString
		table                                                      spanner.NullString
		keys                                                       []spanner.NullString
		committed                                                  spanner.NullTime
	)
	err := row.Columns(&e.Seq, &e.At, &e.Principal, &issuer, &subject, &attrs, &run, &commit, &e.Action, &db,
		&stmt, &params, &e.Result, &why, &e.Rows, &table, &keys, &e.KeysIncomplete, &e.PrevHash, &e.Hash, &committed)
	if err != nil {
		return e, spangate.Errorf(spangate.Internal, "decode a %s row: %w", AuditTable, err)
	}
	e.At = e.At.UTC()
	e.Issuer, e.Subject, e.Database, e.Statement = issuer.StringVal, subject.StringVal, db.StringVal, stmt.StringVal
	e.Reason, e.Table = why.StringVal, table.StringVal
	for _, k := range keys {
		e.Keys = append(e.Keys, k.StringVal)
	}
	// Undecodable JSON leaves the field empty: verify then reports the
	// entry as edited, which it was.
	if attrs.Valid {
		_ = json.Unmarshal([]byte(attrs.StringVal), &e.Attributes)
	}
	if params.Valid {
		_ = json.Unmarshal([]byte(params.StringVal), &e.Params)
	}
	if run.Valid {
		_ = json.Unmarshal([]byte(run.StringVal), &e.Run)
	}
	return e, nil
}

// ScanAudit calls fn with every entry in seq order, streaming, from one
// consistent snapshot. It stops at fn's first error and returns it. The
// scan has no time limit of its own: bound it with ctx.
func (d *DB) ScanAudit(ctx context.Context, fn func(audit.Entry) error) error {
	ro := d.data().ReadOnlyTransaction()
	defer ro.Close()
	return d.scanAudit(ctx, ro, fn)
}

func (d *DB) scanAudit(ctx context.Context, ro *spanner.ReadOnlyTransaction, fn func(audit.Entry) error) error {
	it := ro.Read(ctx, AuditTable, spanner.AllKeys(), auditColumns)
	defer it.Stop()
	for {
		row, err := it.Next()
		if err == iterator.Done {
			return nil
		}
		if err != nil {
			return mapErr(err, "read the audit trail")
		}
		e, err := decodeEntry(row)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// VerifyAudit walks the whole chain from one snapshot and checks it
// against the chain head and the anchors, entries recorded by an earlier
// verify; see audit.Verifier for what it detects.
func (d *DB) VerifyAudit(ctx context.Context, anchors ...audit.Anchor) (audit.VerifyResult, error) {
	ro := d.data().ReadOnlyTransaction()
	defer ro.Close()
	var (
		v  audit.Verifier
		ki audit.KeyIndex
	)
	v.Expect(anchors...)
	if err := d.scanAudit(ctx, ro, func(e audit.Entry) error { v.Add(e); expectKeyRows(&ki, e); return nil }); err != nil {
		return audit.VerifyResult{}, err
	}
	v.CheckAnchors()
	if err := scanKeyRows(ctx, ro, func(table, key string, seq int64) { ki.Found(table, key, seq) }); err != nil {
		return audit.VerifyResult{}, err
	}
	checkKeys := func() {}
	if !ki.Match() {
		seq, problem, err := d.locateKeyMismatch(ctx, ro, &ki)
		if err != nil {
			return audit.VerifyResult{}, err
		}
		checkKeys = func() { v.CheckKeyIndex(seq, problem) }
	}
	row, err := ro.ReadRow(ctx, AuditHeadTable, spanner.Key{int64(0)}, []string{"LastSeq", "LastHash"})
	switch {
	case rowMissing(err):
		v.CheckHead(-1, "")
		checkKeys()
		r := v.Result()
		if r.OK || r.Problem == "" {
			return r, nil
		}
		r.Problem += " (the chain head row is missing)"
		return r, nil
	case err != nil:
		return audit.VerifyResult{}, mapErr(err, "read the audit chain head")
	}
	var (
		seq  int64
		hash string
	)
	if err := row.Columns(&seq, &hash); err != nil {
		return audit.VerifyResult{}, mapErr(err, "read the audit chain head")
	}
	v.CheckHead(seq, hash)
	checkKeys()
	return v.Result(), nil
}

// expectKeyRows adds to ki the SpangateAuditKeys rows e is written with
// (see keyMutations).
func expectKeyRows(ki *audit.KeyIndex, e audit.Entry) {
	if e.Table == "" || len(e.Keys) == 0 {
		return
	}
	table := tableIndexName(e.Table)
	seen := make(map[string]bool, len(e.Keys))
	for _, k := range e.Keys {
		k = keyIndexText(k)
		if !seen[k] {
			seen[k] = true
			ki.Expect(table, k, e.Seq)
		}
	}
}

// scanKeyRows calls fn with every row of SpangateAuditKeys in ro.
func scanKeyRows(ctx context.Context, ro *spanner.ReadOnlyTransaction, fn func(table, key string, seq int64)) error {
	it := ro.Read(ctx, AuditKeysTable, spanner.AllKeys(), []string{"TableName", "KeyText", "Seq"})
	err := it.Do(func(row *spanner.Row) error {
		var (
			table, key string
			seq        int64
		)
		if err := row.Columns(&table, &key, &seq); err != nil {
			return err
		}
		fn(table, key, seq)
		return nil
	})
	return mapErr(err, "read the audit keys index")
}

// locateKeyMismatch finds the lowest entry whose SpangateAuditKeys rows
// differ from the keys it lists, by comparing them entry by entry (read
// again from ro; this runs only once the totals differ).
func (d *DB) locateKeyMismatch(ctx context.Context, ro *spanner.ReadOnlyTransaction, total *audit.KeyIndex) (int64, string, error) {
	per := map[int64]*audit.KeyIndex{}
	at := func(seq int64) *audit.KeyIndex {
		k := per[seq]
		if k == nil {
			k = &audit.KeyIndex{}
			per[seq] = k
		}
		return k
	}
	if err := scanKeyRows(ctx, ro, func(table, key string, seq int64) { at(seq).Found(table, key, seq) }); err != nil {
		return 0, "", err
	}
	err := d.scanAudit(ctx, ro, func(e audit.Entry) error {
		if e.Table != "" && len(e.Keys) > 0 {
			expectKeyRows(at(e.Seq), e)
		}
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	first := int64(-1)
	for seq, k := range per {
		if !k.Match() && (first < 0 || seq < first) {
			first = seq
		}
	}
	want, got := total.Counts()
	if first < 0 {
		return 0, fmt.Sprintf("the index of changed rows (%s) holds %d rows where the entries list %d", AuditKeysTable, got, want), nil
	}
	w, g := per[first].Counts()
	return first, fmt.Sprintf("the index of changed rows (%s) does not match entry %d (%d rows for it where the entry lists %d keys): "+
		"rows were deleted or added outside spangate, so \"who changed this row\" would not tell the truth", AuditKeysTable, first, g, w), nil
}

// ListAudit returns the entries that pass f, newest first, at most
// f.EffectiveLimit() of them.
//
// With Table and Key it is a key lookup in SpangateAuditKeys (one range
// read per candidate form of the key, see audit.KeyCandidates) followed by
// point reads of the entries. Otherwise it is a query of SpangateAudit in
// descending Seq order that stops at the limit; filters by principal,
// action or time then scan the newest entries until enough match.
func (d *DB) ListAudit(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	switch {
	case f.Key != "" && f.Table == "":
		return nil, spangate.Errorf(spangate.Invalid, "a key filter needs a table").
			WithHint("pass --table with --key")
	case f.Key != "":
		return d.listByKey(ctx, f)
	}
	return d.listByQuery(ctx, f)
}

func (d *DB) listByKey(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	limit := f.EffectiveLimit()
	filtered := f.Principal != "" || f.Action != "" || !f.Since.IsZero()
	table := tableIndexName(f.Table)
	var ranges []spanner.KeySet
	for _, k := range audit.KeyCandidates(f.Key) {
		ranges = append(ranges, spanner.Key{table, keyIndexText(k)}.AsPrefix())
	}
	// With filters, or several key forms to merge, read every seq of the
	// key (up to maxKeyHistory) and filter the entries.
	opts := &spanner.ReadOptions{Limit: maxKeyHistory}
	if !filtered && len(ranges) == 1 {
		opts.Limit = limit
	}
	var seqs []int64
	it := d.data().Single().ReadWithOptions(ctx, AuditKeysTable, spanner.KeySets(ranges...), []string{"Seq"}, opts)
	err := it.Do(func(row *spanner.Row) error {
		var s int64
		if err := row.Columns(&s); err != nil {
			return err
		}
		seqs = append(seqs, s)
		return nil
	})
	if err != nil {
		return nil, mapErr(err, "look up the audit entries of a row")
	}
	slices.SortFunc(seqs, func(a, b int64) int { return cmp.Compare(b, a) })
	seqs = slices.Compact(seqs)
	if f.Before > 0 {
		seqs = slices.DeleteFunc(seqs, func(s int64) bool { return s >= f.Before })
	}
	var out []audit.Entry
	for len(seqs) > 0 && len(out) < limit {
		n := min(len(seqs), max(limit-len(out), 64))
		batch := seqs[:n]
		seqs = seqs[n:]
		entries, err := d.readEntries(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if f.Match(&e) && len(out) < limit {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// readEntries reads entries by seq, newest first.
func (d *DB) readEntries(ctx context.Context, seqs []int64) ([]audit.Entry, error) {
	keys := make([]spanner.KeySet, len(seqs))
	for i, s := range seqs {
		keys[i] = spanner.Key{s}
	}
	out, err := collectEntries(d.data().Single().Read(ctx, AuditTable, spanner.KeySets(keys...), auditColumns), "read audit entries")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b audit.Entry) int { return cmp.Compare(b.Seq, a.Seq) })
	return out, nil
}

func (d *DB) listByQuery(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	var where []string
	params := map[string]any{"limit": int64(f.EffectiveLimit())}
	if f.Table != "" {
		where = append(where, "LOWER(TableName) = @table")
		params["table"] = tableIndexName(f.Table)
	}
	if f.Principal != "" {
		where = append(where, "Principal = @principal")
		params["principal"] = f.Principal
	}
	if f.Action != "" {
		where = append(where, "Action = @action")
		params["action"] = f.Action
	}
	if !f.Since.IsZero() {
		where = append(where, "CreatedAt >= @since")
		params["since"] = f.Since
	}
	if f.Before > 0 {
		where = append(where, "Seq < @before")
		params["before"] = f.Before
	}
	sql := "SELECT " + strings.Join(auditColumns, ", ") + " FROM " + AuditTable
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY Seq DESC LIMIT @limit"
	return collectEntries(d.data().Single().Query(ctx, spanner.Statement{SQL: sql, Params: params}), "list audit entries")
}

// collectEntries decodes every row of it as an audit entry.
func collectEntries(it *spanner.RowIterator, what string) ([]audit.Entry, error) {
	var out []audit.Entry
	err := it.Do(func(row *spanner.Row) error {
		e, err := decodeEntry(row)
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, mapErr(err, what)
	}
	return out, nil
}
