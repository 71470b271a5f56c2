// Package netnsutil reads a network namespace other than the caller's, or a
// host procfs mounted in a container.
//
// A network namespace belongs to an OS thread, not a goroutine. Do runs a
// function on a goroutine locked to a fresh OS thread that joins the
// namespace and is discarded afterwards (the goroutine exits while still
// locked, so the runtime terminates the thread instead of handing it back to
// the scheduler in a foreign namespace). File descriptors opened there
// (netlink and ICMP sockets, /proc/thread-self/net/* files) keep referring
// to that namespace and may be used from any goroutine afterwards.
package netnsutil
