package testnet

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// GoMemory returns the Go heap and goroutine stacks in use after a full
// collection: what the process holds, not what it allocated and dropped.
func GoMemory() uint64 {
	runtime.GC()
	runtime.GC() // the first may leave objects only finalizers released
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// Workload is a component measured by MemoryPerUnit at one size of work.
// Start starts the component on the work prepared by Grow, brings it to a
// steady state (scrapes, waits) and returns how many units it holds, read
// from what it reports where it can (other tests may add namespaces to the
// host), and a function that stops it.
type Workload struct {
	Grow  func(n int)
	Start func() (units int, stop func())
}

// MemoryPerUnit measures the Go memory a component holds (GoMemory with
// the component started minus before) with small and with large units of
// work prepared, and reports the difference per unit ("B/<unit>") and what
// is left at zero units ("B-fixed"): the part every instance pays. The
// work itself (namespaces, sockets, a fake source's flows) is prepared
// before the first reading, so only the component's share is counted.
func MemoryPerUnit(b *testing.B, unit string, small, large int, w Workload) {
	b.Helper()
	var units [2]int
	var held [2]float64
	for i, n := range []int{small, large} {
		w.Grow(n)
		before := GoMemory()
		u, stop := w.Start()
		held[i] = float64(GoMemory()) - float64(before)
		units[i] = u
		stop()
		b.Logf("%d units (%s): %.0f bytes held", u, unit, held[i])
	}
	if units[1] <= units[0] {
		b.Fatalf("units did not grow: %v", units)
	}
	per := (held[1] - held[0]) / float64(units[1]-units[0])
	b.ReportMetric(per, "B/"+unit)
	b.ReportMetric(held[0]-per*float64(units[0]), "B-fixed")
	b.ReportMetric(float64(units[1]), "units")
}

// Sleeper starts a process that sleeps in the namespace, so that listing
// the host's namespaces through /proc (all_netns) finds it; it is killed
// when the test ends.
func (n *NS) Sleeper(tb testing.TB) {
	tb.Helper()
	cmd := n.Command("sleep", "infinity")
	if err := cmd.Start(); err != nil {
		tb.Fatalf("sleep in %s: %v", n, err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// Populate adds namespaces to *nss until it holds n, each with a Sleeper
// in it and a listener on loopback with pairs established TCP pairs (the
// few sockets of a small pod): the units of an all_netns memory benchmark.
func Populate(tb testing.TB, nss *[]*NS, n, pairs int) {
	tb.Helper()
	for len(*nss) < n {
		ns := New(tb)
		ns.Sleeper(tb)
		ns.Pairs(tb, ns.Listen(tb, "tcp4", "127.0.0.1:0"), pairs)
		*nss = append(*nss, ns)
	}
	time.Sleep(200 * time.Millisecond) // ip netns exec has entered and exec'd sleep
}

// MemoryPerNetNS runs MemoryPerUnit for an all_netns scraper over the
// host's namespaces plus 20 and 200 more made by Populate (a process and
// two TCP pairs each). start starts the scraper and returns one scrape,
// which returns how many namespaces it reported, and a stop; it is scraped
// three times before the reading.
func MemoryPerNetNS(b *testing.B, start func() (scrape func() (int, error), stop func() error)) {
	RequireRoot(b)
	var nss []*NS
	MemoryPerUnit(b, "netns", 20, 200, Workload{
		Grow: func(n int) { Populate(b, &nss, n, 2) },
		Start: func() (int, func()) {
			scrape, stop := start()
			var nns int
			for range 3 {
				n, err := scrape()
				if err != nil {
					b.Fatalf("scrape: %v", err)
				}
				nns = n
			}
			if nns < len(nss) {
				b.Fatalf("the scrape reported %d namespaces, fewer than the %d made", nns, len(nss))
			}
			return nns, func() {
				if err := stop(); err != nil {
					b.Fatalf("shutdown: %v", err)
				}
			}
		},
	})
}

// Churn opens count connections to ln from inside the namespace and closes
// both ends of each (the client first): count*2 sockets that reach
// TCP_CLOSE.
func (n *NS) Churn(tb testing.TB, ln net.Listener, count int) {
	tb.Helper()
	n.Do(tb, func() error {
		return ConnectPairs(ln, count, func(c, s net.Conn) { c.Close(); s.Close() })
	})
}

// ConnectPairs connects n clients to ln, one at a time, and hands each
// pair (client, accepted) to fn.
func ConnectPairs(ln net.Listener, n int, fn func(c, s net.Conn)) error {
	for range n {
		c, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
		if err != nil {
			return err
		}
		s, err := ln.Accept()
		if err != nil {
			c.Close()
			return err
		}
		fn(c, s)
	}
	return nil
}
