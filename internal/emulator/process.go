package emulator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spangate/spangate"
)

// DefaultStartTimeout bounds how long Start waits for the emulator's gRPC
// port when Options.StartTimeout is zero. The emulator usually needs about a
// second.
const DefaultStartTimeout = 30 * time.Second

// DefaultStopGrace is how long Stop waits after SIGTERM before it sends
// SIGKILL, when Options.StopGrace is zero.
const DefaultStopGrace = 5 * time.Second

// outputTail is how much of the emulator's own output is kept to explain a
// failed start or a crash.
const outputTail = 4 << 10

// serverAddressMarker precedes the bound address in the emulator's log; it is
// how Start learns the real port when asked for port 0.
const serverAddressMarker = "Server address: "

// Options configures Start.
type Options struct {
	// Path is the emulator binary, usually from Find.
	Path string
	// Addr is the host:port the emulator serves gRPC on. Port 0 picks a free
	// port; Process.Addr reports the one chosen. Empty means 127.0.0.1:0.
	Addr string
	// ExtraArgs are passed to the emulator after --host_port, for example
	// "--abort_current_transaction_probability=10" (an integer percentage)
	// or "--enable_fault_injection".
	ExtraArgs []string
	// Logger receives lifecycle events; nil discards them.
	Logger *slog.Logger
	// Output receives the emulator's own stdout and stderr; nil discards
	// them (the last few KiB are still kept for error messages).
	Output io.Writer
	// StartTimeout bounds the wait for the gRPC port; zero means
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL in Stop; zero
	// means DefaultStopGrace.
	StopGrace time.Duration
}

// Process is a running emulator started by Start. It runs in its own
// process group and, on Linux, is killed by the kernel if spangate dies.
type Process struct {
	cmd    *exec.Cmd
	addr   string
	logger *slog.Logger
	grace  time.Duration
	tail   *tailBuffer

	done     chan struct{} // closed when the child has exited
	waitErr  error         // the child's exit status, set before done closes
	stopping chan struct{} // closed when Stop begins
	stopOnce sync.Once
}

// Start runs the emulator at opts.Path as a child process serving gRPC on
// opts.Addr, and returns once that port accepts connections. ctx bounds the
// start only; the emulator runs until Stop or until it dies. If the
// emulator exits during start (the port is taken, a flag is wrong) or the
// port does not open in time, the error quotes the emulator's own output.
func Start(ctx context.Context, opts Options) (*Process, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "emulator address %q: %w", addr, err).
			WithHint("give the address as host:port, for example 127.0.0.1:9010")
	}
	if opts.Path == "" {
		return nil, spangate.Errorf(spangate.Invalid, "no emulator binary given").WithHint(InstallHint)
	}
	if port != "0" {
		// The emulator would fail to bind too, but a client dialling the
		// port meanwhile could reach whoever holds it; refuse up front.
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, spangate.Errorf(spangate.Unavailable, "emulator address %s is not free: %w", addr, err).
				WithHint("stop whatever listens there (another emulator or `spangate dev`?) or choose another address; port 0 picks a free one")
		}
		l.Close()
	}

	args := append([]string{"--host_port", net.JoinHostPort(host, port)}, opts.ExtraArgs...)
	cmd := exec.Command(opts.Path, args...)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Stdin = nil
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "emulator output pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw

	startAt := time.Now()
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, spangate.Errorf(spangate.Unavailable, "start emulator %s: %w", opts.Path, err).WithHint(InstallHint)
	}
	pw.Close() // the child holds its own copy

	p := &Process{
		cmd:      cmd,
		logger:   logger,
		grace:    opts.StopGrace,
		tail:     &tailBuffer{max: outputTail},
		done:     make(chan struct{}),
		stopping: make(chan struct{}),
	}
	if p.grace <= 0 {
		p.grace = DefaultStopGrace
	}
	bound := make(chan string, 1)
	go p.readOutput(pr, opts.Output, bound)
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	logger.Debug("emulator starting", "path", opts.Path, "args", args, "pid", cmd.Process.Pid)

	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	if err := p.waitReady(ctx, addr, port == "0", bound, timeout); err != nil {
		p.kill()
		return nil, err
	}
	logger.Info("emulator started", "addr", p.addr, "pid", cmd.Process.Pid, "took", time.Since(startAt).Round(time.Millisecond))
	return p, nil
}

// waitReady waits until the emulator accepts connections and records its
// address in p.addr.
func (p *Process) waitReady(ctx context.Context, addr string, pickPort bool, bound <-chan string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	if !pickPort {
		p.addr = addr
	}
	for {
		select {
		case a := <-bound:
			if pickPort {
				p.addr = a
			}
		case <-p.done:
			return spangate.Errorf(spangate.Unavailable, "emulator exited during start (%v); its output:\n%s", p.waitErr, p.tail.String()).
				WithHint("check the address is free and the flags are valid (`" + BinaryName + " --helpfull`)")
		case <-ctx.Done():
			return spangate.Errorf(spangate.KindOf(ctx.Err()), "waiting for the emulator to start: %w", ctx.Err())
		case <-deadline.C:
			return spangate.Errorf(spangate.Unavailable, "emulator did not accept connections on %s within %s; its output:\n%s", addr, timeout, p.tail.String()).
				WithHint("the machine may be overloaded; try again or raise the start timeout")
		case <-tick.C:
		}
		if p.addr == "" {
			continue
		}
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
	}
}

// readOutput copies the emulator's output to out, keeps its tail, and sends
// the address the emulator reports having bound.
func (p *Process) readOutput(r io.ReadCloser, out io.Writer, bound chan<- string) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		p.tail.WriteLine(line)
		if out != nil {
			fmt.Fprintln(out, line)
		}
		if !sent {
			if i := strings.Index(line, serverAddressMarker); i >= 0 {
				bound <- strings.TrimSpace(line[i+len(serverAddressMarker):])
				sent = true
			}
		}
	}
	// Drain whatever is left so the child never blocks on a full pipe.
	io.Copy(io.Discard, r)
}

// Addr returns the host:port the emulator serves gRPC on, with the real
// port when Options.Addr asked for port 0. It is the value for
// SPANNER_EMULATOR_HOST.
func (p *Process) Addr() string { return p.addr }

// Pid returns the emulator's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done returns a channel closed when the emulator has exited, whether by
// Stop or by a crash.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns nil while the emulator runs and after Stop; after the
// emulator exited on its own it returns an *spangate.Error (kind
// Unavailable) with its exit status and last output.
func (p *Process) Err() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	select {
	case <-p.stopping:
		return nil
	default:
	}
	return spangate.Errorf(spangate.Unavailable, "the Spanner emulator (pid %d) exited unexpectedly: %v; its last output:\n%s",
		p.cmd.Process.Pid, p.waitErr, p.tail.String()).
		WithHint("the data it held is gone; restart, and report the output above if it happens again")
}

// Stop ends the emulator: SIGTERM to its process group, SIGKILL after the
// grace period or when ctx ends, then it waits for the exit. It is safe to
// call more than once and after a crash; it returns nil once the process is
// gone.
func (p *Process) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			// Crashed before Stop: record that Stop was called so Err
			// keeps reporting the crash.
			return
		default:
		}
		close(p.stopping)
		p.signal(syscall.SIGTERM)
		grace := time.NewTimer(p.grace)
		defer grace.Stop()
		select {
		case <-p.done:
		case <-grace.C:
			p.logger.Warn("emulator ignored SIGTERM; killing it", "pid", p.cmd.Process.Pid, "grace", p.grace)
			p.signal(syscall.SIGKILL)
			<-p.done
		case <-ctx.Done():
			p.signal(syscall.SIGKILL)
			<-p.done
		}
		p.logger.Info("emulator stopped", "pid", p.cmd.Process.Pid)
	})
	return nil
}

// kill ends a process whose start failed.
func (p *Process) kill() {
	p.stopOnce.Do(func() {
		close(p.stopping)
		p.signal(syscall.SIGKILL)
		<-p.done
	})
}

// signal sends sig to the emulator's process group, and to the process
// itself should the group be gone already.
func (p *Process) signal(sig syscall.Signal) {
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		p.logger.Debug("signal emulator group", "pid", pid, "signal", sig, "err", err)
	}
	_ = p.cmd.Process.Signal(sig)
}

// tailBuffer keeps the last max bytes of line-oriented output.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// WriteLine appends line and a newline, dropping the oldest bytes beyond max.
func (b *tailBuffer) WriteLine(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, line...)
	b.buf = append(b.buf, '\n')
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
}

// String returns the kept output.
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimRight(string(b.buf), "\n")
}
