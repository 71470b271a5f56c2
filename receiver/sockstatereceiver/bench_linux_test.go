package sockstatereceiver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/bpf"
	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/podattr"
	"github.com/netstack-otel/netstack/internal/sockdiag"
	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/kcount"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/metadata"
)

// TestBenchSockstate is the measuring half of bench/sockstate.sh, which
// builds the population in SOCKSTATE_BENCH_NETNS (and leaves
// SOCKSTATE_BENCH_EMPTY_NETNS empty) and sets the other variables. It is
// skipped otherwise. It prints one "key=value" line per figure.
func TestBenchSockstate(t *testing.T) {
	big, empty := os.Getenv("SOCKSTATE_BENCH_NETNS"), os.Getenv("SOCKSTATE_BENCH_EMPTY_NETNS")
	if big == "" || empty == "" {
		t.Skip("run by bench/sockstate.sh")
	}
	budget, _ := time.ParseDuration(os.Getenv("SOCKSTATE_BENCH_BUDGET"))
	budget = max(budget, 500*time.Millisecond)
	methods := []Method{MethodEvents, MethodIterator, MethodSockDiag, MethodProcfs}
	out := func(k string, v any) { fmt.Printf("%s=%v\n", k, v) }

	// Warm every method on the empty namespace: the peak RSS after this is
	// the baseline of the growth measured on the populated one.
	for _, m := range methods {
		s := benchScraper(t, m, empty)
		for range 3 {
			_, err := s.scrape(context.Background())
			require.NoError(t, err)
		}
		require.NoError(t, s.shutdown(context.Background()))
	}
	hwm0 := vmHWM(t)

	var totals []uint64
	for _, m := range methods {
		s := benchScraper(t, m, big)
		var total uint64
		n, u, sy := measure(budget, syscall.RUSAGE_SELF, func() {
			md, err := s.scrape(context.Background())
			require.NoError(t, err)
			total = 0
			for _, v := range connCounts(t, md) {
				total += uint64(v)
			}
		})
		if c, ok := s.counting.(*kcount.Counting); ok && m == MethodEvents {
			out("events_hooked", c.Hooked())
		}
		require.NoError(t, s.shutdown(context.Background()))
		out("ours_"+string(m)+"_cpu_us", fmt.Sprintf("%.1f", float64(u+sy)/float64(n)/1e3))
		out("ours_"+string(m)+"_user_share", fmt.Sprintf("%.3f", float64(u)/float64(u+sy)))
		out("ours_"+string(m)+"_scrapes", n)
		out("ours_"+string(m)+"_sockets", total)
		totals = append(totals, total)
	}
	out("identical_counts", len(slices.Compact(totals)) == 1)
	out("rss_growth_kib", vmHWM(t)-hwm0)

	// The kernel's floor for a sock_diag count: dump TCP, both families.
	var conn *sockdiag.Conn
	require.NoError(t, netnsutil.Do(big, func() (err error) { conn, err = sockdiag.Open(); return err }))
	n, u, sy := measure(budget, syscall.RUSAGE_SELF, func() {
		var c sockdiag.StateCounts
		for _, af := range []uint8{unix.AF_INET, unix.AF_INET6} {
			require.NoError(t, conn.Count(sockdiag.Request{Family: af, Protocol: unix.IPPROTO_TCP, States: sockdiag.AllStates}, &c))
		}
	})
	out("floor_sockdiag_tcp_dump_cpu_us", fmt.Sprintf("%.1f", float64(u+sy)/float64(n)/1e3))
	n, u, sy = measure(budget, syscall.RUSAGE_SELF, func() {
		var c sockdiag.StateCounts
		require.NoError(t, conn.Count(sockdiag.Request{Protocol: unix.IPPROTO_TCP, States: sockdiag.AllStates}, &c))
	})
	out("floor_sockdiag_tcp_dump_one_pass_cpu_us", fmt.Sprintf("%.1f", float64(u+sy)/float64(n)/1e3))
	// The events method's remaining walk: timewait and request sockets only.
	n, u, sy = measure(budget, syscall.RUSAGE_SELF, func() {
		require.NoError(t, conn.Each(sockdiag.Request{Protocol: unix.IPPROTO_TCP, States: kcount.UnhookedStates}, func(*sockdiag.Msg, []byte) error { return nil }))
	})
	out("events_filtered_walk_cpu_us", fmt.Sprintf("%.1f", float64(u+sy)/float64(n)/1e3))
	conn.Close()

	// ss | awk, the Zabbix way, in the same namespace.
	n, u, sy = measure(budget, syscall.RUSAGE_CHILDREN, func() {
		cmd := exec.Command("nsenter", "--net="+big, "sh", "-c", `ss -ant | grep -v State | awk '{s[$1]++} END {for (k in s) print k, s[k]}'`)
		b, err := cmd.Output()
		require.NoError(t, err)
		require.NotEmpty(t, b)
	})
	out("ss_awk_cpu_us", fmt.Sprintf("%.1f", float64(u+sy)/float64(n)/1e3))

	if bin := os.Getenv("SOCKSTATE_BENCH_GOPSUTIL"); bin != "" {
		b, err := exec.Command("nsenter", "--net="+big, bin, "-n", "1").Output()
		require.NoError(t, err, "gopsutil")
		for _, f := range strings.Fields(string(b)) {
			if v, ok := strings.CutPrefix(f, "cpu_ns_per_call="); ok {
				ns, _ := strconv.ParseFloat(v, 64)
				out("gopsutil_cpu_us", fmt.Sprintf("%.1f", ns/1e3))
			}
			if v, ok := strings.CutPrefix(f, "conns="); ok {
				out("gopsutil_conns", v)
			}
		}
	}

	// Drift of the events method over all the churn below, at a resync.
	evs := benchScraper(t, MethodEvents, big)
	benchStateChanges(t, big, out)
	drifter(t, evs).ForceResync()
	_, err := evs.scrape(context.Background())
	require.NoError(t, err)
	drift, _ := drifter(t, evs).Drift()
	out("events_drift_after_churn", drift)
	require.NoError(t, evs.shutdown(context.Background()))
}

func benchScraper(t testing.TB, m Method, ns string) *sockScraper {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Method, cfg.NetNS, cfg.ResyncInterval = m, ns, time.Hour
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, s.start(context.Background(), nil))
	return s
}

// measure runs fn until it has used budget CPU time (at least 3 times,
// at most 100,000) and returns the runs and the user and system CPU used.
// CPU time here is sampled at the scheduler tick, so short runs are
// repeated until the total is large against a tick.
func measure(budget time.Duration, who int, fn func()) (n int, user, sys int64) {
	u0, s0 := rusage(who)
	for n < 100000 {
		fn()
		n++
		u1, s1 := rusage(who)
		user, sys = u1-u0, s1-s0
		if n >= 3 && time.Duration(user+sys) >= budget {
			break
		}
	}
	return n, user, sys
}

// rusage returns user and system CPU in nanoseconds.
func rusage(who int) (user, sys int64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return ru.Utime.Nano(), ru.Stime.Nano()
}

// vmHWM is the process's peak RSS in KiB.
func vmHWM(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// benchStateChanges measures the events program's cost per state change
// (bpf_stats run_time_ns/run_cnt) and connect/accept/close throughput with
// and without it attached, in 20 interleaved pairs of runs.
func benchStateChanges(t *testing.T, ns string, out func(string, any)) {
	stats, err := bpf.EnableStats()
	require.NoError(t, err)
	defer stats.Close()
	churn := func(n int) time.Duration {
		var d time.Duration
		require.NoError(t, netnsutil.Do(ns, func() error {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				return err
			}
			defer ln.Close()
			start := time.Now()
			err = testnet.ConnectPairs(ln, n, func(c, s net.Conn) {
				s.Close() // the server closes first: its TIME_WAITs
				c.Close()
			})
			d = time.Since(start)
			return err
		}))
		return d
	}
	const perRun = 1000
	var with, without []time.Duration
	var runTime, hookTime time.Duration
	var runCnt, hookCnt uint64
	var hookErr error
	sum := func(progs []*ebpf.Program, d *time.Duration, n *uint64) {
		for _, p := range progs {
			st, err := bpf.ProgramRunStats(p)
			require.NoError(t, err)
			*d += st.RunTime
			*n += st.RunCount
		}
	}
	for range 20 {
		without = append(without, churn(perRun))
		ev, err := kcount.OpenEvents()
		require.NoError(t, err)
		// The timewait/request-socket hooks, where fentry is allowed: the
		// events method runs with them.
		hooks, err := kcount.OpenMiniHooks()
		hookErr = err
		with = append(with, churn(perRun))
		sum(ev.Programs(), &runTime, &runCnt)
		if hooks != nil {
			sum(hooks.Programs(), &hookTime, &hookCnt)
			require.NoError(t, hooks.Close())
		}
		require.NoError(t, ev.Close())
	}
	if hookErr != nil {
		out("hooks", "unavailable")
	} else {
		out("hooks", "attached")
		out("hook_events", hookCnt)
		out("hook_ns_per_event", fmt.Sprintf("%.0f", float64(hookTime.Nanoseconds())/float64(max(hookCnt, 1))))
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	out("events_state_changes", runCnt)
	out("events_ns_per_state_change", fmt.Sprintf("%.0f", float64(runTime.Nanoseconds())/float64(max(runCnt, 1))))
	out("churn_ms_without_events", fmt.Sprintf("%.2f", float64(median(without).Microseconds())/1e3))
	out("churn_ms_with_events", fmt.Sprintf("%.2f", float64(median(with).Microseconds())/1e3))
	out("churn_ratio_with_over_without", fmt.Sprintf("%.3f", float64(median(with))/float64(median(without))))
}

// BenchmarkScrape scrapes a namespace holding 8,000 TCP sockets (plus the
// test's own) with each method; allocations are per scrape.
func BenchmarkScrape(b *testing.B) {
	testnet.RequireRoot(b)
	ns := testnet.New(b)
	var conns []io.Closer
	ns.Do(b, func() error {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		conns = append(conns, ln)
		return testnet.ConnectPairs(ln, 4000, func(c, s net.Conn) { conns = append(conns, c, s) })
	})
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for _, m := range []Method{MethodEvents, MethodIterator, MethodSockDiag, MethodProcfs} {
		b.Run(string(m), func(b *testing.B) {
			s := benchScraper(b, m, ns.Path)
			defer s.shutdown(context.Background())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.scrape(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBenchAllNetNS is the all_netns half of bench/sockstate.sh: with
// SOCKSTATE_BENCH_ALLNETNS=<namespaces>x<sockets> it builds that many fresh
// namespaces holding that many established TCP sockets each and measures
// the CPU of one all_netns scrape over exactly those namespaces with each
// BPF method, against `ss -ant | awk` run in each of them. It prints one
// "key=value" line per figure.
func TestBenchAllNetNS(t *testing.T) {
	spec := os.Getenv("SOCKSTATE_BENCH_ALLNETNS")
	if spec == "" {
		t.Skip("run by bench/sockstate.sh")
	}
	var nns, per int
	_, err := fmt.Sscanf(spec, "%dx%d", &nns, &per)
	require.NoError(t, err, "SOCKSTATE_BENCH_ALLNETNS=<namespaces>x<sockets>")
	budget, _ := time.ParseDuration(os.Getenv("SOCKSTATE_BENCH_BUDGET"))
	budget = max(budget, 500*time.Millisecond)
	out := func(k string, v any) { fmt.Printf("%s=%v\n", k, v) }
	holder := os.Getenv("SOCKSTATE_BENCH_HOLDER")
	require.NotEmpty(t, holder, "SOCKSTATE_BENCH_HOLDER: the bench/sockstate/holder binary")

	var targets []target
	var namespaces []*testnet.NS
	for range nns {
		ns := testnet.New(t)
		// A process per namespace holds the sockets (this one may not open
		// that many files).
		cmd := ns.Command(holder, "-pairs", strconv.Itoa(per/2))
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		line, err := bufio.NewReader(stdout).ReadString('\n')
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(line, "ready"), line)
		ino, err := netnsutil.Inode(ns.Path)
		require.NoError(t, err)
		targets = append(targets, target{Namespace: podattr.Namespace{Label: ns.Path, Path: ns.Path, Inode: ino}, ns: kcount.Namespace{Path: ns.Path}})
		namespaces = append(namespaces, ns)
	}
	want := int64(per/2*2 + 1) // the pairs and the listener

	perScrape := func(n int, u, sy int64) float64 { return float64(u+sy) / float64(n) / 1e3 }
	cpu := map[string]float64{}
	counted := map[string]int64{} // TCP sockets, all namespaces, at the last scrape
	// reopened is how all_netns counted before methods were opened once:
	// the iterator programs loaded, attached and tried for every namespace
	// at every scrape.
	const reopened = "iterator_reopened_per_namespace"
	for _, m := range []Method{reopened, MethodIterator, MethodEvents} {
		cfg := createDefaultConfig().(*Config)
		cfg.Method, cfg.AllNetNS, cfg.MaxNetNS, cfg.ResyncInterval = m, true, nns, time.Hour
		s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
		s.listTargets = func(*scrapererror.ScrapeErrors) []target { return targets }
		if m == reopened {
			cfg.Method = MethodIterator
			s.open = func(Method) (counting, error) { return reopening{cfg.Ports}, nil }
		}
		if err := s.start(context.Background(), nil); err != nil {
			out("allnetns_"+string(m), "unavailable: "+strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		check := func() {
			md, err := s.scrape(context.Background())
			require.NoError(t, err)
			require.Equal(t, nns, md.ResourceMetrics().Len())
			var tcpEst int64
			eachPoint(md, "system.network.connection.count", func(a map[string]any, v int64) {
				if a["network.transport"] == "tcp" && a["network.connection.state"] != "time_wait" {
					tcpEst += v
				}
			})
			counted[string(m)] = tcpEst
			if m == reopened {
				for k, c := range s.bound {
					require.NoError(t, c.Close())
					delete(s.bound, k)
				}
			}
		}
		check() // the first scrape binds the namespaces (and seeds events)
		n, u, sy := measure(budget, syscall.RUSAGE_SELF, check)
		require.NoError(t, s.shutdown(context.Background()))
		cpu[string(m)] = perScrape(n, u, sy)
		out("allnetns_"+string(m)+"_cpu_us", fmt.Sprintf("%.1f", cpu[string(m)]))
		out("allnetns_"+string(m)+"_scrapes", n)
		out("allnetns_"+string(m)+"_tcp_sockets", counted[string(m)])
	}
	out("allnetns_tcp_sockets_held", int64(nns)*want)
	benchAttribution(t, targets, budget, cpu, out)

	n, u, sy := measure(budget, syscall.RUSAGE_CHILDREN, func() {
		for _, ns := range namespaces {
			cmd := exec.Command("nsenter", "--net="+ns.Path, "sh", "-c", `ss -ant | grep -v State | awk '{s[$1]++} END {for (k in s) print k, s[k]}'`)
			b, err := cmd.Output()
			require.NoError(t, err)
			require.NotEmpty(t, b)
		}
	})
	cpu["ss"] = perScrape(n, u, sy)
	out("allnetns_ss_awk_cpu_us", fmt.Sprintf("%.1f", cpu["ss"]))
	for _, m := range []string{"iterator", "events"} {
		if cpu[m] > 0 {
			out("allnetns_ratio_ss_awk_over_"+m, fmt.Sprintf("%.1f", cpu["ss"]/cpu[m]))
			out("allnetns_ratio_"+reopened+"_over_"+m, fmt.Sprintf("%.1f", cpu[reopened]/cpu[m]))
		}
	}
}

// benchAttribution measures the listing and attribution of all_netns
// (podattr.Lister: the /proc walk, /run/netns, each namespace's pod and
// container from its processes' cgroups, cached per process) per scrape,
// against a whole all_netns scrape that lists with it: the events method
// (or the iterator where events did not start), with the listing narrowed
// to the benchmark's namespaces (the host may hold others, which the
// lister still walks). Also the cold listing, every cgroup file read.
func benchAttribution(t *testing.T, targets []target, budget time.Duration, cpu map[string]float64, out func(string, any)) {
	bench := map[uint64]bool{}
	for _, tg := range targets {
		bench[tg.Inode] = true
	}
	perScrape := func(n int, u, sy int64) float64 { return float64(u+sy) / float64(n) / 1e3 }
	for _, m := range []Method{MethodEvents, MethodIterator} {
		if cpu[string(m)] == 0 {
			continue
		}
		cfg := createDefaultConfig().(*Config)
		cfg.Method, cfg.AllNetNS, cfg.MaxNetNS, cfg.ResyncInterval = m, true, 1<<20, time.Hour
		s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
		s.listTargets = func(errs *scrapererror.ScrapeErrors) []target {
			var in []target
			for _, tg := range s.allTargets(errs) {
				if bench[tg.Inode] {
					in = append(in, tg)
				}
			}
			return in
		}
		require.NoError(t, s.start(context.Background(), nil))
		scrape := func() {
			md, err := s.scrape(context.Background())
			require.NoError(t, err)
			require.Equal(t, len(targets), md.ResourceMetrics().Len())
		}
		scrape() // binds the namespaces, warms the resolver
		whole := perScrape(measure(budget, syscall.RUSAGE_SELF, scrape))
		var listed int
		list := perScrape(measure(budget, syscall.RUSAGE_SELF, func() {
			nss, _, err := s.lister.List()
			require.NoError(t, err)
			listed = len(nss)
		}))
		require.NoError(t, s.shutdown(context.Background()))
		cold := perScrape(measure(budget, syscall.RUSAGE_SELF, func() {
			l, err := podattr.NewLister("", 1<<20, zap.NewNop())
			require.NoError(t, err)
			_, _, err = l.List()
			require.NoError(t, err)
		}))
		out("allnetns_listed_method", m)
		out("allnetns_listed_namespaces", listed)
		out("allnetns_listed_scrape_cpu_us", fmt.Sprintf("%.1f", whole))
		out("allnetns_attribution_cpu_us", fmt.Sprintf("%.1f", list))
		out("allnetns_attribution_cold_cpu_us", fmt.Sprintf("%.1f", cold))
		out("allnetns_attribution_pct", fmt.Sprintf("%.2f", 100*list/whole))
		return
	}
}

// reopening opens the iterator method anew for each namespace it binds,
// and tries it there once, as every all_netns scrape did before methods
// were opened once at start; closing the Counter unloads it.
type reopening struct{ ports []uint16 }

func (reopening) Method() Method { return MethodIterator }
func (reopening) Close() error   { return nil }
func (reopening) Refresh() error { return nil }

func (r reopening) Bind(ns kcount.Namespace) (kcount.Counter, error) {
	cn, err := kcount.Open(MethodIterator, kcount.Options{Ports: r.ports})
	if err != nil {
		return nil, err
	}
	c, err := cn.Bind(ns)
	if err == nil {
		err = c.Count(kcount.NewTally(r.ports))
	}
	if err != nil {
		cn.Close()
		return nil, err
	}
	return reopened{c, cn}, nil
}

type reopened struct {
	kcount.Counter
	cn *kcount.Counting
}

func (r reopened) Close() error { return errors.Join(r.Counter.Close(), r.cn.Close()) }
