package emulator_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/emulator"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
)

func TestMain(m *testing.M) { emulatortest.Main(m) }

// emulatorPath finds the installed emulator or fails the test: tests never
// skip silently because it is missing.
func emulatorPath(t *testing.T) string {
	t.Helper()
	p, err := emulator.Find("", os.LookupEnv)
	if err != nil {
		t.Fatalf("%v\nhint: %s", err, spangate.HintOf(err))
	}
	return p
}

// gone reports whether no process with pid (or in its process group) is
// left.
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) && errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH)
}

// syncBuffer is a bytes.Buffer safe for the emulator's output goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStartStopLeavesNoProcess(t *testing.T) {
	var out syncBuffer
	start := time.Now()
	p, err := emulator.Start(t.Context(), emulator.Options{Path: emulatorPath(t), Addr: "127.0.0.1:0", Output: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("emulator ready at %s in %s", p.Addr(), time.Since(start).Round(time.Millisecond))
	if strings.HasSuffix(p.Addr(), ":0") {
		t.Fatalf("Addr() = %q; want the real port", p.Addr())
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("emulator not reachable at %s: %v", p.Addr(), err)
	}
	c.Close()
	if err := emulator.CreateInstance(t.Context(), p.Addr(), "proj", "inst"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Server address") {
		t.Errorf("emulator output not forwarded: %q", out.String())
	}

	pid := p.Pid()
	if err := p.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if err := p.Err(); err != nil {
		t.Errorf("Err after Stop = %v; want nil", err)
	}
	if !gone(pid) {
		t.Errorf("emulator pid %d still alive after Stop", pid)
	}
	if err := p.Stop(t.Context()); err != nil {
		t.Errorf("second Stop = %v", err)
	}
}

func TestStartFixedPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p, err := emulator.Start(t.Context(), emulator.Options{Path: emulatorPath(t), Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	if p.Addr() != addr {
		t.Errorf("Addr() = %q; want %q", p.Addr(), addr)
	}

	// A second emulator on the same port is refused with a clear error.
	_, err = emulator.Start(t.Context(), emulator.Options{Path: emulatorPath(t), Addr: addr})
	if err == nil || !strings.Contains(err.Error(), "not free") || spangate.KindOf(err) != spangate.Unavailable {
		t.Errorf("second Start on %s = %v; want an unavailable 'not free' error", addr, err)
	}
}

func TestStartFailureQuotesEmulatorOutput(t *testing.T) {
	_, err := emulator.Start(t.Context(), emulator.Options{
		Path:      emulatorPath(t),
		ExtraArgs: []string{"--abort_current_transaction_probability=0.1"}, // must be an integer
	})
	if err == nil {
		t.Fatal("Start with a bad flag succeeded")
	}
	if !strings.Contains(err.Error(), "exited during start") || !strings.Contains(err.Error(), "abort_current_transaction_probability") {
		t.Errorf("error does not explain the failure:\n%v", err)
	}
}

func TestCrashIsReported(t *testing.T) {
	p, err := emulator.Start(t.Context(), emulator.Options{Path: emulatorPath(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Err(); err != nil {
		t.Fatalf("Err while running = %v", err)
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after the emulator was killed")
	}
	err = p.Err()
	if err == nil || spangate.KindOf(err) != spangate.Unavailable || !strings.Contains(err.Error(), "exited unexpectedly") {
		t.Fatalf("Err after crash = %v; want an unavailable 'exited unexpectedly' error", err)
	}
	if err := p.Stop(t.Context()); err != nil {
		t.Errorf("Stop after crash = %v", err)
	}
	if p.Err() == nil {
		t.Error("Stop after a crash hid the crash")
	}
	if !gone(p.Pid()) {
		t.Errorf("pid %d still alive", p.Pid())
	}
}

func TestStartRespectsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := emulator.Start(ctx, emulator.Options{Path: emulatorPath(t)})
	if spangate.KindOf(err) != spangate.Canceled {
		t.Errorf("Start with a cancelled context = %v; want canceled", err)
	}
}
