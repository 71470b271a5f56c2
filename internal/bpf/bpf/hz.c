//go:build ignore

// Samples the kernel's two clocks for KernelHZ: jiffies (bpf_jiffies64)
// and CLOCK_MONOTONIC (bpf_ktime_get_ns). User space runs it twice with
// BPF_PROG_TEST_RUN, a little apart, and divides; nothing is attached.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u64 sample_jiffies;
__u64 sample_ns;

SEC("socket")
int sample_clocks(struct __sk_buff *skb)
{
	sample_jiffies = bpf_jiffies64();
	sample_ns = bpf_ktime_get_ns();
	return 0;
}
