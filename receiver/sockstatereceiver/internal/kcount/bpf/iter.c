//go:build ignore

// Socket counting by iterators for the sockstate receiver: iter/tcp and
// iter/udp walk the reading process's network namespace and count sockets
// per family and state into iter_counts (and per tracked local port into
// port_counts); nothing is copied to user space per socket. Of the TCP
// sockets, the timewait and request sockets are also counted apart in
// iter_mini: the ones no state-change event covers.

#include "sockstate.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// [transport: 0 tcp, 1 udp][family: 0 ipv4, 1 ipv6][state]
__u64 iter_counts[2][2][NSTATES];
// slot+1 of each tracked local port, 0 when untracked; set by user space.
__u8 port_slot[65536];
__u64 port_counts[2][MAX_PORTS][NSTATES];
// Of iter_counts[0], the timewait sockets (by substate) and request sockets
// (as SYN_RECV): the ones no state-change event covers. [family][state]
__u64 iter_mini[2][NSTATES];
// Sockets in a family or state the counters do not know; must stay 0.
__u64 iter_unknown;

static __always_inline int fam_index(__u16 family)
{
	if (family == AF_INET)
		return 0;
	if (family == AF_INET6)
		return 1;
	return -1;
}

static __always_inline void iter_count(int tr, __u16 family, __u32 state, __u16 port)
{
	int f = fam_index(family);
	if (f < 0 || state >= NSTATES) {
		__sync_fetch_and_add(&iter_unknown, 1);
		return;
	}
	// The masks restate the bounds for the verifier.
	barrier_var(state);
	tr &= 1;
	f &= 1;
	state &= NSTATES - 1;
	iter_counts[tr][f][state]++;
	__u32 slot = port_slot[port];
	if (slot && slot <= MAX_PORTS)
		port_counts[tr][(slot - 1) & (MAX_PORTS - 1)][state]++;
}

SEC("iter/tcp")
int count_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	// The final call has no socket (and seq_num is 0 then too).
	if (!skc)
		return 0;
	__u32 state = skc->skc_state;
	bool mini = false;
	if (state == TCP_TIME_WAIT) {
		struct tcp_timewait_sock *tw = bpf_skc_to_tcp_timewait_sock(skc);
		if (tw)
			state = tw->tw_sk.tw_substate;
		mini = true;
	} else if (state == TCP_NEW_SYN_RECV) {
		state = TCP_SYN_RECV;
		mini = true;
	}
	iter_count(0, skc->skc_family, state, skc->skc_num);
	int f = fam_index(skc->skc_family);
	if (mini && f >= 0 && state < NSTATES) {
		barrier_var(state);
		iter_mini[f & 1][state & (NSTATES - 1)]++;
	}
	return 0;
}

SEC("iter/udp")
int count_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *up = ctx->udp_sk;
	if (!up)
		return 0;
	struct sock_common *skc = &up->inet.sk.__sk_common;
	iter_count(1, skc->skc_family, skc->skc_state, skc->skc_num);
	return 0;
}
