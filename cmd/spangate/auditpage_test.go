package main

import (
	"fmt"
	"testing"

	"github.com/spangate/spangate/internal/audit"
)

// TestAuditPages: audit list reads past one page (audit.MaxLimit entries
// in production; a few here) and says when the result was cut.
func TestAuditPages(t *testing.T) {
	tests := []struct {
		stored, page, limit int
		want                int
		truncated           bool
	}{
		{stored: 10, page: 3, limit: 100, want: 10},
		{stored: 10, page: 3, limit: 10, want: 10},
		{stored: 10, page: 3, limit: 9, want: 9, truncated: true},
		{stored: 10, page: 5, limit: 5, want: 5, truncated: true},
		{stored: 10, page: 10, limit: 4, want: 4, truncated: true},
		{stored: 0, page: 3, limit: 5, want: 0},
		{stored: 25001, page: 0, limit: 25000, want: 25000, truncated: true}, // page 0: audit.MaxLimit
		{stored: 25000, page: 0, limit: 30000, want: 25000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_%d_%d", tt.stored, tt.page, tt.limit), func(t *testing.T) {
			calls := 0
			// The store: entries 1…stored, listed newest first below Before.
			list := func(f audit.Filter) ([]audit.Entry, error) {
				calls++
				if f.Limit < 1 || f.Limit > audit.MaxLimit {
					t.Fatalf("page limit %d out of range", f.Limit)
				}
				var out []audit.Entry
				for s := int64(tt.stored); s >= 1 && len(out) < f.Limit; s-- {
					if f.Before == 0 || s < f.Before {
						out = append(out, audit.Entry{Seq: s})
					}
				}
				return out, nil
			}
			a := &app{auditPage: tt.page}
			got, truncated, err := a.auditPages(audit.Filter{Limit: tt.limit}, list)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want || truncated != tt.truncated {
				t.Fatalf("got %d entries, truncated %v; want %d, %v", len(got), truncated, tt.want, tt.truncated)
			}
			for i, e := range got {
				if e.Seq != int64(tt.stored-i) {
					t.Fatalf("entry %d has seq %d, want %d (newest first, none skipped or repeated)", i, e.Seq, tt.stored-i)
				}
			}
		})
	}
}
