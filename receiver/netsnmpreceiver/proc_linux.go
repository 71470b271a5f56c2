package netsnmpreceiver

import (
	"errors"

	"golang.org/x/sys/unix"
)

// readFull preads from offset 0 until end of file or a full buffer.
func readFull(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := unix.Pread(fd, buf[n:], int64(n))
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// kernelIs32Bit tells whether the running kernel keeps its SNMP counters
// in 32-bit longs, which wrap; on 64-bit kernels a counter that goes
// backwards was reset.
func kernelIs32Bit() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	switch unix.ByteSliceToString(u.Machine[:]) {
	case "x86_64", "aarch64", "arm64", "ppc64", "ppc64le", "s390x", "riscv64", "mips64", "loongarch64", "sparc64", "alpha", "ia64":
		return false
	}
	return true
}
