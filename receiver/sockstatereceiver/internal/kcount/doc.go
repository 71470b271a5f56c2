// Package kcount counts sockets per state in the kernel with BPF: socket
// iterators (iter/tcp, iter/udp) for a one-pass count of a namespace, and
// state-change programs that keep per-namespace deltas so a count is O(1).
// It has no OpenTelemetry imports.
package kcount
