package probe

//go:generate go tool bpf2go -cc clang-16 -strip llvm-strip-16 -cflags "-O2 -g -Wall" -tags linux -target bpfel -type flow_rec -type tcp_sample tcpflow bpf/tcpflow.c -- -I../../../../internal/bpf
