package validate

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// ReadVerbs are the only verbs a role may grant: the agent's k8sattributes
// processor watches objects; nothing here writes to the API.
var ReadVerbs = []string{"get", "list", "watch"}

// ForbiddenResources may not be granted even read-only.
var ForbiddenResources = []string{"secrets"}

// clusterScoped kinds have no metadata.namespace.
var clusterScoped = []string{"Namespace", "ClusterRole", "ClusterRoleBinding"}

// checkRules checks a Role's or ClusterRole's rules: read-only verbs on
// named resources of named API groups, no wildcards, no secrets, no
// non-resource URLs.
func checkRules(o Object, rules []rbacv1.PolicyRule) []error {
	var errs []error
	add := func(i int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: rules[%d]: %s", o, i, fmt.Sprintf(format, args...)))
	}
	if len(rules) == 0 {
		errs = append(errs, fmt.Errorf("%s: rules is empty", o))
	}
	for i, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			add(i, "nonResourceURLs %v: only named resources may be granted", r.NonResourceURLs)
		}
		if len(r.Verbs) == 0 || len(r.Resources) == 0 || len(r.APIGroups) == 0 {
			add(i, "apiGroups, resources and verbs must each name at least one")
		}
		for _, v := range r.Verbs {
			if !slices.Contains(ReadVerbs, v) {
				add(i, "verbs: %q is not a read-only verb %v", v, ReadVerbs)
			}
		}
		for _, g := range r.APIGroups {
			if strings.Contains(g, "*") {
				add(i, "apiGroups: wildcard %q: name each group", g)
			}
		}
		for _, res := range r.Resources {
			switch {
			case strings.Contains(res, "*"):
				add(i, "resources: wildcard %q: name each resource", res)
			case strings.Contains(res, "/"):
				add(i, "resources: subresource %q is not needed by the Collector", res)
			case slices.Contains(ForbiddenResources, res):
				add(i, "resources: %q must not be readable", res)
			}
		}
		for _, n := range r.ResourceNames {
			if strings.Contains(n, "*") {
				add(i, "resourceNames: wildcard %q", n)
			}
		}
	}
	return errs
}

// bindings returns, per ServiceAccount ("namespace/name"), the bindings
// that grant it a role, and checks every binding: its role is one of these
// manifests (whose rules checkRules checks) and its subjects are
// ServiceAccounts defined here.
func bindings(objs []Object) (map[string][]string, []error) {
	roles := map[string]bool{}
	accounts := map[string]bool{}
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *rbacv1.ClusterRole:
			roles["ClusterRole/"+v.Name] = true
		case *rbacv1.Role:
			roles["Role/"+v.Namespace+"/"+v.Name] = true
		case *corev1.ServiceAccount:
			accounts[v.Namespace+"/"+v.Name] = true
		}
	}
	bound := map[string][]string{}
	var errs []error
	check := func(o Object, ns string, ref rbacv1.RoleRef, subjects []rbacv1.Subject) {
		key := ref.Kind + "/" + ref.Name
		if ref.Kind == "Role" {
			key = "Role/" + ns + "/" + ref.Name
		}
		if ref.APIGroup != rbacv1.GroupName || !roles[key] {
			errs = append(errs, fmt.Errorf("%s: roleRef %s %q is not a role of these manifests", o, ref.Kind, ref.Name))
		}
		if len(subjects) == 0 {
			errs = append(errs, fmt.Errorf("%s: subjects is empty", o))
		}
		for i, s := range subjects {
			sa := s.Namespace + "/" + s.Name
			if s.Kind != rbacv1.ServiceAccountKind || !accounts[sa] {
				errs = append(errs, fmt.Errorf("%s: subjects[%d]: %s %q is not a ServiceAccount of these manifests", o, i, s.Kind, sa))
				continue
			}
			bound[sa] = append(bound[sa], o.String())
		}
	}
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *rbacv1.ClusterRoleBinding:
			check(o, "", v.RoleRef, v.Subjects)
		case *rbacv1.RoleBinding:
			check(o, v.Namespace, v.RoleRef, v.Subjects)
		}
	}
	return bound, errs
}
