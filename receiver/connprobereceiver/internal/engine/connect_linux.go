package engine

import (
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/sock"
)

// connect starts connecting the non-blocking socket fd to ap (the socket's
// family is sock.Family's for ap); a connection still in progress is not
// an error.
func connect(fd int, ap netip.AddrPort) error {
	sa, err := sock.Sockaddr(ap)
	if err != nil {
		return err
	}
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
		return err
	}
	return nil
}
