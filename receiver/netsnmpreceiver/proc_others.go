//go:build !linux

package netsnmpreceiver

import "errors"

// readFull is Linux only (start already failed in netnsutil).
func readFull(int, []byte) (int, error) {
	return 0, errors.New("reading /proc/net counters is implemented for Linux only")
}

// kernelIs32Bit: off Linux nothing is read.
func kernelIs32Bit() bool { return false }
