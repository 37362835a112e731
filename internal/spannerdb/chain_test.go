package spannerdb

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestDistrustWindow: each guess of the chain head that loses to another
// writer doubles how long the process then reads the head, from 1 s up to
// a minute; a guess that wins starts again from 1 s.
func TestDistrustWindow(t *testing.T) {
	db := &DB{chain: newChain()}
	settle := func(err error) bool {
		t.Helper()
		if !db.chain.tryAcquire() {
			t.Fatal("the turn was not given back")
		}
		ap := &appender{db: db, held: true, appended: true, usedCache: true, lastSeq: 9, lastHash: "h"}
		return ap.settle(err, true)
	}
	lose := func() time.Duration {
		t.Helper()
		start := time.Now()
		if !settle(status.Error(codes.AlreadyExists, "Table SpangateAudit: Row {Int64(9)} already exists.")) {
			t.Fatal("a lost guess did not run again")
		}
		return db.chain.distrusted.Sub(start)
	}
	check := func(want ...time.Duration) {
		t.Helper()
		for _, w := range want {
			if got := lose(); got < w || got > w+100*time.Millisecond {
				t.Errorf("distrust window %v, want %v", got, w)
			}
		}
	}
	check(time.Second, 2*time.Second, 4*time.Second, 8*time.Second, 16*time.Second, 32*time.Second, time.Minute, time.Minute)
	if settle(nil) {
		t.Fatal("a commit that won ran again")
	}
	if seq, _, ok := db.chain.head(time.Now().Add(2 * time.Minute)); !ok || seq != 9 {
		t.Errorf("after a won guess the head is %d, %v", seq, ok)
	}
	check(time.Second, 2*time.Second)
	if got := db.chain.stale.Load(); got != 10 {
		t.Errorf("%d stale heads counted, want 10", got)
	}
}
