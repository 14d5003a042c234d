package config_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

const (
	chartDir         = "../deploy/helm/lcw-auth-proxy"
	chartExamplesDir = chartDir + "/examples"
	chartRelease     = "shop-chat"
)

// chartCase is what one values file must render.
type chartCase struct {
	replicas        int32  // 0: an autoscaler sets them
	store           string // session.store
	secretNames     []string
	ingress         bool
	serviceMonitor  bool
	networkPolicy   bool // on the site's pods
	createsSecret   bool
	signingKeys     int
	previousSecrets int
	// The operators' extras (examples/platform.yaml).
	httpRoute          bool
	autoscaler         bool
	serviceAccount     string // the created ServiceAccount's name
	proxyNetworkPolicy bool
	extraEnv           []string
	envFrom            []string // Secrets
	extraObjects       int      // ConfigMaps beyond the chart's own, by extraObjects
	prometheusRule     bool
	dashboard          bool
}

// TestHelmChart renders the chart with its default values and with every
// file in examples/: helm lint passes, every object decodes strictly into
// its k8s.io/api type, the rendered config.yaml loads with config.Load using
// the files the pod mounts, and the objects fit together (ports, probes,
// selectors, mounts, hardening).
func TestHelmChart(t *testing.T) {
	t.Parallel()
	helm := helmTool(t)
	cases := map[string]chartCase{
		"":             {replicas: 2, store: "cookie", secretNames: []string{"lcw-auth-proxy"}, signingKeys: 1},
		"minimal.yaml": {replicas: 2, store: "cookie", secretNames: []string{"lcw-auth-proxy"}, signingKeys: 1},
		"redis.yaml": {replicas: 3, store: "redis", secretNames: []string{"shop-chat", "shop-redis"},
			signingKeys: 2, previousSecrets: 1},
		"ingress-servicemonitor.yaml": {replicas: 2, store: "cookie", secretNames: []string{"lcw-auth-proxy"},
			signingKeys: 1, ingress: true, serviceMonitor: true, networkPolicy: true},
		"try.yaml": {replicas: 1, store: "cookie", secretNames: []string{"try-lcw-auth-proxy"}, signingKeys: 1,
			createsSecret: true},
		"platform.yaml": {store: "cookie", secretNames: []string{"lcw-auth-proxy"}, signingKeys: 1,
			serviceMonitor: true, httpRoute: true, autoscaler: true, serviceAccount: "shop-chat-lcw-auth-proxy",
			proxyNetworkPolicy: true, extraEnv: []string{"HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE", "OTEL_SERVICE_NAME"},
			envFrom:      []string{"shop-chat-otlp"},
			extraObjects: 1, prometheusRule: true, dashboard: true},
	}
	entries, err := os.ReadDir(chartExamplesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := cases[e.Name()]; !ok {
			t.Errorf("%s/%s has no case in TestHelmChart: add what it must render", chartExamplesDir, e.Name())
		}
	}
	for name, want := range cases {
		label := name
		if label == "" {
			label = "default values"
		}
		t.Run(label, func(t *testing.T) {
			t.Parallel()
			var args []string
			if name != "" {
				args = []string{"-f", filepath.Join(chartExamplesDir, name)}
			}
			helm.run(t, append([]string{"lint", "--strict", chartDir}, args...)...)
			out := helmTemplate(t, helm, args...)
			objs := decodeManifests(t, label, out)
			checkChart(t, objs, want)
		})
	}
}

// TestHelmChartRejectsTypos checks that values.schema.json stops helm at a
// misspelt key, at a key the chart sets itself, and at a secret written
// into the config instead of taken from a Secret.
func TestHelmChartRejectsTypos(t *testing.T) {
	t.Parallel()
	helm := helmTool(t)
	for set, want := range map[string]string{
		"config.oidc.isuer=https://idp.example.com":                                    "'isuer' not allowed",
		"config.listen=:8080":                                                          "'listen' not allowed",
		"config.oidc.client_secret=s3cret":                                             "'client_secret' not allowed",
		"config.session.redis.password_file=/x":                                        "'password_file' not allowed",
		"config.token.lwicontexts.vip.calim=email":                                     "'calim' not allowed",
		"config.token.lifetime=10":                                                     "config/token/lifetime",
		"secrets.cookieSecret.nmae=other":                                              "'nmae' not allowed",
		"ingress.host=shop.example.com":                                                "'host' not allowed",
		"metrics.serviceMonitor.enabeld=true":                                          "'enabeld' not allowed",
		"config.session.store=memcached":                                               "config/session/store",
		"networkPolicy.enabled=true":                                                   "networkPolicy.upstreamPodSelector",
		"secrets.create=true,secrets.oidcClientSecret.key=client-id":                   `key "client-id"`,
		"httpRoute.enabled=true":                                                       "httpRoute.parentRefs",
		"httpRoute.hostname=shop.example.com":                                          "'hostname' not allowed",
		"autoscaling.enabeld=true":                                                     "'enabeld' not allowed",
		"autoscaling.enabled=true,autoscaling.targetCPUUtilizationPercentage=0":        "targetMemoryUtilizationPercentage",
		"autoscaling.enabled=true,autoscaling.minReplicas=5,autoscaling.maxReplicas=3": "minReplicas 5 is above",
		"serviceAccount.automountToken=true":                                           "'automountToken' not allowed",
		"networkPolicy.proxy.from=x":                                                   "'from' not allowed",
		"metrics.prometheusRule.enable=true":                                           "'enable' not allowed",
		"metrics.grafanaDashboard.label=x":                                             "'label' not allowed",
		"terminationGracePeriodSeconds=20":                                             "raise terminationGracePeriodSeconds to at least 25",
		"config.shutdown_timeout=1m":                                                   "at least 65",
		"preStopDelaySeconds=-1":                                                       "preStopDelaySeconds",
	} {
		t.Run(set, func(t *testing.T) {
			t.Parallel()
			out, err := helm.output("template", chartRelease, chartDir, "--set", set)
			if err == nil {
				t.Fatalf("rendered without error:\n%.300s", out)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not mention %q: %v", want, err)
			}
		})
	}
}

// TestHelmChartConfigChangeRollsPods: the proxy reads its configuration at
// start-up only, so a changed config must change the pod template.
func TestHelmChartConfigChangeRollsPods(t *testing.T) {
	t.Parallel()
	helm := helmTool(t)
	checksum := func(args ...string) string {
		objs := decodeManifests(t, "checksum", helmTemplate(t, helm, args...))
		if len(objs.Deployments) != 1 {
			t.Fatalf("%d Deployments", len(objs.Deployments))
		}
		sum := objs.Deployments[0].Spec.Template.Annotations["checksum/config"]
		if sum == "" {
			t.Fatal("no checksum/config annotation on the pod template")
		}
		return sum
	}
	base := checksum()
	if again := checksum(); again != base {
		t.Errorf("the same values give checksums %s and %s", base, again)
	}
	if changed := checksum("--set", "config.token.issuer=other.example.com"); changed == base {
		t.Error("config.token.issuer changed but checksum/config did not: the pods would keep the old config")
	}
}

// TestHelmSchemaCoversConfig keeps values.schema.json's config section in
// step with config.Config: every key the proxy reads is in the schema, with
// its type, except the ones the chart sets itself; nothing else is.
func TestHelmSchemaCoversConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema jsonSchema
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	// Set by the chart from the pod's ports and mounts; never values.
	chartOwned := []string{
		"listen", "metrics_listen",
		"oidc.client_secret", "oidc.client_secret_file",
		"session.secret", "session.secret_file", "session.previous_secrets", "session.previous_secret_files",
		"session.redis.password", "session.redis.password_file",
		"token.signing_keys",
		// A secret never goes into values: mount one and name it in
		// token.contact.client_secret_file.
		"token.contact.client_secret",
		// TLS ends at the Ingress; the probes and the ServiceMonitor speak http.
		"server.tls_cert_file", "server.tls_key_file",
	}
	cfg := schema.Properties["config"]
	if cfg == nil {
		t.Fatal("values.schema.json has no config property")
	}
	compareSchema(t, &schema, cfg, reflect.TypeOf(config.Config{}), "", chartOwned)
}

// jsonSchema is the part of JSON Schema that values.schema.json uses.
type jsonSchema struct {
	Ref                  string                 `json:"$ref"`
	Type                 any                    `json:"type"`
	Properties           map[string]*jsonSchema `json:"properties"`
	AdditionalProperties json.RawMessage        `json:"additionalProperties"`
	Items                *jsonSchema            `json:"items"`
	AnyOf                []*jsonSchema          `json:"anyOf"`
	Enum                 []any                  `json:"enum"`
	Definitions          map[string]*jsonSchema `json:"definitions"`
}

func (s *jsonSchema) resolve(root *jsonSchema) *jsonSchema {
	if name, ok := strings.CutPrefix(s.Ref, "#/definitions/"); ok {
		return root.Definitions[name]
	}
	return s
}

// compareSchema checks one Go type against its schema; key is the dotted
// config key so far.
func compareSchema(t *testing.T, root, s *jsonSchema, typ reflect.Type, key string, skip []string) {
	t.Helper()
	s = s.resolve(root)
	if s == nil {
		t.Errorf("%s: $ref to a missing definition", key)
		return
	}
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	want := ""
	switch {
	case typ == reflect.TypeOf(config.Duration(0)):
		if len(s.AnyOf) == 0 || s.AnyOf[0].Type != "string" {
			t.Errorf("%s: a duration, want the schema's duration definition", key)
		}
		return
	case typ.Kind() == reflect.Struct:
		want = "object"
		if string(s.AdditionalProperties) != "false" {
			t.Errorf("%s: additionalProperties is not false: a misspelt key would pass helm", key)
		}
		fields := map[string]reflect.StructField{}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
				fields[name] = f
			}
		}
		for name, f := range fields {
			k := joinKey(key, name)
			prop, ok := s.Properties[name]
			switch {
			case slices.Contains(skip, k) && ok:
				t.Errorf("%s: the chart sets it; the schema must reject it in values", k)
			case slices.Contains(skip, k):
			case !ok:
				t.Errorf("%s: missing from values.schema.json (config.Config has it): add it, or to chartOwned when the chart sets it", k)
			default:
				compareSchema(t, root, prop, f.Type, k, skip)
			}
		}
		for name := range s.Properties {
			if _, ok := fields[name]; !ok {
				t.Errorf("%s: in values.schema.json but config.Config has no such key", joinKey(key, name))
			}
		}
	case typ.Kind() == reflect.Map:
		want = "object"
		if len(s.AdditionalProperties) == 0 && typ.Elem().Kind() == reflect.Interface {
			break // any values: any schema
		}
		var elem jsonSchema
		if err := json.Unmarshal(s.AdditionalProperties, &elem); err != nil {
			t.Errorf("%s: additionalProperties %s: want the schema of the values", key, s.AdditionalProperties)
			return
		}
		compareSchema(t, root, &elem, typ.Elem(), key+".*", skip)
	case typ.Kind() == reflect.Slice:
		want = "array"
		if s.Items != nil {
			compareSchema(t, root, s.Items, typ.Elem(), key+"[]", skip)
		} else if typ.Elem().Kind() != reflect.Interface {
			t.Errorf("%s: array without items", key)
		}
	case typ.Kind() == reflect.String:
		want = "string"
		if s.Type == nil && len(s.Enum) > 0 {
			return // an enum of strings
		}
	case typ.Kind() == reflect.Bool:
		want = "boolean"
	case typ.Kind() == reflect.Int:
		want = "integer"
	case typ.Kind() == reflect.Float64:
		want = "number"
	case typ.Kind() == reflect.Interface:
		if s.Type != nil {
			t.Errorf("%s: any value in config.Config, but the schema restricts it to %v", key, s.Type)
		}
		return
	default:
		t.Errorf("%s: no schema check for Go type %s", key, typ)
		return
	}
	if s.Type != want {
		t.Errorf("%s: schema type %v, want %s (config.Config: %s)", key, s.Type, want, typ)
	}
}

func joinKey(key, name string) string {
	if key == "" {
		return name
	}
	return key + "." + name
}

// helmTool finds helm and points its state directories into the test's
// temporary directory, so no user's repositories or plugins take part.
func helmTool(t *testing.T) helmCLI {
	t.Helper()
	dir := t.TempDir()
	env := os.Environ()
	for _, v := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		env = append(env, v+"="+dir)
	}
	return helmCLI{path: tool(t, "HELM", "helm", "go install helm.sh/helm/v3/cmd/helm"), env: env}
}

// helmCLI runs helm with its homes in a test's temporary folder: set per
// command, not with t.Setenv, so that the chart tests can run in parallel.
type helmCLI struct {
	path string
	env  []string
}

func (h helmCLI) output(args ...string) ([]byte, error) { return runEnv(h.env, h.path, args...) }

// run returns helm's standard output, failing the test with its standard
// error.
func (h helmCLI) run(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := h.output(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// helmTemplate renders the chart as release shop-chat in namespace shop.
func helmTemplate(t *testing.T, helm helmCLI, args ...string) []byte {
	t.Helper()
	return helm.run(t, append([]string{"template", chartRelease, chartDir, "--namespace", "shop"}, args...)...)
}

// checkChart checks one rendering against its case.
func checkChart(t *testing.T, objs k8sObjects, want chartCase) {
	t.Helper()
	// The chart's own ConfigMaps: the config, and the dashboard when asked for; extraObjects adds one.
	configMaps := 1 + want.extraObjects
	if want.dashboard {
		configMaps++
	}
	if len(objs.Deployments) != 1 || len(objs.Services) != 1 || len(objs.ConfigMaps) != configMaps {
		t.Fatalf("%d Deployments, %d Services, %d ConfigMaps: want one, one and %d", len(objs.Deployments), len(objs.Services), len(objs.ConfigMaps), configMaps)
	}
	deploy, svc := objs.Deployments[0], objs.Services[0]
	pod := deploy.Spec.Template
	if len(pod.Spec.Containers) != 1 || len(pod.Spec.InitContainers) != 0 {
		t.Fatalf("the pod has %d containers and %d init containers: want the proxy alone", len(pod.Spec.Containers), len(pod.Spec.InitContainers))
	}
	proxy := pod.Spec.Containers[0]

	if want.replicas == 0 && deploy.Spec.Replicas != nil {
		t.Errorf("replicas = %d with an autoscaler: every helm upgrade would reset what it scaled to", *deploy.Spec.Replicas)
	}
	if want.replicas != 0 && (deploy.Spec.Replicas == nil || *deploy.Spec.Replicas != want.replicas) {
		t.Errorf("replicas = %v, want %d", deploy.Spec.Replicas, want.replicas)
	}
	assertSelects(t, "Deployment selector", deploy.Spec.Selector, pod.Labels)
	assertSelects(t, "Service selector", &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, pod.Labels)

	cfg, raw := loadRenderedConfig(t, objs, proxy)
	proxyPort := containerPort(t, proxy, "http")

	t.Run("config", func(t *testing.T) {
		if got := hostPort(t, cfg.Listen); got != proxyPort {
			t.Errorf("listen %q, want the container port %d", cfg.Listen, proxyPort)
		}
		if cfg.MetricsListen == "" {
			t.Error("metrics_listen is off")
		} else if got := hostPort(t, cfg.MetricsListen); got != containerPort(t, proxy, "metrics") {
			t.Errorf("metrics_listen %q is not the container port metrics", cfg.MetricsListen)
		}
		if h := cfg.UpstreamURL.Hostname(); h == "127.0.0.1" || h == "localhost" || h == "::1" {
			t.Errorf("upstream.url %s is loopback: the chart's pod holds the proxy alone; point it at the site's Service", cfg.UpstreamURL)
		}
		if cfg.Session.Store != want.store {
			t.Errorf("session.store = %q, want %q", cfg.Session.Store, want.store)
		}
		if len(cfg.Token.SigningKeys) != want.signingKeys || len(cfg.Session.Keys) != 1+want.previousSecrets {
			t.Errorf("%d signing keys and %d session secrets, want %d and %d", len(cfg.Token.SigningKeys), len(cfg.Session.Keys), want.signingKeys, 1+want.previousSecrets)
		}
		if want.store == "redis" && cfg.Session.Redis.Password == "" {
			t.Error("sessions in Redis without the password from the Secret")
		}
		if raw.OIDC.ClientSecret != "" || raw.Session.Secret != "" || raw.Session.Redis.Password != "" || len(raw.Session.PreviousSecrets) > 0 {
			t.Error("a secret is written into the ConfigMap")
		}
		// The grace period runs from the deletion: the preStop delay, then the drain.
		drain := preStopDelay(t, proxy) + cfg.ShutdownTimeout.D()
		if pod.Spec.TerminationGracePeriodSeconds == nil || float64(*pod.Spec.TerminationGracePeriodSeconds) < drain.Seconds() {
			t.Errorf("terminationGracePeriodSeconds %v is below the preStop delay + shutdown_timeout %s = %s", pod.Spec.TerminationGracePeriodSeconds, cfg.ShutdownTimeout.D(), drain)
		}
		if pod.Annotations["checksum/config"] == "" {
			t.Error("the pod template has no checksum/config annotation: a config change would not roll the pods")
		}
	})

	t.Run("probes", func(t *testing.T) {
		for name, p := range map[string]struct {
			probe *corev1.Probe
			path  string
		}{
			"startupProbe":   {proxy.StartupProbe, cfg.Prefix + "/healthz"},
			"livenessProbe":  {proxy.LivenessProbe, cfg.Prefix + "/healthz"},
			"readinessProbe": {proxy.ReadinessProbe, cfg.Prefix + "/readyz"},
		} {
			if p.probe == nil || p.probe.HTTPGet == nil {
				t.Errorf("%s: missing or not httpGet", name)
				continue
			}
			if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
				t.Errorf("%s: %s on port %s, want %s on http", name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
			}
		}
	})

	t.Run("service", func(t *testing.T) {
		http := servicePort(svc, "http")
		if http == nil || http.TargetPort.String() != "http" {
			t.Fatalf("Service %s: no port http targeting the proxy's port http", svc.Name)
		}
		if m := servicePort(svc, "metrics"); (m != nil) != want.serviceMonitor {
			t.Errorf("Service exposes metrics: %v, want only with the ServiceMonitor (%v)", m != nil, want.serviceMonitor)
		}
	})

	t.Run("hardening", func(t *testing.T) {
		ps, sc := pod.Spec.SecurityContext, proxy.SecurityContext
		if ps == nil || sc == nil {
			t.Fatal("no security context")
		}
		if !isTrue(ps.RunAsNonRoot) && !isTrue(sc.RunAsNonRoot) {
			t.Error("runAsNonRoot is not set")
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			t.Error("readOnlyRootFilesystem is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("allowPrivilegeEscalation is not false")
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("capabilities %+v, want drop [ALL]", sc.Capabilities)
		}
		if (sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) &&
			(ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
			t.Error("no RuntimeDefault seccomp profile")
		}
		if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
			t.Error("the service-account token is mounted: the proxy never calls the API")
		}
		for _, sa := range objs.ServiceAccounts {
			if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
				t.Errorf("ServiceAccount %s mounts its token by default", sa.Name)
			}
		}
		if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
			t.Error("service links are on: their variables could collide with LCW_* overrides")
		}
		r := proxy.Resources
		if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
			t.Errorf("resources %+v: want cpu and memory requests and a memory limit", r)
		}
	})

	t.Run("pod disruption budget", func(t *testing.T) {
		if len(objs.PDBs) != 1 {
			t.Fatalf("%d PodDisruptionBudgets, want 1", len(objs.PDBs))
		}
		assertSelects(t, "PodDisruptionBudget selector", objs.PDBs[0].Spec.Selector, pod.Labels)
	})

	t.Run("secrets", func(t *testing.T) {
		if got := len(objs.Secrets) > 0; got != want.createsSecret {
			t.Errorf("renders a Secret: %v, want %v (only with secrets.create)", got, want.createsSecret)
		}
		var names []string
		for _, v := range pod.Spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for _, src := range v.Projected.Sources {
				if src.Secret != nil && !slices.Contains(names, src.Secret.Name) {
					names = append(names, src.Secret.Name)
				}
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, want.secretNames) {
			t.Errorf("mounts Secrets %v, want %v", names, want.secretNames)
		}
	})

	t.Run("ingress", func(t *testing.T) {
		if (len(objs.Ingresses) > 0) != want.ingress {
			t.Fatalf("%d Ingresses, want one: %v", len(objs.Ingresses), want.ingress)
		}
		if !want.ingress {
			return
		}
		ing := objs.Ingresses[0]
		var hosts []string
		for _, r := range ing.Spec.Rules {
			hosts = append(hosts, r.Host)
			for _, p := range r.HTTP.Paths {
				b := p.Backend.Service
				if b == nil || b.Name != svc.Name || servicePort(svc, b.Port.Name) == nil || b.Port.Name != "http" {
					t.Errorf("Ingress path %s goes to %+v, want Service %s port http", p.Path, b, svc.Name)
				}
			}
		}
		if !slices.Contains(hosts, cfg.Public.Hostname()) {
			t.Errorf("Ingress hosts %v lack public_url's host %s", hosts, cfg.Public.Hostname())
		}
		if cfg.Public.Scheme == "https" && !slices.ContainsFunc(ing.Spec.TLS, func(tls networkingv1.IngressTLS) bool {
			return slices.Contains(tls.Hosts, cfg.Public.Hostname())
		}) {
			t.Errorf("public_url is https but no Ingress TLS entry covers %s", cfg.Public.Hostname())
		}
	})

	t.Run("service monitor", func(t *testing.T) {
		if (len(objs.ServiceMonitors) > 0) != want.serviceMonitor {
			t.Fatalf("%d ServiceMonitors, want one: %v", len(objs.ServiceMonitors), want.serviceMonitor)
		}
		if !want.serviceMonitor {
			return
		}
		sm := objs.ServiceMonitors[0]
		assertSelects(t, "ServiceMonitor selector", &sm.Spec.Selector, svc.Labels)
		for _, ep := range sm.Spec.Endpoints {
			p := servicePort(svc, ep.Port)
			if p == nil || p.TargetPort.String() != "metrics" || ep.Path != "/metrics" {
				t.Errorf("ServiceMonitor endpoint %+v: want the Service port that targets metrics, path /metrics", ep)
			}
		}
	})

	// The NetworkPolicies: one on the site's pods, one on the proxy's.
	var upstreamPolicies, proxyPolicies []*networkingv1.NetworkPolicy
	for _, np := range objs.NetworkPolicies {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		switch {
		case err != nil || sel.Empty():
			t.Errorf("NetworkPolicy %s selects %v: want the site's pods or the proxy's", np.Name, np.Spec.PodSelector)
		case sel.Matches(labels.Set(pod.Labels)):
			proxyPolicies = append(proxyPolicies, np)
		default:
			upstreamPolicies = append(upstreamPolicies, np)
		}
	}
	t.Run("network policy", func(t *testing.T) {
		if (len(upstreamPolicies) > 0) != want.networkPolicy {
			t.Fatalf("%d NetworkPolicies on the site's pods, want one: %v", len(upstreamPolicies), want.networkPolicy)
		}
		if !want.networkPolicy {
			return
		}
		np := upstreamPolicies[0]
		if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 || np.Spec.Ingress[0].From[0].PodSelector == nil {
			t.Fatalf("NetworkPolicy ingress %+v: want one rule from the proxy's pods", np.Spec.Ingress)
		}
		assertSelects(t, "NetworkPolicy from", np.Spec.Ingress[0].From[0].PodSelector, pod.Labels)
	})

	t.Run("proxy network policy", func(t *testing.T) {
		if (len(proxyPolicies) > 0) != want.proxyNetworkPolicy {
			t.Fatalf("%d NetworkPolicies on the proxy's pods, want one: %v", len(proxyPolicies), want.proxyNetworkPolicy)
		}
		if !want.proxyNetworkPolicy {
			return
		}
		np := proxyPolicies[0]
		if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
			t.Errorf("policyTypes %v, want [Ingress]: egress goes to the IdP, Redis and the site wherever they are", np.Spec.PolicyTypes)
		}
		// Every container port is opened by one rule, each to a restricted set of sources, and
		// nothing else is.
		var opened []string
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) == 0 {
				t.Errorf("a rule opens %v to every source; the example restricts both ports", rule.Ports)
			}
			for _, p := range rule.Ports {
				if p.Port == nil || containerPort(t, proxy, p.Port.String()) == 0 {
					t.Errorf("rule port %v is not a named container port of the proxy", p.Port)
					continue
				}
				opened = append(opened, p.Port.String())
			}
		}
		slices.Sort(opened)
		if !slices.Equal(opened, []string{"http", "metrics"}) {
			t.Errorf("opens ports %v, want [http metrics]", opened)
		}
	})

	t.Run("pre-stop delay", func(t *testing.T) {
		if preStopDelay(t, proxy) == 0 {
			t.Error("no preStop delay: the proxy would drain while Services and ingress controllers still send it requests")
		}
	})

	t.Run("topology spread", func(t *testing.T) {
		if len(pod.Spec.TopologySpreadConstraints) == 0 {
			t.Fatal("no topologySpreadConstraints: every replica may land on one node")
		}
		for _, c := range pod.Spec.TopologySpreadConstraints {
			// Keyed by the release: the spread counts this release's pods, whatever it is called.
			assertSelects(t, "topologySpreadConstraint "+c.TopologyKey, c.LabelSelector, pod.Labels)
			if c.LabelSelector.MatchLabels["app.kubernetes.io/instance"] != chartRelease {
				t.Errorf("topologySpreadConstraint %s is not keyed by the release: %v", c.TopologyKey, c.LabelSelector)
			}
		}
	})

	t.Run("autoscaler", func(t *testing.T) {
		if (len(objs.HPAs) > 0) != want.autoscaler {
			t.Fatalf("%d HorizontalPodAutoscalers, want one: %v", len(objs.HPAs), want.autoscaler)
		}
		if !want.autoscaler {
			return
		}
		hpa := objs.HPAs[0]
		ref := hpa.Spec.ScaleTargetRef
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != deploy.Name {
			t.Errorf("scaleTargetRef %+v, want Deployment %s", ref, deploy.Name)
		}
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
			t.Errorf("replicas %v..%d: want at least 2, so a drain leaves the public key URL answering", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
		}
		for _, m := range hpa.Spec.Metrics {
			if m.Resource == nil {
				continue
			}
			if _, ok := proxy.Resources.Requests[m.Resource.Name]; !ok {
				t.Errorf("the HPA scales on %s utilization, but the container requests no %s", m.Resource.Name, m.Resource.Name)
			}
		}
		if len(hpa.Spec.Metrics) == 0 {
			t.Error("the HPA has no metrics")
		}
	})

	t.Run("http route", func(t *testing.T) {
		if (len(objs.HTTPRoutes) > 0) != want.httpRoute {
			t.Fatalf("%d HTTPRoutes, want one: %v", len(objs.HTTPRoutes), want.httpRoute)
		}
		if !want.httpRoute {
			return
		}
		route := objs.HTTPRoutes[0]
		if len(route.Spec.ParentRefs) == 0 {
			t.Error("the HTTPRoute attaches to no Gateway")
		}
		if !slices.ContainsFunc(route.Spec.Hostnames, func(h gatewayv1.Hostname) bool { return string(h) == cfg.Public.Hostname() }) {
			t.Errorf("HTTPRoute hostnames %v lack public_url's host %s", route.Spec.Hostnames, cfg.Public.Hostname())
		}
		for _, rule := range route.Spec.Rules {
			for _, b := range rule.BackendRefs {
				p := servicePort(svc, "http")
				if string(b.Name) != svc.Name || b.Port == nil || p == nil || int32(*b.Port) != p.Port || (b.Kind != nil && *b.Kind != "Service") {
					t.Errorf("HTTPRoute backend %+v, want Service %s port %d", b.BackendObjectReference, svc.Name, p.Port)
				}
			}
		}
	})

	t.Run("service account", func(t *testing.T) {
		if want.serviceAccount == "" {
			if len(objs.ServiceAccounts) > 0 || pod.Spec.ServiceAccountName != "" {
				t.Errorf("%d ServiceAccounts, pod runs as %q: want the namespace's default", len(objs.ServiceAccounts), pod.Spec.ServiceAccountName)
			}
			return
		}
		if len(objs.ServiceAccounts) != 1 || objs.ServiceAccounts[0].Name != want.serviceAccount || pod.Spec.ServiceAccountName != want.serviceAccount {
			t.Errorf("ServiceAccounts %d, pod runs as %q: want it to run as the created %s", len(objs.ServiceAccounts), pod.Spec.ServiceAccountName, want.serviceAccount)
		}
	})

	t.Run("extra env", func(t *testing.T) {
		var names []string
		for _, e := range proxy.Env {
			names = append(names, e.Name)
		}
		for _, name := range want.extraEnv {
			if !slices.Contains(names, name) {
				t.Errorf("env %v lacks %s", names, name)
			}
		}
		for _, e := range proxy.Env {
			if strings.Contains(e.Value, "{{") {
				t.Errorf("env %s = %q: not templated", e.Name, e.Value)
			}
		}
		var from []string
		for _, e := range proxy.EnvFrom {
			if e.SecretRef != nil {
				from = append(from, e.SecretRef.Name)
			}
		}
		if !slices.Equal(from, want.envFrom) {
			t.Errorf("envFrom Secrets %v, want %v", from, want.envFrom)
		}
	})

	t.Run("extra objects", func(t *testing.T) {
		var extra []string
		for _, cm := range objs.ConfigMaps {
			if part, ok := cm.Labels["app.kubernetes.io/part-of"]; ok {
				extra = append(extra, cm.Name)
				if part != chartRelease {
					t.Errorf("extraObjects ConfigMap %s: label part-of %q, want the templated release name %q", cm.Name, part, chartRelease)
				}
			}
		}
		if len(extra) != want.extraObjects {
			t.Errorf("extraObjects rendered ConfigMaps %v, want %d", extra, want.extraObjects)
		}
	})

	t.Run("monitoring", func(t *testing.T) {
		if (len(objs.PrometheusRules) > 0) != want.prometheusRule {
			t.Fatalf("%d PrometheusRules, want one: %v", len(objs.PrometheusRules), want.prometheusRule)
		}
		var dashboards []*corev1.ConfigMap
		for _, cm := range objs.ConfigMaps {
			if _, ok := cm.Data[dashboardFile]; ok {
				dashboards = append(dashboards, cm)
			}
		}
		if (len(dashboards) > 0) != want.dashboard {
			t.Fatalf("%d dashboard ConfigMaps, want one: %v", len(dashboards), want.dashboard)
		}
		if want.prometheusRule {
			checkPrometheusRule(t, objs.PrometheusRules[0])
		}
		if want.dashboard {
			checkDashboardConfigMap(t, dashboards[0])
		}
	})
}

// preStopDelay is how long the proxy's preStop hook waits: it must run the
// image's own binary (the image has no shell), with its sleep command.
func preStopDelay(t *testing.T, proxy corev1.Container) time.Duration {
	t.Helper()
	if proxy.Lifecycle == nil || proxy.Lifecycle.PreStop == nil {
		return 0
	}
	h := proxy.Lifecycle.PreStop
	if h.Exec == nil || len(h.Exec.Command) != 3 || h.Exec.Command[0] != imageBinary(t) || h.Exec.Command[1] != "sleep" {
		t.Errorf("preStop %+v: want exec [%s sleep DURATION]", h, imageBinary(t))
		return 0
	}
	d, err := time.ParseDuration(h.Exec.Command[2])
	if err != nil {
		t.Errorf("preStop sleep %q: %v", h.Exec.Command[2], err)
	}
	return d
}

// imageBinary is where the Dockerfile puts the binary (its ENTRYPOINT).
func imageBinary(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "ENTRYPOINT "); ok {
			var entry []string
			if err := json.Unmarshal([]byte(rest), &entry); err != nil || len(entry) != 1 {
				t.Fatalf("Dockerfile ENTRYPOINT %s: want one path in JSON form", rest)
			}
			return entry[0]
		}
	}
	t.Fatal("the Dockerfile has no ENTRYPOINT")
	return ""
}

// loadRenderedConfig loads the rendered config.yaml the way the pod does:
// the --config file from the mounted ConfigMap, the secret files from the
// projected Secret volume (test values, or the rendered Secret's own data).
// Paths under the mounts are moved into a temporary directory; nothing comes
// from the environment, so every file the config names must be mounted.
func loadRenderedConfig(t *testing.T, objs k8sObjects, proxy corev1.Container) (*config.Config, config.Config) {
	t.Helper()
	pod := objs.Deployments[0].Spec.Template.Spec
	mounts := map[string]corev1.Volume{} // mount path -> volume
	for _, m := range proxy.VolumeMounts {
		if m.SubPath != "" {
			t.Errorf("volume %s is mounted with subPath: Kubernetes never updates such files", m.Name)
		}
		if !m.ReadOnly {
			t.Errorf("volume %s is mounted writable", m.Name)
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name {
				mounts[m.MountPath] = v
			}
		}
	}
	i := slices.Index(proxy.Args, "--config")
	if i < 0 || i+1 >= len(proxy.Args) {
		t.Fatalf("args %v pass no --config", proxy.Args)
	}
	cfgFile := proxy.Args[i+1]
	cmVol, ok := mounts[path.Dir(cfgFile)]
	if !ok || cmVol.ConfigMap == nil {
		t.Fatalf("--config %s is not in a ConfigMap mount", cfgFile)
	}
	var cm *corev1.ConfigMap
	for _, c := range objs.ConfigMaps {
		if c.Name == cmVol.ConfigMap.Name {
			cm = c
		}
	}
	if cm == nil {
		t.Fatalf("--config %s is in ConfigMap %s, which the chart does not render", cfgFile, cmVol.ConfigMap.Name)
	}
	text, ok := cm.Data[path.Base(cfgFile)]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", cm.Name, path.Base(cfgFile))
	}

	root := t.TempDir()
	created := map[string]map[string][]byte{} // Secret -> key -> content, as rendered
	for _, s := range objs.Secrets {
		created[s.Name] = s.Data
	}
	for dir, v := range mounts {
		if v.Projected == nil {
			continue
		}
		local := filepath.Join(root, filepath.FromSlash(dir))
		if err := os.MkdirAll(local, 0o700); err != nil {
			t.Fatal(err)
		}
		text = strings.ReplaceAll(text, dir+"/", local+"/")
		for _, src := range v.Projected.Sources {
			if src.Secret == nil || len(src.Secret.Items) == 0 {
				t.Errorf("projected source %+v: want a Secret with explicit items", src)
				continue
			}
			for _, item := range src.Secret.Items {
				data := testSecretFile(t, item.Path)
				if c, ok := created[src.Secret.Name]; ok {
					if data, ok = c[item.Key]; !ok {
						t.Errorf("the rendered Secret %s has no key %s that the pod mounts", src.Secret.Name, item.Key)
					}
				}
				if err := os.WriteFile(filepath.Join(local, item.Path), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	local := filepath.Join(root, "config.yaml")
	if err := os.WriteFile(local, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(local, nil)
	if err != nil {
		t.Fatalf("config.Load of the rendered config.yaml: %v\n%s", err, text)
	}
	raw := rawConfig(t, local)
	// Every mounted secret file is one the config reads: none is forgotten
	// in lcw.config.
	read := append([]string{raw.OIDC.ClientSecretFile, raw.Session.SecretFile, raw.Session.Redis.PasswordFile},
		append(raw.Session.PreviousSecretFiles, signingFiles(raw)...)...)
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && p != local && !slices.Contains(read, p) {
			t.Errorf("%s is mounted but the config never reads it", strings.TrimPrefix(p, root))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, raw
}

// testSecretFile is valid content for a secret file, chosen by its name in
// the mount (the chart names them by role).
func testSecretFile(t *testing.T, name string) []byte {
	t.Helper()
	switch {
	case strings.HasSuffix(name, ".pem"):
		key, err := testKeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		return key
	case strings.HasPrefix(name, "cookie-secret"):
		b := make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, b); err != nil {
			t.Fatal(err)
		}
		return []byte(base64.StdEncoding.EncodeToString(b) + "\n")
	default:
		return []byte(fmt.Sprintf("test-%s\n", name))
	}
}

func assertSelects(t *testing.T, what string, sel *metav1.LabelSelector, podLabels map[string]string) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if s.Empty() || !s.Matches(labels.Set(podLabels)) {
		t.Errorf("%s %v does not select labels %v", what, sel, podLabels)
	}
}

func containerPort(t *testing.T, c corev1.Container, name string) int {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return int(p.ContainerPort)
		}
	}
	t.Errorf("container %s has no port %s", c.Name, name)
	return 0
}

func servicePort(svc *corev1.Service, name string) *corev1.ServicePort {
	for i, p := range svc.Spec.Ports {
		if p.Name == name {
			return &svc.Spec.Ports[i]
		}
	}
	return nil
}
