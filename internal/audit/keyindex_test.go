package audit_test

import (
	"testing"

	"github.com/spangate/spangate/internal/audit"
)

// TestKeyIndex: the multiset sums match only when the same rows are on
// both sides, in any order.
func TestKeyIndex(t *testing.T) {
	rows := [][3]any{{"orders", "[1]", int64(1)}, {"orders", "[2]", int64(2)}, {"lines", "[1,\"a\"]", int64(2)}}
	tests := []struct {
		name  string
		found [][3]any
		match bool
	}{
		{"same rows, other order", [][3]any{rows[2], rows[0], rows[1]}, true},
		{"one deleted", rows[:2], false},
		{"one added", append(append([][3]any{}, rows...), [3]any{"orders", "[3]", int64(2)}), false},
		{"moved to another entry", [][3]any{rows[0], {"orders", "[2]", int64(1)}, rows[2]}, false},
		{"table and key swapped", [][3]any{rows[0], {"[2]", "orders", int64(2)}, rows[2]}, false},
		{"a duplicate for a missing one", [][3]any{rows[0], rows[0], rows[2]}, false},
	}
	for _, tt := range tests {
		var k audit.KeyIndex
		for _, r := range rows {
			k.Expect(r[0].(string), r[1].(string), r[2].(int64))
		}
		for _, r := range tt.found {
			k.Found(r[0].(string), r[1].(string), r[2].(int64))
		}
		if k.Match() != tt.match {
			t.Errorf("%s: Match = %v, want %v", tt.name, k.Match(), tt.match)
		}
	}
}
