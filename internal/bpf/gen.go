package bpf

//go:generate go tool bpf2go -cc clang-16 -strip llvm-strip-16 -cflags "-O2 -g -Wall" -tags linux -target bpfel hz hz.c -- -I.
