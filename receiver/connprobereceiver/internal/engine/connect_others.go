//go:build !linux

package engine

import (
	"errors"
	"net/netip"
)

func connect(int, netip.AddrPort) error {
	return errors.New("DNS sockets are implemented for Linux only")
}
