// Command k8s129 checks Kubernetes manifests (multi-document YAML on stdin)
// against Kubernetes 1.29, the oldest version the README claims: every
// built-in object decodes strictly into the API types of 1.29 (k8s.io/api
// v0.29), so a field added in a later release is an unknown field; and no
// field is used whose feature gate 1.29 leaves off (alpha there), which the
// 1.29 types already have but its API server drops. Custom resources
// (HTTPRoute, ServiceMonitor, PrometheusRule) are versioned by their CRDs,
// not by Kubernetes, and are passed over. It prints one line per problem
// and exits 1 when there is any.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// crdGroups are API groups served by CustomResourceDefinitions.
var crdGroups = []string{"gateway.networking.k8s.io/", "monitoring.coreos.com/"}

// gatedOff are fields of the 1.29 types behind feature gates that are off
// by default in 1.29: the path's last elements, as walk builds them.
var gatedOff = map[string]string{
	"lifecycle.preStop.sleep":   "PodLifecycleSleepAction (alpha in 1.29, beta from 1.30)",
	"lifecycle.postStart.sleep": "PodLifecycleSleepAction (alpha in 1.29, beta from 1.30)",
	"resizePolicy":              "InPlacePodVerticalScaling (alpha)",
	"hostUsers":                 "UserNamespacesSupport (alpha in 1.29)",
	"resourceClaims":            "DynamicResourceAllocation (alpha)",
}

func main() {
	problems, err := check(os.Stdin)
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

func check(r io.Reader) ([]string, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		appsv1.AddToScheme, corev1.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme, autoscalingv2.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	var problems []string
	docs := k8syaml.NewYAMLReader(bufio.NewReader(r))
	for n := 0; ; n++ {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return problems, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %v", n, err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("document %d: %v", n, err)
		}
		if obj == nil {
			continue
		}
		apiVersion, _ := obj["apiVersion"].(string)
		kind, _ := obj["kind"].(string)
		meta, _ := obj["metadata"].(map[string]any)
		what := fmt.Sprintf("%s %s %v", apiVersion, kind, meta["name"])
		if isCRD(apiVersion) {
			continue
		}
		if _, _, err := decoder.Decode(doc, nil, nil); err != nil {
			problems = append(problems, fmt.Sprintf("%s: not a Kubernetes 1.29 object: %v", what, err))
		}
		walk(obj, "", func(path, gate string) {
			problems = append(problems, fmt.Sprintf("%s: %s needs %s", what, path, gate))
		})
	}
}

func isCRD(apiVersion string) bool {
	for _, g := range crdGroups {
		if strings.HasPrefix(apiVersion, g) {
			return true
		}
	}
	return false
}

// walk reports every path that ends in a gatedOff field.
func walk(v any, path string, report func(path, gate string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			p := k
			if path != "" {
				p = path + "." + k
			}
			for suffix, gate := range gatedOff {
				if p == suffix || strings.HasSuffix(p, "."+suffix) {
					report(p, gate)
				}
			}
			walk(child, p, report)
		}
	case []any:
		for i, child := range v {
			walk(child, fmt.Sprintf("%s[%d]", path, i), report)
		}
	}
}
