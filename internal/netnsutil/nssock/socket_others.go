//go:build !linux

package nssock

import "errors"

func socket(int, int, int) (int, error) {
	return -1, errors.New("probe sockets are implemented for Linux only")
}
