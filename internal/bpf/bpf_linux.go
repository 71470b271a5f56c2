//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// BTFPath is where the kernel exposes its own BTF (CONFIG_DEBUG_INFO_BTF=y).
var BTFPath = "/sys/kernel/btf/vmlinux"

// Capability numbers from linux/capability.h.
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// Preflight is what every eBPF component runs before loading its objects:
// it checks that the kernel has BTF and that the process holds CAP_BPF and
// CAP_PERFMON (or CAP_SYS_ADMIN), then lifts the memlock limit where the
// kernel still charges BPF memory to it. The error names everything that is
// missing, each capability by name ("eBPF: missing capability CAP_PERFMON
// (needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)").
func Preflight() error {
	if err := check(BTFPath, effectiveCaps); err != nil {
		return err
	}
	return RemoveMemlock()
}

// check is Preflight's test seam: caps returns the effective capability set.
func check(btfPath string, caps func() (uint64, error)) error {
	var missing []string
	if _, err := os.Stat(btfPath); err != nil {
		missing = append(missing, fmt.Sprintf("kernel BTF (%s: %v; needs CONFIG_DEBUG_INFO_BTF=y, Linux >= 5.8)", btfPath, err))
	}
	eff, err := caps()
	if err != nil {
		missing = append(missing, fmt.Sprintf("capabilities: reading them failed: %v", err))
	} else if !has(eff, capSysAdmin) {
		var lack []string
		if !has(eff, capBPF) {
			lack = append(lack, "CAP_BPF")
		}
		if !has(eff, capPerfmon) {
			lack = append(lack, "CAP_PERFMON")
		}
		if len(lack) == 1 {
			missing = append(missing, "capability "+lack[0]+" "+needCaps)
		} else if len(lack) > 1 {
			missing = append(missing, "capabilities "+strings.Join(lack, ", ")+" "+needCaps)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return errors.New("eBPF: missing " + strings.Join(missing, "; "))
}

// needCaps is the capability rule, as every error states it.
const needCaps = "(needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)"

func has(set uint64, c uint) bool { return set&(1<<c) != 0 }

func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

// RemoveMemlock lifts RLIMIT_MEMLOCK where the kernel still charges BPF
// memory to it (before 5.11); a no-op on memcg-accounted kernels. Preflight
// calls it.
func RemoveMemlock() error {
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("eBPF: removing the memlock limit: %w", err)
	}
	return nil
}

// LoadError words a failure to load what (e.g. "tcpflow programs") the same
// way for every component: a verifier rejection names the kernel features
// needed (requires, e.g. "Linux >= 5.11 with tp_btf and sk_storage"), EPERM
// the capabilities, anything else is wrapped as it is.
func LoadError(what, requires string, err error) error {
	var ve *ebpf.VerifierError
	switch {
	case errors.As(err, &ve):
		return fmt.Errorf("eBPF: loading %s: kernel too old or missing a feature (needs %s): %w", what, requires, err)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("eBPF: loading %s: refused by the kernel %s, or a security policy (LSM, lockdown) forbids it: %w", what, needCaps, err)
	default:
		return fmt.Errorf("eBPF: loading %s: %w", what, err)
	}
}

// EnableStats turns on run_time_ns/run_cnt accounting for all BPF programs
// until the returned closer is closed (BPF_ENABLE_STATS, Linux >= 5.8).
func EnableStats() (io.Closer, error) {
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("BPF_ENABLE_STATS: %w", err)
	}
	return c, nil
}

// RunStats is a program's accumulated run time and run count.
type RunStats struct {
	RunTime  time.Duration
	RunCount uint64
}

// PerRun is the mean time per run, 0 if the program never ran.
func (s RunStats) PerRun() time.Duration {
	if s.RunCount == 0 {
		return 0
	}
	return s.RunTime / time.Duration(s.RunCount)
}

// Sub returns s - o.
func (s RunStats) Sub(o RunStats) RunStats {
	return RunStats{RunTime: s.RunTime - o.RunTime, RunCount: s.RunCount - o.RunCount}
}

// ProgramRunStats reads a program's run_time_ns and run_cnt. Both stay zero
// unless stats are enabled (EnableStats or sysctl kernel.bpf_stats_enabled).
func ProgramRunStats(p *ebpf.Program) (RunStats, error) {
	st, err := p.Stats()
	if err != nil {
		return RunStats{}, fmt.Errorf("reading program stats: %w", err)
	}
	return RunStats{RunTime: st.Runtime, RunCount: st.RunCount}, nil
}

// KernelHZ measures CONFIG_HZ of the running kernel: a small BPF program
// reads jiffies and CLOCK_MONOTONIC together, twice, hzSpan apart, and the
// rate is rounded to the nearest tick rate Kconfig offers. It needs no
// /proc/config.gz or /boot/config-* (absent in most containers), only what
// loading any BPF program needs (CAP_BPF). tcp_sock keeps some times
// (icsk_rto) in jiffies.
func KernelHZ() (int, error) {
	var objs hzObjects
	if err := loadHzObjects(&objs, nil); err != nil {
		return 0, fmt.Errorf("kernel HZ: loading the clock sampler: %w", err)
	}
	defer objs.Close()
	sample := func() (j, ns uint64, err error) {
		// A socket filter runs on a packet: a minimal Ethernet header.
		if _, err := objs.SampleClocks.Run(&ebpf.RunOptions{Data: make([]byte, 14)}); err != nil {
			return 0, 0, fmt.Errorf("kernel HZ: running the clock sampler: %w", err)
		}
		if err := objs.SampleJiffies.Get(&j); err != nil {
			return 0, 0, fmt.Errorf("kernel HZ: %w", err)
		}
		if err := objs.SampleNs.Get(&ns); err != nil {
			return 0, 0, fmt.Errorf("kernel HZ: %w", err)
		}
		return j, ns, nil
	}
	j0, ns0, err := sample()
	if err != nil {
		return 0, err
	}
	time.Sleep(hzSpan)
	j1, ns1, err := sample()
	if err != nil {
		return 0, err
	}
	return NearestHZ(j1-j0, time.Duration(ns1-ns0))
}

// hzSpan is long enough that one jiffy of quantisation error (at HZ=100, 1
// in 15) cannot round to a neighbouring tick rate.
const hzSpan = 150 * time.Millisecond

// tickRates are the CONFIG_HZ values kernel/Kconfig.hz offers (the choice
// on every architecture we build for).
var tickRates = []int{100, 250, 300, 1000}

// NearestHZ turns jiffies counted over elapsed into the tick rate it was,
// or an error when it is more than 10% from every rate Kconfig offers.
func NearestHZ(jiffies uint64, elapsed time.Duration) (int, error) {
	if elapsed <= 0 {
		return 0, fmt.Errorf("kernel HZ: no time elapsed between two clock samples")
	}
	rate := float64(jiffies) / elapsed.Seconds()
	best := 0
	for _, hz := range tickRates {
		if best == 0 || math.Abs(rate-float64(hz)) < math.Abs(rate-float64(best)) {
			best = hz
		}
	}
	if math.Abs(rate-float64(best)) > 0.1*float64(best) {
		return 0, fmt.Errorf("kernel HZ: measured %.1f jiffies/s (%d in %v), not a tick rate Kconfig offers", rate, jiffies, elapsed)
	}
	return best, nil
}
