//go:build unix

package tencentcloudmonitorexporter

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExport measures points per second from ConsumeMetrics to the
// fake server (which verifies every signature and body), with the default
// single queue consumer and pacing off. Each iteration is 300 new gauges of
// one minute: 10 PutMonitorData requests.
func BenchmarkExport(b *testing.B) {
	const perMinute = 300
	f := newFakeMonitor(b, testSecretID, testSecretKey)
	f.checkAge = false
	defer f.down()
	cfg := testConfig(f)
	cfg.SendUnmapped = true
	q := cfg.QueueConfig.Get()
	q.BlockOnOverflow = true // measure the steady state, not the queue filling up
	e := startExporter(b, cfg, nil)
	ts := time.Now().Truncate(time.Minute).Add(-2 * time.Minute)
	batches := make([][]string, b.N)
	for i := range batches {
		batches[i] = names(fmt.Sprintf("b%d", i), perMinute)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, wall0 := cpuTime(), time.Now()
	for i := 0; i < b.N; i++ {
		if err := e.ConsumeMetrics(context.Background(), gauges(batches[i], ts, func(j int) int64 { return int64(i + j) })); err != nil {
			b.Fatal(err)
		}
	}
	want := b.N * perMinute / maxPairsPerRequest
	for deadline := time.Now().Add(time.Minute); ; {
		n := f.accepted()
		if n >= want {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d requests accepted; last rejection %q", n, want, f.lastErr)
		}
		time.Sleep(time.Millisecond)
	}
	wall, cpu := time.Since(wall0), cpuTime()-cpu0
	b.StopTimer()
	points := float64(b.N * perMinute)
	b.ReportMetric(points/wall.Seconds(), "points/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/points, "cpu-ns/point")
	require.NoError(b, e.Shutdown(context.Background()))
	_, n, stored, _ := f.snapshot()
	require.Equal(b, want, n)
	require.Len(b, stored, b.N*perMinute)
}

// BenchmarkSDKFloor is the floor BenchmarkExport is compared with: bare
// PutMonitorData calls of 30 pairs through the same SDK client, one after
// the other, to the same fake server, with no aggregation or queue.
func BenchmarkSDKFloor(b *testing.B) {
	const perRequest = maxPairsPerRequest
	f := newFakeMonitor(b, testSecretID, testSecretKey)
	f.checkAge = false
	cfg := testConfig(f)
	cred, err := resolveCredential(cfg)
	require.NoError(b, err)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	client, err := newClient(cfg, cred, tr)
	require.NoError(b, err)
	s := &sender{client: client, instance: testInstance, ip: testInstance, now: time.Now}
	ts := time.Now().Truncate(time.Minute).Add(-2 * time.Minute).Unix()
	ns := names("floor", perRequest)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, wall0 := cpuTime(), time.Now()
	for i := 0; i < b.N; i++ {
		r := request{ts: ts + int64(i)*60, metrics: make([]metricDatum, perRequest)}
		for j := range r.metrics {
			r.metrics[j] = metricDatum{MetricName: strings.ReplaceAll(ns[j], ".", "_"), Value: uint64(i + j)}
		}
		if err := s.send(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
	wall, cpu := time.Since(wall0), cpuTime()-cpu0
	b.StopTimer()
	points := float64(b.N * perRequest)
	b.ReportMetric(points/wall.Seconds(), "points/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/points, "cpu-ns/point")
	require.Equal(b, b.N, f.accepted())
}
