// Package bpf holds what every eBPF-based component shares: the vmlinux.h
// generated from the running kernel's BTF (for CO-RE programs), and small
// loader helpers — memlock removal, a preflight check that names what is
// missing (BTF, capabilities), kernel HZ, and per-program run-time statistics
// through BPF_ENABLE_STATS. It has no OpenTelemetry imports.
package bpf
