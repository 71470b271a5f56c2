//go:build !linux

package trace

import (
	"context"
	"errors"
	"time"
)

var errNotLinux = errors.New("traceroute is implemented for Linux only")

// Probe is Linux only.
func (*ICMPProber) Probe(context.Context, int, uint16, time.Duration) (Answer, error) {
	return Answer{}, errNotLinux
}

// Probe is Linux only.
func (*SocketProber) Probe(context.Context, int, uint16, time.Duration) (Answer, error) {
	return Answer{}, errNotLinux
}
