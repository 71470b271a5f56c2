package validate

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// AllowedCapabilities are the only capabilities a container may add:
// NET_RAW (connprobe's raw ICMP socket), BPF and PERFMON (tcpflow,
// sockstate's BPF methods), and, for per-pod collection only (see
// PerPodCapabilities), SYS_ADMIN and SYS_PTRACE.
var AllowedCapabilities = []corev1.Capability{"NET_RAW", "BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE"}

// PerPodCapabilities are allowed only in a pod with hostPID (a DaemonSet):
// SYS_PTRACE to read other pods' /proc/PID/ns/net, SYS_ADMIN to enter
// those namespaces (sockstate all_netns). Without hostPID they serve no
// receiver.
var PerPodCapabilities = []corev1.Capability{"SYS_ADMIN", "SYS_PTRACE"}

// Workload is a DaemonSet's or Deployment's pod template.
type Workload struct {
	Object
	Namespace string
	Labels    map[string]string
	Spec      *corev1.PodSpec
}

// CollectorConfig is one Collector configuration a container runs with.
type CollectorConfig struct {
	Workload  string // kind/name
	Container string
	ConfigMap string
	Key       string
	Data      string
	// Env is the container's environment: a literal value, or "" for
	// values from fieldRef / secretKeyRef / configMapKeyRef.
	Env map[string]string
	// MemoryLimitMiB is the container's memory limit.
	MemoryLimitMiB int64
}

// Workloads returns the pod-owning objects.
func Workloads(objs []Object) []Workload {
	var ws []Workload
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *appsv1.DaemonSet:
			ws = append(ws, Workload{o, v.Namespace, v.Spec.Template.Labels, &v.Spec.Template.Spec})
		case *appsv1.Deployment:
			ws = append(ws, Workload{o, v.Namespace, v.Spec.Template.Labels, &v.Spec.Template.Spec})
		}
	}
	return ws
}

// Check runs every policy check and returns one error per violation, each
// naming the object and the field.
func Check(objs []Object) []error {
	var errs []error
	add := func(o fmt.Stringer, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", o, fmt.Sprintf(format, args...)))
	}
	configMaps := map[string]*corev1.ConfigMap{}
	secrets := map[string]*corev1.Secret{}
	namespaces := map[string]bool{}
	bound, berrs := bindings(objs)
	errs = append(errs, berrs...)
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *corev1.ConfigMap:
			configMaps[v.Namespace+"/"+v.Name] = v
		case *corev1.Secret:
			secrets[v.Namespace+"/"+v.Name] = v
		case *corev1.Namespace:
			namespaces[v.Name] = true
		}
	}
	for _, o := range objs {
		if k, ok := o.Obj.(*Kustomization); ok {
			errs = append(errs, checkKustomization(o, k, objs)...)
			continue
		}
		switch v := o.Obj.(type) {
		case *rbacv1.ClusterRole:
			errs = append(errs, checkRules(o, v.Rules)...)
		case *rbacv1.Role:
			errs = append(errs, checkRules(o, v.Rules)...)
		case *corev1.ServiceAccount:
			if (v.AutomountServiceAccountToken == nil || *v.AutomountServiceAccountToken) && len(bound[v.Namespace+"/"+v.Name]) == 0 {
				add(o, "automountServiceAccountToken must be false: no binding grants this ServiceAccount a role, so its token serves nothing")
			}
		}
		ns := namespaceOf(o.Obj)
		if slices.Contains(clusterScoped, o.Kind) {
			if ns != "" {
				add(o, "metadata.namespace %q is set on a cluster-scoped kind", ns)
			}
			continue
		}
		if ns == "" {
			add(o, "metadata.namespace is empty")
		} else if !namespaces[ns] {
			add(o, "metadata.namespace %q is not created by these manifests", ns)
		}
	}
	workloads := Workloads(objs)
	for _, w := range workloads {
		errs = append(errs, checkPod(w, configMaps, secrets, bound)...)
	}
	for _, o := range objs {
		if s, ok := o.Obj.(*corev1.Service); ok {
			errs = append(errs, checkService(o, s, workloads)...)
		}
	}
	cfgs, cerrs := CollectorConfigs(objs)
	errs = append(errs, cerrs...)
	for _, c := range cfgs {
		errs = append(errs, checkCollectorConfig(c)...)
	}
	return errs
}

func namespaceOf(obj any) string {
	if m, ok := obj.(interface{ GetNamespace() string }); ok {
		return m.GetNamespace()
	}
	return ""
}

func checkKustomization(o Object, k *Kustomization, objs []Object) []error {
	var errs []error
	listed := map[string]bool{}
	for _, r := range k.Resources {
		listed[r] = true
	}
	files := map[string]bool{}
	for _, x := range objs {
		if x.Kind == "Kustomization" {
			continue
		}
		files[x.File] = true
	}
	for f := range files {
		// *.example.yaml are templates the user fills in (Secrets): never applied as they are.
		if strings.HasSuffix(f, ".example.yaml") {
			if listed[f] {
				errs = append(errs, fmt.Errorf("%s: resources lists the template %s", o, f))
			}
			continue
		}
		if !listed[f] {
			errs = append(errs, fmt.Errorf("%s: resources does not list %s", o, f))
		}
	}
	for r := range listed {
		if !files[r] {
			errs = append(errs, fmt.Errorf("%s: resources lists %s, which is not a manifest here", o, r))
		}
	}
	return errs
}

func checkPod(w Workload, configMaps map[string]*corev1.ConfigMap, secrets map[string]*corev1.Secret, bound map[string][]string) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", w.Object, fmt.Sprintf(format, args...)))
	}
	p := w.Spec
	// The node agent (a DaemonSet) may be given an API token, for the
	// k8sattributes processor to look up the pods it reads, and only when a
	// binding grants its ServiceAccount a (read-only) role. Nothing else
	// talks to the API.
	sa := p.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
		switch {
		case w.Kind != "DaemonSet":
			add("spec.template.spec.automountServiceAccountToken must be false (only the node agent DaemonSet looks pods up in the API)")
		case len(bound[w.Namespace+"/"+sa]) == 0:
			add("spec.template.spec.automountServiceAccountToken must be false: no binding grants ServiceAccount %q a role", sa)
		}
	}
	// hostPID lets the node agent see every pod's processes, which is how
	// it finds each pod's network namespace and names the pod (sockstate
	// all_netns). A Deployment (the gateway) never needs it; hostIPC serves
	// nothing.
	if p.HostPID && w.Kind != "DaemonSet" {
		add("spec.template.spec.hostPID must be false (only the node agent DaemonSet reads the pods' processes)")
	}
	if p.HostIPC {
		add("spec.template.spec.hostIPC must be false")
	}
	psc := p.SecurityContext
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined {
		add("spec.template.spec.securityContext.seccompProfile must be RuntimeDefault or Localhost")
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range p.Volumes {
		volumes[v.Name] = v
		if v.ConfigMap != nil && configMaps[w.Namespace+"/"+v.ConfigMap.Name] == nil {
			add("volume %q: ConfigMap %q is not defined", v.Name, v.ConfigMap.Name)
		}
		if v.Secret != nil {
			s := secrets[w.Namespace+"/"+v.Secret.SecretName]
			if s == nil {
				add("volume %q: Secret %q is not defined (not even as a *.example.yaml template)", v.Name, v.Secret.SecretName)
			}
			for _, it := range v.Secret.Items {
				if s != nil && !secretHas(s, it.Key) {
					add("volume %q: Secret %q has no key %q", v.Name, v.Secret.SecretName, it.Key)
				}
			}
		}
		if v.HostPath != nil && !slices.Contains([]string{"/proc", "/sys/kernel/btf", "/run/netns"}, v.HostPath.Path) {
			add("volume %q: hostPath %q is not one of the read-only paths the receivers use", v.Name, v.HostPath.Path)
		}
	}
	for _, c := range slices.Concat(p.InitContainers, p.Containers) {
		errs = append(errs, checkContainer(w, p, c, volumes, secrets)...)
	}
	return errs
}

func secretHas(s *corev1.Secret, key string) bool {
	_, a := s.Data[key]
	_, b := s.StringData[key]
	return a || b
}

// runsAsRoot reports whether a container runs as uid 0 (explicitly or by
// not saying otherwise).
func runsAsRoot(p *corev1.PodSpec, c corev1.Container) bool {
	var uid *int64
	var nonRoot *bool
	if p.SecurityContext != nil {
		uid, nonRoot = p.SecurityContext.RunAsUser, p.SecurityContext.RunAsNonRoot
	}
	if c.SecurityContext != nil {
		if c.SecurityContext.RunAsUser != nil {
			uid = c.SecurityContext.RunAsUser
		}
		if c.SecurityContext.RunAsNonRoot != nil {
			nonRoot = c.SecurityContext.RunAsNonRoot
		}
	}
	if uid != nil {
		return *uid == 0
	}
	return nonRoot == nil || !*nonRoot
}

func checkContainer(w Workload, p *corev1.PodSpec, c corev1.Container, volumes map[string]corev1.Volume, secrets map[string]*corev1.Secret) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s container %q: %s", w.Object, c.Name, fmt.Sprintf(format, args...)))
	}
	if c.Image == "" || !strings.Contains(path.Base(c.Image), ":") && !strings.Contains(c.Image, "@sha256:") || strings.HasSuffix(c.Image, ":latest") {
		add("image %q must be pinned to a version tag or digest", c.Image)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		lim, okL := c.Resources.Limits[r]
		req, okR := c.Resources.Requests[r]
		if !okL {
			add("resources.limits.%s is not set", r)
		}
		if !okR {
			add("resources.requests.%s is not set", r)
		}
		if okL && okR && req.Cmp(lim) > 0 {
			add("resources.requests.%s %s exceeds the limit %s", r, req.String(), lim.String())
		}
	}
	if c.LivenessProbe == nil || c.ReadinessProbe == nil {
		add("livenessProbe and readinessProbe must be set (health_check extension)")
	}
	sc := c.SecurityContext
	if sc == nil {
		add("securityContext is not set")
		return errs
	}
	if sc.Privileged != nil && *sc.Privileged {
		add("securityContext.privileged must not be true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		add("securityContext.allowPrivilegeEscalation must be false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		add("securityContext.readOnlyRootFilesystem must be true")
	}
	if sc.ProcMount != nil && *sc.ProcMount == corev1.UnmaskedProcMount {
		add("securityContext.procMount must not be Unmasked")
	}
	var adds []corev1.Capability
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		add("securityContext.capabilities.drop must contain ALL")
	}
	if sc.Capabilities != nil {
		adds = sc.Capabilities.Add
	}
	for _, a := range adds {
		if !slices.Contains(AllowedCapabilities, a) {
			add("securityContext.capabilities.add: %s is not one of %v", a, AllowedCapabilities)
		}
		if slices.Contains(PerPodCapabilities, a) && !p.HostPID {
			add("securityContext.capabilities.add: %s is only for per-pod collection, in a pod with hostPID", a)
		}
	}
	root := runsAsRoot(p, c)
	switch {
	case root && len(adds) == 0:
		add("runs as uid 0 but adds no capability: run it as a non-root user")
	case !root && len(adds) > 0:
		add("adds %v but runs as a non-root user: Kubernetes does not make added capabilities effective for non-root processes (no ambient capabilities); run as uid 0 with drop ALL", adds)
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			s := secrets[w.Namespace+"/"+ref.Name]
			if s == nil {
				add("env %s: Secret %q is not defined (not even as a *.example.yaml template)", e.Name, ref.Name)
			} else if !secretHas(s, ref.Key) {
				add("env %s: Secret %q has no key %q", e.Name, ref.Name, ref.Key)
			}
		}
	}
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			add("volumeMounts: volume %q is not defined", m.Name)
			continue
		}
		if (v.HostPath != nil || v.Secret != nil || v.ConfigMap != nil) && !m.ReadOnly {
			add("volumeMounts %q (%s) must be readOnly", m.Name, m.MountPath)
		}
	}
	return errs
}

func checkService(o Object, s *corev1.Service, workloads []Workload) []error {
	var errs []error
	if len(s.Spec.Selector) == 0 {
		return []error{fmt.Errorf("%s: spec.selector is empty", o)}
	}
	sel := labels.SelectorFromSet(s.Spec.Selector)
	var match []Workload
	for _, w := range workloads {
		if w.Namespace == s.Namespace && sel.Matches(labels.Set(w.Labels)) {
			match = append(match, w)
		}
	}
	if len(match) == 0 {
		return []error{fmt.Errorf("%s: spec.selector %v matches no pod template", o, s.Spec.Selector)}
	}
	for _, sp := range s.Spec.Ports {
		for _, w := range match {
			if !hasPort(w.Spec, sp.TargetPort, sp.Port) {
				errs = append(errs, fmt.Errorf("%s: port %q: targetPort %s is not a container port of %s", o, sp.Name, sp.TargetPort.String(), w.Object))
			}
		}
	}
	return errs
}

func hasPort(p *corev1.PodSpec, target intstr.IntOrString, port int32) bool {
	for _, c := range p.Containers {
		for _, cp := range c.Ports {
			switch {
			case target.Type == intstr.String && target.StrVal != "" && cp.Name == target.StrVal:
				return true
			case target.Type == intstr.Int && target.IntVal != 0 && cp.ContainerPort == target.IntVal:
				return true
			case target.Type == intstr.Int && target.IntVal == 0 && cp.ContainerPort == port:
				return true
			}
		}
	}
	return false
}

// CollectorConfigs finds, for every container, the --config file it runs
// with, resolved through its volume mounts to a ConfigMap key.
func CollectorConfigs(objs []Object) ([]CollectorConfig, []error) {
	configMaps := map[string]*corev1.ConfigMap{}
	for _, o := range objs {
		if v, ok := o.Obj.(*corev1.ConfigMap); ok {
			configMaps[v.Namespace+"/"+v.Name] = v
		}
	}
	var out []CollectorConfig
	var errs []error
	for _, w := range Workloads(objs) {
		for _, c := range w.Spec.Containers {
			file, err := configArg(c)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s container %q: %w", w.Object, c.Name, err))
				continue
			}
			cmName, key, err := resolveMount(w.Spec, c, file)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s container %q: --config %s: %w", w.Object, c.Name, file, err))
				continue
			}
			cm := configMaps[w.Namespace+"/"+cmName]
			if cm == nil {
				errs = append(errs, fmt.Errorf("%s container %q: --config %s: ConfigMap %q is not defined", w.Object, c.Name, file, cmName))
				continue
			}
			data, ok := cm.Data[key]
			if !ok {
				errs = append(errs, fmt.Errorf("%s container %q: --config %s: ConfigMap %q has no key %q", w.Object, c.Name, file, cmName, key))
				continue
			}
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			lim := c.Resources.Limits[corev1.ResourceMemory]
			out = append(out, CollectorConfig{
				Workload: w.Kind + "/" + w.Name, Container: c.Name, ConfigMap: cmName, Key: key,
				Data: data, Env: env, MemoryLimitMiB: lim.Value() / (1 << 20),
			})
		}
	}
	return out, errs
}

func configArg(c corev1.Container) (string, error) {
	args := slices.Concat(c.Command, c.Args)
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			return v, nil
		}
		if a == "--config" && i+1 < len(args) {
			return args[i+1], nil
		}
	}
	return "", errors.New("no --config argument")
}

func resolveMount(p *corev1.PodSpec, c corev1.Container, file string) (configMap, key string, err error) {
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok || strings.Contains(rel, "/") {
			continue
		}
		for _, v := range p.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.ConfigMap == nil {
				return "", "", fmt.Errorf("volume %q is not a ConfigMap", v.Name)
			}
			key := rel
			for _, it := range v.ConfigMap.Items {
				if it.Path == rel {
					key = it.Key
				}
			}
			return v.ConfigMap.Name, key, nil
		}
	}
	return "", "", errors.New("not inside any volume mount")
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}`)

// EnvRefs returns the environment variables a configuration references.
func EnvRefs(data string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range envRef.FindAllStringSubmatch(data, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}

func checkCollectorConfig(c CollectorConfig) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s container %q ConfigMap %s key %s: %s", c.Workload, c.Container, c.ConfigMap, c.Key, fmt.Sprintf(format, args...)))
	}
	var cfg struct {
		Processors map[string]map[string]any `json:"processors"`
		Service    struct {
			Pipelines map[string]struct {
				Processors []string `json:"processors"`
			} `json:"pipelines"`
		} `json:"service"`
	}
	if err := yaml.Unmarshal([]byte(c.Data), &cfg); err != nil {
		add("not valid YAML: %v", err)
		return errs
	}
	ml, ok := cfg.Processors["memory_limiter"]
	if !ok {
		add("processors.memory_limiter is not configured")
	}
	if len(cfg.Service.Pipelines) == 0 {
		add("service.pipelines is empty")
	}
	for name, p := range cfg.Service.Pipelines {
		if len(p.Processors) == 0 || p.Processors[0] != "memory_limiter" {
			add("service.pipelines.%s.processors must start with memory_limiter, got %v", name, p.Processors)
		}
	}
	if ok {
		limit, isNum := ml["limit_mib"].(float64)
		switch {
		case !isNum:
			add("processors.memory_limiter.limit_mib must be set as a number of MiB")
		case c.MemoryLimitMiB == 0:
			add("no memory limit on the container")
		case int64(limit) >= c.MemoryLimitMiB:
			add("processors.memory_limiter.limit_mib %v must be below the container's memory limit %d MiB", limit, c.MemoryLimitMiB)
		}
	}
	if gml, set := c.Env["GOMEMLIMIT"]; set {
		q, err := resource.ParseQuantity(strings.TrimSuffix(gml, "B"))
		if err != nil || q.Value()/(1<<20) >= c.MemoryLimitMiB {
			add("GOMEMLIMIT %q must be a size below the container's memory limit %d MiB", gml, c.MemoryLimitMiB)
		}
	}
	for _, name := range EnvRefs(c.Data) {
		if _, defined := c.Env[name]; !defined {
			add("references ${env:%s}, which the container's env does not define", name)
		}
	}
	return errs
}
