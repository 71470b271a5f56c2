// Package kcount counts a network namespace's sockets per transport, family
// and state for the sockstate receiver. Its methods (events, iterator,
// sockdiag, procfs) are opened once by Open, which loads what they need in
// the kernel: BPF socket iterators (iter/tcp, iter/udp) for a one-pass count
// of a namespace, and state-change programs that keep per-namespace deltas
// so a count is O(1). Counting.Bind gives each namespace a Counter. It has no
// OpenTelemetry imports; the BPF C is in bpf/, built by gen.go.
package kcount
