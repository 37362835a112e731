package migration

import (
	"context"
	"fmt"
	"strings"

	"github.com/spangate/spangate"
)

// Tools whose history tables Baseline reads.
const (
	ToolWrench        = "wrench or golang-migrate"
	ToolGolangMigrate = "golang-migrate"
	ToolLiquibase     = "Liquibase"
)

// ForeignHistory is the migration history another tool left in the
// database.
type ForeignHistory struct {
	// Tool names the tool (ToolWrench, ToolGolangMigrate, ToolLiquibase).
	Tool string
	// Table is the history table read.
	Table string
	// Version is the last version applied (wrench, golang-migrate: its
	// Version column). For Liquibase, Applied counts the changesets run
	// instead, and Version is 0.
	Version int64
	Applied int
	// Checksums are the tool's own checksums of its changesets in the
	// order they ran (Liquibase's MD5SUM), where it keeps them. They
	// cover the tool's form of a changeset, not the file's bytes, so they
	// are reported, not compared.
	Checksums []string
	// Dirty says the tool's last migration did not finish; Fix says how
	// to settle it with that tool.
	Dirty bool
	Fix   string
}

// ForeignReader finds another tool's history in the database.
type ForeignReader interface {
	// ForeignHistories returns every other tool's history found; none is
	// an empty list.
	ForeignHistories(ctx context.Context) ([]ForeignHistory, error)
}

// BaselineStore records migrations as applied by a baseline: the rows and,
// where the store keeps an audit trail, one entry saying so, in one
// transaction.
type BaselineStore interface {
	RecordBaseline(ctx context.Context, l Lease, recs []Record, note string) error
}

// BaselineResult is what a baseline did.
type BaselineResult struct {
	// Version is the last version recorded as applied.
	Version int64
	// Source says where the version came from: "--version" or the other
	// tool's table.
	Source string
	// Recorded lists the versions this baseline recorded; empty when the
	// history already held them.
	Recorded []int64
	// Findings hold the differences of the live schema, when it does not
	// match the files (the baseline is then refused).
	Findings []Finding
}

// Baseline adopts a database that another tool migrated: it records the
// files up to a version as applied, without running them, once the live
// schema is shown to be what those files build. The version is version
// when positive, else read from the other tool's history table (a dirty
// one is refused). Drift blocks it (kind Blocked), with the differences
// in the result's findings.
func (e *Engine) Baseline(ctx context.Context, set *Set, version int64, foreign ForeignReader) (*BaselineResult, error) {
	e.defaults()
	res := &BaselineResult{Version: version, Source: "--version"}
	if errs := set.Errors(); len(errs) > 0 {
		return res, (&Plan{Findings: errs}).Err()
	}
	if len(set.Files) == 0 {
		return res, spangate.Errorf(spangate.Invalid, "no migration files to baseline")
	}
	if version <= 0 {
		fh, err := e.foreignVersion(ctx, set, foreign)
		if err != nil {
			return res, err
		}
		res.Version, res.Source = fh.Version, fmt.Sprintf("%s's %s", fh.Tool, fh.Table)
		if fh.Tool == ToolLiquibase {
			res.Source += fmt.Sprintf(" (%d changesets run)", fh.Applied)
		}
	}
	var files []*File
	found := false
	for _, f := range set.Files {
		if f.Version <= res.Version {
			files = append(files, f)
			found = found || f.Version == res.Version
		}
	}
	if !found {
		return res, spangate.Errorf(spangate.Invalid, "no migration file has version %d (the files run from %d to %d)", res.Version, set.Files[0].Version, set.Files[len(set.Files)-1].Version).
			WithHint("pass the version of the last file the database already has, with --version N")
	}
	if err := e.History.Init(ctx); err != nil {
		return res, err
	}
	lease, err := e.acquire(ctx)
	if err != nil {
		return res, err
	}
	defer func() {
		relCtx, cancel := saveCtx(ctx)
		defer cancel()
		if rerr := e.Locks.Release(relCtx, lease); rerr != nil {
			e.Logger.Warn("release migration lock", "err", rerr)
		}
	}()
	hist, err := e.History.History(ctx)
	if err != nil {
		return res, err
	}
	byVersion := make(map[int64]Record, len(hist))
	for _, r := range hist {
		byVersion[r.Version] = r
	}
	done := 0
	for _, f := range files {
		r, ok := byVersion[f.Version]
		switch {
		case !ok:
		case r.State == StateApplied && r.Checksum == f.Checksum:
			done++
		default:
			return res, spangate.Errorf(spangate.Conflict, "%s: the history already has migration %d (%s, checksum %s)", f.Path, f.Version, r.State, short(r.Checksum)).
				WithHint("baseline only records migrations the history does not have yet; use migrate plan and apply for the rest")
		}
	}
	if done == len(files) {
		return res, nil // recorded by an earlier baseline or apply
	}
	if done > 0 {
		return res, spangate.Errorf(spangate.Conflict, "the history already has %d of the %d migrations up to version %d", done, len(files), res.Version).
			WithHint("baseline only records migrations the history does not have yet; use migrate plan and apply for the rest")
	}
	if err := e.checkBaselineSchema(ctx, files, res); err != nil {
		return res, err
	}
	recs := make([]Record, 0, len(files))
	now := e.Now()
	for _, f := range files {
		n := len(f.Statements)
		recs = append(recs, Record{Version: f.Version, Name: f.Name, Checksum: f.Checksum, State: StateApplied,
			StatementsApplied: n, StatementsTotal: n, PrefixChecksum: PrefixChecksum(f, n),
			AppliedBy: e.Holder + " (baseline)", Commit: e.Run.Commit, Pipeline: e.Run.PipelineRef(),
			StartedAt: now, FinishedAt: now, Content: f.Content})
		res.Recorded = append(res.Recorded, f.Version)
	}
	note := fmt.Sprintf("baseline: migrations %d to %d (%d files) recorded as applied without running them; version from %s; the live schema matches what they build",
		files[0].Version, res.Version, len(files), res.Source)
	if bs, ok := e.History.(BaselineStore); ok {
		err = bs.RecordBaseline(ctx, lease, recs, note)
	} else {
		err = e.History.Save(ctx, lease, recs...)
	}
	if err != nil {
		res.Recorded = nil
		return res, err
	}
	return res, nil
}

// foreignVersion reads the one other tool's history and the version it
// reached.
func (e *Engine) foreignVersion(ctx context.Context, set *Set, foreign ForeignReader) (ForeignHistory, error) {
	if foreign == nil {
		return ForeignHistory{}, spangate.Errorf(spangate.Invalid, "no version given").WithHint("pass --version N: the version of the last file the database already has")
	}
	fhs, err := foreign.ForeignHistories(ctx)
	if err != nil {
		return ForeignHistory{}, err
	}
	switch len(fhs) {
	case 0:
		return ForeignHistory{}, spangate.Errorf(spangate.Invalid, "no history table of another tool found (wrench's or golang-migrate's SchemaMigrations, golang-migrate's schema_migrations, Liquibase's DATABASECHANGELOG)").
			WithHint("pass --version N: the version of the last file the database already has")
	case 1:
	default:
		var names []string
		for _, fh := range fhs {
			names = append(names, fh.Table)
		}
		return ForeignHistory{}, spangate.Errorf(spangate.Invalid, "history tables of more than one tool found (%s)", strings.Join(names, ", ")).
			WithHint("pass --version N: the version of the last file the database already has")
	}
	fh := fhs[0]
	if fh.Dirty {
		return fh, spangate.Errorf(spangate.Blocked, "%s's history (%s) is dirty: its last migration (version %d) did not finish", fh.Tool, fh.Table, fh.Version).
			WithHint(fh.Fix)
	}
	if fh.Tool == ToolLiquibase {
		if fh.Applied > len(set.Files) {
			return fh, spangate.Errorf(spangate.Invalid, "Liquibase ran %d changesets but the directory holds %d files", fh.Applied, len(set.Files)).
				WithHint("convert every changeset to one file (in the order Liquibase ran them), or pass --version N")
		}
		if fh.Applied == 0 {
			return fh, spangate.Errorf(spangate.Invalid, "Liquibase's %s records no changeset run", fh.Table).WithHint("nothing to baseline; use migrate apply")
		}
		fh.Version = set.Files[fh.Applied-1].Version
	}
	if fh.Version <= 0 {
		return fh, spangate.Errorf(spangate.Invalid, "%s's history (%s) records no version", fh.Tool, fh.Table).WithHint("nothing to baseline; use migrate apply")
	}
	return fh, nil
}

// checkBaselineSchema compares the live schema with what files build.
func (e *Engine) checkBaselineSchema(ctx context.Context, files []*File, res *BaselineResult) error {
	if e.LiveSchema == nil {
		return nil
	}
	opts, err := e.checkOptions(ctx)
	if err != nil {
		return err
	}
	opts.FailOnDrift = true
	hist := make([]Record, len(files))
	for i, f := range files {
		hist[i] = Record{Version: f.Version, Checksum: f.Checksum, State: StateApplied}
	}
	p := NewCheckedPlan(&Set{Files: files}, hist, opts)
	for _, f := range p.Findings {
		if f.Rule == RuleDrift {
			res.Findings = append(res.Findings, f)
		}
	}
	if len(res.Findings) > 0 {
		return spangate.Errorf(spangate.Blocked, "the live schema differs from what the migrations up to version %d build (%d differences; the first: %s)", res.Version, len(res.Findings), res.Findings[0].Message).
			WithHint("baseline records files as applied only when the database has exactly what they build: fix the database or the files, or baseline at another --version")
	}
	return nil
}
