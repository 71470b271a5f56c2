// Package flowtest is test support for the tcpflow kernel tests: a TCP sink
// listening inside a test network namespace. Only _test.go files import it.
package flowtest

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/netstack-otel/netstack/internal/testnet"
)

// Sink accepts connections on a listener inside a namespace and reads and
// discards everything sent to it.
type Sink struct {
	ln     net.Listener
	conns  sync.WaitGroup
	accept sync.WaitGroup
	bytes  atomic.Int64
}

// NewSink listens on addr ("10.0.0.2:5001", "[fd00::2]:80") inside ns. The
// listener is closed and every goroutine waited for when the test ends.
func NewSink(t testing.TB, ns *testnet.NS, network, addr string) *Sink {
	t.Helper()
	s := &Sink{}
	ns.Do(t, func() (err error) {
		s.ln, err = net.Listen(network, addr)
		return err
	})
	s.accept.Add(1)
	go s.serve()
	t.Cleanup(func() {
		s.ln.Close()
		s.accept.Wait()
		s.conns.Wait()
	})
	return s
}

func (s *Sink) serve() {
	defer s.accept.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			n, _ := io.Copy(io.Discard, c)
			s.bytes.Add(n)
			c.Close()
		}()
	}
}

// Wait blocks until every connection accepted so far has been closed by its
// peer and fully read, and returns the bytes read in total.
func (s *Sink) Wait() int64 {
	s.conns.Wait()
	return s.bytes.Load()
}
