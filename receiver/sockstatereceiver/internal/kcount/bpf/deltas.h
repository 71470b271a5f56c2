// The per-namespace delta maps' key and value, and their update helpers:
// shared by events.c and hooks.c.

#ifndef SOCKSTATE_DELTAS_H
#define SOCKSTATE_DELTAS_H

#include "sockstate.h"

struct ev_key {
	__u32 netns; // network namespace inode
	__u32 family;
};

struct ev_val {
	__s64 c[NSTATES];
};

// A per-namespace delta map: signed per-state counts by namespace and family.
#define DELTA_MAP(name)                         \
	struct {                                \
		__uint(type, BPF_MAP_TYPE_HASH);     \
		__uint(max_entries, 4096);           \
		__type(key, struct ev_key);          \
		__type(value, struct ev_val);        \
	} name SEC(".maps")

// Updates that found a delta map full; must stay 0 (exported as drift cause).
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

static __always_inline void ev_add(struct ev_val *v, __u32 state, __s64 d)
{
	if (state >= NSTATES)
		return;
	// Keep the mask: the verifier does not see the check above once the
	// compiler has moved it.
	barrier_var(state);
	__sync_fetch_and_add(&v->c[state & (NSTATES - 1)], d);
}

#endif
