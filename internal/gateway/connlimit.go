package gateway

import (
	"net"
	"sync"
)

// LimitConnsPerClient returns a listener that keeps at most perAddr
// connections open from one client IP address: a connection over that is
// closed as soon as it is accepted, so slow clients from one address
// cannot hold all of the gateway's connections. perAddr 0 or less returns
// l unchanged.
//
// Behind a load balancer every connection comes from the balancer's
// addresses: set the bound there instead (limits.max_conns_per_client: 0).
func LimitConnsPerClient(l net.Listener, perAddr int, onRefuse func(addr string)) net.Listener {
	if perAddr <= 0 {
		return l
	}
	return &connLimiter{Listener: l, max: perAddr, open: map[string]int{}, onRefuse: onRefuse}
}

type connLimiter struct {
	net.Listener
	max      int
	onRefuse func(addr string)

	mu   sync.Mutex
	open map[string]int
}

// Accept returns the next connection within the bound, closing the ones
// over it.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr())
		l.mu.Lock()
		ok := l.open[addr] < l.max
		if ok {
			l.open[addr]++
		}
		l.mu.Unlock()
		if ok {
			return &limitedConn{Conn: c, release: func() { l.release(addr) }}, nil
		}
		c.Close()
		if l.onRefuse != nil {
			l.onRefuse(addr)
		}
	}
}

func (l *connLimiter) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[addr]--; l.open[addr] <= 0 {
		delete(l.open, addr)
	}
}

func hostOf(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitedConn gives its slot back once, when it is closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
