// Package nssock creates sockets inside a network namespace. One goroutine
// sits on an OS thread inside the namespace for the lifetime of a Maker and
// creates sockets on request, so that per-probe sockets (TCP connects, DNS
// queries, traceroute probes) do not cost a thread each. A socket stays in
// the namespace it was created in and is used from any goroutine.
package nssock // import "github.com/netstack-otel/netstack/internal/netnsutil/nssock"

import (
	"errors"
	"sync"

	"github.com/netstack-otel/netstack/internal/netnsutil"
)

type request struct {
	domain, typ, proto int
	reply              chan result
}

type result struct {
	fd  int
	err error
}

// Maker creates sockets in one network namespace. The zero path means the
// caller's namespace, where sockets are created directly.
type Maker struct {
	path string
	reqs chan request
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// ErrClosed is returned by Socket after Close.
var ErrClosed = errors.New("socket maker closed")

// New starts a Maker for the namespace at path (empty = current one). It
// fails when the namespace cannot be entered.
func New(path string) (*Maker, error) {
	m := &Maker{path: path, reqs: make(chan request), done: make(chan struct{})}
	if path == "" {
		return m, nil
	}
	ready := make(chan error, 1)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		err := netnsutil.Do(path, func() error {
			ready <- nil
			m.serve()
			return nil
		})
		if err != nil {
			ready <- err
		}
	}()
	if err := <-ready; err != nil {
		m.wg.Wait()
		return nil, err
	}
	return m, nil
}

func (m *Maker) serve() {
	for {
		select {
		case <-m.done:
			return
		case r := <-m.reqs:
			fd, err := socket(r.domain, r.typ, r.proto)
			r.reply <- result{fd, err}
		}
	}
}

// Path is the namespace path the Maker was created for.
func (m *Maker) Path() string { return m.path }

// Socket returns a non-blocking, close-on-exec socket created in the
// Maker's namespace.
func (m *Maker) Socket(domain, typ, proto int) (int, error) {
	if m.path == "" {
		select {
		case <-m.done:
			return -1, ErrClosed
		default:
		}
		return socket(domain, typ, proto)
	}
	r := request{domain, typ, proto, make(chan result, 1)}
	select {
	case <-m.done:
		return -1, ErrClosed
	case m.reqs <- r:
	}
	res := <-r.reply
	return res.fd, res.err
}

// Close stops the namespace goroutine; its thread exits with it.
func (m *Maker) Close() {
	m.once.Do(func() { close(m.done) })
	m.wg.Wait()
}
