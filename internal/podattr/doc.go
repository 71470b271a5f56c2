// Package podattr tells which pod and container a network namespace
// belongs to, from the cgroup paths of the processes in it: the kubelet
// names a pod's cgroup after its UID (kubepods-burstable-pod<uid>.slice
// with the systemd driver, kubepods/burstable/pod<uid> with cgroupfs) and
// the container runtimes name each container's cgroup after its ID
// (cri-containerd-<id>.scope, crio-<id>.scope, docker-<id>.scope, or the
// bare ID under the pod's directory).
//
// What it finds are the association keys the Collector's k8sattributes
// processor uses (k8s.pod.uid, container.id); names come from there. A
// layout it does not know leaves the keys unset: it never guesses.
//
// Lister is all_netns for every receiver that has it: it lists the
// collector's own namespace, /run/netns/* and the processes' namespaces
// (one procfs walk), each with a member PID and its identity, and puts them
// on a resource through the setters mdatagen generates.
//
// The package reads procfs only and has no OpenTelemetry imports.
package podattr
