package migration

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spangate/spangate/internal/schema"
)

// RuleInFlight marks the info findings about schema operations that an
// earlier run sent and did not see end.
const RuleInFlight = "in-flight"

// OperationState is what Spanner says of a schema operation at one moment.
type OperationState string

// The states of a schema operation.
const (
	// OperationRunning: Spanner has the operation and it has not ended.
	OperationRunning OperationState = "running"
	// OperationDone: every statement of the operation was applied.
	OperationDone OperationState = "done"
	// OperationFailed: the operation ended with an error after Applied
	// statements.
	OperationFailed OperationState = "failed"
	// OperationNotFound: Spanner does not know the operation: it never
	// arrived. (The emulator also answers so while it is still running an
	// operation; apply then plans its statements again and sends them
	// under the same ID, which re-attaches to it when it exists.)
	OperationNotFound OperationState = "not_found"
)

// OperationStatus is a schema operation as Spanner reports it.
type OperationStatus struct {
	State OperationState
	// Applied counts the statements committed so far.
	Applied int
	// Err is why a failed operation failed.
	Err error
}

// OperationInspector looks a schema operation up by its ID without waiting
// for it and without changing anything. A SchemaUpdater that implements it
// lets plan and status tell what became of the operations earlier runs
// left; without it they show such files as in flight.
type OperationInspector interface {
	InspectOperation(ctx context.Context, opID string) (OperationStatus, error)
}

// Unsettled reports whether r records a schema operation that a run sent
// and did not see end (it crashed, lost the connection or was
// interrupted): the next apply re-attaches to it before anything else.
func (r *Record) Unsettled() bool {
	return r.State == StateApplying && r.OperationName != "" && r.OpCount > 0
}

// unsettledOps groups the unsettled rows of recs by operation, each group
// in version order, the operations in the order of their first version.
func unsettledOps(recs []*Record) (names []string, byOp map[string][]*Record) {
	byOp = map[string][]*Record{}
	for _, r := range recs {
		if r.Unsettled() {
			byOp[r.OperationName] = append(byOp[r.OperationName], r)
		}
	}
	for name, rs := range byOp {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Version < rs[j].Version })
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return byOp[names[i]][0].Version < byOp[names[j]][0].Version })
	return names, byOp
}

// settleOp spreads applied, the statements an operation committed, over
// its rows rs (in version order), as the apply that sent it would have:
// rows advance, the row holding the failing statement fails with err, and
// every row stops naming the operation. files gives the rows' files where
// known; a row without one advances by count alone.
func (e *Engine) settleOp(rs []*Record, files map[int64]*File, applied int, err error, res *Result) {
	left := applied
	for _, r := range rs {
		n := min(left, r.OpCount)
		left -= n
		start, count := r.OpStart, r.OpCount
		r.OpCount = 0
		if f := files[r.Version]; f != nil {
			e.advance(r, f, start+n, res)
		} else {
			r.StatementsApplied = start + n
			if r.StatementsTotal > 0 && r.StatementsApplied >= r.StatementsTotal {
				r.State = StateApplied
				r.Error = ""
				r.FinishedAt = e.Now()
			}
		}
		if err != nil && n < count && r.State != StateFailed {
			e.fail(r, err)
			err = nil
		}
	}
}

// SettledHistory returns the history as the next apply will find it once
// it has re-attached to the schema operations earlier runs left behind: an
// operation that finished counts as applied (or failed where it failed),
// one that never reached Spanner as not sent, and the rows of one still
// running stay unsettled, which plan shows as "in flight" and status as
// "applying". It takes no lock and writes nothing: apply records the same
// outcome under the lock. files (may be nil) supply the files the rows
// belong to. The findings say what became of each operation.
func (e *Engine) SettledHistory(ctx context.Context, files []*File) ([]Record, []Finding, error) {
	e.defaults()
	if err := e.History.Init(ctx); err != nil {
		return nil, nil, err
	}
	hist, err := e.History.History(ctx)
	if err != nil {
		return nil, nil, err
	}
	return e.settleView(ctx, hist, files)
}

// settleView is SettledHistory on a history already read.
func (e *Engine) settleView(ctx context.Context, hist []Record, files []*File) ([]Record, []Finding, error) {
	out := append([]Record(nil), hist...)
	ptrs := make([]*Record, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	names, byOp := unsettledOps(ptrs)
	if len(names) == 0 {
		return out, nil, nil
	}
	byVersion := make(map[int64]*File, len(files))
	for _, f := range files {
		byVersion[f.Version] = f
	}
	insp, _ := e.Schema.(OperationInspector)
	var findings []Finding
	for _, name := range names {
		rs := byOp[name]
		where := fileOf(rs[0], byVersion)
		what := fmt.Sprintf("schema operation %s (%s, sent by %s)", name, describeRows(rs), orSomeone(rs[0].AppliedBy))
		if insp == nil {
			findings = append(findings, Finding{Severity: SeverityInfo, Rule: RuleInFlight, File: where, Line: 1,
				Message: what + " was not seen to end; apply re-attaches to it before anything else"})
			continue
		}
		st, err := insp.InspectOperation(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		switch st.State {
		case OperationRunning:
			findings = append(findings, Finding{Severity: SeverityInfo, Rule: RuleInFlight, File: where, Line: 1,
				Message: fmt.Sprintf("%s is still running (%d of %d statements done); apply re-attaches to it, waits for it and then continues", what, st.Applied, opTotal(rs))})
		case OperationNotFound:
			// Kept in flight: the emulator does not show an operation
			// until it has ended, and whatever became of it, apply
			// settles it before planning.
			findings = append(findings, Finding{Severity: SeverityInfo, Rule: RuleInFlight, File: where, Line: 1,
				Message: what + " is not known to Spanner yet (it never arrived, or the emulator is still running it); apply plans its statements again and sends them under the same ID, which re-attaches to it if it exists"})
		case OperationDone:
			e.settleOp(rs, byVersion, st.Applied, nil, &Result{})
			findings = append(findings, Finding{Severity: SeverityInfo, Rule: RuleInFlight, File: where, Line: 1,
				Message: what + " finished after that run ended: its statements are applied; apply records them in the history"})
		case OperationFailed:
			e.settleOp(rs, byVersion, st.Applied, st.Err, &Result{})
			findings = append(findings, Finding{Severity: SeverityInfo, Rule: RuleInFlight, File: where, Line: 1,
				Message: fmt.Sprintf("%s failed after %d of its statements were applied (%v); apply records the failure and resumes at the failing statement", what, st.Applied, st.Err)})
		}
	}
	return out, findings, nil
}

func fileOf(r *Record, files map[int64]*File) string {
	if f := files[r.Version]; f != nil {
		return f.Path
	}
	return fmt.Sprintf("%d_%s.sql", r.Version, r.Name)
}

// describeRows names the statements an operation holds, per migration.
func describeRows(rs []*Record) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		if r.OpCount == 1 {
			parts[i] = fmt.Sprintf("statement %d of migration %d", r.OpStart+1, r.Version)
			continue
		}
		parts[i] = fmt.Sprintf("statements %d-%d of migration %d", r.OpStart+1, r.OpStart+r.OpCount, r.Version)
	}
	return strings.Join(parts, ", ")
}

func opTotal(rs []*Record) int {
	n := 0
	for _, r := range rs {
		n += r.OpCount
	}
	return n
}

func orSomeone(s string) string {
	if s == "" {
		return "an earlier run"
	}
	return s
}

// withInFlight returns the live schema as it will be once the operations
// earlier runs left have ended: live with those of their statements
// appended that it does not show yet (a running operation may have made
// some of its changes already, and one that ended after live was read
// made all of them). Plan then neither reports the operations' own work as
// drift nor lints the statements after them against a schema they have not
// reached. raw is the history as stored, settled as settleView left it; an
// operation that failed adds nothing.
func withInFlight(live []string, raw, settled []Record, set *Set) []string {
	files := make(map[int64]*File, len(set.Files))
	for _, f := range set.Files {
		files[f.Version] = f
	}
	now := make(map[int64]*Record, len(settled))
	for i := range settled {
		now[settled[i].Version] = &settled[i]
	}
	var model *schema.Schema
	for i := range raw {
		r := &raw[i]
		f := files[r.Version]
		s := now[r.Version]
		if !r.Unsettled() || f == nil || s == nil || r.OpStart+r.OpCount > len(f.Statements) ||
			!(s.Unsettled() || s.State == StateApplied) {
			continue
		}
		if model == nil {
			m, err := schema.FromDDL("live schema", live)
			if err != nil {
				return live
			}
			model = m
			live = append([]string(nil), live...)
		}
		for j := r.OpStart; j < r.OpStart+r.OpCount; j++ {
			st := &f.Statements[j]
			if f.KindOf(j) == KindDDL && model.Apply(f.Path, st) == nil {
				live = append(live, st.SQL)
			}
		}
	}
	return live
}
