package spannerdb

import (
	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate/internal/audit"
)

// AuditRowMutations returns the rows AppendAudit would write for a sealed
// entry, for tests that load many entries fast or rewrite them behind the
// adapter's back.
func AuditRowMutations(e audit.Entry) ([]*spanner.Mutation, error) {
	m, err := auditMutation(e)
	if err != nil {
		return nil, err
	}
	return append([]*spanner.Mutation{m}, keyMutations(e)...), nil
}

// AuditHeadMutation sets the chain head.
func AuditHeadMutation(seq int64, hash string) *spanner.Mutation {
	return spanner.Update(AuditHeadTable, []string{"Id", "LastSeq", "LastHash"}, []any{int64(0), seq, hash})
}

// GroupRunning reports whether an audited statement of d is running, so
// that a call made now would queue.
func (d *DB) GroupRunning() bool {
	d.group.mu.Lock()
	defer d.group.mu.Unlock()
	return d.group.running
}
