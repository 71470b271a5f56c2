//go:build !linux

package probe

import (
	"context"
	"errors"
)

// errDiagNotLinux: NETLINK_SOCK_DIAG exists only on Linux.
var errDiagNotLinux = errors.New("tcpflow: the sockdiag fallback needs Linux")

// Diag is unavailable outside Linux; OpenDiag always fails.
type Diag struct{}

// OpenDiag fails outside Linux.
func OpenDiag(Config) (*Diag, error) { return nil, errDiagNotLinux }

func (*Diag) Flows(func(*Flow)) error                   { return errDiagNotLinux }
func (*Diag) Closed(context.Context, func(*Flow)) error { return errDiagNotLinux }
func (*Diag) Counters() (Counters, error)               { return Counters{}, errDiagNotLinux }
func (*Diag) RTOKnown() bool                            { return false }
func (*Diag) Close() error                              { return nil }
