package spannerdb

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/migration"
)

// ForeignHistories reads the migration history tables other tools left in
// the database: SchemaMigrations (wrench, and golang-migrate's Spanner
// driver), schema_migrations (golang-migrate configured so), and
// Liquibase's DATABASECHANGELOG with its lock table.
func (d *DB) ForeignHistories(ctx context.Context) ([]migration.ForeignHistory, error) {
	tables, err := d.tables(ctx)
	if err != nil {
		return nil, err
	}
	var out []migration.ForeignHistory
	for _, name := range []string{"SchemaMigrations", "schema_migrations"} {
		if _, ok := tables[strings.ToLower(name)]; !ok {
			continue
		}
		fh := migration.ForeignHistory{Tool: migration.ToolWrench, Table: name}
		if name == "schema_migrations" {
			fh.Tool = migration.ToolGolangMigrate
		}
		err := d.query(ctx, "read "+name, "SELECT Version, Dirty FROM `"+name+"`", func(row *spanner.Row) error {
			var (
				v     int64
				dirty bool
			)
			if err := row.Columns(&v, &dirty); err != nil {
				return err
			}
			if v >= fh.Version {
				fh.Version, fh.Dirty = v, dirty
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		fh.Fix = fmt.Sprintf("finish or undo version %d by hand, then clear the flag with the tool that set it (wrench migrate set %d, or migrate force %d), or pass --version N", fh.Version, fh.Version, fh.Version)
		out = append(out, fh)
	}
	if _, ok := tables["databasechangelog"]; ok {
		fh := migration.ForeignHistory{Tool: migration.ToolLiquibase, Table: "DATABASECHANGELOG"}
		err := d.query(ctx, "read DATABASECHANGELOG", "SELECT EXECTYPE, MD5SUM FROM DATABASECHANGELOG ORDER BY ORDEREXECUTED", func(row *spanner.Row) error {
			var exec, sum spanner.NullString
			if err := row.Columns(&exec, &sum); err != nil {
				return err
			}
			switch strings.ToUpper(exec.StringVal) {
			case "EXECUTED", "MARK_RAN", "RERAN":
				fh.Applied++
				fh.Checksums = append(fh.Checksums, sum.StringVal)
			case "FAILED":
				fh.Dirty = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		fh.Fix = "a changeset failed: fix the database by hand and mark it with liquibase (update or changelog-sync), or pass --version N"
		if _, ok := tables["databasechangeloglock"]; ok && !fh.Dirty {
			err := d.query(ctx, "read DATABASECHANGELOGLOCK", "SELECT LOCKED FROM DATABASECHANGELOGLOCK", func(row *spanner.Row) error {
				var locked spanner.NullBool
				if err := row.Columns(&locked); err != nil {
					return err
				}
				if locked.Bool {
					fh.Dirty = true
					fh.Fix = "Liquibase's lock is held (a run is going on, or one died): wait for it, or run liquibase release-locks, then baseline again"
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		out = append(out, fh)
	}
	return out, nil
}

// query runs sql in a single-use read-only transaction, calling fn for each
// row.
func (d *DB) query(ctx context.Context, what, sql string, fn func(*spanner.Row) error) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if err := d.data().Single().Query(ctx, spanner.NewStatement(sql)).Do(fn); err != nil {
		return mapErr(err, what)
	}
	return nil
}

// RecordBaseline writes recs, migrations recorded as applied by a
// baseline, if l still holds the lock.
func (d *DB) RecordBaseline(ctx context.Context, l migration.Lease, recs []migration.Record, _ string) error {
	return d.Save(ctx, l, recs...)
}

// RecordBaseline writes recs and one audit entry that says what the
// baseline recorded (note) and on whose authority, in one transaction, if
// l still holds the lock. It records no entry per file: nothing ran.
func (h *AuditedHistory) RecordBaseline(ctx context.Context, l migration.Lease, recs []migration.Record, note string) error {
	err := h.db.saveHistory(ctx, "record the baseline and its audit", l, recs, func(ctx context.Context, txn *spanner.ReadWriteTransaction, ap *appender, saved []migration.Record, _ []progress) error {
		if len(saved) == 0 {
			return nil
		}
		e := h.actor
		e.Result = audit.ResultOK
		e.Statement = fmt.Sprintf("-- spangate migrate baseline: versions %d to %d", saved[0].Version, saved[len(saved)-1].Version)
		e.Reason = note
		_, err := ap.append(ctx, txn, e)
		return err
	})
	return asAuditError(err)
}

var (
	_ migration.ForeignReader = (*DB)(nil)
	_ migration.BaselineStore = (*AuditedHistory)(nil)
	_ migration.BaselineStore = (*DB)(nil)
)
