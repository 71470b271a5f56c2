//go:build ignore

// Flow-table variants attached to tp_btf/tcp_probe next to the real probe,
// so bpf_stats compares their per-event cost in the same run:
//   empty       - the floor (program entry/exit and stats accounting)
//   sk_storage  - per-socket storage (freed with the socket), direct tcp_sock loads
//   lru_tuple   - LRU hash keyed by the 4-tuple + netns cookie, BPF_CORE_READ loads

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct val {
	__u64 samples;
	__u32 srtt_us;
	__u32 cwnd;
	__u32 retrans;
	__u32 packets_out;
};

struct tuple_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u64 netns;
	__u16 sport;
	__u16 dport;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct val);
} store SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tuple_key);
	__type(value, struct val);
} lru SEC(".maps");

SEC("tp_btf/tcp_probe")
int BPF_PROG(empty, struct sock *sk, const struct sk_buff *skb)
{
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(sk_storage, struct sock *sk, const struct sk_buff *skb)
{
	struct val *v = bpf_sk_storage_get(&store, sk, NULL, 1 /* F_CREATE */);
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	if (!v || !tp)
		return 0;
	v->samples++;
	v->srtt_us = tp->srtt_us >> 3;
	v->cwnd = tp->snd_cwnd;
	v->retrans = tp->total_retrans;
	v->packets_out = tp->packets_out;
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(lru_tuple, struct sock *sk, const struct sk_buff *skb)
{
	struct tuple_key k = {};
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	BPF_CORE_READ_INTO(&k.saddr, sk, __sk_common.skc_v6_rcv_saddr);
	BPF_CORE_READ_INTO(&k.daddr, sk, __sk_common.skc_v6_daddr);
	BPF_CORE_READ_INTO(&k.saddr[12], sk, __sk_common.skc_rcv_saddr);
	BPF_CORE_READ_INTO(&k.daddr[12], sk, __sk_common.skc_daddr);
	k.sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	k.dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	k.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, net_cookie);
	struct val *v = bpf_map_lookup_elem(&lru, &k);
	if (!v) {
		struct val z = {};
		bpf_map_update_elem(&lru, &k, &z, 0 /* BPF_ANY */);
		v = bpf_map_lookup_elem(&lru, &k);
		if (!v)
			return 0;
	}
	v->samples++;
	v->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	v->cwnd = BPF_CORE_READ(tp, snd_cwnd);
	v->retrans = BPF_CORE_READ(tp, total_retrans);
	v->packets_out = BPF_CORE_READ(tp, packets_out);
	return 0;
}
