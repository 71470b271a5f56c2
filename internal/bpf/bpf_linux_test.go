//go:build linux

package bpf

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseHZ(t *testing.T) {
	hz, err := ParseHZ(strings.NewReader("# CONFIG_HZ_100 is not set\nCONFIG_HZ_250=y\nCONFIG_HZ=250\n"))
	require.NoError(t, err)
	require.Equal(t, 250, hz)
	_, err = ParseHZ(strings.NewReader("CONFIG_HZ_1000=y\n"))
	require.ErrorContains(t, err, "no CONFIG_HZ line")
	_, err = ParseHZ(strings.NewReader("CONFIG_HZ=fast\n"))
	require.ErrorContains(t, err, `bad CONFIG_HZ value "fast"`)
}

// TestKernelHZ: the running kernel's HZ is one of the values Kconfig offers.
func TestKernelHZ(t *testing.T) {
	hz, err := KernelHZ()
	if err != nil {
		t.Skipf("no kernel config on this machine: %v", err)
	}
	require.Contains(t, []int{100, 250, 300, 1000}, hz)
}

func TestRunStats(t *testing.T) {
	s := RunStats{RunTime: 1000, RunCount: 4}
	require.EqualValues(t, 250, s.PerRun())
	require.Zero(t, RunStats{}.PerRun())
	require.Equal(t, RunStats{RunTime: 600, RunCount: 3}, s.Sub(RunStats{RunTime: 400, RunCount: 1}))
}

func FuzzParseHZ(f *testing.F) {
	f.Add("CONFIG_HZ=1000\n")
	f.Add("CONFIG_HZ=\n")
	f.Add("CONFIG_HZ=99999999999999999999\n")
	f.Fuzz(func(t *testing.T, s string) {
		hz, err := ParseHZ(strings.NewReader(s))
		if err == nil && (hz <= 0 || hz > 100000) {
			t.Fatalf("accepted HZ %d", hz)
		}
	})
}

func TestPreflightNamesMissingBTF(t *testing.T) {
	old := BTFPath
	BTFPath = "/nonexistent/btf/vmlinux"
	defer func() { BTFPath = old }()
	err := Preflight()
	require.ErrorContains(t, err, "missing kernel BTF (/nonexistent/btf/vmlinux")
	require.ErrorContains(t, err, "CONFIG_DEBUG_INFO_BTF=y")
}
