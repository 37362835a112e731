package spannerdb

import (
	"context"
	"strings"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A gateway runs for weeks; Spanner (or the emulator) may go away and come
// back meanwhile, restarted, its database re-created. The DB heals what
// such an outage leaves broken, without a restart:
//
//   - a data client whose session Spanner no longer knows ("Session not
//     found") is replaced by a new one;
//   - spangate's own tables, missing after the database was re-created,
//     are created again (and the remembered audit chain head forgotten);
//   - a call whose connection is refused (nothing listens at the address)
//     fails at once with kind Unavailable instead of being retried until
//     its deadline.
//
// heal runs on a failed call's error; a call that healed something runs
// once more.

// clientReplaceEvery bounds how often the data client is replaced: the
// calls that failed on the old session together replace it once.
const clientReplaceEvery = 2 * time.Second

// heal repairs what err shows broken, and reports whether it did, so the
// failed call may run once more.
func (d *DB) heal(ctx context.Context, err error) bool {
	switch {
	case sessionGone(err):
		return d.replaceClient(ctx)
	case stateTableGone(err):
		return d.recreateTables(ctx)
	}
	return false
}

// sessionGone reports Spanner's "Session not found": the server lost the
// client's session (it restarted).
func sessionGone(err error) bool {
	return spanner.ErrCode(err) == codes.NotFound && strings.Contains(strings.ToLower(err.Error()), "session not found")
}

// stateTableGone reports that one of spangate's tables is missing.
func stateTableGone(err error) bool {
	msg := strings.ToLower(err.Error())
	return spanner.ErrCode(err) == codes.NotFound && strings.Contains(msg, "table not found") && strings.Contains(msg, "spangate")
}

// replaceClient swaps in a new data client; the old one is closed a while
// later, once the calls still using it have ended.
func (d *DB) replaceClient(ctx context.Context) bool {
	d.replacing.Lock()
	defer d.replacing.Unlock()
	if time.Since(d.replaced) < clientReplaceEvery {
		return true // replaced just now, for the same outage
	}
	c, err := d.connect(context.WithoutCancel(ctx))
	if err != nil {
		d.logger.Warn("replace the Spanner client after its session was lost", "err", err)
		return false
	}
	old := d.client.Swap(c)
	d.replaced = time.Now()
	d.logger.Warn("Spanner no longer knew this process's session (it restarted?); replaced the client", "database", d.path)
	time.AfterFunc(time.Minute, old.Close)
	return true
}

// recreateTables creates spangate's tables again. The remembered audit
// chain head belongs to the chain that went with them.
func (d *DB) recreateTables(ctx context.Context) bool {
	if !d.healing.CompareAndSwap(false, true) {
		return false // Init's own calls must not heal again
	}
	defer d.healing.Store(false)
	d.chain.dirty.Store(true)
	d.logger.Warn("spangate's tables are missing (was the database re-created?); creating them again", "database", d.path)
	if err := d.Init(ctx); err != nil {
		d.logger.Warn("create spangate's tables again", "database", d.path, "err", err)
		return false
	}
	return true
}

// maxHeals bounds how often one call heals and runs again: an outage may
// leave a lost session and missing tables, one found after the other.
const maxHeals = 3

// retryHealed runs fn, and again while its failure healed something.
func (d *DB) retryHealed(ctx context.Context, fn func() error) error {
	err := fn()
	for i := 0; i < maxHeals && err != nil && d.heal(ctx, err); i++ {
		err = fn()
	}
	return err
}

// refusedError is a call that could not connect because nothing accepted
// the connection. It deliberately carries no gRPC status: the client
// libraries retry Unavailable until the call's deadline, which helps
// nobody while the port is closed.
type refusedError struct{ msg string }

func (e *refusedError) Error() string {
	return "Spanner refused the connection (nothing listens there): " + e.msg
}

// refused turns gRPC's Unavailable for a refused connection into a
// refusedError.
func refused(err error) error {
	if err == nil || status.Code(err) != codes.Unavailable || !strings.Contains(strings.ToLower(err.Error()), "connection refused") {
		return err
	}
	return &refusedError{msg: status.Convert(err).Message()}
}

func failFastUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return refused(invoker(ctx, method, req, reply, cc, opts...))
}

func failFastStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	return s, refused(err)
}

// Probe reads spangate's own tables (the audit chain head and the lock
// row) as a write would meet them, healing what it can: it answers what
// the next audited write would meet. It is for readiness checks; bound it
// with ctx.
func (d *DB) Probe(ctx context.Context) error {
	return d.retryHealed(ctx, func() error {
		ro := d.data().ReadOnlyTransaction()
		defer ro.Close()
		if _, err := ro.ReadRow(ctx, AuditHeadTable, spanner.Key{int64(0)}, []string{"LastSeq"}); err != nil && !rowMissing(err) {
			return mapErr(err, "read "+AuditHeadTable)
		}
		if _, err := ro.ReadRow(ctx, LocksTable, spanner.Key{migrationLock}, []string{"Fence"}); err != nil && !rowMissing(err) {
			return mapErr(err, "read "+LocksTable)
		}
		return nil
	})
}
