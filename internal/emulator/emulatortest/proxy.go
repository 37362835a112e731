package emulatortest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of an emulator, for tests that need a
// network between the Spanner clients and the emulator: it can hold the
// traffic for a while in each direction (a round trip like Cloud
// Spanner's), cut every open connection, or let them go silent (network
// faults). Point a client at Addr instead of Host. It stops when the test
// ends.
type Proxy struct {
	ln     net.Listener
	target string
	delay  time.Duration

	mu     sync.Mutex
	conns  map[net.Conn]*link // both ends of every open connection
	closed bool
	wg     sync.WaitGroup
}

// link is one proxied connection.
type link struct {
	stalled atomic.Bool // drop the traffic instead of forwarding it
}

// NewProxy starts a proxy to the emulator at target that holds each chunk
// of bytes for delay in each direction, in order (0 forwards at once).
func NewProxy(t testing.TB, target string, delay time.Duration) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("emulatortest: proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: target, delay: delay, conns: map[net.Conn]*link{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every connection open through the proxy, as a network fault
// would, and returns how many client connections it cut. New connections
// are accepted as before.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	n := len(p.conns) / 2
	clear(p.conns)
	return n
}

// Stall makes every connection open through the proxy drop all traffic
// from now on, in both directions, without closing it: a network that
// went silent. Calls on those connections get no answer until their
// deadline, so a request that reached the emulator may have been carried
// out although its caller sees an error. New connections are forwarded
// as usual; Cut closes the stalled ones. It returns how many client
// connections it stalled.
func (p *Proxy) Stall() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.conns {
		l.stalled.Store(true)
	}
	return len(p.conns) / 2
}

func (p *Proxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		l := &link{}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		p.conns[in], p.conns[out] = l, l
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(l, out, in) })
		p.wg.Go(func() { p.pipe(l, in, out) })
	}
}

// pipe copies src to dst, writing each chunk delay after it was read, and
// closes both when either side ends.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	q := make(chan chunk, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			time.Sleep(time.Until(c.due))
			if l.stalled.Load() {
				continue
			}
			if _, err := dst.Write(c.b); err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
		for range q { // let the reader finish
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			q <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(p.delay)}
		}
		if err != nil {
			break
		}
	}
	close(q)
	<-done
	p.mu.Lock()
	delete(p.conns, src)
	delete(p.conns, dst)
	p.mu.Unlock()
}
