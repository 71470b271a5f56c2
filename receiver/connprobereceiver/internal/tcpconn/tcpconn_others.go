//go:build !linux

package tcpconn

import (
	"errors"
	"net/netip"
)

// Probe is Linux only.
func Probe(SocketMaker, netip.Addr, uint16, Options) Result {
	return Result{Err: errors.New("TCP connect probes are implemented for Linux only")}
}
