//go:build ignore

// Socket-state counting in the kernel for the sockstate receiver.
//
// iter/tcp and iter/udp walk the reading process's network namespace and
// count sockets per family and state into iter_counts (and per tracked local
// port into port_counts); nothing is copied to user space per socket.
//
// on_set_state keeps, per network namespace and family, signed deltas per
// TCP state of full sockets through sock:inet_sock_set_state; user space
// adds them to a base from one iterator pass. Timewait and request
// sockets have no tracepoint (and fentry/kprobes are not available on
// every kernel), so the iterator counts them apart in iter_mini and user
// space takes them from a sock_diag dump filtered to their states.

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

// The delta entry of skc's namespace and family in map (created at first
// use; a full map is counted in ev_dropped).
static __always_inline struct ev_val *deltas_of(void *map, struct sock_common *skc)
{
	struct ev_key k = {
		.netns = BPF_CORE_READ(skc, skc_net.net, ns.inum),
		.family = BPF_CORE_READ(skc, skc_family),
	};
	struct ev_val *v = bpf_map_lookup_elem(map, &k);
	if (v)
		return v;
	struct ev_val zero = {};
	bpf_map_update_elem(map, &k, &zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, &k);
	if (!v)
		__sync_fetch_and_add(&ev_dropped, 1);
	return v;
}

static __always_inline struct ev_val *ev_counts(struct sock_common *skc)
{
	return deltas_of(&tcp_deltas, skc);
}

static __always_inline void ev_add(struct ev_val *v, __u32 state, __s64 d)
{
	if (state >= NSTATES)
		return;
	// Keep the mask: the verifier does not see the check above once the
	// compiler has moved it.
	barrier_var(state);
	__sync_fetch_and_add(&v->c[state & (NSTATES - 1)], d);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	struct ev_val *v = ev_counts((struct sock_common *)&sk->__sk_common);
	if (!v)
		return 0;
	// A child socket is cloned from its listener and set to SYN_RECV: it
	// is a new socket, the listener stays.
	if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) {
		ev_add(v, TCP_SYN_RECV, 1);
		return 0;
	}
	// TCP sockets in CLOSE are in no hash table and no dump shows them.
	if (oldstate != TCP_CLOSE)
		ev_add(v, oldstate, -1);
	if (newstate != TCP_CLOSE)
		ev_add(v, newstate, 1);
	return 0;
}

// ---- timewait and request sockets: fentry/fexit, where allowed ----
//
// Timewait sockets (by substate: TIME_WAIT, or FIN_WAIT2 for orphans) and
// request sockets (as SYN_RECV) have no tracepoint. Where the kernel allows
// fentry/fexit, these programs keep their per-namespace deltas in
// mini_deltas, so a scrape reads counters only. User space resolves the
// functions through BTF (names differ between releases) and sets each
// program's target before loading; where fentry is refused it does not
// load them and dumps those sockets with sock_diag instead.

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct ev_key);
	__type(value, struct ev_val);
} mini_deltas SEC(".maps");

static __always_inline void mini_add(struct sock_common *skc, __u32 state, __s64 d)
{
	struct ev_val *v = deltas_of(&mini_deltas, skc);
	if (v)
		ev_add(v, state, d);
}

// Only TCP's timewait sockets (DCCP shares the timewait code): the proto
// name is "TCP" or "TCPv6".
static __always_inline bool tw_is_tcp(struct inet_timewait_sock *tw)
{
	struct proto *prot = BPF_CORE_READ(tw, __tw_common.skc_prot);
	char name[4] = {};
	if (bpf_probe_read_kernel(name, 3, &prot->name))
		return false;
	return name[0] == 'T' && name[1] == 'C' && name[2] == 'P';
}

// inet_twsk_hashdance (<= 6.8) / inet_twsk_hashdance_schedule: the timewait
// socket replaces the full one in the established hash.
SEC("fentry/inet_twsk_hashdance_schedule")
int BPF_PROG(tw_hashed, struct inet_timewait_sock *tw)
{
	if (tw_is_tcp(tw))
		mini_add(&tw->__tw_common, BPF_CORE_READ(tw, tw_substate), 1);
	return 0;
}

// inet_twsk_kill: the timewait socket leaves the hash (timer or deschedule).
SEC("fentry/inet_twsk_kill")
int BPF_PROG(tw_killed, struct inet_timewait_sock *tw)
{
	if (tw_is_tcp(tw))
		mini_add(&tw->__tw_common, BPF_CORE_READ(tw, tw_substate), -1);
	return 0;
}

// An orphan's FIN_WAIT2 timewait socket turns into TIME_WAIT when the peer's
// FIN arrives, inside tcp_timewait_state_process (which then answers
// TCP_TW_ACK and still holds its reference). fentry remembers the substate
// per CPU (the function runs in softirq, not nested on one CPU); fexit moves
// the count.
struct tw_seen {
	__u64 tw;
	__u32 substate;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_seen);
} tw_scratch SEC(".maps");

SEC("fentry/tcp_timewait_state_process")
int BPF_PROG(tw_process_enter, struct inet_timewait_sock *tw)
{
	__u32 zero = 0;
	struct tw_seen *s = bpf_map_lookup_elem(&tw_scratch, &zero);
	if (!s)
		return 0;
	s->tw = (__u64)tw;
	s->substate = BPF_CORE_READ(tw, tw_substate);
	return 0;
}

SEC("fexit/tcp_timewait_state_process")
int BPF_PROG(tw_process_exit, struct inet_timewait_sock *tw)
{
	__u32 zero = 0;
	struct tw_seen *s = bpf_map_lookup_elem(&tw_scratch, &zero);
	__u64 ret = 0;
	if (!s || s->tw != (__u64)tw || s->substate != TCP_FIN_WAIT2)
		return 0;
	s->tw = 0;
	bpf_get_func_ret(ctx, &ret);
	if ((int)ret != bpf_core_enum_value(enum tcp_tw_status, TCP_TW_ACK))
		return 0;
	if (BPF_CORE_READ(tw, tw_substate) != TCP_TIME_WAIT)
		return 0;
	mini_add(&tw->__tw_common, TCP_FIN_WAIT2, -1);
	mini_add(&tw->__tw_common, TCP_TIME_WAIT, 1);
	return 0;
}

// A request socket's protocol is its listener's.
static __always_inline bool req_is_tcp(struct sock *req)
{
	struct sock *l = BPF_CORE_READ((struct request_sock *)req, __req_common.skc_listener);
	return l && BPF_CORE_READ(l, sk_protocol) == IPPROTO_TCP;
}

// inet_ehash_insert(sk, osk, dup): sk enters the established hash, and
// replaces osk when given (true when it did). A request socket enters it
// when a SYN is answered; when the handshake completes, the child socket
// replaces it there (inet_csk_reqsk_queue_drop then finds it unhashed); on
// listener migration a new request socket replaces the old one.
SEC("fexit/inet_ehash_insert")
int BPF_PROG(ehash_insert, struct sock *sk, struct sock *osk)
{
	__u64 ret = 0;
	bpf_get_func_ret(ctx, &ret);
	if (!(__u8)ret)
		return 0;
	if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_NEW_SYN_RECV && req_is_tcp(sk))
		mini_add(&sk->__sk_common, TCP_SYN_RECV, 1);
	if (osk && BPF_CORE_READ(osk, __sk_common.skc_state) == TCP_NEW_SYN_RECV && req_is_tcp(osk))
		mini_add(&osk->__sk_common, TCP_SYN_RECV, -1);
	return 0;
}

// __inet_csk_reqsk_queue_drop (>= 6.10; the timer calls it directly) or
// inet_csk_reqsk_queue_drop: true when the request socket was unhashed by
// this call (handshake completed, timed out, or dropped).
SEC("fexit/inet_csk_reqsk_queue_drop")
int BPF_PROG(reqsk_dropped, struct sock *sk, struct request_sock *req)
{
	__u64 ret = 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	bpf_get_func_ret(ctx, &ret);
	if ((__u8)ret)
		mini_add(&req->__req_common, TCP_SYN_RECV, -1);
	return 0;
}
