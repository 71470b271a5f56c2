//go:build !linux

package netnsutil

import "errors"

// errNotLinux is what every component's start returns off Linux: each
// opens its namespace (Config.Open) first.
var errNotLinux = errors.New("netstack components are Linux only (network namespaces, /proc/net, netlink, eBPF)")

// Do runs fn when nsPath is empty; other namespaces exist only on Linux.
func Do(nsPath string, fn func() error) error {
	if nsPath == "" {
		return fn()
	}
	return errNotLinux
}

// Inode is only available on Linux.
func Inode(string) (uint64, error) { return 0, errNotLinux }

// BoundInode is only available on Linux.
func BoundInode(string) (uint64, error) { return 0, errNotLinux }

// ProcNetDir is only available on Linux.
func ProcNetDir(string) (string, error) { return "", errNotLinux }

// Thread runs functions in the caller's namespace; others exist only on Linux.
type Thread struct{}

// NewThread works for the caller's own namespace (empty path) only.
func NewThread(nsPath string) (*Thread, error) {
	if nsPath == "" {
		return &Thread{}, nil
	}
	return nil, errNotLinux
}

// Do runs fn.
func (*Thread) Do(fn func() error) error { return fn() }

// Close does nothing.
func (*Thread) Close() {}

// Members is only available on Linux.
func Members(string) (map[uint64][]int, error) { return nil, errNotLinux }
