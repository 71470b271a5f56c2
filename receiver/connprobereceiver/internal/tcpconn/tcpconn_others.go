//go:build !linux

package tcpconn

import (
	"errors"
	"net/netip"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/sock"
)

// Probe is Linux only.
func Probe(sock.Maker, netip.Addr, uint16, Options) Result {
	return Result{Err: errors.New("TCP connect probes are implemented for Linux only")}
}
