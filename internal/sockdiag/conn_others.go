//go:build !linux

package sockdiag

import "errors"

// Conn is unavailable outside Linux.
type Conn struct{}

// Open fails outside Linux.
func Open() (*Conn, error) { return nil, errors.ErrUnsupported }

// Close does nothing.
func (*Conn) Close() error { return nil }

// Dump fails outside Linux.
func (*Conn) Dump(Request, func([]byte) error) error { return errors.ErrUnsupported }

// Count fails outside Linux.
func (*Conn) Count(Request, *StateCounts) error { return errors.ErrUnsupported }

// CountPorts fails outside Linux.
func (*Conn) CountPorts(Request, *StateCounts, *PortCounts) error { return errors.ErrUnsupported }

// CountFamilies fails outside Linux.
func (*Conn) CountFamilies(Request, *StateCounts, *StateCounts, *PortCounts) error {
	return errors.ErrUnsupported
}

// Each fails outside Linux.
func (*Conn) Each(Request, func(*Msg, []byte) error) error { return errors.ErrUnsupported }

// Listeners fails outside Linux.
func (*Conn) Listeners(uint8, func(*Msg) error) error { return errors.ErrUnsupported }
