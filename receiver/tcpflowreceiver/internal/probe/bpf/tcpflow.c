//go:build ignore

// tcpflow: per-flow TCP internals aggregated in the kernel.
//
// Hot path (tp_btf/tcp_probe, once per received segment on an established
// socket): one sk_storage lookup, a couple of tcp_sock loads and, when the
// sampling rule says so, a few counter updates. Nothing leaves the kernel per
// segment. Gauges and the socket's own counters are read live from tcp_sock by
// the bpf_sk_storage_map iterator at scrape time, so they are exactly what
// `ss -ti` would print at that moment. Closed flows are sent once through a
// ring buffer with batched wake-ups.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7

#define TCP_CA_Open 0
#define TCP_CA_CWR 2
#define TCP_CA_Recovery 3
#define TCP_CA_Loss 4
#define ICSK_TIME_LOSS_PROBE 5

#define BPF_LOCAL_STORAGE_GET_F_CREATE 1
#define BPF_RB_NO_WAKEUP 1
#define BPF_RB_FORCE_WAKEUP 2
#define BPF_RB_AVAIL_DATA 0
#define BPF_RB_RING_SIZE 1

#define MAX_PORTS 8
#define MAX_CIDRS 8

enum retrans_type {
	RT_TIMEOUT = 0,
	RT_FAST,
	RT_TLP,
	RT_SYN,
	RT_SYNACK,
	RT_MAX,
};

enum counter {
	C_ADMITTED = 0,        /* flows admitted to the table */
	C_TABLE_FULL,      /* events on untracked flows refused: table full */
	C_RING_FULL,       /* close records lost: ring buffer full */
	C_EVICTED,         /* idle flows evicted by the iterator */
	C_CLOSED,          /* tracked flows closed */
	C_FILTERED,        /* admissions refused by a filter (per event) */
	C_STORAGE_FAIL,    /* sk_storage allocation failed */
	C_SAMPLE_RATE,     /* samples not streamed: global samples/s cap */
	C_SAMPLE_RING_FULL, /* samples not streamed: sample ring buffer full */
	C_MAX,
};

/* Configuration, set by the loader before load. */
volatile const __u32 cfg_on_cwnd_change = 0;
volatile const __u64 cfg_min_interval_us = 0;
volatile const __u64 cfg_idle_timeout_us = 0;
volatile const __u32 cfg_max_flows = 1024;
volatile const __u64 cfg_netns_cookie = 0;
volatile const __u32 cfg_n_local_ports = 0;
volatile const __u16 cfg_local_ports[MAX_PORTS] = {};
volatile const __u32 cfg_n_peer_ports = 0;
volatile const __u16 cfg_peer_ports[MAX_PORTS] = {};
/* ports matching either end (tcp_probe_plus `port`) */
volatile const __u32 cfg_n_ports = 0;
volatile const __u16 cfg_ports[MAX_PORTS] = {};
/* sample stream: 1 writes each sample to the samples ring buffer */
volatile const __u32 cfg_stream = 0;
/* global cap on streamed samples per second; 0 = none */
volatile const __u64 cfg_max_samples_per_sec = 0;
volatile const __u32 cfg_n_cidrs = 0;
/* peer CIDRs as IPv6 (IPv4 mapped ::ffff:a.b.c.d), addr and mask in network order */
volatile const __u64 cfg_cidr_addr[MAX_CIDRS][2] = {};
volatile const __u64 cfg_cidr_mask[MAX_CIDRS][2] = {};

/* Hot fields first: an event touches one cache line of the storage. (A
 * per-flow log2 srtt histogram cost a second line per event and is not
 * kept; samples, sum, min and max are.) */
struct flow {
	__u64 events;   /* tcp_probe events */
	__u64 samples;  /* of which sampled */
	__u64 srtt_sum_us;
	__u64 last_sample_us; /* tcp_mstamp at the last sample */
	__u32 srtt_min_us;
	__u32 srtt_max_us;
	__u32 last_cwnd;
	__u32 cwnd_changes;
	__u32 zero_window;
	__u32 zw_state;
	__u32 retrans[RT_MAX];
	/* Cold: set once when the flow enters the table. */
	__u8 saddr[16]; /* IPv4 as ::ffff:a.b.c.d */
	__u8 daddr[16];
	__u16 sport;    /* host order */
	__u16 dport;
	__u16 family;
	__u16 pad;
	__u64 id;
	__u64 start_ns;
	/* socket counters when the flow was admitted (0 if seen from connect/accept) */
	__u64 base_bytes_acked;
	__u64 base_bytes_received;
	__u64 base_bytes_retrans;
	__u32 base_total_retrans;
	__u32 base_segs_out;
	__u32 base_segs_in;
	__u32 netns_ino; /* the socket's network namespace (its /proc/PID/ns/net inode) */
	__u64 cookie; /* socket cookie, as the tcp:tcp_probe tracepoint prints it */
};

/* What the iterator and the close path emit. */
struct flow_rec {
	struct flow f;
	__u64 netns_cookie;
	__u64 now_ns;
	__u64 bytes_acked;
	__u64 bytes_received;
	__u64 bytes_retrans;
	__u32 total_retrans;
	__u32 segs_out;
	__u32 segs_in;
	__u32 srtt_us;    /* smoothed, already >>3 */
	__u32 rttvar_us;  /* mdev_us >> 2, as tcp_info */
	__u32 rto_jiffies;
	__u32 snd_cwnd;
	__u32 snd_ssthresh;
	__u32 in_flight;
	__u32 lost_out;
	__u32 retrans_out;
	__u32 snd_wnd;
	__u32 rcv_queue;
	__u32 snd_queue;
	__u32 idle_us;
	__u8 state;
	__u8 kind; /* 0 live, 1 evicted (final), 2 closed (final) */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} closed SEC(".maps");

/* One streamed sample: the fields of the tcp:tcp_probe tracepoint, in its
 * units, plus tcp_probe_plus's. */
struct tcp_sample {
	__u64 ts_ns;     /* bpf_ktime_get_ns */
	__u64 cookie;    /* socket cookie */
	__u8 saddr[16];  /* IPv4 as ::ffff:a.b.c.d */
	__u8 daddr[16];
	__u16 sport;     /* host order */
	__u16 dport;
	__u16 family;
	__u16 pad;
	__u32 data_len;
	__u32 snd_nxt;
	__u32 snd_una;
	__u32 snd_cwnd;
	__u32 ssthresh;  /* tcp_current_ssthresh(), as the tracepoint */
	__u32 snd_wnd;
	__u32 rcv_wnd;
	__u32 srtt_us;
	__u32 rttvar_us;
	__u32 rto_jiffies;
	__u32 lost;
	__u32 in_flight;
	__u32 retrans;   /* retrans_out */
	__u32 total_retrans;
	__u32 rcv_queue;
	__u32 snd_queue;
	__u32 netns_ino; /* the flow's network namespace inode */
	__u32 pad2;
};

/* Sized by the loader (sample_ring_size); one page when not streaming. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Sampled srtt values, log2 buckets summed over CPUs at scrape time: key
 * (family == AF_INET6) * RTT_BUCKETS + b, bucket b holding (2^(b-1), 2^b] us
 * (b = 0: srtt <= 1 us; the last one also everything above 2^30 us). */
#define RTT_BUCKETS 32
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * RTT_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} rtt_hist SEC(".maps");

__u64 nflows = 0;  /* tracked flows now */
__u64 next_id = 0;

/* samples/s cap: current one-second window and samples in it (approximate
 * at window edges: racing CPUs may reset it twice) */
__u64 rate_window_ns = 0;
__u64 rate_count = 0;

/* Force BTF for the record types so bpf2go generates them. */
const struct flow_rec *unused_flow_rec __attribute__((unused));
const struct tcp_sample *unused_sample __attribute__((unused));

static __always_inline void count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);
	if (v)
		*v += 1;
}

/* Number of significant bits of v (0 for 0): no clz in BPF. */
static __always_inline __u32 bit_len(__u32 v)
{
	__u32 n = 0;
#pragma unroll
	for (__u32 sh = 16; sh > 0; sh >>= 1) {
		if (v >> sh) {
			n += sh;
			v >>= sh;
		}
	}
	return n + v;
}

static __always_inline void read_addrs(const struct sock *sk, __u16 family, __u8 *saddr, __u8 *daddr)
{
	if (family == AF_INET6) {
		BPF_CORE_READ_INTO((struct in6_addr *)saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr *)daddr, sk, __sk_common.skc_v6_daddr);
		return;
	}
	__builtin_memset(saddr, 0, 16);
	__builtin_memset(daddr, 0, 16);
	saddr[10] = 0xff; saddr[11] = 0xff;
	daddr[10] = 0xff; daddr[11] = 0xff;
	BPF_CORE_READ_INTO((__be32 *)(saddr + 12), sk, __sk_common.skc_rcv_saddr);
	BPF_CORE_READ_INTO((__be32 *)(daddr + 12), sk, __sk_common.skc_daddr);
}

static __always_inline bool port_in(volatile const __u16 *list, __u32 n, __u16 port)
{
	for (__u32 i = 0; i < MAX_PORTS && i < n; i++)
		if (list[i] == port)
			return true;
	return false;
}

/* Filters (netns, ports, peer CIDRs); evaluated only when a flow is admitted. */
static __always_inline bool wanted(const struct sock *sk)
{
	if (cfg_netns_cookie && BPF_CORE_READ(sk, __sk_common.skc_net.net, net_cookie) != cfg_netns_cookie)
		return false;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return false;
	if (cfg_n_local_ports &&
	    !port_in(cfg_local_ports, cfg_n_local_ports, BPF_CORE_READ(sk, __sk_common.skc_num)))
		return false;
	if (cfg_n_peer_ports &&
	    !port_in(cfg_peer_ports, cfg_n_peer_ports, bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport))))
		return false;
	if (cfg_n_ports &&
	    !port_in(cfg_ports, cfg_n_ports, BPF_CORE_READ(sk, __sk_common.skc_num)) &&
	    !port_in(cfg_ports, cfg_n_ports, bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport))))
		return false;
	if (cfg_n_cidrs) {
		__u8 s[16], d[16];
		__u64 a0, a1;
		read_addrs(sk, family, s, d);
		__builtin_memcpy(&a0, d, 8);
		__builtin_memcpy(&a1, d + 8, 8);
		bool ok = false;
		for (__u32 i = 0; i < MAX_CIDRS && i < cfg_n_cidrs; i++)
			if ((a0 & cfg_cidr_mask[i][0]) == cfg_cidr_addr[i][0] &&
			    (a1 & cfg_cidr_mask[i][1]) == cfg_cidr_addr[i][1]) { ok = true; break; }
		if (!ok)
			return false;
	}
	return true;
}

/* Admit sk to the table if it passes the filters and there is room.
 * from_state SYN_SENT/SYN_RECV: the flow is seen from its connect/accept, so
 * its counters count from zero; 0: seen mid-life, its counters count from now. */
static __always_inline struct flow *admit(struct sock *sk, int from_state)
{
	if (!wanted(sk)) {
		count(C_FILTERED);
		return NULL;
	}
	if (__sync_fetch_and_add(&nflows, 1) >= cfg_max_flows) {
		__sync_fetch_and_add(&nflows, -1);
		count(C_TABLE_FULL);
		return NULL;
	}
	struct flow *f = bpf_sk_storage_get(&flows, sk, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!f) {
		__sync_fetch_and_add(&nflows, -1);
		count(C_STORAGE_FAIL);
		return NULL;
	}
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	/* The tuple is kept: at TCP_CLOSE the local port may already be released. */
	f->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	f->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	f->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	read_addrs(sk, f->family, f->saddr, f->daddr);
	f->id = __sync_fetch_and_add(&next_id, 1) + 1;
	f->start_ns = bpf_ktime_get_ns();
	f->cookie = bpf_get_socket_cookie(sk);
	/* Once per flow: what all_netns attributes the flow's series and
	 * samples by (the namespace inode, as /proc/PID/ns/net shows it). */
	f->netns_ino = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	f->srtt_min_us = ~0U;
	if (tp && from_state == TCP_SYN_SENT) {
		/* every retransmit so far was of the SYN */
		f->retrans[RT_SYN] = tp->total_retrans;
	} else if (tp && from_state == TCP_SYN_RECV) {
		/* the child inherits req->num_retrans: SYN-ACK retransmits */
		f->retrans[RT_SYNACK] = tp->total_retrans;
	} else if (tp) {
		f->base_bytes_acked = tp->bytes_acked;
		f->base_bytes_received = tp->bytes_received;
		f->base_bytes_retrans = tp->bytes_retrans;
		f->base_total_retrans = tp->total_retrans;
		f->base_segs_out = tp->segs_out;
		f->base_segs_in = tp->segs_in;
	}
	count(C_ADMITTED);
	return f;
}

/* Bytes between two sequence numbers, as ss's Recv-Q/Send-Q (0 if behind). */
static __always_inline __u32 queued(__u32 end, __u32 start)
{
	__s32 n = (__s32)(end - start);
	return n > 0 ? n : 0;
}

/* The cap: true if one more sample fits in the current one-second window. */
static __always_inline bool under_cap(__u64 now)
{
	if (!cfg_max_samples_per_sec)
		return true;
	if (now - rate_window_ns >= 1000000000ULL) {
		rate_window_ns = now;
		rate_count = 0;
	}
	return __sync_fetch_and_add(&rate_count, 1) < cfg_max_samples_per_sec;
}

/* A sample's space in the ring: the record and the ring's 8-byte header. */
#define SAMPLE_SLOT (sizeof(struct tcp_sample) + 8)

/* Wake-ups are batched: below a quarter full the reader drains the ring on
 * its flush timer. A wake-up is forced when a record takes the unread data
 * past a quarter, and again past each further eighth of the ring (a window
 * of 4 records each, so that racing CPUs, which both see the other's
 * reservation, cannot both miss it). Forcing one on every record above the
 * mark, as before, raised an interrupt per sample until the reader ran. */
static __always_inline __u64 sample_wakeup(void)
{
	__u64 avail = bpf_ringbuf_query(&samples, BPF_RB_AVAIL_DATA);
	__u64 size = bpf_ringbuf_query(&samples, BPF_RB_RING_SIZE);
	if (avail < size / 4)
		return BPF_RB_NO_WAKEUP;
	if (((avail - size / 4) & (size / 8 - 1)) < 4 * SAMPLE_SLOT)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* Write one sample to the stream. */
static __always_inline void stream(struct sock *sk, struct tcp_sock *tp, const struct sk_buff *skb, struct flow *f)
{
	__u64 now = bpf_ktime_get_ns();
	if (!under_cap(now)) {
		count(C_SAMPLE_RATE);
		return;
	}
	struct tcp_sample *r = bpf_ringbuf_reserve(&samples, sizeof(*r), 0);
	if (!r) {
		count(C_SAMPLE_RING_FULL);
		return;
	}
	r->ts_ns = now;
	r->cookie = f->cookie;
	__builtin_memcpy(r->saddr, f->saddr, 16);
	__builtin_memcpy(r->daddr, f->daddr, 16);
	r->sport = f->sport;
	r->dport = f->dport;
	r->family = f->family;
	r->pad = 0;
	r->netns_ino = f->netns_ino; /* cold line, already read for the tuple */
	r->pad2 = 0;
	/* data_len as the tracepoint: skb->len minus the TCP header (skb->data
	 * points at it in tcp_rcv_established) */
	unsigned char *data = BPF_CORE_READ(skb, data);
	__u8 doff = 0;
	bpf_probe_read_kernel(&doff, 1, data + 12);
	r->data_len = BPF_CORE_READ(skb, len) - (doff >> 4) * 4;
	__u32 cwnd = tp->snd_cwnd;
	__u32 ssth = tp->snd_ssthresh;
	__u8 ca = BPF_CORE_READ_BITFIELD((struct inet_connection_sock *)tp, icsk_ca_state);
	/* tcp_current_ssthresh(): outside CWR/Recovery, at least 3/4 cwnd */
	if (!((1 << ca) & ((1 << TCP_CA_CWR) | (1 << TCP_CA_Recovery)))) {
		__u32 t = (cwnd >> 1) + (cwnd >> 2);
		if (t > ssth)
			ssth = t;
	}
	r->snd_nxt = tp->snd_nxt;
	r->snd_una = tp->snd_una;
	r->snd_cwnd = cwnd;
	r->ssthresh = ssth;
	r->snd_wnd = tp->snd_wnd;
	r->rcv_wnd = tp->rcv_wnd;
	r->srtt_us = tp->srtt_us >> 3;
	r->rttvar_us = tp->mdev_us >> 2;
	r->rto_jiffies = tp->inet_conn.icsk_rto;
	r->lost = tp->lost_out;
	r->in_flight = tp->packets_out - (tp->sacked_out + tp->lost_out) + tp->retrans_out;
	r->retrans = tp->retrans_out;
	r->total_retrans = tp->total_retrans;
	r->rcv_queue = queued(tp->rcv_nxt, tp->copied_seq);
	r->snd_queue = queued(tp->write_seq, tp->snd_una);
	bpf_ringbuf_submit(r, sample_wakeup());
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(tcp_probe, struct sock *sk, const struct sk_buff *skb)
{
	struct flow *f = bpf_sk_storage_get(&flows, sk, NULL, 0);
	if (!f) {
		f = admit(sk, 0);
		if (!f)
			return 0;
	}
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0;
	f->events++;

	/* Per-event work touches only this socket's storage: no global or
	 * per-CPU counters, and no store unless something changed (a sample
	 * also bumps one per-CPU rtt_hist slot). */
	__u32 wnd = tp->snd_wnd;
	if (wnd == 0 && !f->zw_state) {
		f->zero_window++;
		f->zw_state = 1;
	} else if (wnd && f->zw_state) {
		f->zw_state = 0;
	}

	if (cfg_on_cwnd_change) {
		__u32 cwnd = tp->snd_cwnd;
		if (cwnd == f->last_cwnd)
			return 0;
		f->last_cwnd = cwnd;
		f->cwnd_changes++;
	}
	if (cfg_min_interval_us) {
		__u64 now = tp->tcp_mstamp;
		if (now - f->last_sample_us < cfg_min_interval_us)
			return 0;
		f->last_sample_us = now;
	}
	if (cfg_stream)
		stream(sk, tp, skb, f);
	__u32 srtt = tp->srtt_us >> 3;
	if (srtt == 0)
		return 0;
	f->samples++;
	f->srtt_sum_us += srtt;
	if (srtt < f->srtt_min_us)
		f->srtt_min_us = srtt;
	if (srtt > f->srtt_max_us)
		f->srtt_max_us = srtt;
	/* The family from the socket (hot, just used by the stack), not from
	 * the flow's cold fields, which would be a second cache line. */
	__u32 b = bit_len(srtt - 1);
	if (b > RTT_BUCKETS - 1)
		b = RTT_BUCKETS - 1;
	if (sk->__sk_common.skc_family == AF_INET6)
		b += RTT_BUCKETS;
	__u64 *c = bpf_map_lookup_elem(&rtt_hist, &b);
	if (c)
		*c += 1;
	return 0;
}

static __always_inline void fill_rec(struct flow_rec *r, struct sock *sk, struct flow *f, __u8 kind)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	__builtin_memcpy(&r->f, f, sizeof(*f));
	r->kind = kind;
	r->now_ns = bpf_ktime_get_ns();
	r->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	r->netns_cookie = BPF_CORE_READ(sk, __sk_common.skc_net.net, net_cookie);
	if (!tp)
		return;
	r->bytes_acked = tp->bytes_acked;
	r->bytes_received = tp->bytes_received;
	r->bytes_retrans = tp->bytes_retrans;
	r->total_retrans = tp->total_retrans;
	r->segs_out = tp->segs_out;
	r->segs_in = tp->segs_in;
	r->srtt_us = tp->srtt_us >> 3;
	r->rttvar_us = tp->mdev_us >> 2;
	r->rto_jiffies = tp->inet_conn.icsk_rto;
	r->snd_cwnd = tp->snd_cwnd;
	r->snd_ssthresh = tp->snd_ssthresh;
	r->lost_out = tp->lost_out;
	r->retrans_out = tp->retrans_out;
	r->in_flight = tp->packets_out - (tp->sacked_out + tp->lost_out) + tp->retrans_out;
	r->snd_wnd = tp->snd_wnd;
	r->rcv_queue = queued(tp->rcv_nxt, tp->copied_seq);
	r->snd_queue = queued(tp->write_seq, tp->snd_una);
	__u64 nowus = r->now_ns / 1000, last = tp->tcp_mstamp;
	r->idle_us = nowus > last ? (nowus - last > 0xffffffff ? 0xffffffff : nowus - last) : 0;
}

/* Run by the loader (BPF_PROG_TEST_RUN) before the programs are attached:
 * reserves and discards page-sized records through the sample ring, so
 * that every page of it has been written once. The first write to a page of
 * a new ring is expensive on some (virtualised) hosts: measured here, a
 * sample written to an untouched page cost 0.6-1.8 us against 0.2 us once
 * the ring had been round once. Returns the pages touched (less than
 * PREFAULT_PAGES when the ring is full: the loader drains it and runs again). */
#define PREFAULT_PAGES 256
SEC("socket")
int prefault_samples(struct __sk_buff *skb)
{
	int n = 0;
	for (int i = 0; i < PREFAULT_PAGES; i++) {
		void *r = bpf_ringbuf_reserve(&samples, 4096 - 8, 0);
		if (!r)
			break;
		bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);
		n++;
	}
	return n;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)) {
		if (!bpf_sk_storage_get(&flows, sk, NULL, 0))
			admit(sk, oldstate);
		return 0;
	}
	if (newstate != TCP_CLOSE)
		return 0;
	struct flow *f = bpf_sk_storage_get(&flows, sk, NULL, 0);
	if (!f)
		return 0;
	count(C_CLOSED);
	struct flow_rec *r = bpf_ringbuf_reserve(&closed, sizeof(*r), 0);
	if (r) {
		fill_rec(r, sk, f, 2);
		/* Wake the reader only when the ring is half full; otherwise it polls. */
		__u64 avail = bpf_ringbuf_query(&closed, BPF_RB_AVAIL_DATA);
		__u64 size = bpf_ringbuf_query(&closed, BPF_RB_RING_SIZE);
		bpf_ringbuf_submit(r, avail > size / 2 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	} else {
		count(C_RING_FULL);
	}
	bpf_sk_storage_delete(&flows, sk);
	__sync_fetch_and_add(&nflows, -1);
	return 0;
}

/* Retransmit classification, from the socket's state at the tracepoint:
 *   SYN_SENT                    -> syn
 *   SYN_RECV                    -> synack
 * SYN-ACKs retransmitted from a request socket (before the flow exists) and
 * SYNs retransmitted before the handshake completed are taken from
 * total_retrans when the flow is admitted at ESTABLISHED.
 *   icsk_ca_state == TCP_CA_Loss -> timeout (RTO fired: tcp_enter_loss ran first)
 *   icsk_ca_state Open or CWR and icsk_pending == ICSK_TIME_LOSS_PROBE
 *                               -> tail_loss_probe (TLP is only scheduled in Open/CWR,
 *                                  and the armed timer is the probe timer)
 *   otherwise                    -> fast (fast retransmit / SACK / RACK recovery:
 *                                  tcp_fastretrans_alert enters Recovery first; the
 *                                  probe timer may still be armed then, hence the
 *                                  state test above)
 */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit_skb, struct sock *sk, const struct sk_buff *skb)
{
	/* Since Linux 6.10 the tracepoint also fires on failed retransmits, with err != 0. */
	if (bpf_core_type_exists(struct trace_event_raw_tcp_retransmit_skb) &&
	    bpf_core_field_exists(struct trace_event_raw_tcp_retransmit_skb, err) && ctx[2] != 0)
		return 0;
	struct flow *f = bpf_sk_storage_get(&flows, sk, NULL, 0);
	if (!f)
		return 0;
	__u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);
	struct inet_connection_sock *icsk = (struct inet_connection_sock *)bpf_skc_to_tcp_sock(sk);
	__u32 t = RT_FAST;
	if (state == TCP_SYN_SENT) {
		t = RT_SYN;
	} else if (state == TCP_SYN_RECV) {
		t = RT_SYNACK;
	} else if (icsk) {
		__u8 ca = BPF_CORE_READ_BITFIELD(icsk, icsk_ca_state);
		if (ca == TCP_CA_Loss)
			t = RT_TIMEOUT;
		else if ((ca == TCP_CA_Open || ca == TCP_CA_CWR) && icsk->icsk_pending == ICSK_TIME_LOSS_PROBE)
			t = RT_TLP;
	}
	/* total_retrans grows by the segments in skb (GSO), count the same */
	struct tcp_skb_cb *cb = (struct tcp_skb_cb *)&skb->cb[0];
	__u32 segs = BPF_CORE_READ(cb, tcp_gso_segs);
	if (segs == 0)
		segs = 1;
	if (t < RT_MAX)
		__sync_fetch_and_add(&f->retrans[t], segs);
	return 0;
}

/* Scrape: one record per tracked flow, values read live from the socket.
 * Flows idle for longer than cfg_idle_timeout_us are emitted one last time
 * (kind 1) and removed from the table. */
static __always_inline void emit_flow(struct seq_file *seq, struct sock *sk, struct flow *f)
{
	struct flow_rec r = {};
	fill_rec(&r, sk, f, 0);
	if (cfg_idle_timeout_us && r.idle_us >= cfg_idle_timeout_us) {
		r.kind = 1;
		if (bpf_sk_storage_delete(&flows, sk) == 0) {
			__sync_fetch_and_add(&nflows, -1);
			count(C_EVICTED);
		}
	}
	bpf_seq_write(seq, &r, sizeof(r));
}

/* Walks the flow table itself: cost grows with tracked flows only. */
SEC("iter/bpf_sk_storage_map")
int dump_flows(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	struct sock *sk = ctx->sk;
	struct flow *f = ctx->value;
	if (!sk || !f)
		return 0;
	emit_flow(ctx->meta->seq, sk, f);
	return 0;
}

/* The same records from a walk of the reading thread's network namespace's
 * TCP sockets, for kernels (or sandboxes) that refuse the storage-map
 * iterator: it visits every socket, not only tracked ones. */
SEC("iter/tcp")
int dump_flows_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	if (!skc)
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; // timewait and request sockets have no storage
	struct flow *f = bpf_sk_storage_get(&flows, tp, 0, 0);
	if (!f)
		return 0;
	emit_flow(ctx->meta->seq, (struct sock *)tp, f);
	return 0;
}
