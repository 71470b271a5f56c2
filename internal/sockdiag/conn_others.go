//go:build !linux

package sockdiag

import "errors"

// Conn is unavailable outside Linux.
type Conn struct{}

// Open fails outside Linux.
func Open() (*Conn, error) { return nil, errors.ErrUnsupported }

// Close does nothing.
func (*Conn) Close() error { return nil }
