// Command holder holds TCP sockets open for bench/sockstate.sh: it listens
// on 127.0.0.1:<ephemeral>, opens -pairs connected pairs to itself (two
// sockets each), half-closes -halfclosed of them (FIN_WAIT_2 + CLOSE_WAIT,
// states that do not time out), prints "ready <sockets>" and keeps
// everything until its stdin closes. Run it inside the bench namespace; one
// process holds at most ~19,000 sockets (the open-files limit here is 20,000).
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	pairs := flag.Int("pairs", 1000, "connected pairs to hold")
	half := flag.Int("halfclosed", 0, "of those, pairs to half-close")
	flag.Parse()
	if 2**pairs+16 > 20000 {
		fail(fmt.Errorf("-pairs %d needs more than the 20,000 open files a process may have", *pairs))
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	conns := make([]*net.TCPConn, 0, 2**pairs)
	for i := range *pairs {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			fail(fmt.Errorf("pair %d: %w", i, err))
		}
		s, err := ln.Accept()
		if err != nil {
			fail(err)
		}
		if i < *half {
			if err := c.(*net.TCPConn).CloseWrite(); err != nil {
				fail(err)
			}
		}
		conns = append(conns, c.(*net.TCPConn), s.(*net.TCPConn))
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Printf("ready %d\n", len(conns)+1)
	<-sig
	for _, c := range conns {
		c.Close()
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "holder:", err)
	if errno, ok := err.(syscall.Errno); ok {
		os.Exit(int(errno))
	}
	os.Exit(1)
}
