package sockstatereceiver

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/netstack-otel/netstack/internal/testnet"
)

// TestKernelAllNetNSPodAttribution: under all_netns a namespace whose
// process sits in a pod's container cgroup (the kubelet's systemd-driver
// naming, containerd) carries the pod's UID, and one whose process is in a
// Docker container carries that container's ID; each with its counts.
func TestKernelAllNetNSPodAttribution(t *testing.T) {
	root := testnet.Cgroup2Root(t)
	h := make([]byte, 48)
	_, _ = rand.Read(h)
	x := hex.EncodeToString(h)
	podUID := fmt.Sprintf("%s-%s-%s-%s-%s", x[:8], x[8:12], x[12:16], x[16:20], x[20:32])
	ctrID := x[32:] // 64 hex digits
	top := "netstack-test-" + x[:8]
	pod, ctr := testnet.New(t), testnet.New(t)
	pod.InCgroup(t, root, filepath.Join(top, "kubepods.slice", "kubepods-burstable.slice",
		"kubepods-burstable-pod"+strings.ReplaceAll(podUID, "-", "_")+".slice", "cri-containerd-"+ctrID+".scope"))
	pod.InCgroup(t, root, filepath.Join(top, "kubepods.slice", "kubepods-burstable.slice",
		"kubepods-burstable-pod"+strings.ReplaceAll(podUID, "-", "_")+".slice", "cri-containerd-"+x[:64]+".scope"))
	ctr.InCgroup(t, root, filepath.Join(top, "system.slice", "docker-"+ctrID+".scope"))
	holdUDP(t, pod, 2)
	holdUDP(t, ctr, 4)

	md := scrapeAllNetNS(t)

	attrs := map[string]pcommon.Map{}
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		a := rms.At(i).Resource().Attributes()
		p, _ := a.Get("netns.path")
		attrs[p.Str()] = a
	}
	str := func(path, key string) string {
		v, ok := attrs[path].Get(key)
		if !ok {
			return ""
		}
		return v.AsString()
	}
	require.Contains(t, attrs, pod.Path)
	require.Contains(t, attrs, ctr.Path)
	require.Equal(t, podUID, str(pod.Path, "k8s.pod.uid"))
	require.Empty(t, str(pod.Path, "container.id"), "a pod's namespace holds two containers")
	require.Equal(t, ctrID, str(ctr.Path, "container.id"))
	require.Empty(t, str(ctr.Path, "k8s.pod.uid"))
	for _, p := range []string{pod.Path, ctr.Path} {
		require.Equal(t, "false", str(p, "netns.host"), p)
		require.NotEmpty(t, str(p, "process.pid"), p)
	}
	got := countsByNetNS(t, md)
	require.Equal(t, int64(2), got[pod.Path][countKey{"udp", "closed", "ipv4"}])
	require.Equal(t, int64(4), got[ctr.Path][countKey{"udp", "closed", "ipv4"}])
}
