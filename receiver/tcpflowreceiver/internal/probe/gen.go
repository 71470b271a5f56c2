package probe

//go:generate go tool bpf2go -cc $BPF_CLANG -strip $BPF_STRIP -cflags $BPF_CFLAGS -tags linux -target bpfel -type flow_rec -type tcp_sample tcpflow bpf/tcpflow.c -- -I../../../../internal/bpf
