package engine

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// connect starts connecting the non-blocking socket fd of family to ap; a
// connection still in progress is not an error.
func connect(fd, family int, ap netip.AddrPort) error {
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
	if family == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
		return err
	}
	return nil
}
