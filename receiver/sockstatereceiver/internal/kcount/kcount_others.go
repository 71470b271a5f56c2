//go:build !linux

package kcount

import "fmt"

var errNotLinux = fmt.Errorf("kcount: %w", ErrNotLinux)

// Counting is Linux only.
type Counting struct{}

// Open fails outside Linux.
func Open(Method, Options) (*Counting, error) { return nil, errNotLinux }

// Method is empty outside Linux.
func (*Counting) Method() Method { return "" }

// Hooked is false outside Linux.
func (*Counting) Hooked() bool { return false }

// Refresh fails outside Linux.
func (*Counting) Refresh() error { return errNotLinux }

// Bind fails outside Linux.
func (*Counting) Bind(Namespace) (Counter, error) { return nil, errNotLinux }

// Close does nothing outside Linux.
func (*Counting) Close() error { return nil }

// Iterator is Linux only.
type Iterator struct{}

// OpenIterator fails outside Linux.
func OpenIterator([]uint16) (*Iterator, error) { return nil, errNotLinux }

// Count fails outside Linux.
func (*Iterator) Count(string, bool, bool, *Counts, *PortCounts, *Mini) error { return errNotLinux }

// CountWith fails outside Linux.
func (*Iterator) CountWith(func(func() error) error, bool, bool, *Counts, *PortCounts, *Mini) error {
	return errNotLinux
}

// Close does nothing outside Linux.
func (*Iterator) Close() error { return nil }

// Events is Linux only.
type Events struct{}

// OpenEvents fails outside Linux.
func OpenEvents() (*Events, error) { return nil, errNotLinux }

// Deltas fails outside Linux.
func (*Events) Deltas(uint32, *Deltas) error { return errNotLinux }

// Dropped fails outside Linux.
func (*Events) Dropped() (uint64, error) { return 0, errNotLinux }

// Close does nothing outside Linux.
func (*Events) Close() error { return nil }

// MiniHooks is Linux only.
type MiniHooks struct{}

// OpenMiniHooks fails outside Linux.
func OpenMiniHooks() (*MiniHooks, error) { return nil, errNotLinux }

// Hooks is empty outside Linux.
func (*MiniHooks) Hooks() []string { return nil }

// Deltas fails outside Linux.
func (*MiniHooks) Deltas(uint32, *Deltas) error { return errNotLinux }

// Dropped fails outside Linux.
func (*MiniHooks) Dropped() (uint64, error) { return 0, errNotLinux }

// Close does nothing outside Linux.
func (*MiniHooks) Close() error { return nil }
