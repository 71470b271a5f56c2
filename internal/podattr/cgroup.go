package podattr

import (
	"bytes"
	"strings"
)

// Cgroup is what one process's cgroup membership says about it.
type Cgroup struct {
	// ContainerID is the 64-hex-digit ID of the container the process
	// runs in, or "" when its cgroup is not a container's.
	ContainerID string
	// PodUID is the UID of the Kubernetes pod, or "" outside a pod.
	PodUID string
}

// ParseCgroup reads the content of /proc/PID/cgroup: the cgroup v2 line
// ("0::/path") and the v1 lines ("N:controllers:/path"). The unified (v2)
// path is preferred, then the first v1 path that names a pod or container:
// with the systemd or cgroupfs driver every hierarchy carries the same
// kubepods path. Malformed lines are skipped.
func ParseCgroup(data []byte) Cgroup {
	var best Cgroup
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		// hierarchy-ID:controller-list:cgroup-path; the path may hold ':'.
		id, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		_, path, ok := bytes.Cut(rest, []byte{':'})
		if !ok || len(path) == 0 || path[0] != '/' {
			continue
		}
		cg := ParsePath(string(path))
		if cg == (Cgroup{}) {
			continue
		}
		if string(id) == "0" {
			return cg // the unified hierarchy is the runtime's own view
		}
		if best == (Cgroup{}) {
			best = cg
		}
	}
	return best
}

// ParsePath reads one cgroup path. The container is the deepest element
// named after a container ID (a container may nest cgroups of its own, such
// as init.scope under systemd); the pod is the element the kubelet names
// after the pod's UID.
func ParsePath(path string) Cgroup {
	var cg Cgroup
	elems := strings.Split(path, "/")
	for i := len(elems) - 1; i >= 0; i-- {
		e := elems[i]
		if cg.ContainerID == "" && cg.PodUID == "" {
			if id, ok := containerID(elems, i); ok {
				cg.ContainerID = id
				continue
			}
		}
		if uid, ok := podUID(e, parentName(elems, i)); ok {
			cg.PodUID = uid
			break
		}
	}
	return cg
}

func parentName(elems []string, i int) string {
	if i <= 0 {
		return ""
	}
	return elems[i-1]
}

// containerID recognises the runtimes' scope names and, directly below a
// pod's cgroupfs directory (kubepods/<qos>/pod<uid>/<id>) or Docker's
// cgroupfs parent (docker/<id>), the bare ID. crio-conmon-<id>.scope is
// CRI-O's monitor process, not the container.
func containerID(elems []string, i int) (string, bool) {
	e := elems[i]
	for _, prefix := range []string{"cri-containerd-", "crio-", "docker-", "libpod-", "containerd-"} {
		if rest, ok := strings.CutPrefix(e, prefix); ok {
			id, ok := strings.CutSuffix(rest, ".scope")
			if ok && isHexID(id) {
				return id, true
			}
			return "", false
		}
	}
	if !isHexID(e) {
		return "", false
	}
	parent := parentName(elems, i)
	if parent == "docker" {
		return e, true
	}
	if _, ok := podUID(parent, parentName(elems, i-1)); ok && !strings.HasSuffix(parent, ".slice") {
		return e, true
	}
	return "", false
}

// podUID recognises the kubelet's pod cgroup names:
//
//	systemd driver:  kubepods-pod<uid>.slice, kubepods-<qos>-pod<uid>.slice
//	                 (the UID's dashes written as underscores; with a
//	                 cgroup root of /kubelet, kubelet-kubepods-...)
//	cgroupfs driver: pod<uid> below kubepods or kubepods/<qos>
//
// Guaranteed pods sit directly below kubepods; burstable and best-effort
// ones below their QoS class.
//
// The UID is a UUID, or 32 hex digits for a static pod (its config hash).
func podUID(e, parent string) (string, bool) {
	// A kubelet whose cgroup root is /kubelet (as kind runs it) prefixes
	// the slices with "kubelet-".
	if rest, ok := strings.CutPrefix(strings.TrimPrefix(e, "kubelet-"), "kubepods-"); ok {
		rest, ok = strings.CutSuffix(rest, ".slice")
		if !ok {
			return "", false
		}
		for _, qos := range []string{"burstable-", "besteffort-"} {
			rest, _ = strings.CutPrefix(rest, qos)
		}
		uid, ok := strings.CutPrefix(rest, "pod")
		if !ok {
			return "", false
		}
		uid = strings.ReplaceAll(uid, "_", "-")
		return uid, isPodUID(uid)
	}
	if uid, ok := strings.CutPrefix(e, "pod"); ok {
		switch strings.TrimSuffix(parent, ".slice") {
		case "kubepods", "burstable", "besteffort":
			return uid, isPodUID(uid)
		}
	}
	return "", false
}

func isPodUID(s string) bool {
	if len(s) == 32 {
		return isHex(s)
	}
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHexDigit(c) {
				return false
			}
		}
	}
	return true
}

func isHexID(s string) bool { return len(s) == 64 && isHex(s) }

func isHex(s string) bool {
	for _, c := range s {
		if !isHexDigit(c) {
			return false
		}
	}
	return true
}

func isHexDigit(c rune) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
