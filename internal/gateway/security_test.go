package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/config"
	"github.com/spangate/spangate/internal/gateway"
)

// deepSelect is SELECT 1 in n parentheses: 100,000 of them took memefish
// minutes of CPU, past the request timeout and after the client left.
func deepSelect(n int) string {
	return "SELECT " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n)
}

// countingOpener counts the databases a gateway opens.
type countingOpener struct {
	gateway.Opener
	opens atomic.Int64
}

func (o *countingOpener) Open(ctx context.Context, name string) (gateway.Database, error) {
	o.opens.Add(1)
	return o.Opener.Open(ctx, name)
}

// TestDeepStatementsAreNotParsed: a statement nested 30,000 and 100,000
// deep is refused before the parser sees it. A caller with no right on
// the database is refused before its body is read and nothing is opened;
// one with a right but none to run statements is refused unparsed; a
// reader is refused by the depth limit, with a message naming it and its
// config key. Without the checks each request parses for seconds to
// minutes (and this test times out).
func TestDeepStatementsAreNotParsed(t *testing.T) {
	st := newStack(t)
	cfg := st.config(t, func(c *config.Config) { c.Limits.MaxBodyBytes = 8 << 20 })
	deps := st.deps(t, cfg, nil)
	opener := &countingOpener{Opener: st.databases(t, deps.Logger)}
	deps.Databases = opener
	s, err := gateway.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	nobody := login(t, h, st.iss.mint(t, repoNobody, nil))
	planner := login(t, h, st.iss.mint(t, repoPlanner, nil))
	writer := login(t, h, st.iss.mint(t, repoWriter, nil))

	for _, depth := range []int{30000, 100000} {
		r := exec(nobody, deepSelect(depth), nil)
		wantStatus(t, "no rights", r, http.StatusForbidden)
		if e := r.errBody(t); !strings.Contains(e.Message, `no right on database "app"`) {
			t.Errorf("depth %d, no rights: %+v; want the refusal made before the body is read", depth, e)
		}
	}
	if n := opener.opens.Load(); n != 0 {
		t.Fatalf("a caller with no right made the gateway open the database %d times", n)
	}
	for _, depth := range []int{30000, 100000} {
		sql := deepSelect(depth)
		r := exec(planner, sql, nil)
		wantStatus(t, "no statement rights", r, http.StatusForbidden)
		if e := r.errBody(t); !strings.Contains(e.Message, "needs one of read, write, ddl, destructive") {
			t.Errorf("depth %d, plan only: %+v; want the refusal made before the statement is parsed", depth, e)
		}

		r = exec(writer, sql, nil)
		wantStatus(t, "reader", r, http.StatusBadRequest)
		e := r.errBody(t)
		for _, want := range []string{"more than 200 deep", "limits.max_statement_depth", "not parsed"} {
			if !strings.Contains(e.Message, want) {
				t.Errorf("depth %d, reader: message %q lacks %q", depth, e.Message, want)
			}
		}
		if !strings.Contains(e.Hint, "limits.max_statement_depth") {
			t.Errorf("hint %q does not name the setting", e.Hint)
		}
	}

	// The length limit, and the same limits on migration files.
	long := "SELECT 1" + strings.Repeat(" + 1", (1<<20)/4)
	e := exec(writer, long, nil).errBody(t)
	if !strings.Contains(e.Message, "limits.max_statement_bytes") || !strings.Contains(e.Message, "bytes long") {
		t.Errorf("long statement: %+v", e)
	}
	admin := login(t, h, st.iss.mint(t, repoAdmin, nil))
	r := admin.post("/v1/databases/"+testDB+"/migrations:plan", migrations("0001_deep.sql", "CREATE TABLE A (Id INT64) PRIMARY KEY (Id);\n"+deepSelect(100000)))
	wantStatus(t, "deep migration", r, http.StatusBadRequest)
	if e := r.errBody(t); !strings.Contains(e.Message, "0001_deep.sql: line 2") || !strings.Contains(e.Message, "limits.max_statement_depth") {
		t.Errorf("deep migration: %+v", e)
	}

	// Real SQL within the limits still runs.
	wantStatus(t, "nested within the limit", exec(writer, deepSelect(50), nil), http.StatusOK)
}

// TestUnknownAndForbiddenDatabasesAnswerAlike: a caller cannot tell a
// database it may not use from one that does not exist, nothing is opened
// for it, and no answer names a database's path.
func TestUnknownAndForbiddenDatabasesAnswerAlike(t *testing.T) {
	st := newStack(t)
	cfg := st.config(t, nil)
	deps := st.deps(t, cfg, nil)
	opener := &countingOpener{Opener: st.databases(t, deps.Logger)}
	deps.Databases = opener
	s, err := gateway.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	nobody := login(t, s.Handler(), st.iss.mint(t, repoNobody, nil))
	shape := func(r response, name string) string {
		e := r.errBody(t)
		if strings.Contains(string(r.body), "projects/") {
			t.Errorf("the answer names a database path: %s", r.body)
		}
		msg := strings.ReplaceAll(e.Message, e.Reference, "REF")
		return fmt.Sprintf("%d %s %s %s", r.status, e.Code, strings.ReplaceAll(msg, name, "DB"), e.Hint)
	}
	for _, call := range []func(db string) response{
		func(db string) response { return nobody.get("/v1/databases/" + db + "/migrations") },
		func(db string) response { return nobody.get("/v1/databases/" + db + "/audit") },
		func(db string) response { return nobody.get("/v1/databases/" + db + "/audit:verify") },
		func(db string) response {
			return nobody.post("/v1/databases/"+db+"/migrations:plan", migrations(createOrders, ordersDDL))
		},
		func(db string) response {
			return nobody.post("/v1/databases/"+db+"/migrations:apply", migrations(createOrders, ordersDDL))
		},
		func(db string) response {
			return nobody.post("/v1/databases/"+db+":exec", map[string]any{"sql": "SELECT 1"})
		},
	} {
		known, unknown := shape(call(testDB), testDB), shape(call("nope"), "nope")
		if known != unknown {
			t.Errorf("a configured database answers\n  %s\nand an unknown one\n  %s", known, unknown)
		}
	}
	if n := opener.opens.Load(); n != 0 {
		t.Errorf("the gateway opened a database %d times for a caller with no right on it", n)
	}
}

// TestDenialFlood: denied requests are recorded compactly (a prefix and
// the statement's hash, not the statement) and, past the deny budget of a
// principal or of a client address, answered 429 and not recorded at all.
func TestDenialFlood(t *testing.T) {
	st := newStack(t)
	clk := newClock()
	const burst = 4
	h := st.server(t, st.config(t, func(c *config.Config) {
		c.Limits.DenyRate = 1
		c.Limits.DenyBurst = burst
		c.Limits.MaxBodyBytes = 8 << 20
	}), clk.now).Handler()
	planner := login(t, h, st.iss.mint(t, repoPlanner, nil))
	writer := login(t, h, st.iss.mint(t, repoWriter, nil))

	big := "SELECT '" + strings.Repeat("x", 900<<10) + "'"
	statuses := map[int]int{}
	for range 3 * burst {
		r := exec(planner, big, nil)
		statuses[r.status]++
		if r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	if statuses[http.StatusForbidden] != burst || statuses[http.StatusTooManyRequests] != 2*burst {
		t.Errorf("statuses %v; want %d denials then 429", statuses, burst)
	}
	// The address's budget is spent too: another principal from it is
	// refused the same way.
	wantStatus(t, "another principal, same address", exec(writer, "CREATE TABLE X (Id INT64) PRIMARY KEY (Id)", nil), http.StatusTooManyRequests)
	// The budgets refill.
	clk.advance(time.Minute)
	wantStatus(t, "after a minute", exec(writer, "CREATE TABLE X (Id INT64) PRIMARY KEY (Id)", nil), http.StatusForbidden)

	var denied, bytes int
	if err := st.direct.ScanAudit(t.Context(), func(e audit.Entry) error {
		if e.Result == audit.ResultDenied {
			denied++
			bytes += len(e.Statement) + len(e.Reason)
			if len(e.Statement) > 512 || !strings.Contains(e.Statement, "sha256:") && len(e.Statement) > 256 {
				t.Errorf("denial recorded %d bytes of statement: %.300s", len(e.Statement), e.Statement)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if denied != burst+1 || bytes > (burst+1)*1024 {
		t.Errorf("%d denied entries, %d bytes; want %d entries of under 1 KiB", denied, bytes, burst+1)
	}
}

// TestReportedCommitMustMatchToken: the commit a CI job reports is
// recorded next to the token's own sha claim, and a report that
// contradicts the token is refused, at the exchange and on every request.
func TestReportedCommitMustMatchToken(t *testing.T) {
	st := newStack(t)
	h := st.server(t, st.config(t, nil), nil).Handler()
	const sha = "0123456789abcdef0123456789abcdef01234567"
	tok := st.iss.mint(t, repoAdmin, map[string]string{"sha": sha})

	liar := &client{t: t, h: h, run: spangate.RunMetadata{Commit: "feedfacefeedfacefeedfacefeedfacefeedface"}}
	r := liar.exchange(tok)
	wantStatus(t, "exchange with a false commit", r, http.StatusBadRequest)
	if e := r.errBody(t); !strings.Contains(e.Message, "contradicts") || !strings.Contains(e.Message, sha) {
		t.Errorf("refusal: %+v", e)
	}
	c := login(t, h, tok)
	c.run = spangate.RunMetadata{Commit: "feedfacefeedfacefeedfacefeedfacefeedface", Actor: "someone-else"}
	wantStatus(t, "request with a false commit", exec(c, "SELECT 1", nil), http.StatusBadRequest)

	c.run = spangate.RunMetadata{Commit: strings.ToUpper(sha), Actor: "reported-actor"}
	wantStatus(t, "request with the token's commit", exec(c, "SELECT 1", nil), http.StatusOK)
	entries, err := st.direct.ListAudit(t.Context(), audit.Filter{Limit: 1})
	if err != nil || len(entries) != 1 {
		t.Fatal(err, entries)
	}
	if e := entries[0]; e.Attributes["sha"] != sha || e.Run.Commit != strings.ToUpper(sha) || e.Run.Actor != "reported-actor" || e.Attributes["actor"] == "" {
		t.Errorf("entry records claims %v and report %+v; want both, apart", e.Attributes, e.Run)
	}
}

// TestChangesCarryTheChainHead: every change's answer and log line carry
// the audit chain's head after it, which anchors a later verify.
func TestChangesCarryTheChainHead(t *testing.T) {
	st := newStack(t)
	h := st.server(t, st.config(t, nil), nil).Handler()
	c := login(t, h, st.iss.mint(t, repoAdmin, nil))
	r, lines := applyLines(t, c, migrations(createOrders, ordersDDL))
	wantStatus(t, "apply", r, 200)
	last := lines[len(lines)-1]
	if head, _ := last["audit_head"].(string); head == "" {
		t.Errorf("apply result has no audit_head: %v", last)
	}
	r = exec(c, "INSERT INTO Orders (Id, Note) VALUES (7, 'x')", nil)
	wantStatus(t, "insert", r, 200)
	var resp gateway.ExecResponse
	r.decode(t, &resp)
	head := r.header.Get(gateway.HeaderAuditHead)
	if head == "" || resp.AuditHead != head {
		t.Fatalf("exec answer: header %q, body %q; want the chain head in both", head, resp.AuditHead)
	}
	if line := logLine(t, st.logs.String(), r.header.Get(gateway.HeaderRequestID)); !strings.Contains(line, `"audit_head":"`+head+`"`) {
		t.Errorf("log line lacks the head %s: %s", head, line)
	}
	a, err := audit.ParseAnchor(head)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := st.direct.ListAudit(t.Context(), audit.Filter{Limit: 1})
	if err != nil || entries[0].Seq != a.Seq || entries[0].Hash != a.Hash {
		t.Errorf("head %s is not the newest entry %+v (%v)", head, entries, err)
	}
	if r := exec(c, "SELECT 1", nil); r.header.Get(gateway.HeaderAuditHead) != "" {
		t.Errorf("a query's answer carries a head")
	}
	wantStatus(t, "verify with the anchor", c.get("/v1/databases/"+testDB+"/audit:verify?anchor="+head), 200)
}

// TestSlowClients: one client address holds at most
// limits.max_conns_per_client connections (the next is closed when it is
// accepted, and a slot is freed when one closes), and a request body that
// does not arrive within limits.body_timeout is answered 408 and its
// connection closed. Without the bounds the slow connections stay open and
// the reads below stop at their guard deadline.
func TestSlowClients(t *testing.T) {
	st := &stack{iss: newIssuer(t), path: "projects/p/instances/i/databases/d", logs: &syncBuffer{}}
	serve := func(edit func(*config.Config), perAddr int) (string, chan struct{}) {
		cfg := st.config(t, edit)
		deps := st.deps(t, cfg, nil)
		deps.Databases = openerOf{}
		s, err := gateway.New(cfg, deps)
		if err != nil {
			t.Fatal(err)
		}
		refused := make(chan struct{}, 16)
		srv := httptest.NewUnstartedServer(s.Handler())
		srv.Listener = gateway.LimitConnsPerClient(srv.Listener, perAddr, func(string) { refused <- struct{}{} })
		srv.Start()
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String(), refused
	}
	// slowToken opens a connection and sends a token exchange whose body
	// stops after its first byte.
	slowToken := func(addr string) net.Conn {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST /v1/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ng")
		return conn
	}
	// answer reads what the server sends back, with a guard deadline so a
	// missing bound fails the test instead of hanging it.
	answer := func(conn net.Conn) (*http.Response, error) {
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		return http.ReadResponse(bufio.NewReader(conn), nil)
	}

	// The connection bound: 3 slow connections are held, the 4th closed.
	addr, refused := serve(func(c *config.Config) { c.Limits.BodyTimeout = time.Hour }, 3)
	held := []net.Conn{slowToken(addr), slowToken(addr), slowToken(addr)}
	extra := slowToken(addr)
	if _, err := answer(extra); err == nil {
		t.Fatal("a 4th connection from one address was served")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the 4th connection was neither served nor closed")
	}
	<-refused
	// Closing one frees its slot once the server has seen it close.
	held[0].Close()
	served := false
	for range 200 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := answer(conn)
		conn.Close()
		if err == nil && resp.StatusCode == 200 {
			served = true
			break
		}
		<-refused
		time.Sleep(10 * time.Millisecond)
	}
	if !served {
		t.Fatal("a freed slot was never given to a new connection")
	}

	// The body deadline: a body that stalls is answered 408.
	addr, _ = serve(func(c *config.Config) { c.Limits.BodyTimeout = 100 * time.Millisecond }, 0)
	for range 3 {
		resp, err := answer(slowToken(addr))
		if err != nil {
			t.Fatalf("a stalled body got no answer: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "limits.body_timeout") {
			t.Errorf("stalled body: %d %s", resp.StatusCode, body)
		}
	}
}

// missingDatabase is a database Spanner does not know: its errors quote
// the database's full path.
type missingDatabase struct {
	gateway.Database
	path string
}

func (m missingDatabase) Query(context.Context, string, map[string]any, int) ([]map[string]any, error) {
	return nil, spangate.Errorf(spangate.NotFound, "run the query: %w", status.Errorf(codes.NotFound, "Database not found: %s", m.path))
}

func (m missingDatabase) AppendAudit(_ context.Context, e audit.Entry) (audit.Entry, error) {
	return e, nil
}

// TestAnswersNameNoPath: an error that quotes a database's full path
// reaches the caller with the logical name in its place.
func TestAnswersNameNoPath(t *testing.T) {
	st := &stack{iss: newIssuer(t), path: "projects/p/instances/i/databases/secret-name", logs: &syncBuffer{}}
	cfg := st.config(t, nil)
	deps := st.deps(t, cfg, nil)
	deps.Databases = openerOf{missingDatabase{path: st.path}}
	s, err := gateway.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	c := login(t, s.Handler(), st.iss.mint(t, repoAdmin, nil))
	r := exec(c, "SELECT 1", nil)
	wantStatus(t, "query of a missing database", r, http.StatusNotFound)
	if strings.Contains(string(r.body), "projects/") || !strings.Contains(r.errBody(t).Message, "Database not found: "+testDB) {
		t.Errorf("answer: %s; want the logical name in place of the path", r.body)
	}
}
