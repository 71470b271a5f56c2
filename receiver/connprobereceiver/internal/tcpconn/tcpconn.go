// Package tcpconn measures TCP connect time and classifies a port as open
// (handshake completed), closed (RST) or filtered (no answer before the
// timeout, or an ICMP "administratively prohibited").
package tcpconn // import "github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/tcpconn"

import "time"

// State of a scanned port.
type State uint8

// Port states.
const (
	Open State = iota + 1
	Closed
	Filtered
)

func (s State) String() string {
	switch s {
	case Open:
		return "open"
	case Closed:
		return "closed"
	case Filtered:
		return "filtered"
	}
	return "unknown"
}

// Result of one connect attempt. Err is set (and State zero) when the
// attempt failed for another reason (no route, permission...).
type Result struct {
	State    State
	Duration time.Duration // until the handshake completed, the RST, or the timeout
	Err      error
}

// Options for a connect probe.
type Options struct {
	Timeout time.Duration
	TTL     int // 0 = default
	TOS     int // 0 = default
}
