//go:build ignore

// Timewait sockets (by substate: TIME_WAIT, or FIN_WAIT2 for orphans) and
// request sockets (as SYN_RECV) have no tracepoint. Where the kernel allows
// fentry/fexit, these programs keep their per-namespace deltas in
// mini_deltas, so a scrape reads counters only. User space resolves the
// functions through BTF (names differ between releases) and sets each
// program's target before loading; where fentry is refused it does not
// load them and dumps those sockets with sock_diag instead.

#include "deltas.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

DELTA_MAP(mini_deltas);

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
