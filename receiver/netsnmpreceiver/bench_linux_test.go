package netsnmpreceiver

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/testnet"
)

// The benchmarks report cpu-ns/op beside ns/op: user+sys CPU of the whole
// process (GC workers included) per operation, which other load on the
// machine disturbs far less than wall time. bench/netsnmp.sh uses it.

func processCPU(b *testing.B) int64 {
	var ru unix.Rusage
	require.NoError(b, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// loop runs op under b.Loop and reports CPU per operation.
func loop(b *testing.B, op func()) {
	b.ReportAllocs()
	t0 := processCPU(b)
	for b.Loop() {
		op()
	}
	b.ReportMetric(float64(processCPU(b)-t0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkReadFloor is the floor a scrape cannot beat: the kernel formats
// the three files on every read; this only read()s them into a reused
// buffer. Compare BenchmarkScrape* against it.
func BenchmarkReadFloor(b *testing.B) {
	var files []*os.File
	for _, name := range fileNames {
		f, err := os.Open("/proc/self/net/" + name)
		require.NoError(b, err)
		defer f.Close()
		files = append(files, f)
	}
	buf := make([]byte, 64<<10)
	loop(b, func() {
		for _, f := range files {
			if _, err := readFull(int(f.Fd()), buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func startBenchScraper(b *testing.B, cfg *Config) *netsnmpScraper {
	s, err := newScraper(cfg, newBenchSettings())
	require.NoError(b, err)
	require.NoError(b, s.start(context.Background(), nil))
	b.Cleanup(func() { _ = s.shutdown(context.Background()) })
	_, err = s.scrape(context.Background()) // first sight of every name
	require.NoError(b, err)
	return s
}

func benchmarkScrape(b *testing.B, cfg *Config) {
	s := startBenchScraper(b, cfg)
	loop(b, func() {
		if _, err := s.scrape(context.Background()); err != nil {
			b.Fatal(err)
		}
	})
}

// benchmarkPdataFloor is the other floor: creating the pdata objects of
// one scrape's output (a deep copy of it), with no reading or parsing.
// pdata allocates every metric, data point, value and attribute on its
// own, so this is what any receiver emitting the same points pays.
func benchmarkPdataFloor(b *testing.B, cfg *Config) {
	md, err := startBenchScraper(b, cfg).scrape(context.Background())
	require.NoError(b, err)
	loop(b, func() { md.CopyTo(pmetric.NewMetrics()) })
}

func nstatConfig() *Config {
	cfg := defaultConfig()
	cfg.Nstat.Enabled = true
	return cfg
}

// BenchmarkScrapeCurated is one scrape with the default (curated) metrics.
func BenchmarkScrapeCurated(b *testing.B) { benchmarkScrape(b, defaultConfig()) }

// BenchmarkScrapeNstat is one scrape with the whole nstat family on too.
func BenchmarkScrapeNstat(b *testing.B) { benchmarkScrape(b, nstatConfig()) }

// BenchmarkPdataFloorCurated and BenchmarkPdataFloorNstat copy the output
// of the two scrapes above.
func BenchmarkPdataFloorCurated(b *testing.B) { benchmarkPdataFloor(b, defaultConfig()) }
func BenchmarkPdataFloorNstat(b *testing.B)   { benchmarkPdataFloor(b, nstatConfig()) }

// BenchmarkScrapeAllNetNS is one all_netns scrape of the host with 50 more
// namespaces, each with a process in it (read through its /proc/PID/net):
// listing, attribution and reading every namespace the host has. It
// reports the namespaces read and the CPU per namespace.
func BenchmarkScrapeAllNetNS(b *testing.B) {
	testnet.RequireRoot(b)
	for range 50 {
		testnet.New(b).Sleeper(b)
	}
	time.Sleep(200 * time.Millisecond) // ip netns exec has entered and exec'd sleep
	for _, nstat := range []bool{false, true} {
		name := "curated"
		if nstat {
			name = "nstat"
		}
		b.Run(name, func(b *testing.B) {
			cfg := defaultConfig()
			cfg.AllNetNS, cfg.MaxNetNS, cfg.Nstat.Enabled = true, 100000, nstat
			s := startBenchScraper(b, cfg)
			md, err := s.scrape(context.Background())
			require.NoError(b, err)
			nns := md.ResourceMetrics().Len()
			t0 := processCPU(b)
			loop(b, func() {
				if _, err := s.scrape(context.Background()); err != nil {
					b.Fatal(err)
				}
			})
			b.ReportMetric(float64(nns), "netns")
			b.ReportMetric(float64(processCPU(b)-t0)/float64(b.N)/float64(nns), "cpu-ns/netns")
		})
	}
}
