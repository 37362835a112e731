package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/iterator"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/emulator"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/emulator/spannerfake"
)

// lockedBuffer is a bytes.Buffer safe to read while the command writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// devRun is a `spangate dev` running in the test process.
type devRun struct {
	stdout, stderr lockedBuffer
	cancel         context.CancelFunc
	done           chan error

	spannerHost string // from the export line
	database    string // from the export line
	httpAddr    string // from the banner
	adminAddr   string // from the banner
	pid         int    // of the emulator it started, 0 if none
}

var (
	exportHostLine = regexp.MustCompile(`(?m)^export SPANNER_EMULATOR_HOST=(\S+)$`)
	exportDBLine   = regexp.MustCompile(`(?m)^export SPANGATE_DATABASE=(\S+)$`)
	healthzURL     = regexp.MustCompile(`http://(\S+)/healthz`)
	adminURL       = regexp.MustCompile(`# Admin .*http://(\S+)/metrics`)
	emulatorPid    = regexp.MustCompile(`\(pid (\d+)\)`)
)

// startDev runs `spangate dev args…` like run() does, with the dev command
// built with find, and waits until it has printed its banner.
func startDev(t *testing.T, env map[string]string, find findFunc, args ...string) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	d := &devRun{cancel: cancel, done: make(chan error, 1)}
	lookupEnv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	go func() {
		a := newApp(lookupEnv, strings.NewReader(""), &d.stdout, &d.stderr)
		root := a.rootCommand()
		// Replace a registered dev command, so the test controls find.
		if c, _, err := root.Find([]string{"dev"}); err == nil && c != root {
			root.RemoveCommand(c)
		}
		root.AddCommand(a.newDevCommand(find))
		root.SetArgs(append([]string{"dev"}, args...))
		root.SetIn(strings.NewReader(""))
		root.SetOut(&d.stdout)
		root.SetErr(&d.stderr)
		d.done <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
			t.Error("spangate dev did not stop within 30s of cancellation")
		}
	})

	deadline := time.After(60 * time.Second)
	for !exportDBLine.MatchString(d.stdout.String()) {
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("spangate dev ended before printing its banner: %v\nstderr:\n%s", err, d.stderr.String())
		case <-deadline:
			t.Fatalf("spangate dev printed no banner within 60s\nstdout:\n%s\nstderr:\n%s", d.stdout.String(), d.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	out := d.stdout.String()
	d.spannerHost = exportHostLine.FindStringSubmatch(out)[1]
	d.database = exportDBLine.FindStringSubmatch(out)[1]
	if m := healthzURL.FindStringSubmatch(out); m != nil {
		d.httpAddr = m[1]
	}
	if m := adminURL.FindStringSubmatch(out); m != nil {
		d.adminAddr = m[1]
	}
	if m := emulatorPid.FindStringSubmatch(out); m != nil {
		d.pid, _ = strconv.Atoi(m[1])
	}
	return d
}

// startDevOnFake runs spangate dev as on a machine without the emulator,
// so it serves the in-process fallback, on free ports.
func startDevOnFake(t *testing.T) *devRun {
	t.Helper()
	notFound := func(string, func(string) (string, bool)) (string, error) {
		return "", spangate.Errorf(spangate.NotFound, "no emulator installed")
	}
	return startDev(t, map[string]string{"PATH": "/nonexistent"}, notFound, "--addr", "127.0.0.1:0", "--spanner-addr", "127.0.0.1:0")
}

// stop cancels the command's context and returns its error.
func (d *devRun) stop(t *testing.T) error {
	t.Helper()
	d.cancel()
	select {
	case err := <-d.done:
		d.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("spangate dev did not stop within 30s of cancellation")
		return nil
	}
}

// querySelectOne runs SELECT 1 on db through the real Spanner client.
func querySelectOne(t *testing.T, host, db string) {
	t.Helper()
	t.Setenv("SPANNER_EMULATOR_HOST", host)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	client, err := spanner.NewClient(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	it := client.Single().Query(ctx, spanner.Statement{SQL: "SELECT 1"})
	defer it.Stop()
	row, err := it.Next()
	if err != nil {
		t.Fatalf("SELECT 1 on %s: %v", db, err)
	}
	var one int64
	if err := row.Columns(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	if _, err := it.Next(); !errors.Is(err, iterator.Done) {
		t.Fatalf("SELECT 1 returned more rows: %v", err)
	}
}

func getHealthz(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// processGone reports whether neither pid nor its process group is left.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) && errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH)
}

func refusesConnections(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err != nil
}

func TestDevStartsEmulator(t *testing.T) {
	start := time.Now()
	d := startDev(t, map[string]string{"PATH": "/usr/bin:/bin"}, emulator.Find,
		"--addr", "127.0.0.1:0", "--spanner-addr", "127.0.0.1:0")
	t.Logf("spangate dev ready in %s", time.Since(start).Round(time.Millisecond))

	if strings.HasSuffix(d.spannerHost, ":0") || strings.HasSuffix(d.httpAddr, ":0") || d.httpAddr == "" {
		t.Fatalf("banner shows spanner %q, http %q; want the real ports\n%s", d.spannerHost, d.httpAddr, d.stdout.String())
	}
	if d.database != devDatabase {
		t.Errorf("SPANGATE_DATABASE = %q; want %q", d.database, devDatabase)
	}
	out := d.stdout.String()
	t.Logf("stdout:\n%s", out)
	for _, want := range []string{"gone when spangate dev exits", "spangate migrate plan --dir migrations", "spangate migrate apply --dir migrations"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "export ") {
			t.Errorf("stdout line is neither a comment nor an export, so it cannot be pasted: %q", line)
		}
	}
	if d.pid == 0 {
		t.Fatalf("banner shows no emulator pid:\n%s", out)
	}

	querySelectOne(t, d.spannerHost, d.database)
	if code := getHealthz(t, d.httpAddr); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	// The dev OIDC issuer is served, and the banner says how to use it and
	// where the dev policy is.
	resp, err := http.Get("http://" + d.httpAddr + "/dev/oidc/.well-known/openid-configuration")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("dev issuer discovery: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	policyFile := regexp.MustCompile(`# Policy: (\S+) trusts the dev issuer`).FindStringSubmatch(out)
	if policyFile == nil || !strings.Contains(out, "spangate dev token --gateway http://"+d.httpAddr) {
		t.Fatalf("banner lacks the policy file or the token command:\n%s", out)
	}
	if _, err := os.Stat(policyFile[1]); err != nil {
		t.Errorf("dev policy file: %v", err)
	}

	if err := d.stop(t); err != nil {
		t.Fatalf("spangate dev after cancel = %v; want nil\nstderr:\n%s", err, d.stderr.String())
	}
	if !processGone(d.pid) {
		t.Errorf("emulator pid %d left running", d.pid)
	}
	if _, err := os.Stat(policyFile[1]); !os.IsNotExist(err) {
		t.Errorf("dev policy file %s left behind (%v)", policyFile[1], err)
	}
	if !refusesConnections(d.spannerHost) || !refusesConnections(d.httpAddr) {
		t.Error("spanner or HTTP port still accepts connections after exit")
	}
	if !strings.Contains(d.stderr.String(), "emulator stopped") {
		t.Errorf("stderr does not log the emulator stopping:\n%s", d.stderr.String())
	}
}

func TestDevReportsEmulatorCrash(t *testing.T) {
	d := startDev(t, nil, emulator.Find, "--addr", "127.0.0.1:0", "--spanner-addr", "127.0.0.1:0")
	if err := syscall.Kill(d.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-d.done:
		d.done <- err
	case <-time.After(15 * time.Second):
		t.Fatal("spangate dev kept running after its emulator died")
	}
	if spangate.KindOf(err) != spangate.Unavailable || exitCode(err) != exitFailed || !strings.Contains(err.Error(), "exited unexpectedly") {
		t.Errorf("error = %v (exit %d); want an unavailable 'exited unexpectedly' error, exit 1", err, exitCode(err))
	}
	if !refusesConnections(d.httpAddr) {
		t.Error("HTTP server still serving after the emulator crashed")
	}
}

func TestDevUsesSpannerEmulatorHost(t *testing.T) {
	host := emulatortest.StartDedicated(t)
	env := map[string]string{"SPANNER_EMULATOR_HOST": host}
	notCalled := func(string, func(string) (string, bool)) (string, error) {
		t.Error("dev looked for an emulator binary although SPANNER_EMULATOR_HOST is set")
		return "", errors.New("not called")
	}

	for i, want := range []string{"spangate did not start one", "existed already"} {
		d := startDev(t, env, notCalled, "--addr", "127.0.0.1:0")
		if d.spannerHost != host || d.pid != 0 {
			t.Errorf("run %d: exported host %q, pid %d; want %q and no emulator started", i, d.spannerHost, d.pid, host)
		}
		if !strings.Contains(d.stdout.String(), want) {
			t.Errorf("run %d: stdout lacks %q:\n%s", i, want, d.stdout.String())
		}
		querySelectOne(t, d.spannerHost, d.database)
		if err := d.stop(t); err != nil {
			t.Fatal(err)
		}
		if refusesConnections(host) {
			t.Fatalf("run %d: the external emulator was stopped", i)
		}
	}
}

func TestDevFallsBackToFake(t *testing.T) {
	notInstalled := func(string, func(string) (string, bool)) (string, error) {
		return "", spangate.Errorf(spangate.NotFound, "emulator_main not found").WithHint(emulator.InstallHint)
	}
	d := startDev(t, nil, notInstalled, "--addr", "127.0.0.1:0", "--spanner-addr", "127.0.0.1:0")
	out := d.stdout.String()
	if !strings.Contains(out, "NOT real") {
		t.Errorf("stdout does not say which guarantees are not real:\n%s", out)
	}
	for _, l := range spannerfake.Limitations() {
		if !strings.Contains(out, l) {
			t.Errorf("stdout lacks the limitation %q", l)
		}
	}
	querySelectOne(t, d.spannerHost, d.database)
	if err := d.stop(t); err != nil {
		t.Fatal(err)
	}
	if !refusesConnections(d.spannerHost) {
		t.Error("the fake still serves after exit")
	}
}

func TestDevRefusesNamedButMissingEmulator(t *testing.T) {
	a := newApp(func(string) (string, bool) { return "", false }, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	err := a.runDev(t.Context(), devOptions{addr: "127.0.0.1:0", spannerAddr: "127.0.0.1:0", emulatorPath: t.TempDir() + "/nope"}, emulator.Find)
	if spangate.KindOf(err) != spangate.NotFound || spangate.HintOf(err) == "" {
		t.Errorf("dev with a missing --emulator = %v; want not found with a hint (no fallback to the fake)", err)
	}
}

func TestDevAddrInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a := newApp(func(string) (string, bool) { return "", false }, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	started := false
	find := func(string, func(string) (string, bool)) (string, error) {
		started = true
		return "", errors.New("must not get here")
	}
	err = a.runDev(t.Context(), devOptions{addr: l.Addr().String(), spannerAddr: "127.0.0.1:0"}, find)
	if spangate.KindOf(err) != spangate.Unavailable || started {
		t.Errorf("dev on a taken --addr = %v (emulator looked for: %v); want unavailable before any emulator", err, started)
	}
}

// TestDevConfigExplainAcceptsDevTokens: with --config, the policy explain
// line dev suggests works as printed with a dev token: its config file is
// the effective one, the user's rules with the dev issuer added, and the
// user's own file is left as it was.
func TestDevConfigExplainAcceptsDevTokens(t *testing.T) {
	user := filepath.Join(t.TempDir(), "policy.yaml")
	const text = `# the team's policy
issuers:
  - name: ci
    url: https://token.actions.githubusercontent.com
    audiences: [spangate]
databases:
  orders: projects/p/instances/i/databases/orders
rules:
  - name: dev-read
    when: issuer == "dev"
    databases: ["*"]
    allow: [read]
`
	if err := os.WriteFile(user, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	notFound := func(string, func(string) (string, bool)) (string, error) {
		return "", spangate.Errorf(spangate.NotFound, "no emulator installed")
	}
	d := startDev(t, map[string]string{"PATH": "/nonexistent"}, notFound, "--addr", "127.0.0.1:0", "--spanner-addr", "127.0.0.1:0", "--config", user)
	m := regexp.MustCompile(`spangate policy explain --config (\S+) --token FILE`).FindStringSubmatch(d.stdout.String())
	if m == nil {
		t.Fatalf("banner suggests no policy explain line:\n%s", d.stdout.String())
	}
	tok, stderr, code := cli(t, map[string]string{}, "dev", "token", "--gateway", "http://"+d.httpAddr, "--provider", "github")
	if code != 0 {
		t.Fatalf("dev token: %d %s", code, stderr)
	}
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(strings.TrimSpace(tok)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runPolicy(t, "explain", "--config", m[1], "--token", tokFile, "--database", "dev", "--action", "read", "--format", "json")
	if code != 0 || !strings.Contains(out, `"decision": "allow"`) || !strings.Contains(out, "dev-read") {
		t.Fatalf("the suggested explain: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(user); err != nil || string(b) != text {
		t.Errorf("the user's config was changed: %v\n%s", err, b)
	}
}
