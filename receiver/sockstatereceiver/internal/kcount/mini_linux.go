//go:build linux

package kcount

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// MiniHooks keeps per-namespace deltas of the sockets no tracepoint covers,
// through fentry/fexit on the kernel functions that hash and unhash them:
// timewait sockets by substate (TIME_WAIT, or FIN_WAIT2 for orphans) and
// request sockets (as SYN_RECV). With Events it makes a TCP count O(1).
// Kernels or sandboxes that refuse fentry make OpenMiniHooks fail; callers
// then dump those sockets with sock_diag.
type MiniHooks struct {
	tracing
	objs  hooksObjects
	hooks []string
}

// miniTargets are, per program, the kernel functions it can attach to, the
// current name first (renamed or split between releases).
func miniTargets(p *hooksProgramSpecs) []struct {
	prog  *ebpf.ProgramSpec
	funcs []string
} {
	return []struct {
		prog  *ebpf.ProgramSpec
		funcs []string
	}{
		{p.TwHashed, []string{"inet_twsk_hashdance_schedule", "inet_twsk_hashdance"}}, // 6.9 renamed it
		{p.TwKilled, []string{"inet_twsk_kill"}},
		{p.TwProcessEnter, []string{"tcp_timewait_state_process"}},
		{p.TwProcessExit, []string{"tcp_timewait_state_process"}},
		{p.EhashInsert, []string{"inet_ehash_insert"}},
		// The request timer calls the inner function directly since 6.10.
		{p.ReqskDropped, []string{"__inet_csk_reqsk_queue_drop", "inet_csk_reqsk_queue_drop"}},
	}
}

// OpenMiniHooks resolves the hooked functions in the kernel's BTF, loads the
// fentry/fexit programs (the trial that fails with EPERM where tracing
// programs are refused) and attaches them. Counting starts at attach time.
// Hooks names what was attached.
func OpenMiniHooks() (*MiniHooks, error) {
	kspec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("kcount: kernel BTF: %w", err)
	}
	spec, err := loadHooks()
	if err != nil {
		return nil, fmt.Errorf("kcount: reading the embedded hooks object: %w", err)
	}
	var specs hooksProgramSpecs
	if err := spec.Assign(&specs); err != nil {
		return nil, fmt.Errorf("kcount: %w", err)
	}
	m := &MiniHooks{}
	for _, t := range miniTargets(&specs) {
		fn, err := findFunc(kspec, t.funcs)
		if err != nil {
			return nil, err
		}
		t.prog.AttachTo = fn.Name
		kind := "fentry"
		if t.prog.AttachType == ebpf.AttachTraceFExit {
			kind = "fexit"
		}
		m.hooks = append(m.hooks, kind+"/"+fn.Name)
	}
	if err := load(spec, &m.objs, "the timewait/request-socket fentry programs", "5.17"); err != nil {
		return nil, err
	}
	p := &m.objs.hooksPrograms
	m.tracing = tracing{progs: []*ebpf.Program{p.TwHashed, p.TwKilled, p.TwProcessEnter, p.TwProcessExit, p.EhashInsert, p.ReqskDropped},
		objs: &m.objs, dropped: m.objs.EvDropped}
	if err := m.attach(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// findFunc returns the first of names the kernel's BTF has as a function.
func findFunc(kspec *btf.Spec, names []string) (*btf.Func, error) {
	for _, n := range names {
		var fn *btf.Func
		if err := kspec.TypeByName(n, &fn); err == nil {
			return fn, nil
		} else if !errors.Is(err, btf.ErrNotFound) {
			return nil, fmt.Errorf("kcount: looking up %s in kernel BTF: %w", n, err)
		}
	}
	return nil, fmt.Errorf("kcount: kernel BTF has none of %v (inlined or renamed)", names)
}

// Hooks names the attached programs as type/function, e.g.
// "fentry/inet_twsk_hashdance".
func (m *MiniHooks) Hooks() []string { return m.hooks }

// Deltas reads the deltas of the namespace with inode netns into out: per
// family, TIME_WAIT and FIN_WAIT2 for timewait sockets, SYN_RECV for request
// sockets.
func (m *MiniHooks) Deltas(netns uint32, out *Deltas) error {
	return readDeltas(m.objs.MiniDeltas, netns, out)
}
