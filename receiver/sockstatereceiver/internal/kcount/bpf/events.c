//go:build ignore

// on_set_state keeps, per network namespace and family, signed deltas per
// TCP state of full sockets through sock:inet_sock_set_state; user space
// adds them to a base from one iterator pass in each namespace. Timewait
// and request sockets have no tracepoint: hooks.c follows them where
// fentry/fexit load, and user space dumps them with sock_diag elsewhere.

#include "deltas.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

DELTA_MAP(tcp_deltas);

static __always_inline struct ev_val *ev_counts(struct sock_common *skc)
{
	return deltas_of(&tcp_deltas, skc);
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
