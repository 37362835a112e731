package spannerdb

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spangate/spangate"
)

// TestOutageErrors checks how errors of an outage are told apart: the
// one rule for an unknown commit outcome, a refused connection, a lost
// session and missing spangate tables.
func TestOutageErrors(t *testing.T) {
	refusedErr := refused(status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:9: connect: connection refused"`))
	tests := []struct {
		name         string
		err          error
		kind         spangate.Kind
		unknown      bool
		session      bool
		stateMissing bool
	}{
		{"commit without answer", fmt.Errorf("commit: %w", &spanner.TransactionOutcomeUnknownError{}), spangate.Unavailable, true, false, false},
		{"deadline before the commit", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), spangate.Unavailable, false, false, false},
		{"caller cancelled during the commit", fmt.Errorf("%w: %w", context.Canceled, &spanner.TransactionOutcomeUnknownError{}), spangate.Canceled, true, false, false},
		{"refused connection", refusedErr, spangate.Unavailable, false, false, false},
		{"other unavailable", refused(status.Error(codes.Unavailable, "connection reset by peer")), spangate.Unavailable, false, false, false},
		{"lost session", status.Error(codes.NotFound, "Session not found: projects/p/instances/i/databases/d/sessions/1"), spangate.NotFound, false, true, false},
		{"missing state table", status.Error(codes.NotFound, "Table not found: SpangateAuditHead"), spangate.NotFound, false, false, true},
		{"missing user table", status.Error(codes.NotFound, "Table not found: Orders"), spangate.NotFound, false, false, false},
		{"contention", status.Error(codes.NotFound, "Transaction not found: 12"), spangate.NotFound, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mapErr(tt.err, "write")
			if k := spangate.KindOf(err); k != tt.kind {
				t.Errorf("kind %v (%v), want %v", k, err, tt.kind)
			}
			if got := errors.Is(err, spangate.ErrOutcomeUnknown); got != tt.unknown {
				t.Errorf("outcome unknown = %v (%v), want %v", got, err, tt.unknown)
			}
			if got := sessionGone(tt.err); got != tt.session {
				t.Errorf("sessionGone = %v", got)
			}
			if got := stateTableGone(tt.err); got != tt.stateMissing {
				t.Errorf("stateTableGone = %v", got)
			}
		})
	}
	var re *refusedError
	if !errors.As(refusedErr, &re) || status.Code(refusedErr) == codes.Unavailable {
		t.Errorf("a refused connection must not read as a retryable Unavailable status: %v (%v)", refusedErr, status.Code(refusedErr))
	}
}
