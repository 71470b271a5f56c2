package netsnmpreceiver

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

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
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range files {
			if _, err := readFull(int(f.Fd()), buf); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchmarkScrape(b *testing.B, cfg *Config) {
	s, err := newScraper(cfg, newBenchSettings())
	require.NoError(b, err)
	require.NoError(b, s.start(context.Background(), nil))
	defer s.shutdown(context.Background())
	_, err = s.scrape(context.Background()) // first sight of every name
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.scrape(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScrapeCurated is one scrape with the default (curated) metrics.
func BenchmarkScrapeCurated(b *testing.B) { benchmarkScrape(b, defaultConfig()) }

// BenchmarkScrapeNstat is one scrape with the whole nstat family on too.
func BenchmarkScrapeNstat(b *testing.B) {
	cfg := defaultConfig()
	cfg.Nstat.Enabled = true
	benchmarkScrape(b, cfg)
}
