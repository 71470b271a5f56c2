package nssock

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func socket(domain, typ, proto int) (int, error) {
	fd, err := unix.Socket(domain, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, fmt.Errorf("socket(%s): %w", describe(domain, typ, proto), err)
	}
	return fd, nil
}

func describe(domain, typ, proto int) string {
	d := map[int]string{unix.AF_INET: "AF_INET", unix.AF_INET6: "AF_INET6"}[domain]
	t := map[int]string{unix.SOCK_RAW: "SOCK_RAW", unix.SOCK_DGRAM: "SOCK_DGRAM", unix.SOCK_STREAM: "SOCK_STREAM"}[typ]
	return fmt.Sprintf("%s, %s, %d", d, t, proto)
}
