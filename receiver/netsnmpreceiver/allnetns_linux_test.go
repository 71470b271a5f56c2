package netsnmpreceiver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/testnet"
)

// byNetNS splits an all_netns scrape by netns.path: each namespace's
// metrics and resource attributes.
func byNetNS(t *testing.T, md pmetric.Metrics) (map[string]pmetric.Metrics, map[string]pcommon.Map) {
	t.Helper()
	mds, attrs := map[string]pmetric.Metrics{}, map[string]pcommon.Map{}
	for i := range md.ResourceMetrics().Len() {
		rm := md.ResourceMetrics().At(i)
		p, ok := rm.Resource().Attributes().Get("netns.path")
		require.True(t, ok, "a resource without netns.path")
		require.NotContains(t, mds, p.Str(), "two resources for one namespace")
		one := pmetric.NewMetrics()
		rm.CopyTo(one.ResourceMetrics().AppendEmpty())
		mds[p.Str()], attrs[p.Str()] = one, rm.Resource().Attributes()
	}
	return mds, attrs
}

func attr(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok {
		return v.AsString()
	}
	return ""
}

func allNetNSConfig() *Config {
	cfg := defaultConfig()
	cfg.AllNetNS, cfg.MaxNetNS, cfg.Nstat.Enabled = true, 100000, true
	return cfg
}

// kubeletPod lays out the cgroups of a pod as the kubelet (systemd driver)
// and containerd name them, with one process per container in ns, and
// returns the pod's UID.
func kubeletPod(t *testing.T, root, top string, ns *testnet.NS, containers int) string {
	uid := testnet.RandPodUID()
	slice := filepath.Join(top, "kubepods.slice", "kubepods-burstable.slice", "kubepods-burstable-pod"+strings.ReplaceAll(uid, "-", "_")+".slice")
	for range containers {
		ns.InCgroup(t, root, filepath.Join(slice, "cri-containerd-"+testnet.RandHex(64)+".scope"))
	}
	return uid
}

// TestKernelAllNetNSMatchesNstat reads every namespace of the host with
// all_netns: namespaces of a pod (two containers), of a one-container pod
// (cgroupfs driver), of a Docker container and one without any process
// (bound under /run/netns only, read by entering it), each with its own
// traffic. Each one's counters equal `nstat` run in it (ip netns exec),
// before and after, and moved by its own traffic only; each resource names
// the namespace and whose it is; each keeps its own series start.
func TestKernelAllNetNSMatchesNstat(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTool(t, "nstat")
	root := testnet.Cgroup2Root(t)
	top := "netstack-test-" + testnet.RandHex(8)

	pod, single, docker, bare := testnet.New(t), testnet.New(t), testnet.New(t), testnet.New(t)
	podUID := kubeletPod(t, root, top, pod, 2)
	singleUID := testnet.RandPodUID()
	singleID, dockerID := testnet.RandHex(64), testnet.RandHex(64)
	single.InCgroup(t, root, filepath.Join(top, "kubepods", "besteffort", "pod"+singleUID, singleID))
	docker.InCgroup(t, root, filepath.Join(top, "system.slice", "docker-"+dockerID+".scope"))
	spaces := []struct {
		ns      *testnet.NS
		traffic trafficSpec
		pod     string
		ctr     string
	}{
		{pod, trafficSpec{nConns: 2, mRefused: 1, kUDP: 3}, podUID, ""},
		{single, trafficSpec{nConns: 4, mRefused: 2, kUDP: 5, lOverflowed: 1}, singleUID, singleID},
		{docker, trafficSpec{nConns: 6, kUDP: 1, lOverflowed: 2}, "", dockerID},
		{bare, trafficSpec{nConns: 1, mRefused: 3, kUDP: 2}, "", ""},
	}

	s, _ := newTestScraper(t, allNetNSConfig())
	md0, err := s.scrape(context.Background())
	require.NoError(t, err)
	nstat0 := map[string]map[string]uint64{}
	for _, sp := range spaces {
		nstat0[sp.ns.Path] = sp.ns.Nstat(t)
	}
	for _, sp := range spaces {
		sp.ns.Do(t, sp.traffic.run)
	}
	for _, sp := range spaces {
		settle(t, sp.ns)
	}
	md1, err := s.scrape(context.Background())
	require.NoError(t, err)
	mds0, _ := byNetNS(t, md0)
	mds1, attrs := byNetNS(t, md1)
	require.Contains(t, mds1, netnsutil.OwnNamespace)

	starts := map[pcommon.Timestamp]bool{}
	for _, sp := range spaces {
		p := sp.ns.Path
		require.Contains(t, mds0, p)
		require.Contains(t, mds1, p)
		before, after := nstatFamily(mds0[p]), nstatFamily(mds1[p])
		assertNstat(t, p, before, after, nstat0[p], sp.ns.Nstat(t))
		sp.traffic.assertDeltas(t, p, before, after)

		a := attrs[p]
		ino, err := netnsutil.Inode(p)
		require.NoError(t, err)
		assert.Equal(t, strconv.FormatUint(ino, 10), attr(a, "netns.inode"), p)
		assert.Equal(t, sp.pod, attr(a, "k8s.pod.uid"), p)
		assert.Equal(t, sp.ctr, attr(a, "container.id"), p)
		if sp.ns == bare {
			for _, k := range []string{"netns.host", "process.pid"} {
				assert.Empty(t, attr(a, k), "%s: %s without a process", p, k)
			}
		} else {
			assert.Equal(t, "false", attr(a, "netns.host"), p)
			pid, err := strconv.Atoi(attr(a, "process.pid"))
			require.NoError(t, err, p)
			pidIno, err := netnsutil.Inode(fmt.Sprintf("/proc/%d/ns/net", pid))
			require.NoError(t, err)
			assert.Equal(t, ino, pidIno, "%s: process.pid %d is in another namespace", p, pid)
		}
		for st := range startTimes(mds1[p]) {
			starts[st] = true
		}
	}
	assert.Len(t, starts, 1, "namespaces listed at the same scrape start their series together")
}

// TestKernelAllNetNSStateFollowsNamespaces: a namespace whose only process
// exits disappears from the next scrape and its state is dropped; one
// deleted and recreated under the same path (new inode) starts afresh.
func TestKernelAllNetNSStateFollowsNamespaces(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTool(t, "unshare")
	// A namespace that lives only as long as its process, as a container's.
	proc := exec.Command("unshare", "-n", "sleep", "300")
	require.NoError(t, proc.Start())
	t.Cleanup(func() { _ = proc.Process.Kill(); _ = proc.Wait() })
	procNS := fmt.Sprintf("/proc/%d/ns/net", proc.Process.Pid)
	own, err := netnsutil.Inode("")
	require.NoError(t, err)
	require.Eventually(t, func() bool { ino, err := netnsutil.Inode(procNS); return err == nil && ino != own }, 5*time.Second, 10*time.Millisecond)
	procIno, err := netnsutil.Inode(procNS)
	require.NoError(t, err)
	bound := testnet.New(t)
	bound.Do(t, trafficSpec{nConns: 3}.run)

	cfg := allNetNSConfig()
	cfg.Nstat.Enabled = false
	s, _ := newTestScraper(t, cfg)
	md0, err := s.scrape(context.Background())
	require.NoError(t, err)
	mds0, attrs0 := byNetNS(t, md0)
	require.Contains(t, mds0, procNS)
	assert.Equal(t, strconv.Itoa(proc.Process.Pid), attr(attrs0[procNS], "process.pid"))
	require.Contains(t, s.all.nss, nsKey{procNS, procIno})
	require.Equal(t, int64(3), metricValues(mds0[bound.Path])["system.network.tcp.active_opens"])

	require.NoError(t, proc.Process.Kill())
	_ = proc.Wait()
	out, err := exec.Command("sh", "-c", fmt.Sprintf("ip netns del %[1]s && ip netns add %[1]s", bound.Name)).CombinedOutput()
	require.NoError(t, err, string(out))
	time.Sleep(time.Millisecond) // a later start time

	md1, err := s.scrape(context.Background())
	require.NoError(t, err)
	mds1, attrs1 := byNetNS(t, md1)
	assert.NotContains(t, mds1, procNS, "the exited process's namespace is still reported")
	for k := range s.all.nss {
		assert.NotEqual(t, procIno, k.inode, "state of a namespace that is gone is kept")
	}
	require.Contains(t, mds1, bound.Path)
	assert.NotEqual(t, attr(attrs0[bound.Path], "netns.inode"), attr(attrs1[bound.Path], "netns.inode"))
	assert.Equal(t, int64(0), metricValues(mds1[bound.Path])["system.network.tcp.active_opens"])
	for st0 := range startTimes(mds0[bound.Path]) {
		for st1 := range startTimes(mds1[bound.Path]) {
			assert.Greater(t, st1, st0, "the recreated namespace's series starts again")
		}
	}
	n := 0
	for k := range s.all.nss {
		if k.label == bound.Path {
			n++
		}
	}
	assert.Equal(t, 1, n, "the old namespace's state under the same path is dropped")
}

// TestKernelAllNetNSWithoutSysAdmin runs the scrape again in a child
// process whose capabilities lack CAP_SYS_ADMIN (kept: CAP_SYS_PTRACE, to
// list other processes' namespaces): a namespace with a process is read
// from its /proc/PID/net all the same; one without (bound under /run/netns
// only) cannot be entered and a partial error names it.
func TestKernelAllNetNSWithoutSysAdmin(t *testing.T) {
	if want := os.Getenv("NETSNMP_TEST_CHILD"); want != "" {
		withProc, bare, _ := strings.Cut(want, ",")
		s, _ := newTestScraper(t, allNetNSConfig())
		md, err := s.scrape(context.Background())
		require.Error(t, err)
		require.ErrorContains(t, err, "netns "+bare+": no process in it to read /proc/PID/net from, and entering network namespace "+bare)
		require.ErrorContains(t, err, "needs CAP_SYS_ADMIN")
		mds, _ := byNetNS(t, md)
		require.Contains(t, mds, withProc)
		require.NotContains(t, mds, bare)
		require.Equal(t, int64(2), metricValues(mds[withProc])["system.network.tcp.active_opens"])
		return
	}
	testnet.RequireRoot(t)
	testnet.RequireTool(t, "setpriv")
	withProc, bare := testnet.New(t), testnet.New(t)
	holder := withProc.Command("sleep", "300")
	require.NoError(t, holder.Start())
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	want, err := netnsutil.Inode(withProc.Path)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		ino, err := netnsutil.Inode(fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid))
		return err == nil && ino == want
	}, 5*time.Second, 10*time.Millisecond)
	withProc.Do(t, trafficSpec{nConns: 2}.run)

	cmd := exec.Command("setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", "--",
		os.Args[0], "-test.run=^TestKernelAllNetNSWithoutSysAdmin$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "NETSNMP_TEST_CHILD="+withProc.Path+","+bare.Path)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child without CAP_SYS_ADMIN:\n%s", out)
	require.Contains(t, string(out), "--- PASS: TestKernelAllNetNSWithoutSysAdmin")
}

// TestAllNetNSRootPath: with root_path, all_netns walks that procfs and
// reads each namespace's counters at <root_path>/PID/net, without entering
// it; PID 1's namespace is the host's.
func TestAllNetNSRootPath(t *testing.T) {
	cfg := allNetNSConfig()
	cfg.RootPath = fakeProc(t, "linux-6.18", "snmp", "netstat", "snmp6")
	s, _ := newTestScraper(t, cfg)
	md, err := s.scrape(context.Background())
	if err != nil {
		// Other namespaces of the host may not be readable without root;
		// the fixture's must not fail.
		require.NotContains(t, err.Error(), cfg.RootPath)
	}
	mds, attrs := byNetNS(t, md)
	host := filepath.Join(cfg.RootPath, "1", "ns", "net")
	require.Contains(t, mds, host)
	assert.Equal(t, "true", attr(attrs[host], "netns.host"))
	assert.Equal(t, "1", attr(attrs[host], "process.pid"))
	nstat := nstatFamily(mds[host])
	assert.Equal(t, int64(70), nstat["TcpActiveOpens"]) // as in the fixture's nstat-az.txt
	assert.Len(t, nstat, 395+7, "the fixture's nstat -az counters and the 7 non-counters")
}

// TestKernelProcNetAccess pins what the capability section of the README
// says all_netns needs, with a root process in another namespace as a
// pod's would be: its /proc/PID/net tables and cgroup are readable by any
// user; its ns/net link (how all_netns lists and tells namespaces apart)
// needs ptrace read access: refused to nobody and to root without
// capabilities, granted by CAP_SYS_PTRACE alone, not by the DAC ones.
func TestKernelProcNetAccess(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTool(t, "setpriv")
	ns := testnet.New(t)
	pod := ns.Command("sleep", "300")
	require.NoError(t, pod.Start())
	t.Cleanup(func() { _ = pod.Process.Kill(); _ = pod.Wait() })
	want, err := netnsutil.Inode(ns.Path)
	require.NoError(t, err)
	dir := fmt.Sprintf("/proc/%d", pod.Process.Pid)
	require.Eventually(t, func() bool { ino, err := netnsutil.Inode(dir + "/ns/net"); return err == nil && ino == want }, 5*time.Second, 10*time.Millisecond)

	run := func(setpriv []string, args ...string) error {
		out, err := exec.Command("setpriv", append(append(setpriv, "--"), args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	nobody := []string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"}
	noCaps := []string{"--inh-caps=-all", "--bounding-set=-all"}
	for _, f := range []string{"net/snmp", "net/netstat", "net/snmp6", "cgroup"} {
		require.NoError(t, run(nobody, "cat", dir+"/"+f), "%s as nobody", f)
	}
	stat := []string{"stat", "-L", dir + "/ns/net"}
	require.Error(t, run(nobody, stat...), "ns/net as nobody")
	require.Error(t, run(noCaps, stat...), "ns/net as root without capabilities")
	require.Error(t, run([]string{"--inh-caps=-all", "--bounding-set=-all,+dac_read_search,+dac_override"}, stat...), "ns/net with the DAC capabilities")
	require.NoError(t, run([]string{"--inh-caps=-all", "--bounding-set=-all,+sys_ptrace"}, stat...), "ns/net with CAP_SYS_PTRACE")
}
