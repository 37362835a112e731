//go:build faults

package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/devoidc"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/spannerdb"
)

// The fault trials of issue 18, as a harness:
//
//	go test -tags faults -run Recovery ./cmd/spangate -recovery.trials 10 -v
//
// Each trial applies a history of schema operations (index backfills that
// take a while) and non-idempotent DML to a fresh database, kills a
// process with SIGKILL at a random moment of the apply, recovers the way
// an operator with only the CLI would (spangate migrate unlock --force,
// then apply again), and checks exactly-once: the counter the DML bumps,
// the schema, the history, one audit entry per DML statement and an intact
// audit chain. Three kinds of kill: the CLI in direct mode, the CLI in
// gateway mode (the gateway stops at the next step boundary), and the
// gateway itself.

var recoveryTrials = flag.Int("recovery.trials", 5, "kills per kind in TestRecoveryUnderKills")

// faultHistory returns the trial's migrations and the counter value a
// single clean apply leaves.
func faultHistory() (map[string]string, int) {
	files := map[string]string{
		"0001_tables.sql": `CREATE TABLE Counters (Id INT64 NOT NULL, N INT64 NOT NULL) PRIMARY KEY (Id);
CREATE TABLE Big (Id INT64 NOT NULL, A STRING(MAX), B INT64) PRIMARY KEY (Id);
CREATE TABLE Log (Id INT64 NOT NULL) PRIMARY KEY (Id);`,
		"0002_seed.sql": `INSERT INTO Counters (Id, N) VALUES (1, 0);
INSERT INTO Big (Id, A, B) SELECT x, CAST(x AS STRING), MOD(x, 97) FROM UNNEST(GENERATE_ARRAY(1, 3000)) AS x;`,
	}
	sum := 0
	for v := 3; v <= 22; v++ {
		name := fmt.Sprintf("%04d_step.sql", v)
		if v%4 == 0 {
			files[name] = fmt.Sprintf("CREATE INDEX BigBy%d ON Big (B, A);\nALTER TABLE Log ADD COLUMN C%d INT64;", v, v)
			continue
		}
		sum += v
		files[name] = fmt.Sprintf("UPDATE Counters SET N = N + %d WHERE Id = 1;\nINSERT INTO Log (Id) VALUES (%d);", v, v)
	}
	return files, sum
}

type faultRig struct {
	t       *testing.T
	bin     string
	dir     string // the migrations
	emuHost string
	iss     *devoidc.Issuer
	token   string
	want    int
}

func TestRecoveryUnderKills(t *testing.T) {
	host := emulatortest.StartDedicated(t)
	rig := &faultRig{t: t, emuHost: host, bin: filepath.Join(t.TempDir(), "spangate")}
	build := exec.Command("go", "build", "-o", rig.bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build spangate: %v\n%s", err, out)
	}
	files, want := faultHistory()
	rig.want = want
	rig.dir = writeMigrations(t, files)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	iss, err := devoidc.New(srv.URL+"/dev/oidc", devoidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(iss.MountPath(), iss.Handler())
	rig.iss = iss
	if rig.token, err = iss.Mint(spangate.ProviderGitHub, nil, "", time.Hour); err != nil {
		t.Fatal(err)
	}

	// A clean apply gives the span over which kills are spread.
	clean := emulatortest.NewDatabaseOn(t, host)
	start := time.Now()
	if out, code := rig.cli(clean, "", nil, "migrate", "apply"); code != 0 {
		t.Fatalf("clean apply: exit %d\n%s", code, out)
	}
	span := time.Since(start)
	if !rig.check(clean) {
		t.Fatal("the clean apply is not exactly once")
	}
	t.Logf("clean apply: %s", span.Round(time.Millisecond))

	for _, kind := range []string{"cli", "cli-via-gateway", "gateway"} {
		var midApply, finished, exact int
		for i := range *recoveryTrials {
			delay := time.Duration(rand.Int64N(int64(span)))
			path := emulatortest.NewDatabaseOn(t, host)
			if rig.trial(kind, path, delay) {
				midApply++
			} else {
				finished++
			}
			if rig.check(path) {
				exact++
			}
			t.Logf("%s trial %d: killed after %s", kind, i+1, delay.Round(time.Millisecond))
		}
		t.Logf("RESULT %s: %d kills (%d during the apply, %d after it had finished); exactly once after recovery: %d of %d",
			kind, midApply+finished, midApply, finished, exact, midApply+finished)
	}
}

// trial kills a process of kind after delay, recovers, and reports whether
// the kill landed before the apply had finished.
func (r *faultRig) trial(kind, path string, delay time.Duration) (midApply bool) {
	t := r.t
	var gw *gatewayProc
	gatewayURL := ""
	if kind != "cli" {
		gw = r.startGateway(path, "")
		gatewayURL = gw.url
	}
	var killed bool
	switch kind {
	case "cli", "cli-via-gateway":
		_, code := r.cli(path, gatewayURL, &delay, "migrate", "apply")
		killed = code == -1
	case "gateway":
		cmd := r.command(path, gatewayURL, "migrate", "apply")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cliDone := make(chan struct{})
		go func() { _ = cmd.Wait(); close(cliDone) }()
		time.Sleep(delay)
		select {
		case <-cliDone:
		default:
			killed = true
		}
		gw.kill()
		<-cliDone
		gw = r.startGateway(path, gw.addr)
	}
	if kind != "cli-via-gateway" {
		// The killed process cannot release the lock: break it. (The
		// gateway of cli-via-gateway is alive and releases it itself.)
		if out, code := r.cli(path, gatewayURL, nil, "migrate", "unlock", "--force"); code != 0 {
			t.Fatalf("%s: unlock --force: exit %d\n%s", kind, code, out)
		}
	}
	if out, code := r.cli(path, gatewayURL, nil, "migrate", "apply"); code != 0 {
		t.Fatalf("%s: apply after the kill: exit %d\n%s", kind, code, out)
	}
	if out, code := r.cli(path, gatewayURL, nil, "migrate", "apply", "--format", "json"); code != 0 || !strings.Contains(out, `"applied": []`) {
		t.Fatalf("%s: a further apply is not a no-op: exit %d\n%s", kind, code, out)
	}
	if gw != nil {
		gw.stop()
	}
	return killed
}

// command returns the spangate command line for path, through gatewayURL
// when it is set.
func (r *faultRig) command(path, gatewayURL string, args ...string) *exec.Cmd {
	args = append(args, "--dir", r.dir)
	cmd := exec.Command(r.bin, args...)
	cmd.Env = append(os.Environ(), "SPANNER_EMULATOR_HOST="+r.emuHost, "SPANGATE_DATABASE="+path, "CI=true")
	if gatewayURL != "" {
		cmd.Env = append(cmd.Env, "SPANGATE_URL="+gatewayURL, "SPANGATE_DATABASE=app", "SPANGATE_ID_TOKEN="+r.token)
	}
	return cmd
}

// cli runs spangate and returns its combined output and exit code; with
// killAfter it is killed (SIGKILL) after that long, and the code is -1
// when the kill ended it.
func (r *faultRig) cli(path, gatewayURL string, killAfter *time.Duration, args ...string) (string, int) {
	cmd := r.command(path, gatewayURL, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	if killAfter != nil {
		timer := time.AfterFunc(*killAfter, func() { _ = cmd.Process.Kill() })
		defer timer.Stop()
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return out.String(), -1
		}
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return out.String(), 0
}

type gatewayProc struct {
	cmd  *exec.Cmd
	addr string
	url  string
	done chan struct{}
}

// startGateway runs spangate serve for path on addr (a free port when
// empty) and waits until it answers.
func (r *faultRig) startGateway(path, addr string) *gatewayProc {
	t := r.t
	if addr == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
	}
	cfg := fmt.Sprintf(`listen: %s
session_keys:
  - id: k1
    secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
issuers:
  - name: dev
    url: %s
    audiences: [%s]
databases:
  app: %s
rules:
  - name: all
    when: issuer == "dev"
    databases: [app]
    allow: [plan, migrate, write, destructive, audit]
`, addr, r.iss.URL(), strings.Join(r.iss.Audiences(), ", "), path)
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(r.bin, "serve", "--config", file)
	cmd.Env = append(os.Environ(), "SPANNER_EMULATOR_HOST="+r.emuHost)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gatewayProc{cmd: cmd, addr: addr, url: "http://" + addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(g.done) }()
	t.Cleanup(g.stop)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		resp, err := http.Get(g.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			return g
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the gateway did not start: %v", err)
		case <-g.done:
			t.Fatal("the gateway exited at start")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL and reports whether the gateway was still running.
func (g *gatewayProc) kill() bool {
	select {
	case <-g.done:
		return false
	default:
	}
	_ = g.cmd.Process.Kill()
	<-g.done
	return true
}

func (g *gatewayProc) stop() {
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// check verifies exactly-once on the database at path.
func (r *faultRig) check(path string) (ok bool) {
	t := r.t
	ok = true
	fail := func(format string, args ...any) {
		t.Helper()
		ok = false
		t.Errorf(format, args...)
	}
	ctx := t.Context()
	db, err := spannerdb.Open(ctx, path, spannerdb.Options{EmulatorHost: r.emuHost})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	one := func(sql string) int64 {
		var n int64
		row, err := db.Client().Single().Query(ctx, spanner.NewStatement(sql)).Next()
		if err == nil {
			err = row.Columns(&n)
		}
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	if n := one("SELECT N FROM Counters WHERE Id = 1"); n != int64(r.want) {
		fail("%s: counter = %d, want %d (a DML step ran twice or not at all)", path, n, r.want)
	}
	if n := one("SELECT COUNT(*) FROM Big"); n != 3000 {
		fail("%s: Big has %d rows, want 3000", path, n)
	}
	ddl, err := db.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(ddl, "\n")
	for v := 4; v <= 22; v += 4 {
		if !strings.Contains(text, fmt.Sprintf("BigBy%d", v)) || !strings.Contains(text, fmt.Sprintf("C%d INT64", v)) {
			fail("%s: the schema lacks the objects of migration %d", path, v)
		}
	}
	hist, err := db.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hist {
		if h.State != "applied" {
			fail("%s: migration %d is %s", path, h.Version, h.State)
		}
	}
	if len(hist) != 22 {
		fail("%s: %d history rows, want 22", path, len(hist))
	}
	// One audit entry per DML statement that ran.
	it := db.Client().Single().Query(ctx, spanner.NewStatement(
		`SELECT Statement, COUNT(*) FROM SpangateAudit WHERE Result = 'ok' AND (STARTS_WITH(Statement, 'UPDATE Counters') OR STARTS_WITH(Statement, 'INSERT INTO Log')) GROUP BY Statement`))
	seen := 0
	err = it.Do(func(row *spanner.Row) error {
		var (
			stmt string
			n    int64
		)
		if err := row.Columns(&stmt, &n); err != nil {
			return err
		}
		seen++
		if n != 1 {
			fail("%s: %d audit entries for %q, want 1", path, n, stmt)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 30 {
		fail("%s: audit entries for %d DML statements, want 30", path, seen)
	}
	res, err := db.VerifyAudit(ctx)
	if err != nil || !res.OK {
		fail("%s: audit verify = %+v, %v", path, res, err)
	}
	return ok
}
