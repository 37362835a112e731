package gateway_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spangate/spangate/internal/emulator"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/spannerdb"
)

// outageEmulator is a dedicated emulator process on a fixed port, which
// the test stops, kills and starts again.
type outageEmulator struct {
	t    *testing.T
	path string // the emulator binary
	addr string
	proc *emulator.Process
}

func startOutageEmulator(t *testing.T) *outageEmulator {
	t.Helper()
	bin, err := emulator.Find("", os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	e := &outageEmulator{t: t, path: bin, addr: addr}
	e.start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		syscall.Kill(e.proc.Pid(), syscall.SIGCONT)
		e.proc.Stop(ctx)
	})
	// The Spanner data client prefers this variable to explicit endpoints.
	t.Setenv(emulatortest.EnvHost, addr)
	return e
}

func (e *outageEmulator) start() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := emulator.Start(ctx, emulator.Options{Path: e.path, Addr: e.addr})
	if err != nil {
		e.t.Fatal(err)
	}
	e.proc = p
	if err := emulator.CreateInstance(ctx, e.addr, emulatortest.Project, emulatortest.Instance); err != nil {
		e.t.Fatal(err)
	}
}

func (e *outageEmulator) signal(sig syscall.Signal) {
	e.t.Helper()
	if err := syscall.Kill(e.proc.Pid(), sig); err != nil {
		e.t.Fatal(err)
	}
}

func (e *outageEmulator) createDatabase(path string, ddl ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := emulator.CreateDatabase(ctx, e.addr, path, ddl); err != nil {
		e.t.Fatal(err)
	}
}

// readyz asks the admin listener's /readyz.
func readyz(t *testing.T, admin *client) (int, gateway.HealthResponse) {
	t.Helper()
	r := admin.get("/readyz")
	var h gateway.HealthResponse
	r.decode(t, &h)
	return r.status, h
}

// TestGatewayHealsAfterSpannerOutage is issue 18.2: under a running
// gateway the emulator process is stopped (SIGSTOP), continued, killed,
// and started again on the same port with its database re-created. /readyz
// tells the truth at each moment; while the port is closed requests fail
// at once with kind unavailable saying the connection was refused; once
// Spanner is back the gateway heals (new session, spangate's tables
// created again, a new audit chain) and serves writes with no restart.
func TestGatewayHealsAfterSpannerOutage(t *testing.T) {
	emu := startOutageEmulator(t)
	const ddl = "CREATE TABLE T (Id INT64 NOT NULL, N INT64) PRIMARY KEY (Id)"
	path := emulatortest.InstancePath + "/databases/" + emulatortest.DatabaseID(t.Name())
	emu.createDatabase(path, ddl)
	st := &stack{iss: newIssuer(t), path: path, host: emu.addr, logs: &syncBuffer{}}
	direct, err := spannerdb.Open(t.Context(), path, spannerdb.Options{EmulatorHost: emu.addr})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	st.direct = direct
	s := st.server(t, st.config(t, nil), nil)
	c := login(t, s.Handler(), st.iss.mint(t, repoAdmin, nil))
	admin := &client{t: t, h: s.AdminHandler()}

	wantStatus(t, "exec before the outage", exec(c, "INSERT INTO T (Id, N) VALUES (1, 1)", nil), http.StatusOK)
	if code, h := readyz(t, admin); code != http.StatusOK {
		t.Fatalf("readyz before the outage: %d %+v", code, h)
	}

	// Stopped: the probe's deadline passes; not ready.
	emu.signal(syscall.SIGSTOP)
	if code, h := readyz(t, admin); code != http.StatusServiceUnavailable || !strings.HasPrefix(h.Databases[testDB], "unavailable") {
		t.Errorf("readyz while Spanner is stopped: %d %+v, want 503 unavailable", code, h)
	}
	emu.signal(syscall.SIGCONT)
	if code, h := readyz(t, admin); code != http.StatusOK {
		t.Errorf("readyz once Spanner continues: %d %+v, want 200", code, h)
	}

	// Killed: the port is closed; requests fail at once, saying so.
	emu.signal(syscall.SIGKILL)
	<-emu.proc.Done()
	if code, h := readyz(t, admin); code != http.StatusServiceUnavailable || !strings.Contains(h.Databases[testDB], "refused the connection") {
		t.Errorf("readyz with the port closed: %d %+v, want 503 naming the refused connection", code, h)
	}
	r := exec(c, "INSERT INTO T (Id, N) VALUES (2, 1)", nil)
	if b := r.errBody(t); r.status != http.StatusServiceUnavailable || b.Code != "unavailable" || !strings.Contains(b.Message, "refused the connection") || b.Outcome != "" {
		t.Errorf("exec with the port closed: %d %+v; want 503 unavailable naming the refused connection, outcome known (nothing sent)", r.status, b)
	}

	// Started again on the same port, the database re-created empty.
	emu.start()
	emu.createDatabase(path, ddl)
	if code, h := readyz(t, admin); code != http.StatusOK {
		t.Errorf("readyz once Spanner is back: %d %+v, want 200 (healed)", code, h)
	}
	wantStatus(t, "exec after the outage", exec(c, "INSERT INTO T (Id, N) VALUES (3, 1)", nil), http.StatusOK)
	r = c.get("/v1/databases/" + testDB + "/audit")
	wantStatus(t, "audit list", r, http.StatusOK)
	var list gateway.AuditListResponse
	r.decode(t, &list)
	if len(list.Entries) != 1 || list.Entries[0].Seq != 1 {
		t.Errorf("audit after the re-creation: %+v; want one entry, seq 1 of a new chain", list.Entries)
	}
	if r := c.get("/v1/databases/" + testDB + "/audit:verify"); !strings.Contains(string(r.body), `"ok":true`) {
		t.Errorf("audit verify after the outage: %s", r.body)
	}
}
