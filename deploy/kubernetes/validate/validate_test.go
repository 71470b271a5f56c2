package validate

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

const manifestDir = ".."

func load(t *testing.T) []Object {
	t.Helper()
	objs, err := LoadDir(manifestDir)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestManifests is what `make test` relies on: every manifest decodes
// strictly and passes the policy.
func TestManifests(t *testing.T) {
	objs := load(t)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.Kind]++
	}
	for _, k := range []string{"Namespace", "DaemonSet", "Deployment", "Service", "ConfigMap", "Secret", "Kustomization", "ClusterRole", "ClusterRoleBinding"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among the manifests (found %v)", k, kinds)
		}
	}
	for _, err := range Check(objs) {
		t.Error(err)
	}
	cfgs, errs := CollectorConfigs(objs)
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	if len(cfgs) != 2 {
		t.Errorf("want the agent's and the gateway's collector configs, got %d", len(cfgs))
	}
}

// TestAgentCapabilities pins the agent's privileges: uid 0, drop ALL, the
// smallest set per-pod collection needs (docs/capabilities.md; the same
// list test/privileges/run.sh runs the distribution with), host network
// and PID namespaces, an API token for k8sattributes, and a ClusterRole of
// exactly get/list/watch on pods, namespaces and replicasets. The gateway
// gets none of it.
func TestAgentCapabilities(t *testing.T) {
	objs := load(t)
	ds := find[*appsv1.DaemonSet](t, objs, "otelcol-agent")
	p := ds.Spec.Template.Spec
	if !p.HostNetwork || !p.HostPID {
		t.Error("agent: hostNetwork and hostPID must be true (the node's network namespace, every pod's processes)")
	}
	if p.AutomountServiceAccountToken == nil || !*p.AutomountServiceAccountToken {
		t.Error("agent: automountServiceAccountToken must be true (k8sattributes)")
	}
	c := p.Containers[0]
	got := c.SecurityContext.Capabilities.Add
	if want := []corev1.Capability{"NET_RAW", "SYS_ADMIN", "SYS_PTRACE"}; !slices.Equal(got, want) {
		t.Errorf("agent adds %v, want %v", got, want)
	}
	if !runsAsRoot(&p, c) {
		t.Error("agent must run as uid 0 for the added capabilities to be effective")
	}
	role := find[*rbacv1.ClusterRole](t, objs, "otelcol-agent")
	var grants []string
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				grants = append(grants, g+"/"+res+":"+strings.Join(r.Verbs, ","))
			}
		}
	}
	if want := []string{"/pods:get,list,watch", "/namespaces:get,list,watch", "apps/replicasets:get,list,watch"}; !slices.Equal(grants, want) {
		t.Errorf("agent ClusterRole grants %v, want %v", grants, want)
	}
	dep := find[*appsv1.Deployment](t, objs, "otelcol-gateway")
	g := dep.Spec.Template.Spec
	if runsAsRoot(&g, g.Containers[0]) || len(g.Containers[0].SecurityContext.Capabilities.Add) != 0 {
		t.Error("gateway must run as non-root without added capabilities")
	}
	if g.HostPID || g.AutomountServiceAccountToken == nil || *g.AutomountServiceAccountToken {
		t.Error("gateway: no hostPID, no service-account token")
	}
}

func find[T any](t *testing.T, objs []Object, name string) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.Obj.(T); ok && o.Name == name {
			return v
		}
	}
	var zero T
	t.Fatalf("%T %q not found", zero, name)
	return zero
}

// TestPolicyCatches proves each check can fail: one mutation of the real
// manifests per rule, and the error that must name it.
func TestPolicyCatches(t *testing.T) {
	tests := []struct {
		name, want string
		mutate     func(objs []Object)
	}{
		{"privileged", "privileged must not be true", func(objs []Object) {
			agent(objs).SecurityContext.Privileged = ptr(true)
		}},
		{"no limits", "resources.limits.memory is not set", func(objs []Object) {
			delete(agent(objs).Resources.Limits, corev1.ResourceMemory)
		}},
		{"net_admin", "NET_ADMIN is not one of", func(objs []Object) {
			c := agent(objs)
			c.SecurityContext.Capabilities.Add = append(c.SecurityContext.Capabilities.Add, "NET_ADMIN")
		}},
		{"sys_admin without hostPID", "SYS_ADMIN is only for per-pod collection", func(objs []Object) {
			find[*appsv1.DaemonSet](t, objs, "otelcol-agent").Spec.Template.Spec.HostPID = false
		}},
		{"hostPID on the gateway", "hostPID must be false (only the node agent", func(objs []Object) {
			find[*appsv1.Deployment](t, objs, "otelcol-gateway").Spec.Template.Spec.HostPID = true
		}},
		{"hostIPC", "hostIPC must be false", func(objs []Object) {
			find[*appsv1.DaemonSet](t, objs, "otelcol-agent").Spec.Template.Spec.HostIPC = true
		}},
		{"wildcard resource", `rules[0]: resources: wildcard "*"`, func(objs []Object) {
			agentRole(t, objs).Rules[0].Resources = []string{"*"}
		}},
		{"wildcard verb", `rules[1]: verbs: "*" is not a read-only verb`, func(objs []Object) {
			agentRole(t, objs).Rules[1].Verbs = []string{"*"}
		}},
		{"wildcard group", `apiGroups: wildcard "*"`, func(objs []Object) {
			agentRole(t, objs).Rules[1].APIGroups = []string{"*"}
		}},
		{"write verb", `rules[0]: verbs: "patch" is not a read-only verb`, func(objs []Object) {
			r := &agentRole(t, objs).Rules[0]
			r.Verbs = append(r.Verbs, "patch")
		}},
		{"secrets", `resources: "secrets" must not be readable`, func(objs []Object) {
			r := &agentRole(t, objs).Rules[0]
			r.Resources = append(r.Resources, "secrets")
		}},
		{"subresource", `subresource "pods/exec"`, func(objs []Object) {
			r := &agentRole(t, objs).Rules[0]
			r.Resources = append(r.Resources, "pods/exec")
		}},
		{"non-resource URL", "nonResourceURLs [/metrics]", func(objs []Object) {
			agentRole(t, objs).Rules[0].NonResourceURLs = []string{"/metrics"}
		}},
		{"binding to a user", `subjects[0]: User "/alice" is not a ServiceAccount`, func(objs []Object) {
			find[*rbacv1.ClusterRoleBinding](t, objs, "otelcol-agent").Subjects[0] = rbacv1.Subject{Kind: "User", Name: "alice"}
		}},
		{"binding to cluster-admin", `roleRef ClusterRole "cluster-admin" is not a role of these manifests`, func(objs []Object) {
			find[*rbacv1.ClusterRoleBinding](t, objs, "otelcol-agent").RoleRef.Name = "cluster-admin"
		}},
		{"token without a binding", `no binding grants ServiceAccount "otelcol-agent" a role`, func(objs []Object) {
			find[*rbacv1.ClusterRoleBinding](t, objs, "otelcol-agent").Subjects[0].Name = "otelcol-gateway"
		}},
		{"no drop all", "drop must contain ALL", func(objs []Object) {
			agent(objs).SecurityContext.Capabilities.Drop = nil
		}},
		{"adds as non-root", "Kubernetes does not make added capabilities effective", func(objs []Object) {
			agent(objs).SecurityContext.RunAsUser = ptr(int64(10001))
		}},
		{"writable root", "readOnlyRootFilesystem must be true", func(objs []Object) {
			agent(objs).SecurityContext.ReadOnlyRootFilesystem = ptr(false)
		}},
		{"escalation", "allowPrivilegeEscalation must be false", func(objs []Object) {
			agent(objs).SecurityContext.AllowPrivilegeEscalation = nil
		}},
		{"latest image", "must be pinned", func(objs []Object) {
			agent(objs).Image = "ghcr.io/netstack-otel/otelcol-netstack:latest"
		}},
		{"no memory_limiter", "must start with memory_limiter", func(objs []Object) {
			cm := configMap(objs, "otelcol-gateway")
			cm.Data["config.yaml"] = strings.Replace(cm.Data["config.yaml"], "processors: [memory_limiter, batch]", "processors: [batch]", 1)
		}},
		{"limiter above limit", "must be below the container's memory limit", func(objs []Object) {
			agent(objs).Resources.Limits[corev1.ResourceMemory] = resource.MustParse("128Mi")
		}},
		{"undefined env", "references ${env:K8S_NODE_NAME}", func(objs []Object) {
			c := agent(objs)
			c.Env = c.Env[1:]
		}},
		{"missing secret key", `has no key "otlp-token"`, func(objs []Object) {
			for _, o := range objs {
				if s, ok := o.Obj.(*corev1.Secret); ok {
					delete(s.StringData, "otlp-token")
				}
			}
		}},
		{"service selector", "matches no pod template", func(objs []Object) {
			for _, o := range objs {
				if s, ok := o.Obj.(*corev1.Service); ok {
					s.Spec.Selector = map[string]string{"app": "nothing"}
				}
			}
		}},
		{"token on the gateway", "automountServiceAccountToken must be false (only the node agent", func(objs []Object) {
			find[*appsv1.Deployment](t, objs, "otelcol-gateway").Spec.Template.Spec.AutomountServiceAccountToken = nil
		}},
		{"token on an unbound account", `ServiceAccount/otelcol-gateway: automountServiceAccountToken must be false`, func(objs []Object) {
			find[*corev1.ServiceAccount](t, objs, "otelcol-gateway").AutomountServiceAccountToken = nil
		}},
		{"host path", "hostPath \"/\" is not one of", func(objs []Object) {
			ds := find[*appsv1.DaemonSet](t, objs, "otelcol-agent")
			ds.Spec.Template.Spec.Volumes = append(ds.Spec.Template.Spec.Volumes,
				corev1.Volume{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := load(t)
			tt.mutate(objs)
			var all []string
			for _, err := range Check(objs) {
				all = append(all, err.Error())
			}
			if !strings.Contains(strings.Join(all, "\n"), tt.want) {
				t.Errorf("want an error containing %q, got:\n%s", tt.want, strings.Join(all, "\n"))
			}
		})
	}
}

func agent(objs []Object) *corev1.Container {
	for _, o := range objs {
		if ds, ok := o.Obj.(*appsv1.DaemonSet); ok {
			return &ds.Spec.Template.Spec.Containers[0]
		}
	}
	panic("no DaemonSet")
}

func agentRole(t *testing.T, objs []Object) *rbacv1.ClusterRole {
	return find[*rbacv1.ClusterRole](t, objs, "otelcol-agent")
}

func configMap(objs []Object, name string) *corev1.ConfigMap {
	for _, o := range objs {
		if cm, ok := o.Obj.(*corev1.ConfigMap); ok && cm.Name == name {
			return cm
		}
	}
	panic("no ConfigMap " + name)
}

func ptr[T any](v T) *T { return &v }

// TestStrictDecode: an unknown or misplaced field, an unknown kind and a
// wrongly typed value are errors naming the document.
func TestStrictDecode(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(manifestDir, "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, old, new, want string }{
		{"unknown field", "hostNetwork: true", "hostNetwork: true\n      hostNetwrok: true", `unknown field "spec.template.spec.hostNetwrok"`},
		{"misplaced field", "      hostIPC: false", "      readOnlyRootFilesystem: true", `unknown field "spec.template.spec.readOnlyRootFilesystem"`},
		{"wrong type", "hostNetwork: true", "hostNetwork: yes-please", "agent.yaml[4] DaemonSet/otelcol-agent"},
		{"unknown kind", "kind: DaemonSet", "kind: DaemonSett", `kind "DaemonSett" is not one this validator knows`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mut := strings.Replace(string(data), tt.old, tt.new, 1)
			if mut == string(data) {
				t.Fatalf("%q not found in agent.yaml", tt.old)
			}
			_, err := Decode("agent.yaml", []byte(mut))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("want an error containing %q, got %v", tt.want, err)
			}
		})
	}
}

func TestEnvRefs(t *testing.T) {
	got := EnvRefs("a: ${env:B}\nb: ${env:A_1:-x} ${env:B} $${env:C}")
	if strings.Join(got, ",") != "A_1,B,C" {
		t.Errorf("EnvRefs = %v", got)
	}
}
