//go:build !linux

package probe

import (
	"context"
	"errors"
	"time"
)

// errNotLinux: eBPF and netns cookies exist only on Linux.
var errNotLinux = errors.New("tcpflow: the eBPF probe needs Linux")

// Probe is unavailable outside Linux; Open always fails.
type Probe struct{}

// Open fails outside Linux.
func Open(Config) (*Probe, error) { return nil, errNotLinux }

// NetnsCookie fails outside Linux.
func NetnsCookie(string) (uint64, error) { return 0, errNotLinux }

func (*Probe) Flows(func(*Flow)) error                   { return errNotLinux }
func (*Probe) Closed(context.Context, func(*Flow)) error { return errNotLinux }
func (*Probe) Counters() (Counters, error)               { return Counters{}, errNotLinux }
func (*Probe) HZ() int                                   { return 0 }
func (*Probe) RTOKnown() bool                            { return false }
func (*Probe) HZError() error                            { return errNotLinux }
func (*Probe) RTTHistogram() (RTTHistogram, error) {
	return RTTHistogram{}, errNotLinux
}
func (*Probe) ReadSamples(time.Duration, func(*Sample), func()) error { return errNotLinux }
func (*Probe) BadSamples() uint64                                     { return 0 }
func (*Probe) Close() error                                           { return nil }
