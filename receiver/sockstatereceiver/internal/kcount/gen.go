package kcount

// The compiler, strip tool and flags come from the environment (the
// Makefile exports BPF_CLANG, BPF_STRIP and BPF_CFLAGS), as in cilium.
//go:generate go tool bpf2go -cc $BPF_CLANG -strip $BPF_STRIP -cflags $BPF_CFLAGS -tags linux -target bpfel iter bpf/iter.c -- -I../../../../internal/bpf
//go:generate go tool bpf2go -cc $BPF_CLANG -strip $BPF_STRIP -cflags $BPF_CFLAGS -tags linux -target bpfel -type ev_key -type ev_val events bpf/events.c -- -I../../../../internal/bpf
//go:generate go tool bpf2go -cc $BPF_CLANG -strip $BPF_STRIP -cflags $BPF_CFLAGS -tags linux -target bpfel hooks bpf/hooks.c -- -I../../../../internal/bpf
