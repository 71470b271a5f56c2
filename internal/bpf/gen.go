package bpf

//go:generate go tool bpf2go -cc $BPF_CLANG -strip $BPF_STRIP -cflags $BPF_CFLAGS -tags linux -target bpfel hz bpf/hz.c -- -I.
