//go:build !linux

package netnsutil

import "os"

// Target is a resolved network namespace; only Linux has them.
type Target struct{}

// Open fails: network namespaces are a Linux feature.
func (c Config) Open() (*Target, error) { return nil, errNotLinux }

// OpenNet fails off Linux.
func (*Target) OpenNet(...string) ([]*os.File, []error, error) { return nil, nil, errNotLinux }

// EnterPath is empty off Linux.
func (*Target) EnterPath() string { return "" }

// Label is the netns.path attribute.
func (*Target) Label() string { return OwnNamespace }

// Inode is 0 off Linux.
func (*Target) Inode() uint64 { return 0 }

// NetDir is empty off Linux.
func (*Target) NetDir() string { return "" }

// Do fails off Linux.
func (*Target) Do(func() error) error { return errNotLinux }

// Changed fails off Linux.
func (*Target) Changed() (bool, error) { return false, errNotLinux }

// Close does nothing.
func (*Target) Close() {}
