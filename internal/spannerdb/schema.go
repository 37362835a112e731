package spannerdb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"cloud.google.com/go/spanner"
	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"google.golang.org/grpc/codes"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/migration"
)

// UpdateSchema sends stmts as one schema update batch under opID and waits
// for it. It returns how many statements were applied: all on success, the
// number Spanner committed before a failure (from the operation's
// per-statement commit timestamps), or -1 when that cannot be known (the
// call was lost, or the wait was interrupted; AwaitOperation can settle it
// later). A batch already sent under opID is re-attached, never re-sent.
func (d *DB) UpdateSchema(ctx context.Context, opID string, stmts []string) (int, error) {
	return d.UpdateSchemaProto(ctx, opID, stmts, nil)
}

// UpdateSchemaProto is UpdateSchema with proto descriptors (a serialized
// FileDescriptorSet) for the batch's CREATE or ALTER PROTO BUNDLE.
func (d *DB) UpdateSchemaProto(ctx context.Context, opID string, stmts []string, descriptors []byte) (int, error) {
	// A schema change may give a table another primary key: forget the
	// cached keys, which also decide whether a statement is bounded, once
	// the change has been sent, whatever its outcome.
	defer d.pks.Clear()
	var (
		op  *database.UpdateDatabaseDdlOperation
		err error
	)
	wait := 50 * time.Millisecond
	deadline := time.Now().Add(2 * time.Minute)
	for {
		op, err = d.admin.UpdateDatabaseDdl(ctx, &databasepb.UpdateDatabaseDdlRequest{
			Database: d.path, Statements: stmts, OperationId: opID, ProtoDescriptors: descriptors,
		})
		if err == nil {
			break
		}
		switch {
		case spanner.ErrCode(err) == codes.AlreadyExists:
			// Sent before by a run that lost the answer: re-attach.
			return d.AwaitOperation(ctx, opID)
		case schemaBusy(err) && time.Now().Before(deadline) && ctx.Err() == nil:
			// The emulator refuses a schema change while a read-write
			// transaction runs; production queues it instead.
			select {
			case <-ctx.Done():
			case <-time.After(wait + rand.N(wait)):
			}
			wait = min(wait*2, time.Second)
			continue
		case answered(err):
			// Spanner answered with an error (the emulator refuses some
			// statements with Internal before it starts an operation):
			// look the operation up. If there is none, nothing started
			// and nothing was applied; the outcome is known.
			n, aerr := d.AwaitOperation(ctx, opID)
			if spangate.KindOf(aerr) == spangate.NotFound {
				return 0, spangate.Errorf(spangate.Invalid, "Spanner refused the schema update before it started (no operation %s exists), so nothing of it was applied: %w", opID, fmt.Errorf("%w: %w", migration.ErrNotStarted, err)).
					WithHint("fix the statement Spanner names and re-run apply; every statement of this batch is still pending")
			}
			return n, aerr
		case unknownOutcome(err):
			return -1, mapErr(err, "send schema update "+opID)
		default:
			// Refused before anything ran (syntax, names, permissions).
			return 0, mapErr(fmt.Errorf("%w: %w", migration.ErrNotStarted, err), "schema update refused")
		}
	}
	return d.wait(ctx, op, len(stmts))
}

// AwaitOperation waits for the schema update sent under opID. It returns an
// error of kind NotFound when Spanner never received it.
func (d *DB) AwaitOperation(ctx context.Context, opID string) (int, error) {
	op := d.admin.UpdateDatabaseDdlOperation(d.path + "/operations/" + opID)
	if err := op.Poll(ctx); err != nil && !op.Done() {
		if spanner.ErrCode(err) == codes.NotFound {
			return 0, spangate.Errorf(spangate.NotFound, "schema operation %s was never received: %w", opID, err)
		}
		if unknownOutcome(err) {
			return -1, mapErr(err, "look up schema operation "+opID)
		}
		// The operation finished with an error: fall through to read
		// its metadata.
	}
	md, _ := op.Metadata()
	total := -1
	if md != nil {
		total = len(md.GetStatements())
	}
	return d.wait(ctx, op, total)
}

// InspectOperation looks up the schema operation sent under opID once,
// without waiting for it, and says whether it is running, done, failed or
// unknown to Spanner, with the statements committed so far. It changes
// nothing. (The emulator reports an operation it is still running as
// unknown.)
func (d *DB) InspectOperation(ctx context.Context, opID string) (migration.OperationStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	op := d.admin.UpdateDatabaseDdlOperation(d.path + "/operations/" + opID)
	err := op.Poll(ctx)
	if err != nil && !op.Done() {
		if spanner.ErrCode(err) == codes.NotFound {
			return migration.OperationStatus{State: migration.OperationNotFound}, nil
		}
		return migration.OperationStatus{}, mapErr(err, "look up schema operation "+opID)
	}
	md, _ := op.Metadata()
	applied := 0
	for _, ts := range md.GetCommitTimestamps() {
		if ts != nil {
			applied++
		}
	}
	switch {
	case !op.Done() || md == nil:
		// Running, or ended without the metadata that says how far
		// (the in-process fake): apply re-attaches and finds out.
		return migration.OperationStatus{State: migration.OperationRunning, Applied: applied}, nil
	case err != nil:
		return migration.OperationStatus{State: migration.OperationFailed, Applied: applied, Err: mapErr(err, "schema operation "+opID+" failed")}, nil
	}
	if n := len(md.GetStatements()); n > applied {
		applied = n
	}
	return migration.OperationStatus{State: migration.OperationDone, Applied: applied}, nil
}

// wait waits for op and counts its applied statements.
func (d *DB) wait(ctx context.Context, op *database.UpdateDatabaseDdlOperation, total int) (int, error) {
	err := op.Wait(ctx)
	if err != nil && !op.Done() {
		return -1, mapErr(err, "wait for schema operation "+op.Name())
	}
	md, _ := op.Metadata()
	if err == nil {
		if total < 0 && md != nil {
			total = len(md.GetStatements())
		}
		return total, nil
	}
	if md == nil {
		return -1, mapErr(err, "schema operation "+op.Name()+" failed")
	}
	applied := 0
	for _, ts := range md.GetCommitTimestamps() {
		if ts != nil {
			applied++
		}
	}
	return applied, mapErr(err, "schema operation "+op.Name()+" failed")
}

// schemaBusy reports the emulator's refusal of a concurrent schema change.
func schemaBusy(err error) bool {
	return spanner.ErrCode(err) == codes.FailedPrecondition &&
		strings.Contains(strings.ToLower(err.Error()), "concurrent")
}

// answered reports errors that Spanner itself sent back for a request it
// received (not a lost or interrupted call) whose code alone does not say
// whether the work started.
func answered(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	c := spanner.ErrCode(err)
	return c == codes.Internal || c == codes.Unknown
}

// unknownOutcome reports errors after which the request may or may not
// have reached Spanner.
func unknownOutcome(err error) bool {
	switch spanner.ErrCode(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Unknown, codes.Internal:
		return true
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
