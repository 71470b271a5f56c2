//go:build !linux

package ping

import (
	"errors"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/sock"
)

var errNotLinux = errors.New("ICMP probing is implemented for Linux only")

// Conn is Linux only.
type Conn struct{}

// Open is Linux only.
func Open(sock.Maker, int, Options) (*Conn, error) { return nil, errNotLinux }

// Mode is Linux only.
func (*Conn) Mode() Mode { return 0 }

// Family is Linux only.
func (*Conn) Family() int { return 0 }

// Stats is Linux only.
func (*Conn) Stats() Stats { return Stats{} }

// Send is Linux only.
func (*Conn) Send(Request, []byte) (*Probe, error) { return nil, errNotLinux }

// SendFunc is Linux only.
func (*Conn) SendFunc(Request, []byte, Answerer) (*Probe, error) { return nil, errNotLinux }

// Forget is Linux only.
func (*Conn) Forget(*Probe) {}

// Close is Linux only.
func (*Conn) Close() error { return nil }

// Poll is Linux only.
func (*Conn) Poll() {}
