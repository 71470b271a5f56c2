//go:build ignore

// Socket-state counting in the kernel for the sockstate receiver.
//
// iter/tcp and iter/udp walk the reading process's network namespace and
// count sockets per family and state into iter_counts (and per tracked local
// port into port_counts); nothing is copied to user space per socket.
//
// The event programs keep, per network namespace and family, signed deltas
// per TCP state: full sockets through sock:inet_sock_set_state, request
// sockets (SYN_RECV) through the request-queue hash add/drop, and
// TIME_WAIT sockets (shown in their substate, TIME_WAIT or FIN_WAIT2)
// through the timewait hash/kill/state-process functions. User space adds
// them to a base from one iterator pass.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define NSTATES 16
#define MAX_PORTS 64

// [transport: 0 tcp, 1 udp][family: 0 ipv4, 1 ipv6][state]
__u64 iter_counts[2][2][NSTATES];
// slot+1 of each tracked local port, 0 when untracked; set by user space.
__u8 port_slot[65536];
__u64 port_counts[2][MAX_PORTS][NSTATES];
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

static __always_inline void iter_count(int tr, __u16 family, __u8 state, __u16 port)
{
	int f = fam_index(family);
	if (f < 0 || state >= NSTATES) {
		__sync_fetch_and_add(&iter_unknown, 1);
		return;
	}
	// The masks restate the bounds for the verifier.
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
	__u8 state = skc->skc_state;
	if (state == TCP_TIME_WAIT) {
		struct tcp_timewait_sock *tw = bpf_skc_to_tcp_timewait_sock(skc);
		if (tw)
			state = tw->tw_sk.tw_substate;
	} else if (state == TCP_NEW_SYN_RECV) {
		state = TCP_SYN_RECV;
	}
	iter_count(0, skc->skc_family, state, skc->skc_num);
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

// ---- events ----

struct ev_key {
	__u32 netns; // network namespace inode
	__u32 family;
};

struct ev_val {
	__s64 c[NSTATES];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct ev_key);
	__type(value, struct ev_val);
} tcp_deltas SEC(".maps");

// Updates that found tcp_deltas full; must stay 0 (exported as drift cause).
__u64 ev_dropped;

static __always_inline void ev_add(struct sock_common *skc, __u8 state, __s64 d)
{
	if (state >= NSTATES)
		return;
	state &= NSTATES - 1;
	struct ev_key k = {
		.netns = BPF_CORE_READ(skc, skc_net.net, ns.inum),
		.family = BPF_CORE_READ(skc, skc_family),
	};
	struct ev_val *v = bpf_map_lookup_elem(&tcp_deltas, &k);
	if (!v) {
		struct ev_val zero = {};
		bpf_map_update_elem(&tcp_deltas, &k, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&tcp_deltas, &k);
		if (!v) {
			__sync_fetch_and_add(&ev_dropped, 1);
			return;
		}
	}
	__sync_fetch_and_add(&v->c[state], d);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	struct sock_common *skc = (struct sock_common *)&sk->__sk_common;
	// A child socket is cloned from its listener and set to SYN_RECV: it
	// is a new socket, the listener stays.
	if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) {
		ev_add(skc, TCP_SYN_RECV, 1);
		return 0;
	}
	// TCP sockets in CLOSE are in no hash table and no dump shows them.
	if (oldstate != TCP_CLOSE)
		ev_add(skc, oldstate, -1);
	if (newstate != TCP_CLOSE)
		ev_add(skc, newstate, 1);
	return 0;
}

SEC("fexit/inet_csk_reqsk_queue_hash_add")
int BPF_PROG(on_reqsk_add, struct sock *sk, struct request_sock *req, unsigned long timeout, bool ret)
{
	if (ret)
		ev_add(&req->__req_common, TCP_SYN_RECV, 1);
	return 0;
}

SEC("fexit/__inet_csk_reqsk_queue_drop")
int BPF_PROG(on_reqsk_drop, struct sock *sk, struct request_sock *req, bool from_timer, bool ret)
{
	if (ret)
		ev_add(&req->__req_common, TCP_SYN_RECV, -1);
	return 0;
}

SEC("fentry/inet_twsk_hashdance_schedule")
int BPF_PROG(on_tw_add, struct inet_timewait_sock *tw)
{
	ev_add(&tw->__tw_common, tw->tw_substate, 1);
	return 0;
}

static __always_inline void tw_unstash(struct inet_timewait_sock *tw);

SEC("fentry/inet_twsk_kill")
int BPF_PROG(on_tw_kill, struct inet_timewait_sock *tw)
{
	ev_add(&tw->__tw_common, tw->tw_substate, -1);
	tw_unstash(tw);
	return 0;
}

// A FIN on a FIN_WAIT2 timewait socket moves its substate to TIME_WAIT.
struct tw_stash {
	__u64 tw; // the inet_timewait_sock being processed, as a number
	__u8 substate;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_stash);
} tw_stash SEC(".maps");

// A socket killed while its state is processed is not looked at again.
static __always_inline void tw_unstash(struct inet_timewait_sock *tw)
{
	__u32 zero = 0;
	struct tw_stash *s = bpf_map_lookup_elem(&tw_stash, &zero);
	if (s && s->tw == (__u64)tw)
		s->tw = 0;
}

SEC("fentry/tcp_timewait_state_process")
int BPF_PROG(on_tw_process_enter, struct inet_timewait_sock *tw)
{
	__u32 zero = 0;
	struct tw_stash *s = bpf_map_lookup_elem(&tw_stash, &zero);
	if (s) {
		s->tw = (__u64)tw;
		s->substate = tw->tw_substate;
	}
	return 0;
}

SEC("fexit/tcp_timewait_state_process")
int BPF_PROG(on_tw_process_exit, struct inet_timewait_sock *tw)
{
	__u32 zero = 0;
	struct tw_stash *s = bpf_map_lookup_elem(&tw_stash, &zero);
	if (!s || s->tw != (__u64)tw)
		return 0;
	__u8 now = tw->tw_substate;
	if (now != s->substate) {
		ev_add(&tw->__tw_common, s->substate, -1);
		ev_add(&tw->__tw_common, now, 1);
	}
	s->tw = 0;
	return 0;
}
