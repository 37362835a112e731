package spannerdb_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/spannerdb"
)

// rpcCounter counts the gRPC calls a client makes, by method.
type rpcCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *rpcCounter) add(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[method[strings.LastIndexByte(method, '/')+1:]]++
}

func (c *rpcCounter) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.n
	c.n = map[string]int{}
	return old
}

// openCounted opens path with a client whose calls are counted.
func openCounted(t *testing.T, path string) (*spannerdb.DB, *rpcCounter) {
	t.Helper()
	c := &rpcCounter{n: map[string]int{}}
	unary := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		c.add(method)
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	stream := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		c.add(method)
		return streamer(ctx, desc, cc, method, opts...)
	}
	db, err := spannerdb.Open(t.Context(), path, spannerdb.Options{ClientOptions: []option.ClientOption{
		option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(unary)),
		option.WithGRPCDialOption(grpc.WithChainStreamInterceptor(stream)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, c
}

// TestDMLFileRunsAsOneBatch: a file of 43 INSERTs (issue 13.7) runs as one
// ExecuteBatchDml in one commit with its 43 audit entries, each with the
// keys its statement wrote; a statement whose keys need THEN RETURN runs
// between two batches.
func TestDMLFileRunsAsOneBatch(t *testing.T) {
	path := emulatortest.NewDatabase(t)
	db, calls := openCounted(t, path)
	var seed strings.Builder
	for i := 1; i <= 43; i++ {
		fmt.Fprintf(&seed, "INSERT INTO Players (Id, Name, Score) VALUES (%d, 'p%d', %d);\n", i, i, i)
	}
	files := map[string]string{
		"0001_players.sql": "CREATE TABLE Players (Id INT64 NOT NULL, Name STRING(MAX), Score INT64) PRIMARY KEY (Id);",
		"0002_seed.sql":    seed.String(),
		"0003_mixed.sql": "INSERT INTO Players (Id, Name) VALUES (100, 'x');\nUPDATE Players SET Score = 0 WHERE Score > 40;\n" +
			"INSERT INTO Players (Id, Name) VALUES (101, 'y');\nDELETE FROM Players WHERE Id = 1;",
	}
	who := actor("deployer")
	who.Action = ""
	engine := func(set *migration.Set) *migration.Engine {
		return &migration.Engine{Locks: db, History: db.WithAudit(who, set.Files...), Schema: db, Partitioned: db,
			Holder: "test", LockTTL: 30 * time.Second, LockTimeout: 30 * time.Second}
	}
	first := readSet(t, map[string]string{"0001_players.sql": files["0001_players.sql"]})
	if _, err := engine(first).Apply(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	before := len(entries(t, db))
	calls.reset()
	set := readSet(t, files)
	res, err := engine(set).Apply(t.Context(), set)
	if err != nil {
		t.Fatal(err)
	}
	got := calls.reset()
	// 0002: one batch of 43. 0003: the first INSERT alone (ExecuteSql),
	// the UPDATE with THEN RETURN (streamed), a batch of the INSERT and
	// the DELETE.
	if got["ExecuteBatchDml"] != 2 || got["ExecuteSql"] != 1 {
		t.Errorf("calls = %v; want 2 ExecuteBatchDml and 1 ExecuteSql", got)
	}
	// One key lookup for the table (cached across the DML steps: no schema
	// change came between them), and the UPDATE's THEN RETURN.
	if got["ExecuteStreamingSql"] != 2 {
		t.Errorf("calls = %v; want 2 ExecuteStreamingSql", got)
	}
	if res.Statements != 47 {
		t.Errorf("statements = %d, want 47", res.Statements)
	}
	es := entries(t, db)[before:]
	if len(es) != 47 {
		t.Fatalf("%d audit entries, want 47 (one per DML statement)", len(es))
	}
	for i, e := range es[:43] {
		if e.Table != "Players" || e.Rows != 1 || len(e.Keys) != 1 || e.Keys[0] != fmt.Sprintf("[%d]", i+1) {
			t.Errorf("entry %d: table %q rows %d keys %v", i, e.Table, e.Rows, e.Keys)
		}
	}
	if upd := es[44]; upd.Rows != 3 || len(upd.Keys) != 3 || upd.KeysIncomplete {
		t.Errorf("the UPDATE's entry: rows %d keys %v", upd.Rows, upd.Keys)
	}
	if del := es[46]; del.Rows != 1 || len(del.Keys) != 1 || del.Keys[0] != "[1]" {
		t.Errorf("the DELETE's entry: rows %d keys %v", del.Rows, del.Keys)
	}
	if n := countRows(t, db, "SELECT COUNT(*) AS n FROM Players"); n != 44 {
		t.Errorf("%d players, want 44", n)
	}
	if r := verify(t, db); !r.OK {
		t.Errorf("verify = %+v", r)
	}
}

// TestDMLBatchFailureNamesTheStatement: when the 3rd statement of a batch
// fails, the apply's error names that statement's line, and nothing of the
// batch is applied.
func TestDMLBatchFailureNamesTheStatement(t *testing.T) {
	db, _ := openAudited(t)
	set := readSet(t, map[string]string{
		"0001_seed.sql": "INSERT INTO Tags (Name) VALUES ('a');\nINSERT INTO Tags (Name) VALUES ('b');\n" +
			"INSERT INTO Tags (Name) VALUES ('a');\nINSERT INTO Tags (Name) VALUES ('c');\n",
	})
	eng := &migration.Engine{Locks: db, History: db.WithAudit(actor("deployer"), set.Files...), Schema: db, Partitioned: db,
		Holder: "test", LockTTL: 30 * time.Second, LockTimeout: 30 * time.Second}
	_, err := eng.Apply(t.Context(), set)
	if err == nil || !strings.Contains(err.Error(), "0001_seed.sql:3: statement 3 of migration 1 failed") {
		t.Fatalf("apply: %v", err)
	}
	if n := countRows(t, db, "SELECT COUNT(*) AS n FROM Tags"); n != 0 {
		t.Errorf("%d tags committed; the failed run must leave none", n)
	}
	es := entries(t, db)
	if len(es) == 0 || es[len(es)-1].Result != audit.ResultFailed {
		t.Errorf("no failed entry recorded: %v", es)
	}
}

// TestRefusedBeforeStartIsKnown: the emulator answers Internal for some
// invalid statements before it starts an operation (issue 13.13). That is
// a refusal with nothing applied, not an unknown outcome to re-attach to.
func TestRefusedBeforeStartIsKnown(t *testing.T) {
	db, _ := openAudited(t)
	n, err := db.UpdateSchema(t.Context(), "spangate_refused", []string{
		"CREATE TABLE X1 (Id INT64 NOT NULL) PRIMARY KEY (Id)",
		"CREATE TABLE X2 (Id INT64 NOT NULL, X STRNG) PRIMARY KEY (Id)",
	})
	if n != 0 || !errors.Is(err, migration.ErrNotStarted) {
		t.Fatalf("UpdateSchema = %d, %v; want 0 applied and ErrNotStarted", n, err)
	}
	if _, err := db.AwaitOperation(t.Context(), "spangate_refused"); spangate.KindOf(err) != spangate.NotFound {
		t.Errorf("the refused batch left an operation: %v", err)
	}
}
