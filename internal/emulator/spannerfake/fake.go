// Package spannerfake serves the in-process Spanner fake of
// cloud.google.com/go/spanner/spannertest over gRPC: the fallback of
// `spangate dev` where the emulator is not installed. Only `dev` imports it;
// the gateway (`spangate serve`) and the tests never reach Spanner through it.
package spannerfake

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"runtime/debug"
	"unsafe"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"cloud.google.com/go/spanner/apiv1/spannerpb"
	"cloud.google.com/go/spanner/spannertest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/emulator"
)

// Limitations lists, one sentence each, the Spanner guarantees that do
// not hold on the in-process fake (spannertest), so that whoever falls back
// to it can say so plainly. Measured with the real Go client against
// cloud.google.com/go/spanner v1.96.1.
func Limitations() []string {
	return []string{
		"no transaction isolation: concurrent read-then-write transactions lose updates and never abort; read-only transactions and stale reads see the latest data",
		"no rollback: DML stays applied when its transaction fails, uncommitted DML is visible to other readers, and a commit that fails part-way keeps its earlier mutations",
		"constraints are declared but not enforced: UNIQUE indexes, foreign keys, CHECK, STRING(n) lengths, interleaving without a parent, ON DELETE CASCADE",
		"one database only: every database name reaches the same data; CreateDatabase, DropDatabase and ListDatabases fail, and there is no instance admin API",
		"schema operations carry no metadata (no per-statement commit timestamps), and GetDatabaseDdl returns CREATE TABLE only, without indexes or INTERLEAVE",
		"much of the SQL language is missing: subqueries, HAVING, UNION, WITH, CASE, COALESCE, INFORMATION_SCHEMA, THEN RETURN, PENDING_COMMIT_TIMESTAMP(), INSERT OR UPDATE; multi-row VALUES keeps one row",
		"statements and RPCs that crash the fake (PartitionQuery, BatchUpdate, INSERT … SELECT, CAST, …) come back as Internal errors; a crash while applying DDL in the background still ends the process",
	}
}

// Fake is the in-process Spanner fake (spannertest) served over gRPC, with
// its panics turned into errors. It is a fallback for where the emulator is
// not installed; see Limitations for what it does not guarantee.
type Fake struct {
	inner  *spannertest.Server
	srv    *grpc.Server
	lis    net.Listener
	logger *slog.Logger
}

// Start serves the spannertest fake over gRPC at addr (host:port, port
// 0 picks a free one). A gRPC interceptor recovers the fake's panics (it
// panics on CreateDatabase, DropDatabase, ListDatabases and some statements)
// and returns them as codes.Internal errors instead of letting them end the
// process. The fake's own per-statement logging goes to logger at debug
// level. The fake serves a single database under any name and has no
// instance admin API.
func Start(ctx context.Context, addr string, logger *slog.Logger) (*Fake, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, spangate.Errorf(spangate.Unavailable, "listen for the Spanner fake on %s: %w", addr, err).
			WithHint("stop whatever listens there or choose another address; port 0 picks a free one")
	}

	// spannertest.NewServer builds its own grpc.Server, with no way to add
	// interceptors and no recovery: a panic in a handler kills the process.
	// So the fake's implementation is taken out of it and served again on
	// a grpc.Server of ours. The inner server's own listener is closed.
	inner, err := spannertest.NewServer("127.0.0.1:0")
	if err != nil {
		lis.Close()
		return nil, spangate.Errorf(spangate.Internal, "start the Spanner fake: %w", err)
	}
	inner.SetLogger(func(format string, args ...any) {
		logger.Debug("spannertest: " + fmt.Sprintf(format, args...))
	})
	impl, err := fakeImplementation(inner)
	if err != nil {
		inner.Close()
		lis.Close()
		return nil, err
	}
	inner.Close() // stops the inner gRPC server; the implementation lives on

	f := &Fake{inner: inner, lis: lis, logger: logger}
	f.srv = grpc.NewServer(
		grpc.ChainUnaryInterceptor(f.recoverUnary),
		grpc.ChainStreamInterceptor(f.recoverStream),
	)
	databasepb.RegisterDatabaseAdminServer(f.srv, impl.(databasepb.DatabaseAdminServer))
	spannerpb.RegisterSpannerServer(f.srv, impl.(spannerpb.SpannerServer))
	longrunningpb.RegisterOperationsServer(f.srv, impl.(longrunningpb.OperationsServer))
	go f.srv.Serve(lis)
	logger.Info("spanner fake started", "addr", f.Addr())
	return f, nil
}

// fakeImplementation returns the unexported service implementation inside a
// spannertest.Server (its field s). This reaches into the pinned version's
// layout; if the layout changes the fallback fails cleanly with an error
// instead of misbehaving.
func fakeImplementation(s *spannertest.Server) (any, error) {
	fail := spangate.Errorf(spangate.Internal, "the spannertest fake in this build has an unexpected layout").
		WithHint("install the Cloud Spanner emulator instead: " + emulator.InstallHint)
	v := reflect.ValueOf(s).Elem().FieldByName("s")
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return nil, fail
	}
	impl := reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem().Interface()
	_, ok1 := impl.(databasepb.DatabaseAdminServer)
	_, ok2 := impl.(spannerpb.SpannerServer)
	_, ok3 := impl.(longrunningpb.OperationsServer)
	if !ok1 || !ok2 || !ok3 {
		return nil, fail
	}
	return impl, nil
}

// Addr returns the host:port the fake serves gRPC on, the value for
// SPANNER_EMULATOR_HOST.
func (f *Fake) Addr() string { return f.lis.Addr().String() }

// Stop stops serving: gracefully until ctx ends, then at once.
func (f *Fake) Stop(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		f.srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		f.srv.Stop()
		<-done
	}
	f.logger.Info("spanner fake stopped")
	return nil
}

func (f *Fake) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer f.recoverTo(info.FullMethod, &err)
	return handler(ctx, req)
}

func (f *Fake) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer f.recoverTo(info.FullMethod, &err)
	return handler(srv, ss)
}

// recoverTo turns a panic of the fake into a codes.Internal error in *err.
func (f *Fake) recoverTo(method string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	f.logger.Warn("spanner fake panicked; returning an error instead", "method", method, "panic", fmt.Sprint(r))
	f.logger.Debug("spanner fake panic stack", "method", method, "stack", string(debug.Stack()))
	*err = status.Errorf(codes.Internal, "the in-process Spanner fake cannot handle %s (it panicked: %v); the Cloud Spanner emulator can", method, r)
}
