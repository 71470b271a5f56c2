// Command trafficgen makes local TCP traffic for the dashboard query test
// (test/dashboards/run.sh) and the soak test (bench/soak.sh): an echo server,
// long-lived streaming connections (so per-flow RTT/cwnd series exist) and a
// steady churn of short connections (so opens, closes and TIME_WAIT move).
// It only ever connects to the address it is given; the scripts give it
// loopback or addresses inside their own network namespaces.
//
//	trafficgen -listen 127.0.0.1:PORT                     echo server only
//	trafficgen -connect 127.0.0.1:PORT -streams 4 -churn 2000 -duration 30m
//	trafficgen -listen ... -connect ...                   both in one process
//
// Every 10 s (and at exit) it prints one line of totals on stderr; it exits
// non-zero when the server cannot listen or when no connection at all
// succeeded.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type counters struct {
	accepted, connected, connectErrors, streamBytes atomic.Uint64
}

func main() {
	listen := flag.String("listen", "", "run an echo server on this address")
	connect := flag.String("connect", "", "make traffic to this address")
	streams := flag.Int("streams", 2, "long-lived connections streaming data")
	streamRate := flag.Int("stream-bytes", 64<<10, "bytes per second written on each stream")
	churn := flag.Int("churn", 50, "short connections opened and closed per second")
	resetEvery := flag.Int("reset-every", 10, "close every Nth short connection with a RST (0: never)")
	duration := flag.Duration("duration", 0, "stop after this long (0: until SIGINT/SIGTERM)")
	flag.Parse()
	if *listen == "" && *connect == "" {
		fmt.Fprintln(os.Stderr, "trafficgen: give -listen and/or -connect")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	var c counters
	var wg sync.WaitGroup
	if *listen != "" {
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			fmt.Fprintf(os.Stderr, "trafficgen: listen %s: %v\n", *listen, err)
			os.Exit(1)
		}
		wg.Add(1)
		go func() { defer wg.Done(); serve(ctx, ln, &c) }()
	}
	if *connect != "" {
		for i := 0; i < *streams; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); stream(ctx, *connect, *streamRate, &c) }()
		}
		if *churn > 0 {
			wg.Add(1)
			go func() { defer wg.Done(); churnLoop(ctx, *connect, *churn, *resetEvery, &c) }()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				report(&c)
			}
		}
	}()
	wg.Wait()
	report(&c)
	if *connect != "" && c.connected.Load() == 0 {
		fmt.Fprintln(os.Stderr, "trafficgen: no connection succeeded")
		os.Exit(1)
	}
}

func report(c *counters) {
	fmt.Fprintf(os.Stderr, "trafficgen: accepted=%d connected=%d connect_errors=%d stream_bytes=%d\n",
		c.accepted.Load(), c.connected.Load(), c.connectErrors.Load(), c.streamBytes.Load())
}

// serve echoes every connection until the peer closes it or ctx ends.
func serve(ctx context.Context, ln net.Listener, c *counters) {
	var conns sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	go func() {
		<-ctx.Done()
		ln.Close()
		mu.Lock()
		for conn := range open {
			conn.Close()
		}
		mu.Unlock()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(os.Stderr, "trafficgen: accept: %v\n", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			break
		}
		c.accepted.Add(1)
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			conn.Close()
			break
		}
		open[conn] = struct{}{}
		mu.Unlock()
		conns.Add(1)
		go func() {
			defer conns.Done()
			_, _ = io.Copy(conn, conn)
			conn.Close()
			mu.Lock()
			delete(open, conn)
			mu.Unlock()
		}()
	}
	conns.Wait()
}

// stream keeps one connection open and writes rate bytes per second to it,
// reading the echo back, reconnecting if it breaks.
func stream(ctx context.Context, addr string, rate int, c *counters) {
	buf := make([]byte, 4096)
	var d net.Dialer
	for ctx.Err() == nil {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			c.connectErrors.Add(1)
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		c.connected.Add(1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			n, _ := io.Copy(io.Discard, conn)
			c.streamBytes.Add(uint64(n))
		}()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		tick := time.NewTicker(50 * time.Millisecond)
		chunk := max(rate/20, 1)
	write:
		for ctx.Err() == nil {
			select {
			case <-done:
				break write
			case <-tick.C:
			}
			for left := chunk; left > 0; {
				n := min(left, len(buf))
				if _, err := conn.Write(buf[:n]); err != nil {
					break write
				}
				left -= n
			}
		}
		tick.Stop()
		stop()
		conn.Close()
		<-done
	}
}

// churnLoop opens and closes rate short connections per second, each writing
// a few bytes and waiting for their echo; every resetEvery-th one is closed
// with a RST (SO_LINGER 0).
func churnLoop(ctx context.Context, addr string, rate, resetEvery int, c *counters) {
	const workers = 8
	tokens := make(chan uint64, rate)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := []byte("ping\n")
			reply := make([]byte, len(msg))
			d := net.Dialer{Timeout: time.Second}
			for n := range tokens {
				conn, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					c.connectErrors.Add(1)
					continue
				}
				c.connected.Add(1)
				_ = conn.SetDeadline(time.Now().Add(time.Second))
				if _, err := conn.Write(msg); err == nil {
					_, _ = io.ReadFull(conn, reply)
				}
				if resetEvery > 0 && n%uint64(resetEvery) == 0 {
					_ = conn.(*net.TCPConn).SetLinger(0)
				}
				conn.Close()
			}
		}()
	}
	// Tokens in 10 ms slices so the rate is smooth.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var n uint64
	start := time.Now()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case now := <-tick.C:
			due := uint64(now.Sub(start).Seconds() * float64(rate))
			for ; n < due; n++ {
				select {
				case tokens <- n:
				default: // workers are behind: skip rather than queue up
				}
			}
		}
	}
	close(tokens)
	wg.Wait()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
