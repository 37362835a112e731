package gateway_test

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// delayProxy listens on loopback and forwards every connection to target,
// holding each chunk of bytes for d in each direction, in order: a
// network with a round trip of 2d between the clients and the server, as
// between an application and Cloud Spanner. It returns the proxy's
// address; the proxy stops when the test ends.
func delayProxy(t testing.TB, target string, d time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			track(in)
			track(out)
			wg.Go(func() { delayCopy(out, in, d) })
			wg.Go(func() { delayCopy(in, out, d) })
		}
	})
	return ln.Addr().String()
}

// delayCopy copies src to dst, writing each chunk d after it was read.
// It closes both when either side ends.
func delayCopy(dst, src net.Conn, d time.Duration) {
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
			if _, err := dst.Write(c.b); err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			q <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(d)}
		}
		if err != nil {
			if err != io.EOF {
				src.Close()
			}
			break
		}
	}
	close(q)
	<-done
}
