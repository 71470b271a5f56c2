package podattr

import (
	"strings"
	"testing"
)

const (
	cid  = "3f1c0f9e2b7d4a6c8e5f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"
	uid  = "6c2d8a4e-1b3f-4e5a-9c7d-0f1e2d3c4b5a"
	uidU = "6c2d8a4e_1b3f_4e5a_9c7d_0f1e2d3c4b5a"
)

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		path string
		want Cgroup
	}{
		// kubelet with the systemd driver, containerd / CRI-O / Docker
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope", Cgroup{cid, uid}},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-" + cid + ".scope", Cgroup{cid, uid}},
		{"/kubepods.slice/kubepods-pod" + uidU + ".slice/docker-" + cid + ".scope", Cgroup{cid, uid}},
		// CRI-O's monitor belongs to the pod, not to a container
		{"/kubepods.slice/kubepods-pod" + uidU + ".slice/crio-conmon-" + cid + ".scope", Cgroup{"", uid}},
		// a container running systemd nests cgroups of its own
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope/init.scope", Cgroup{cid, uid}},
		// the agent in a private cgroup namespace sees other pods relative to its own
		{"/../../kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope", Cgroup{cid, uid}},
		// kind: the kubelet's cgroup root is /kubelet, which prefixes the slices
		{"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope", Cgroup{cid, uid}},
		// the cgroupfs driver, each QoS class
		{"/kubepods/burstable/pod" + uid + "/" + cid, Cgroup{cid, uid}},
		{"/kubepods/besteffort/pod" + uid + "/" + cid, Cgroup{cid, uid}},
		{"/kubepods/pod" + uid + "/" + cid, Cgroup{cid, uid}},
		{"/kubepods/pod" + uid, Cgroup{"", uid}},
		// static pod: the UID is the manifest's hash
		{"/kubepods/pod0123456789abcdef0123456789abcdef/" + cid, Cgroup{cid, "0123456789abcdef0123456789abcdef"}},
		// Docker and Podman outside Kubernetes
		{"/system.slice/docker-" + cid + ".scope", Cgroup{cid, ""}},
		{"/docker/" + cid, Cgroup{cid, ""}},
		{"/machine.slice/libpod-" + cid + ".scope", Cgroup{cid, ""}},
		// not containers: never guessed
		{"/", Cgroup{}},
		{"/user.slice/user-1000.slice/session-2.scope", Cgroup{}},
		{"/system.slice/containerd.service", Cgroup{}},
		{"/" + cid, Cgroup{}},                                         // a bare ID with no runtime parent
		{"/kubepods/burstable/pod" + uid + "/short", Cgroup{"", uid}}, // not a 64-digit ID
		{"/kubepods/burstable/podnot-a-uid/" + cid, Cgroup{}},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podXYZ.slice/cri-containerd-" + cid + ".scope", Cgroup{cid, ""}},
		{"/kubepods/burstable/pod" + strings.ToUpper(uid) + "/" + cid, Cgroup{}},
		{"/system.slice/docker-" + cid[:63] + ".scope", Cgroup{}},
	} {
		if got := ParsePath(tc.path); got != tc.want {
			t.Errorf("ParsePath(%q) = %+v, want %+v", tc.path, got, tc.want)
		}
	}
}

func TestParseCgroup(t *testing.T) {
	k8s := "/kubepods/burstable/pod" + uid + "/" + cid
	for _, tc := range []struct {
		name, data string
		want       Cgroup
	}{
		{"v2", "0::/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope\n", Cgroup{cid, uid}},
		{"v1 cgroupfs", "12:pids:" + k8s + "\n11:memory:" + k8s + "\n1:name=systemd:" + k8s + "\n", Cgroup{cid, uid}},
		{"v1 first named hierarchy wins", "5:cpu:/\n4:memory:" + k8s + "\n", Cgroup{cid, uid}},
		{"hybrid: unified line preferred", "1:name=systemd:/docker/" + cid + "\n0::/kubepods/pod" + uid + "/" + cid + "\n", Cgroup{cid, uid}},
		{"no container", "0::/user.slice/session-1.scope\n", Cgroup{}},
		{"malformed lines skipped", "garbage\n7\n3:cpu\n2:cpu:relative\n0::/docker/" + cid, Cgroup{cid, ""}},
		{"path with colon", "0::/a:b/docker/" + cid + "\n", Cgroup{cid, ""}},
		{"empty", "", Cgroup{}},
	} {
		if got := ParseCgroup([]byte(tc.data)); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func FuzzParseCgroup(f *testing.F) {
	f.Add([]byte("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope\n"))
	f.Add([]byte("12:pids:/kubepods/burstable/pod" + uid + "/" + cid + "\n1:name=systemd:/\n"))
	f.Add([]byte("0::/docker/" + cid))
	f.Add([]byte("::\n:/\n0::\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cg := ParseCgroup(data)
		if cg.ContainerID != "" && !isHexID(cg.ContainerID) {
			t.Fatalf("container ID %q is not 64 hex digits", cg.ContainerID)
		}
		if cg.PodUID != "" && !isPodUID(cg.PodUID) {
			t.Fatalf("pod UID %q is not a UID", cg.PodUID)
		}
		if cg.ContainerID != "" && !strings.Contains(string(data), cg.ContainerID) {
			t.Fatalf("container ID %q not in the input", cg.ContainerID)
		}
	})
}
