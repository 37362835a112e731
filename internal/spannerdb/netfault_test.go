package spannerdb_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/spannerdb"
)

// TestNetworkCutsKeepChangeAndEntryTogether runs audited updates from two
// clients (two replicas) whose connections to the emulator go through a
// proxy that cuts them all every 5 to 35 ms and, every 300 ms, lets them
// go silent for longer than a call may take: statements and commits are
// cut off half way (the Spanner client retries those), or get no answer
// (the caller gets an error although the commit may have been applied).
// Read afterwards without the proxy, the database must show that no
// change happened without its entry or twice for one call: each counter
// was incremented exactly once per ok entry naming it, no call left two ok
// entries, every call reported done has its entry, and the chain verifies.
func TestNetworkCutsKeepChangeAndEntryTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds")
	}
	const counters, writers = 4, 6
	path := emulatortest.NewDatabase(t, "CREATE TABLE Counters (Id INT64 NOT NULL, N INT64 NOT NULL) PRIMARY KEY (Id)")
	check := openPath(t, path)
	for id := range counters {
		if _, err := check.Client().Apply(t.Context(), []*spanner.Mutation{
			spanner.Insert("Counters", []string{"Id", "N"}, []any{int64(id), int64(0)}),
		}); err != nil {
			t.Fatal(err)
		}
	}
	proxy := emulatortest.NewProxy(t, emulatortest.Host(), 0)
	// Count the commits that failed on the client's side of the proxy.
	var commitErrs atomic.Int64
	count := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err != nil && strings.HasSuffix(method, "/Commit") {
			commitErrs.Add(1)
		}
		return err
	})
	const callTimeout = 150 * time.Millisecond
	var dbs []*spannerdb.DB
	for range 2 {
		db, err := spannerdb.Open(t.Context(), path, spannerdb.Options{EmulatorHost: proxy.Addr(), CallTimeout: callTimeout,
			ClientOptions: []option.ClientOption{option.WithGRPCDialOption(count)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}

	// The faults run for at least 4 s, and on until they have reached the
	// work both ways (a commit cut off and a call failed) and some calls got
	// through. On a busy machine a call can outlast the gaps between cuts;
	// the gaps then widen, so the test does not depend on the machine's
	// speed. A minute is the hard stop.
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var (
		wg     sync.WaitGroup
		calls  atomic.Int64
		failed atomic.Int64
		slow   atomic.Int64 // calls of over 200 ms: a Spanner call retried after a cut
		mu     sync.Mutex
		done   = map[string]bool{}  // calls reported done, by call id
		errs   = map[string]error{} // the errors of the calls that failed
	)
	for w := range writers {
		wg.Go(func() {
			db := dbs[w%len(dbs)]
			for i := 0; ctx.Err() == nil; i++ {
				call := fmt.Sprintf("w%d-%d", w, i)
				e := actor("writer")
				e.Run.Build = call // names the call in its entry
				calls.Add(1)
				start := time.Now()
				_, _, err := db.ExecDML(context.Background(), "UPDATE Counters SET N = N + 1 WHERE Id = @id",
					map[string]any{"id": int64(i % counters)}, e)
				if time.Since(start) > 200*time.Millisecond {
					slow.Add(1)
				}
				if err != nil {
					failed.Add(1)
					mu.Lock()
					errs[call] = err
					mu.Unlock()
					continue
				}
				mu.Lock()
				done[call] = true
				mu.Unlock()
			}
		})
	}
	var cuts, cutConns, stalls int
	reached := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return commitErrs.Load() > 0 && failed.Load() > 0 && len(done) > 0
	}
	gap := 30 // the cuts' gap is 5 ms plus up to this many ms
	begin, lastDone := time.Now(), 0
	for lastStall := time.Now(); ; {
		elapsed := time.Since(begin)
		if elapsed > time.Minute || (elapsed > 4*time.Second && reached()) {
			break
		}
		time.Sleep(time.Duration(5+rand.IntN(gap)) * time.Millisecond)
		if time.Since(lastStall) > 300*time.Millisecond {
			stalls += proxy.Stall()
			time.Sleep(callTimeout + 50*time.Millisecond)
			lastStall = time.Now()
			mu.Lock()
			n := len(done)
			mu.Unlock()
			if n == lastDone && gap < 1000 {
				gap *= 2 // nothing got through since the last stall
			}
			lastDone = n
		}
		cutConns += proxy.Cut()
		cuts++
	}
	stop()
	wg.Wait()

	all := entries(t, check)
	okByCall := map[string]int{}
	okByRow := map[string]int64{}
	for _, e := range all {
		if e.Result != audit.ResultOK || e.Table != "Counters" {
			continue
		}
		okByCall[e.Run.Build]++
		for _, k := range e.Keys {
			okByRow[k]++
		}
	}
	for call, n := range okByCall {
		if n > 1 {
			t.Errorf("call %s has %d ok entries: its change was applied %d times", call, n, n)
		}
	}
	for call := range done {
		if okByCall[call] != 1 {
			t.Errorf("call %s was reported done but has %d ok entries", call, okByCall[call])
		}
	}
	// A call that failed although its change was made must have said that
	// the outcome is unknown, never that nothing was committed.
	for call, err := range errs {
		if okByCall[call] > 0 && !strings.Contains(err.Error(), "whether it was made is unknown") {
			t.Errorf("call %s was applied but failed with: %v", call, err)
		}
	}
	var applied int64
	for id := range counters {
		row, err := check.Client().Single().ReadRow(t.Context(), "Counters", spanner.Key{int64(id)}, []string{"N"})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := row.Columns(&n); err != nil {
			t.Fatal(err)
		}
		key := "[" + strconv.Itoa(id) + "]"
		if n != okByRow[key] {
			t.Errorf("counter %d is %d, but %d ok entries name it", id, n, okByRow[key])
		}
		applied += n
	}
	if r := verify(t, check); !r.OK {
		t.Errorf("verify = %+v", r)
	}
	var groups int64
	for _, db := range dbs {
		groups += db.AuditStats().Groups
	}
	t.Logf("%d calls: %d reported done, %d failed (%d of them applied), %d slowed by a retry, %d in groups; %d commits failed; %d cuts of %d connections, %d connections stalled; %d entries",
		calls.Load(), len(done), failed.Load(), applied-int64(len(done)), slow.Load(), groups, commitErrs.Load(), cuts, cutConns, stalls, len(all))
	// The faults must have reached both the Spanner client (commits cut
	// off or unanswered) and spangate's callers (calls that failed), or
	// the test proved nothing.
	if commitErrs.Load() == 0 || failed.Load() == 0 || len(done) == 0 {
		t.Errorf("%d commits failed, %d calls failed and %d were done: the faults did not reach the work", commitErrs.Load(), failed.Load(), len(done))
	}
}
