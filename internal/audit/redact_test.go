package audit_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
)

// TestErrorText: Spanner's text, which may quote parameter values escaped
// (quotes, newlines, control characters), never survives: spangate's
// message before it stays, with Spanner's code in its place.
func TestErrorText(t *testing.T) {
	const value = "s3cr3t \"quoted\"\n\x01"
	g := status.Errorf(codes.AlreadyExists, "Failed to insert row with primary key ({pk#Id:%q}) due to previously existing row", value)
	desc := status.Convert(g).Message()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"wrapped whole", spangate.Errorf(spangate.Conflict, "run DML: %w", g), "run DML: Spanner error AlreadyExists"},
		{"quoted in part", &spangate.Error{Kind: spangate.Conflict, Message: "Spanner refused the statement: " + strings.Replace(desc, "due to", "", 1), Err: g},
			"Spanner refused the statement: Spanner error AlreadyExists"},
		{"under two layers", spangate.Errorf(spangate.Unavailable, "commit: %w", fmt.Errorf("write: %w", g)), "commit: write: Spanner error AlreadyExists"},
		{"no Spanner error", spangate.Errorf(spangate.Invalid, "bad input %q", "x"), `bad input "x"`},
		{"plain error", errors.New("context deadline exceeded"), "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := audit.ErrorText(tt.err)
			if got != tt.want {
				t.Errorf("ErrorText = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "s3cr3t") {
				t.Errorf("the value survived: %q", got)
			}
		})
	}
}
