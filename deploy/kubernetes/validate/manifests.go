// Package validate checks the Kubernetes manifests of deploy/kubernetes
// without a cluster or network access: every document is strictly decoded
// into its typed k8s.io/api object (an unknown or misspelt field is an
// error, as the API server's strict field validation would report), then
// checked against the deployment policy (least privilege, resource limits,
// a memory_limiter in every Collector pipeline, references that resolve).
// The Collector configurations embedded in ConfigMaps are handed to the
// real distribution by test/deploy/validate-configs.sh, through
// cmd/extract-configs.
package validate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Object is one decoded manifest document.
type Object struct {
	File  string // base name of the file
	Index int    // document index in the file, from 0
	Kind  string
	Name  string
	Obj   any // pointer to the typed k8s.io/api object
}

func (o Object) String() string {
	return fmt.Sprintf("%s[%d] %s/%s", o.File, o.Index, o.Kind, o.Name)
}

// Kustomization is the subset of kustomize's file these manifests use;
// anything else in it is an error.
type Kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
}

// newObject returns an empty typed object for apiVersion/kind.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, nil
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1/Secret":
		return &corev1.Secret{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, nil
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "rbac.authorization.k8s.io/v1/ClusterRole":
		return &rbacv1.ClusterRole{}, nil
	case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}, nil
	case "rbac.authorization.k8s.io/v1/Role":
		return &rbacv1.Role{}, nil
	case "rbac.authorization.k8s.io/v1/RoleBinding":
		return &rbacv1.RoleBinding{}, nil
	case "kustomize.config.k8s.io/v1beta1/Kustomization":
		return &Kustomization{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q is not one this validator knows", apiVersion, kind)
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// Decode strictly decodes every YAML document of one file.
func Decode(name string, data []byte) ([]Object, error) {
	var out []Object
	for i, doc := range docSep.Split(string(data), -1) {
		if isBlank(doc) {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", name, i, err)
		}
		obj, err := newObject(head.APIVersion, head.Kind)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", name, i, err)
		}
		if err := decodeStrict([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("%s[%d] %s/%s: %w", name, i, head.Kind, head.Metadata.Name, err)
		}
		if head.Kind != "Kustomization" && head.Metadata.Name == "" {
			return nil, fmt.Errorf("%s[%d] %s: metadata.name is empty", name, i, head.Kind)
		}
		out = append(out, Object{File: name, Index: i, Kind: head.Kind, Name: head.Metadata.Name, Obj: obj})
	}
	return out, nil
}

// decodeStrict decodes one YAML document as the API server's strict field
// validation would: duplicate keys and unknown fields are errors naming the
// field's path (e.g. spec.template.spec.hostNetwrok).
func decodeStrict(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// isBlank reports whether a document has only comments and white space.
func isBlank(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

// LoadDir decodes every *.yaml file of dir (not its subdirectories).
func LoadDir(dir string) ([]Object, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.yaml files in %s", dir)
	}
	sort.Strings(files)
	var all []Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		objs, err := Decode(filepath.Base(f), bytes.TrimPrefix(data, []byte("\ufeff")))
		if err != nil {
			return nil, err
		}
		all = append(all, objs...)
	}
	return all, nil
}
