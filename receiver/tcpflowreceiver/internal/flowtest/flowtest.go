// Package flowtest is test support for the tcpflow kernel tests: a TCP sink
// listening inside a test network namespace. Only _test.go files import it.
package flowtest

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/netstack-otel/netstack/internal/testnet"
)

// Sink accepts connections on a listener inside a namespace and reads and
// discards everything sent to it.
type Sink struct {
	ln       net.Listener
	handlers sync.WaitGroup // Add only in serve, Wait only after serve returned
	served   sync.WaitGroup

	mu    sync.Mutex
	cond  *sync.Cond
	open  map[net.Conn]struct{}
	done  int   // connections read to EOF and closed
	bytes int64 // read from them
}

// NewSink listens on addr ("10.0.0.2:5001", "[fd00::2]:80") inside ns. The
// listener is closed and every goroutine waited for when the test ends.
func NewSink(t testing.TB, ns *testnet.NS, network, addr string) *Sink {
	t.Helper()
	s := &Sink{open: map[net.Conn]struct{}{}}
	s.cond = sync.NewCond(&s.mu)
	ns.Do(t, func() (err error) {
		s.ln, err = net.Listen(network, addr)
		return err
	})
	s.served.Add(1)
	go s.serve()
	t.Cleanup(func() {
		s.ln.Close()
		s.served.Wait()
		// A failed test may leave peers that never close: do not wait for them.
		s.mu.Lock()
		for c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.handlers.Wait()
	})
	return s
}

func (s *Sink) serve() {
	defer s.served.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.handlers.Add(1)
		s.mu.Lock()
		s.open[c] = struct{}{}
		s.mu.Unlock()
		go func() {
			defer s.handlers.Done()
			n, _ := io.Copy(io.Discard, c)
			c.Close()
			s.mu.Lock()
			delete(s.open, c)
			s.done++
			s.bytes += n
			s.cond.Broadcast()
			s.mu.Unlock()
		}()
	}
}

// Wait blocks until n connections have been read to EOF (their peers
// closed them) and returns the bytes read from all finished connections.
func (s *Sink) Wait(n int) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.done < n {
		s.cond.Wait()
	}
	return s.bytes
}
