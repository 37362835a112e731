// Package spannerdb is spangate's adapter to Cloud Spanner: it keeps the
// migration history and the lease lock in the target database, sends schema
// updates, and runs DML and Partitioned DML. It is the only package that
// talks to Spanner's data and database-admin APIs.
//
// Every read-then-write runs in a read-write transaction, which Spanner
// serialises. The emulator reports contention between such transactions as
// NotFound ("Transaction not found") or FailedPrecondition ("Invalid
// transaction ID", "concurrent schema change") instead of ABORTED, which the
// client does not retry; runRW retries those, bounded, and every
// transaction body here is safe to run again.
package spannerdb

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/spanner"
	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/spangate/spangate"
)

// Options configure Open.
type Options struct {
	// EmulatorHost, when set, connects to a Spanner emulator at host:port
	// without credentials.
	EmulatorHost string
	// ClientOptions are passed to both Spanner clients (credentials,
	// endpoint). Application Default Credentials are used when empty.
	ClientOptions []option.ClientOption
	// CallTimeout bounds each short call (reads, history writes, lock
	// operations). Default 10s.
	CallTimeout time.Duration
	Logger      *slog.Logger
	// NoRollback says that the backend does not roll back a transaction
	// that fails (the in-process fake). spangate then never runs a
	// transaction body again on its own account: no group commit
	// (group.go), whose failed groups run again statement by statement,
	// and no sealing after the remembered chain head (chain.go), which
	// runs again when the guess loses.
	NoRollback bool
}

// DB is one Spanner database with spangate's tables in it.
type DB struct {
	path string
	// client is the data client; heal replaces it when Spanner no longer
	// knows its session (after a restart of the emulator, say).
	client atomic.Pointer[spanner.Client]
	// connect makes a new data client.
	connect func(ctx context.Context) (*spanner.Client, error)
	// replacing serialises client replacement; replaced is when the last
	// one happened.
	replacing sync.Mutex
	replaced  time.Time
	// healing is set while heal re-creates spangate's tables.
	healing atomic.Bool
	admin   *database.DatabaseAdminClient
	timeout time.Duration
	logger  *slog.Logger
	// pks caches primary-key columns by lower-cased table name
	// (string → primaryKey), for capturing the keys DML touches.
	pks sync.Map
	// chain is this process's turn on, and knowledge of, the audit chain.
	chain *chain
	// group queues audited DML for group commit (group.go).
	group dmlGroup
	// noRollback: see Options.NoRollback.
	noRollback bool
}

// ValidatePath checks a full database path.
func ValidatePath(path string) error {
	parts := strings.Split(path, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "instances" || parts[4] != "databases" ||
		parts[1] == "" || parts[3] == "" || parts[5] == "" {
		return spangate.Errorf(spangate.Invalid, "database %q is not a full database path", path).
			WithHint("use projects/PROJECT/instances/INSTANCE/databases/DATABASE (flag --database or SPANGATE_DATABASE)")
	}
	return nil
}

// Open connects to the database at path (projects/P/instances/I/databases/D).
// It does not contact Spanner; the first call does.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if err := ValidatePath(path); err != nil {
		return nil, err
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	copts := opts.ClientOptions
	if opts.EmulatorHost != "" {
		copts = append([]option.ClientOption{
			option.WithEndpoint(opts.EmulatorHost),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		}, copts...)
	}
	cfg := spanner.ClientConfig{DisableNativeMetrics: true}
	// A refused connection fails the call at once (see refusedError)
	// instead of being retried until the call's deadline.
	copts = append(copts,
		option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(failFastUnary)),
		option.WithGRPCDialOption(grpc.WithChainStreamInterceptor(failFastStream)))
	connect := func(ctx context.Context) (*spanner.Client, error) {
		c, err := spanner.NewClientWithConfig(ctx, path, cfg, copts...)
		if err != nil {
			return nil, mapErr(err, "connect to Spanner")
		}
		return c, nil
	}
	client, err := connect(ctx)
	if err != nil {
		return nil, err
	}
	admin, err := database.NewDatabaseAdminClient(ctx, copts...)
	if err != nil {
		client.Close()
		return nil, mapErr(err, "connect to the Spanner database admin API")
	}
	d := &DB{path: path, connect: connect, admin: admin, timeout: opts.CallTimeout, logger: opts.Logger,
		chain: newChain(), noRollback: opts.NoRollback}
	d.client.Store(client)
	return d, nil
}

// data returns the current data client.
func (d *DB) data() *spanner.Client { return d.client.Load() }

// Path returns the database's full path.
func (d *DB) Path() string { return d.path }

// Client returns the data client, for packages that run their own
// statements against the same database.
func (d *DB) Client() *spanner.Client { return d.data() }

// Close releases the clients.
func (d *DB) Close() error {
	d.data().Close()
	return d.admin.Close()
}

// Schema returns the live schema as DDL statements.
func (d *DB) Schema(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	resp, err := d.admin.GetDatabaseDdl(ctx, &databasepb.GetDatabaseDdlRequest{Database: d.path})
	if err != nil {
		return nil, mapErr(err, "read the schema of "+d.path)
	}
	return resp.Statements, nil
}

// runRW runs fn in a read-write transaction, retrying the emulator's
// contention errors with jittered backoff for up to a minute. fn may run
// more than once and must be safe to repeat.
func (d *DB) runRW(ctx context.Context, what string, fn func(context.Context, *spanner.ReadWriteTransaction) error) error {
	return d.retryContended(ctx, what, func(ctx context.Context) error {
		_, err := d.data().ReadWriteTransaction(ctx, fn)
		return err
	})
}

// retryContended runs attempt, each time within the call timeout, until it
// succeeds or fails with anything but contention (see contended), for up
// to a minute, with jittered backoff between attempts.
func (d *DB) retryContended(ctx context.Context, what string, attempt func(context.Context) error) error {
	wait := 5 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	heals := 0
	for {
		callCtx, cancel := context.WithTimeout(ctx, d.timeout)
		err := attempt(callCtx)
		cancel()
		if err != nil && heals < maxHeals && d.heal(ctx, err) {
			heals++
			continue
		}
		if err == nil || !contended(err) || time.Now().After(deadline) || ctx.Err() != nil {
			if err != nil {
				return mapErr(err, what)
			}
			return nil
		}
		d.logger.Debug("retrying contended transaction", "what", what, "err", err)
		select {
		case <-ctx.Done():
			return mapErr(ctx.Err(), what)
		case <-time.After(wait + rand.N(wait)):
		}
		wait = min(wait*2, time.Second)
	}
}

// contended reports whether err is Spanner's (or the emulator's) way of
// saying that a concurrent transaction or schema change got in the way.
// The emulator's non-ABORTED codes are recognised by their messages, the
// only thing that tells them apart from real NotFound/FailedPrecondition.
func contended(err error) bool {
	var ours *spangate.Error
	if errors.As(err, &ours) {
		return false // a decision of the transaction body, not contention
	}
	msg := strings.ToLower(err.Error())
	switch spanner.ErrCode(err) {
	case codes.Aborted:
		return true
	case codes.NotFound:
		return strings.Contains(msg, "transaction not found") || strings.Contains(msg, "transaction") && strings.Contains(msg, "not found")
	case codes.FailedPrecondition:
		return strings.Contains(msg, "transaction") || strings.Contains(msg, "concurrent schema change")
	}
	return false
}

// rowMissing reports whether err is ReadRow's "row not found". It is not
// enough to check for code NotFound: the emulator reports a contended
// transaction as NotFound ("Transaction not found") too, and taking that
// for a missing row would act on a read that never happened.
func rowMissing(err error) bool { return errors.Is(err, spanner.ErrRowNotFound) }

// mapErr turns a Spanner error into a *spangate.Error of the right kind
// with a hint, keeping the cause.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var ours *spangate.Error
	if errors.As(err, &ours) {
		return err
	}
	var refused *refusedError
	if errors.As(err, &refused) {
		return spangate.Errorf(spangate.Unavailable, "%s: %w", what, err).
			WithHint("start Spanner (for the emulator: the process listening at SPANNER_EMULATOR_HOST) or fix the endpoint; spangate reconnects by itself")
	}
	var unknown *spanner.TransactionOutcomeUnknownError
	if errors.As(err, &unknown) {
		// The commit was sent and got no answer: it may have been made.
		// This is the one rule that marks such errors, for every caller.
		kind := spangate.Unavailable
		if canceledByCaller(err) {
			kind = spangate.Canceled
		}
		return spangate.Errorf(kind, "%s: the commit got no answer, so whether it was made is unknown: %w", what, spangate.OutcomeUnknown(err)).
			WithHint("find out before repeating a change that is not idempotent: spangate audit list shows the audited changes that were made")
	}
	if errors.Is(err, context.Canceled) {
		return spangate.Errorf(spangate.Canceled, "%s: interrupted: %w", what, err)
	}
	code := spanner.ErrCode(err)
	if errors.Is(err, context.DeadlineExceeded) {
		code = codes.DeadlineExceeded
	}
	switch code {
	case codes.Canceled:
		// The client's own cancellation, which the Spanner client reports
		// without wrapping context.Canceled; a cancellation by the server
		// is a failure to retry.
		if strings.Contains(err.Error(), context.Canceled.Error()) {
			return spangate.Errorf(spangate.Canceled, "%s: interrupted: %w", what, err)
		}
		return spangate.Errorf(spangate.Unavailable, "%s: Spanner canceled the call: %w", what, err).
			WithHint("retry; if it keeps happening, check Spanner's status")
	case codes.Unavailable, codes.DeadlineExceeded:
		return spangate.Errorf(spangate.Unavailable, "%s: Spanner did not answer: %w", what, err).
			WithHint("check the network and the endpoint; for the emulator, check that SPANNER_EMULATOR_HOST points at a running emulator (spangate dev starts one)")
	case codes.NotFound:
		return spangate.Errorf(spangate.NotFound, "%s: %w", what, err).
			WithHint("check --database (projects/P/instances/I/databases/D); the instance and database must exist")
	case codes.PermissionDenied:
		return spangate.Errorf(spangate.Denied, "%s: %w", what, err).
			WithHint("the Google credential in use lacks a Spanner role on this database (roles/spanner.databaseUser, or databaseAdmin for DDL)")
	case codes.Unauthenticated:
		return spangate.Errorf(spangate.Unauthenticated, "%s: %w", what, err).
			WithHint("set up Application Default Credentials (gcloud auth application-default login, or a Workload Identity Federation config)")
	case codes.InvalidArgument, codes.OutOfRange:
		return spangate.Errorf(spangate.Invalid, "%s: %w", what, err)
	case codes.FailedPrecondition, codes.AlreadyExists:
		return spangate.Errorf(spangate.Conflict, "%s: %w", what, err)
	}
	return spangate.Errorf(spangate.Internal, "%s: %w", what, err)
}
