package migration

import (
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
	case r.State == StateFailed || r.StatementsApplied > 0 || r.Error != "":
		st.State = StatusFailed
		st.Progress = progress(r)
	default:
		st.State = StatusPending
	}
}

func progress(r Record) string {
	return strconv.Itoa(r.StatementsApplied) + "/" + strconv.Itoa(r.StatementsTotal)
}
