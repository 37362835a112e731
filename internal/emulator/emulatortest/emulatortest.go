// Package emulatortest runs tests against the official Cloud Spanner
// emulator: one emulator per test binary, a fresh database per test.
//
// Use it from a package's TestMain:
//
//	func TestMain(m *testing.M) { emulatortest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		db := emulatortest.NewDatabase(t, "CREATE TABLE T (Id INT64) PRIMARY KEY (Id)")
//		client, err := spanner.NewClient(t.Context(), db) // reaches the emulator through SPANNER_EMULATOR_HOST
//		…
//	}
//
// Main starts the emulator on a free port and sets SPANNER_EMULATOR_HOST for
// the test binary, which is how the Spanner Go client finds it. When
// SPANNER_EMULATOR_HOST is already set, Main uses that emulator instead of
// starting one. When no emulator can be found, the tests fail with a hint
// on how to install it: they never skip silently.
//
// The emulator allows at most 100 databases per instance, so NewDatabase
// drops each database when its test ends.
package emulatortest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/emulator"
)

// The instance every test database lives in.
const (
	Project      = "spangate-test"
	Instance     = "test"
	InstancePath = "projects/" + Project + "/instances/" + Instance
)

// EnvHost is the environment variable the Spanner Go client reads to reach
// an emulator instead of Cloud Spanner.
const EnvHost = "SPANNER_EMULATOR_HOST"

// Main is the body of a package's TestMain. It makes sure an emulator is
// running (the one SPANNER_EMULATOR_HOST names, or one it starts), creates
// the instance, runs the tests, stops the emulator it started and exits
// with the tests' exit code. If no emulator can be found or started it
// prints why and how to fix it, and exits 1.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	host, stop, err := setUp()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: emulatortest: %v\n", err)
		if hint := spangate.HintOf(err); hint != "" {
			fmt.Fprintf(os.Stderr, "hint: %s\n", hint)
		}
		return 1
	}
	code := m.Run()
	if stop != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "emulatortest: stopping the emulator at %s: %v\n", host, err)
		}
	}
	return code
}

// setUp finds or starts the emulator and creates the test instance. stop is
// nil when the emulator was already running.
func setUp() (host string, stop func(context.Context) error, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if h, ok := os.LookupEnv(EnvHost); ok && h != "" {
		c, err := net.DialTimeout("tcp", h, 3*time.Second)
		if err != nil {
			return "", nil, spangate.Errorf(spangate.Unavailable, "%s=%s is set, but nothing accepts connections there: %w", EnvHost, h, err).
				WithHint("start that emulator, or unset " + EnvHost + " to let the tests start their own")
		}
		c.Close()
		if err := emulator.CreateInstance(ctx, h, Project, Instance); err != nil {
			return "", nil, fmt.Errorf("%s=%s is set, but creating the test instance there failed: %w", EnvHost, h, err)
		}
		return h, nil, nil
	}
	p, err := startEmulator(ctx)
	if err != nil {
		return "", nil, err
	}
	if err := os.Setenv(EnvHost, p.Addr()); err != nil {
		p.Stop(ctx)
		return "", nil, err
	}
	return p.Addr(), p.Stop, nil
}

// startEmulator finds the emulator, starts it on a free port and creates
// the test instance.
func startEmulator(ctx context.Context, extraArgs ...string) (*emulator.Process, error) {
	path, err := emulator.Find("", os.LookupEnv)
	if err != nil {
		return nil, err
	}
	p, err := emulator.Start(ctx, emulator.Options{Path: path, Addr: "127.0.0.1:0", ExtraArgs: extraArgs, Output: io.Discard})
	if err != nil {
		return nil, err
	}
	if err := emulator.CreateInstance(ctx, p.Addr(), Project, Instance); err != nil {
		p.Stop(ctx)
		return nil, err
	}
	return p, nil
}

// Host returns the host:port of the emulator the tests use, as set by Main
// in SPANNER_EMULATOR_HOST; "" when there is none.
func Host() string {
	return os.Getenv(EnvHost)
}

// NewDatabase creates a uniquely named database in InstancePath on the
// test binary's emulator, applies ddl to it, and returns its full path
// (projects/…/instances/…/databases/…). The database is dropped when the
// test ends. It fails the test if Main did not run.
func NewDatabase(t testing.TB, ddl ...string) string {
	t.Helper()
	host := Host()
	if host == "" {
		t.Fatalf("emulatortest: %s is not set; call emulatortest.Main(m) from TestMain", EnvHost)
	}
	return NewDatabaseOn(t, host, ddl...)
}

// NewDatabaseOn is NewDatabase on the emulator at host, such as one from
// StartDedicated. The instance InstancePath must exist there.
func NewDatabaseOn(t testing.TB, host string, ddl ...string) string {
	t.Helper()
	path := InstancePath + "/databases/" + DatabaseID(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := emulator.CreateDatabase(ctx, host, path, ddl); err != nil {
		t.Fatalf("emulatortest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := emulator.DropDatabase(ctx, host, path); err != nil {
			t.Errorf("emulatortest: %v", err)
		}
	})
	return path
}

// StartDedicated starts an emulator for this test only, with extraArgs
// (for example "--abort_current_transaction_probability=10", an integer
// percentage, or "--enable_fault_injection"), creates InstancePath on it and
// returns its host:port. It is stopped when the test ends.
//
// For the duration of the test it also points SPANNER_EMULATOR_HOST at the
// new emulator (with t.Setenv, so the test must not be parallel): the
// Spanner data client prefers that variable over explicit endpoint options,
// so this is the only way its clients reach the dedicated emulator.
// NewDatabase then creates databases there too.
func StartDedicated(t testing.TB, extraArgs ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := startEmulator(ctx, extraArgs...)
	if err != nil {
		t.Fatalf("emulatortest: %v (hint: %s)", err, spangate.HintOf(err))
	}
	t.Setenv(EnvHost, p.Addr())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Errorf("emulatortest: stop dedicated emulator: %v", err)
		}
	})
	return p.Addr()
}

// DatabaseID returns a fresh database ID derived from a test name: at most
// 30 characters of [a-z0-9_-], starting with a letter and ending with a
// random hex suffix, as Spanner requires.
func DatabaseID(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if b.Len() == 16 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9' && b.Len() > 0, (r == '_' || r == '-') && b.Len() > 0:
			b.WriteRune(r)
		case b.Len() > 0:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		b.WriteString("t")
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	return b.String() + "-" + hex.EncodeToString(rnd[:])
}
