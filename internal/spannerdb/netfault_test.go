package spannerdb_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/spannerdb"
)

// TestNetworkCutsKeepChangeAndEntryTogether runs audited updates from two
// clients (two replicas) whose connections to the emulator go through a
// proxy that cuts them all every 5 to 35 ms: statements and commits are
// cut off half way, the Spanner client retries them on a new connection,
// and a commit may even be applied though its caller saw an error. Read afterwards without the proxy, the database must show that
// no change happened without its entry or twice for one call: each
// counter was incremented exactly once per ok entry naming it, no call
// left two ok entries, every call reported done has its entry, and the
// chain verifies.
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
	var dbs []*spannerdb.DB
	for range 2 {
		db, err := spannerdb.Open(t.Context(), path, spannerdb.Options{EmulatorHost: proxy.Addr(), CallTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}

	ctx, stop := context.WithTimeout(t.Context(), 4*time.Second)
	defer stop()
	var (
		wg     sync.WaitGroup
		calls  atomic.Int64
		failed atomic.Int64
		slow   atomic.Int64 // calls of over 200 ms: a Spanner call retried after a cut
		mu     sync.Mutex
		done   = map[string]bool{} // calls reported done, by call id
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
					continue
				}
				mu.Lock()
				done[call] = true
				mu.Unlock()
			}
		})
	}
	var cuts, cutConns int
	for ctx.Err() == nil {
		time.Sleep(time.Duration(5+rand.IntN(30)) * time.Millisecond)
		cutConns += proxy.Cut()
		cuts++
	}
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
	t.Logf("%d calls: %d reported done, %d failed, %d slowed by a retry, %d applied, %d in groups; %d cuts of %d connections; %d entries",
		calls.Load(), len(done), failed.Load(), slow.Load(), applied, groups, cuts, cutConns, len(all))
	// The Spanner client retries a call cut off (after 250 ms), so a cut
	// that hit a call shows as a failed or a slow call.
	if failed.Load()+slow.Load() == 0 || len(done) == 0 {
		t.Errorf("%d calls failed, %d were slow and %d done: the cuts did not interrupt the work", failed.Load(), slow.Load(), len(done))
	}
}
