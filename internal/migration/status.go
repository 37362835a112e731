package migration

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Status states as reported by `spangate migrate status`.
const (
	StatusApplied  = "applied"
	StatusPending  = "pending"
	StatusFailed   = "failed"
	StatusModified = "modified"
	// StatusApplying is a file a run started and did not finish: a
	// schema operation holding its statements is in flight, or the run
	// was interrupted (or is still running). Note says which.
	StatusApplying = "applying"
)

// FileStatus is one line of `spangate migrate status`.
type FileStatus struct {
	Version   int64      `json:"version"`
	Name      string     `json:"name"`
	State     string     `json:"state"`
	AppliedAt *time.Time `json:"applied_at"`
	AppliedBy string     `json:"applied_by,omitempty"`
	// Progress is "3/5" for a file partly applied.
	Progress string `json:"progress,omitempty"`
	// Error is the last failure of the file, if any.
	Error string `json:"error,omitempty"`
	// Operation is the schema operation in flight with the file's
	// statements, when there is one.
	Operation string `json:"operation,omitempty"`
	// Note says what became of a file in state applying, and what the
	// next apply does with it.
	Note string `json:"note,omitempty"`
	// InDirectory is false for a history row whose file is gone.
	InDirectory bool `json:"in_directory"`
}

// Statuses lists every migration of set and of the history, by version.
func Statuses(set *Set, history []Record) []FileStatus {
	byVersion := make(map[int64]Record, len(history))
	for _, r := range history {
		byVersion[r.Version] = r
	}
	var out []FileStatus
	seen := map[int64]bool{}
	for _, f := range set.Files {
		seen[f.Version] = true
		st := FileStatus{Version: f.Version, Name: f.Name, State: StatusPending, InDirectory: true}
		if r, ok := byVersion[f.Version]; ok {
			fill(&st, r)
			switch {
			case r.State == StateApplied && r.Checksum != f.Checksum:
				st.State = StatusModified
			case r.State != StateApplied && r.Checksum != f.Checksum && r.StatementsApplied > 0 && PrefixChecksum(f, r.StatementsApplied) != r.PrefixChecksum:
				st.State = StatusModified
			}
		}
		out = append(out, st)
	}
	for _, r := range history {
		if seen[r.Version] {
			continue
		}
		st := FileStatus{Version: r.Version, Name: r.Name}
		fill(&st, r)
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

func fill(st *FileStatus, r Record) {
	st.AppliedBy = r.AppliedBy
	st.Error = r.Error
	switch {
	case r.State == StateApplied:
		st.State = StatusApplied
		t := r.FinishedAt
		st.AppliedAt = &t
	case r.Unsettled():
		st.State = StatusApplying
		st.Progress = progress(r)
		st.Operation = r.OperationName
		st.Note = fmt.Sprintf("schema operation %s with statements %d-%d is in flight (sent by %s at %s); the next apply re-attaches to it and records its outcome",
			r.OperationName, r.OpStart+1, r.OpStart+r.OpCount, orSomeone(r.AppliedBy), r.StartedAt.UTC().Format(time.RFC3339))
	case r.State == StateFailed || r.Error != "":
		st.State = StatusFailed
		st.Progress = progress(r)
	case r.State == StateApplying && r.StatementsApplied > 0:
		st.State = StatusApplying
		st.Progress = progress(r)
		st.Note = fmt.Sprintf("started by %s at %s and stopped after %d of %d statements (interrupted, killed, or still running); the next apply resumes at statement %d",
			orSomeone(r.AppliedBy), r.StartedAt.UTC().Format(time.RFC3339), r.StatementsApplied, r.StatementsTotal, r.StatementsApplied+1)
	default:
		st.State = StatusPending
	}
}

func progress(r Record) string {
	return strconv.Itoa(r.StatementsApplied) + "/" + strconv.Itoa(r.StatementsTotal)
}
