package emulatortest_test

import (
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"

	"github.com/spangate/spangate/internal/emulator"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
)

// TestProxy reads through a proxy that holds traffic 5 ms each way: a read
// takes at least one 10 ms round trip, a cut closes the client's
// connections, and the next read works on new ones.
func TestProxy(t *testing.T) {
	db := emulatortest.NewDatabase(t, "CREATE TABLE T (Id INT64) PRIMARY KEY (Id)")
	p := emulatortest.NewProxy(t, emulatortest.Host(), 5*time.Millisecond)
	client, err := spanner.NewClient(t.Context(), db, emulator.ClientOptions(p.Addr())...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	read := func() time.Duration {
		t.Helper()
		start := time.Now()
		if _, err := client.Single().ReadRow(t.Context(), "T", spanner.Key{int64(1)}, []string{"Id"}); spanner.ErrCode(err) != codes.NotFound { // no such row
			t.Fatalf("read through the proxy: %v", err)
		}
		return time.Since(start)
	}
	read()
	if d := read(); d < 10*time.Millisecond {
		t.Errorf("a read through a proxy of 5 ms each way took %v", d)
	}
	if n := p.Cut(); n == 0 {
		t.Error("Cut found no open connection")
	}
	read()
}
