//go:build linux

package bpf

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
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

// Preflight checks what loading and attaching tracing programs needs and
// returns one error naming everything that is missing, or nil.
func Preflight() error {
	var missing []string
	if _, err := os.Stat(BTFPath); err != nil {
		missing = append(missing, fmt.Sprintf("kernel BTF (%s: %v; needs CONFIG_DEBUG_INFO_BTF=y, Linux >= 5.8)", BTFPath, err))
	}
	eff, err := effectiveCaps()
	if err != nil {
		missing = append(missing, fmt.Sprintf("reading capabilities: %v", err))
	} else if !has(eff, capSysAdmin) {
		var caps []string
		if !has(eff, capBPF) {
			caps = append(caps, "CAP_BPF")
		}
		if !has(eff, capPerfmon) {
			caps = append(caps, "CAP_PERFMON")
		}
		if len(caps) > 0 {
			missing = append(missing, "capabilities "+strings.Join(caps, ", ")+" (or CAP_SYS_ADMIN)")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return errors.New("missing " + strings.Join(missing, "; "))
}

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
// memory to it (before 5.11); a no-op on memcg-accounted kernels.
func RemoveMemlock() error {
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("removing memlock limit: %w", err)
	}
	return nil
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

// KernelHZ returns CONFIG_HZ of the running kernel from /proc/config.gz or
// /boot/config-<release>; tcp_sock keeps some times (icsk_rto) in jiffies.
func KernelHZ() (int, error) {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	var errs []error
	for _, p := range []string{"/proc/config.gz", "/boot/config-" + release} {
		hz, err := hzFromFile(p)
		if err == nil {
			return hz, nil
		}
		errs = append(errs, err)
	}
	return 0, fmt.Errorf("kernel HZ unknown: %w", errors.Join(errs...))
}

func hzFromFile(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	hz, err := ParseHZ(r)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return hz, nil
}

// ParseHZ finds CONFIG_HZ=<n> in a kernel config.
func ParseHZ(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ=")
		if !ok {
			continue
		}
		hz, err := strconv.Atoi(v)
		if err != nil || hz <= 0 || hz > 100000 {
			return 0, fmt.Errorf("bad CONFIG_HZ value %q", v)
		}
		return hz, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no CONFIG_HZ line")
}
