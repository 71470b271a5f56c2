// Command gopsutil measures gopsutil's net.ConnectionsWithContext(ctx,
// "tcp"), what the hostmetrics receiver's system.network.connections uses:
// it prints the CPU time (user+system) per call and the connection count.
// Run it inside the bench namespace.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"syscall"

	"github.com/shirou/gopsutil/v4/net"
)

func cpu() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func main() {
	n := flag.Int("n", 1, "calls")
	flag.Parse()
	ctx := context.Background()
	t0 := cpu()
	var conns int
	for range *n {
		cs, err := net.ConnectionsWithContext(ctx, "tcp")
		if err != nil {
			fmt.Fprintln(os.Stderr, "gopsutil:", err)
			os.Exit(1)
		}
		conns = len(cs)
	}
	fmt.Printf("cpu_ns_per_call=%d conns=%d\n", (cpu()-t0)/int64(*n), conns)
}
