//go:build linux

package bpf

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/require"
)

// TestKernelHZ: the tick rate measured from the running kernel's clocks is
// the CONFIG_HZ it was built with, where the kernel config can be read (in
// the kernel matrix's guest /boot has it; many hosts and every container
// lack it), and stable from one measurement to the next everywhere.
func TestKernelHZ(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("kernel test skipped: loading a BPF program needs root (CAP_BPF)")
	}
	hz, err := KernelHZ()
	require.NoError(t, err)
	require.Contains(t, tickRates, hz)
	again, err := KernelHZ()
	require.NoError(t, err)
	require.Equal(t, hz, again)
	want, err := configHZ()
	if err != nil {
		t.Logf("measured HZ %d; no kernel config to compare with: %v", hz, err)
		return
	}
	require.Equal(t, want, hz, "measured HZ against the kernel config's CONFIG_HZ")
	t.Logf("measured HZ %d = CONFIG_HZ", hz)
}

func TestNearestHZ(t *testing.T) {
	for _, c := range []struct {
		jiffies uint64
		elapsed time.Duration
		want    int
	}{
		{15, 150 * time.Millisecond, 100},
		{14, 150 * time.Millisecond, 100}, // one jiffy short
		{38, 150 * time.Millisecond, 250},
		{45, 150 * time.Millisecond, 300},
		{151, 151 * time.Millisecond, 1000},
	} {
		hz, err := NearestHZ(c.jiffies, c.elapsed)
		require.NoError(t, err)
		require.Equal(t, c.want, hz, "%d jiffies in %v", c.jiffies, c.elapsed)
	}
	_, err := NearestHZ(60, 150*time.Millisecond) // 400/s
	require.ErrorContains(t, err, "not a tick rate Kconfig offers")
	_, err = NearestHZ(1, 0)
	require.ErrorContains(t, err, "no time elapsed")
}

// configHZ reads CONFIG_HZ from /proc/config.gz or /boot/config-<release>,
// the independent answer TestKernelHZ compares with.
func configHZ() (int, error) {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	var errs []error
	for _, p := range []string{"/proc/config.gz", "/boot/config-" + unix.ByteSliceToString(uts.Release[:])} {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if b, err = io.ReadAll(zr); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "CONFIG_HZ="); ok {
				return strconv.Atoi(v)
			}
		}
		errs = append(errs, fmt.Errorf("%s: no CONFIG_HZ line", p))
	}
	return 0, errors.Join(errs...)
}

func TestRunStats(t *testing.T) {
	s := RunStats{RunTime: 1000, RunCount: 4}
	require.EqualValues(t, 250, s.PerRun())
	require.Zero(t, RunStats{}.PerRun())
	require.Equal(t, RunStats{RunTime: 600, RunCount: 3}, s.Sub(RunStats{RunTime: 400, RunCount: 1}))
}

func TestPreflightNamesMissingBTF(t *testing.T) {
	old := BTFPath
	BTFPath = "/nonexistent/btf/vmlinux"
	defer func() { BTFPath = old }()
	err := Preflight()
	require.ErrorContains(t, err, "missing kernel BTF (/nonexistent/btf/vmlinux")
	require.ErrorContains(t, err, "CONFIG_DEBUG_INFO_BTF=y")
}

// TestPreflightWording: the error names each missing capability and the
// rule, and CAP_SYS_ADMIN alone is enough.
func TestPreflightWording(t *testing.T) {
	caps := func(set ...uint) func() (uint64, error) {
		return func() (uint64, error) {
			var v uint64
			for _, c := range set {
				v |= 1 << c
			}
			return v, nil
		}
	}
	btf := os.Args[0] // any file that exists
	for _, c := range []struct {
		name string
		caps func() (uint64, error)
		want string // "" = no error
	}{
		{"bpf+perfmon", caps(capBPF, capPerfmon), ""},
		{"sys_admin", caps(capSysAdmin), ""},
		{"none", caps(), "eBPF: missing capabilities CAP_BPF, CAP_PERFMON (needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)"},
		{"no perfmon", caps(capBPF), "eBPF: missing capability CAP_PERFMON (needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)"},
		{"no bpf", caps(capPerfmon), "eBPF: missing capability CAP_BPF (needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)"},
		{"capget fails", func() (uint64, error) { return 0, unix.EPERM }, "eBPF: missing capabilities: reading them failed: operation not permitted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := check(btf, c.caps)
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, c.want)
		})
	}
	err := check("/nonexistent/btf", caps())
	require.ErrorContains(t, err, "eBPF: missing kernel BTF (/nonexistent/btf: ")
	require.ErrorContains(t, err, "; capabilities CAP_BPF, CAP_PERFMON (needs")
}

func TestLoadErrorWording(t *testing.T) {
	require.EqualError(t, LoadError("tcpflow programs", "Linux >= 5.11", fmt.Errorf("x: %w", unix.EPERM)),
		"eBPF: loading tcpflow programs: refused by the kernel (needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN), or a security policy (LSM, lockdown) forbids it: x: operation not permitted")
	require.EqualError(t, LoadError("x", "y", errors.New("boom")), "eBPF: loading x: boom")
}
