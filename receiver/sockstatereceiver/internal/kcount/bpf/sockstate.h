// Shared by the sockstate BPF programs (iter.c, events.c, hooks.c): headers
// and constants.

#ifndef SOCKSTATE_H
#define SOCKSTATE_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define NSTATES 16
#define MAX_PORTS 64

#endif
