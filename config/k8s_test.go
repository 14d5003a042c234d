package config_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// strictDecoder decodes the kinds our manifests may contain into their
// k8s.io/api types the way the API server reads them: an unknown or
// duplicated field, or a field in the wrong letter case, is an error, where
// kubectl apply would drop it with a warning and the setting would silently
// not exist. A kind missing from the scheme is an error too, so a new kind
// in a manifest gets its type added here. The custom resources decode into
// their projects' own Go types: the Gateway API's HTTPRoute
// (sigs.k8s.io/gateway-api) and the Prometheus Operator's ServiceMonitor and
// PrometheusRule (its pkg/apis/monitoring module).
var strictDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		appsv1.AddToScheme, corev1.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme,
		autoscalingv2.AddToScheme, gatewayv1.Install, monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// k8sObjects is a rendered set of manifests, decoded strictly.
type k8sObjects struct {
	Deployments     []*appsv1.Deployment
	Services        []*corev1.Service
	ConfigMaps      []*corev1.ConfigMap
	Secrets         []*corev1.Secret
	PDBs            []*policyv1.PodDisruptionBudget
	Ingresses       []*networkingv1.Ingress
	NetworkPolicies []*networkingv1.NetworkPolicy
	ServiceAccounts []*corev1.ServiceAccount
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	HTTPRoutes      []*gatewayv1.HTTPRoute
	ServiceMonitors []*monitoringv1.ServiceMonitor
	PrometheusRules []*monitoringv1.PrometheusRule
}

// decodeManifests splits multi-document YAML and decodes every object
// strictly; every problem is reported with the object's kind and name.
func decodeManifests(t *testing.T, source string, data []byte) k8sObjects {
	t.Helper()
	var objs k8sObjects
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 0; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", source, n, err)
		}
		var meta struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := sigsyaml.Unmarshal(doc, &meta); err != nil {
			t.Errorf("%s: document %d is not YAML: %v", source, n, err)
			continue
		}
		if meta.Kind == "" && meta.APIVersion == "" {
			continue // only comments, or empty
		}
		what := fmt.Sprintf("%s: %s %s %q", source, meta.APIVersion, meta.Kind, meta.Metadata.Name)
		obj, _, err := strictDecoder.Decode(doc, nil, nil)
		if err != nil {
			t.Errorf("%s does not decode strictly: %v", what, err)
			continue
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			objs.Deployments = append(objs.Deployments, o)
		case *corev1.Service:
			objs.Services = append(objs.Services, o)
		case *corev1.ConfigMap:
			objs.ConfigMaps = append(objs.ConfigMaps, o)
		case *corev1.Secret:
			objs.Secrets = append(objs.Secrets, o)
		case *policyv1.PodDisruptionBudget:
			objs.PDBs = append(objs.PDBs, o)
		case *networkingv1.Ingress:
			objs.Ingresses = append(objs.Ingresses, o)
		case *networkingv1.NetworkPolicy:
			objs.NetworkPolicies = append(objs.NetworkPolicies, o)
		case *corev1.ServiceAccount:
			objs.ServiceAccounts = append(objs.ServiceAccounts, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			objs.HPAs = append(objs.HPAs, o)
		case *gatewayv1.HTTPRoute:
			objs.HTTPRoutes = append(objs.HTTPRoutes, o)
		case *monitoringv1.ServiceMonitor:
			objs.ServiceMonitors = append(objs.ServiceMonitors, o)
		case *monitoringv1.PrometheusRule:
			objs.PrometheusRules = append(objs.PrometheusRules, o)
		default:
			t.Errorf("%s: no check for this kind: add it to k8sObjects", what)
		}
	}
	return objs
}

// tool finds a command-line tool for the tests: $ENV (make test sets it to
// the copy it installed), else the PATH. Without it the test skips on a
// laptop but fails under CI=true, where make test must have installed it.
func tool(t *testing.T, env, name, install string) string {
	t.Helper()
	return testenv.Tool(t, name+" ($"+env+" or PATH)", "make tools installs it: "+install, os.Getenv(env), name)
}

// runErr runs a tool and returns its standard output, or an error that
// carries its standard error.
func runErr(name string, args ...string) ([]byte, error) { return runEnv(nil, name, args...) }

// runEnv is runErr with the command's environment (nil: this process's).
func runEnv(env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// kustomizeBuild renders a kustomization with the kustomize binary, or with
// kubectl's built-in copy when only kubectl is there.
func kustomizeBuild(t *testing.T, dir string) []byte {
	t.Helper()
	out, err := kustomizeBuildErr(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func kustomizeBuildErr(t *testing.T, dir string) ([]byte, error) {
	t.Helper()
	if os.Getenv("KUSTOMIZE") == "" {
		if _, err := exec.LookPath("kustomize"); err != nil {
			if kubectl, err := exec.LookPath("kubectl"); err == nil {
				return runErr(kubectl, "kustomize", dir)
			}
		}
	}
	kustomize := tool(t, "KUSTOMIZE", "kustomize", "go install sigs.k8s.io/kustomize/kustomize/v5")
	return runErr(kustomize, "build", dir)
}

// kustomizeDirs lists every kustomization to render: the base under
// deploy/kubernetes and each overlay (components only exist inside an
// overlay), and the Redis overlay beside it.
func kustomizeDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(kubernetesDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var k struct {
			Kind string `json:"kind"`
		}
		if err := sigsyaml.Unmarshal(data, &k); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		if k.Kind != "Component" {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dirs = append(dirs, redisOverlayDir) // a sibling: an overlay cannot live inside its base
	if len(dirs) < 3 {
		t.Fatalf("found kustomizations %v: want the base and its overlays", dirs)
	}
	return dirs
}

// TestKustomizeDecodesStrictly renders every kustomization and decodes
// every object into its k8s.io/api type strictly.
func TestKustomizeDecodesStrictly(t *testing.T) {
	t.Parallel()
	for _, dir := range kustomizeDirs(t) {
		rel, _ := filepath.Rel(kubernetesDir, dir)
		t.Run(filepath.ToSlash(rel), func(t *testing.T) {
			out, err := kustomizeBuildErr(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			objs := decodeManifests(t, dir, out)
			if len(objs.Deployments) == 0 {
				t.Errorf("%s renders no Deployment", dir)
			}
			if len(objs.Secrets) > 0 {
				t.Errorf("%s renders Secrets: they are created outside git", dir)
			}
		})
	}
}
