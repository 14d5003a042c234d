package config_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// The files these tests keep from rotting, relative to this package.
const (
	examplesDir   = "../deploy/examples"
	kubernetesDir = "../deploy/kubernetes"
	// componentDir is the kustomize component that adds the proxy to an
	// existing Deployment; ownAppDir the overlay that shows it in use.
	componentDir = "../deploy/kubernetes/components/sidecar"
	ownAppDir    = "../deploy/kubernetes/own-app"
)

// secretMount is where the Kubernetes base mounts the Secret; every example
// reads its secrets from there so it can replace the base's config.yaml.
const secretMount = "/run/secrets/lcw-auth-proxy"

// testKeyPEM is one 2048-bit RSA key (PKCS#8 PEM) shared by every test here:
// generating it is the slow part.
var testKeyPEM = sync.OnceValues(func() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate test key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal test key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
})

// secretsEnv writes the three secret files to a temporary directory and
// returns a getenv that points the configuration's *_file keys at them, the
// way a deployment would with LCW_* variables.
func secretsEnv(t *testing.T) func(string) string {
	t.Helper()
	keyPEM, err := testKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	cookie := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, cookie); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string][]byte{
		"oidc-client-secret":  []byte("client-secret-from-the-idp\n"),
		"cookie-secret":       []byte(base64.StdEncoding.EncodeToString(cookie) + "\n"),
		"lcw-signing-key.pem": keyPEM,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"LCW_OIDC_CLIENT_SECRET_FILE": filepath.Join(dir, "oidc-client-secret"),
		"LCW_SESSION_SECRET_FILE":     filepath.Join(dir, "cookie-secret"),
		"LCW_TOKEN_SIGNING_KEYS":      fmt.Sprintf("[{file: %q}]", filepath.Join(dir, "lcw-signing-key.pem")),
	}
	return func(k string) string { return env[k] }
}

// rawConfig decodes a file without validation or environment, to see the
// secret paths as written.
func rawConfig(t *testing.T, file string) config.Config {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var c config.Config
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return c
}

// TestExampleConfigsLoad loads every IdP example with config.Load. Each file
// must be listed here, so a new example gets its expectations too.
func TestExampleConfigsLoad(t *testing.T) {
	cases := map[string]struct {
		issuer   string
		contexts []string // keys that must be mapped, among others
	}{
		"keycloak.yaml":          {"https://keycloak.example.com/realms/shop", []string{"customer_email", "msdyn_isvip"}},
		"entra-id.yaml":          {"https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000aa/v2.0", []string{"customer_login", "msdyn_isvip"}},
		"okta.yaml":              {"https://example.okta.com/oauth2/default", []string{"customer_email", "msdyn_isvip"}},
		"auth0.yaml":             {"https://example.eu.auth0.com/", []string{"customer_email", "msdyn_isvip"}},
		"dex.yaml":               {"https://dex.example.com/dex", []string{"customer_email", "msdyn_isvip"}},
		"google.yaml":            {"https://accounts.google.com", []string{"customer_email", "customer_name"}},
		"cognito.yaml":           {"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI", []string{"customer_email", "msdyn_isvip"}},
		"adfs.yaml":              {"https://adfs.example.com/adfs", []string{"customer_email", "customer_login", "msdyn_isvip"}},
		"entra-multitenant.yaml": {"https://login.microsoftonline.com/{tenantid}/v2.0", []string{"customer_email", "customer_tenant", "msdyn_isvip"}},
		"azure-ad-b2c.yaml":      {"https://contoso.b2clogin.com/00000000-0000-0000-0000-0000000000cc/v2.0/", []string{"customer_email", "customer_name"}},
		"entra-external-id.yaml": {"https://00000000-0000-0000-0000-0000000000dd.ciamlogin.com/00000000-0000-0000-0000-0000000000dd/v2.0", []string{"customer_email", "customer_login"}},
	}

	// Where the discovery document is when it is not under the issuer
	// (oidc.discovery_url); every other example leaves it out.
	discovery := map[string]string{
		"entra-multitenant.yaml": "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration",
		"azure-ad-b2c.yaml":      "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signupsignin/v2.0/.well-known/openid-configuration",
		"entra-external-id.yaml": "https://contoso.ciamlogin.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration",
	}

	entries, err := os.ReadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, e := range entries {
		// examples.go embeds the YAML files for lcw-auth-proxy init.
		if !e.IsDir() && e.Name() != "examples.go" {
			onDisk = append(onDisk, e.Name())
		}
	}
	for _, name := range onDisk {
		if _, ok := cases[name]; !ok {
			t.Errorf("%s/%s has no case in TestExampleConfigsLoad: add its issuer and context keys", examplesDir, name)
		}
	}
	for name := range cases {
		if !slices.Contains(onDisk, name) {
			t.Errorf("case %s: no such file in %s", name, examplesDir)
		}
	}

	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(examplesDir, name)
			if _, err := os.Stat(file); err != nil {
				t.Skip("missing; reported above")
			}
			cfg, err := config.Load(file, secretsEnv(t))
			if err != nil {
				t.Fatalf("config.Load: %v", err)
			}
			if cfg.OIDC.Issuer != want.issuer {
				t.Errorf("oidc.issuer = %q, want %q", cfg.OIDC.Issuer, want.issuer)
			}
			if cfg.OIDC.DiscoveryURL != discovery[name] {
				t.Errorf("oidc.discovery_url = %q, want %q", cfg.OIDC.DiscoveryURL, discovery[name])
			}
			if cfg.OIDC.IssuerTemplated() && len(cfg.OIDC.AllowedTenants) == 0 {
				t.Error("a {tenantid} issuer without oidc.allowed_tenants: every tenant in the world could sign in")
			}
			if cfg.Prefix != "/_lcw" {
				t.Errorf("prefix = %q, want /_lcw (the probes of deploy/kubernetes use it)", cfg.Prefix)
			}
			if cfg.OIDC.ClientSecret == "" || len(cfg.Session.Keys) == 0 {
				t.Errorf("secrets were not read from the *_file overrides")
			}
			if len(cfg.Token.LWIContexts) == 0 {
				t.Fatal("token.lwicontexts is empty")
			}
			for _, k := range want.contexts {
				if _, ok := cfg.Token.LWIContexts[k]; !ok {
					t.Errorf("token.lwicontexts has no %q", k)
				}
			}
			assertSidecarDefaults(t, cfg)
			assertRegistrationDocumented(t, file, cfg)
			assertSecretPaths(t, rawConfig(t, file))
		})
	}
}

// assertSidecarDefaults checks that an example drops into the Kubernetes
// base: same listeners and upstream.
func assertSidecarDefaults(t *testing.T, cfg *config.Config) {
	t.Helper()
	if cfg.Listen != ":4180" || cfg.MetricsListen != ":9090" {
		t.Errorf("listen %q, metrics_listen %q: want :4180 and :9090 like deploy/kubernetes", cfg.Listen, cfg.MetricsListen)
	}
	if cfg.Upstream.URL != "http://127.0.0.1:8080" {
		t.Errorf("upstream.url = %q, want the sidecar's app http://127.0.0.1:8080", cfg.Upstream.URL)
	}
}

// assertRegistrationDocumented checks that the comments tell the user the
// exact redirect URI and post-logout URI this configuration produces.
func assertRegistrationDocumented(t *testing.T, file string, cfg *config.Config) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	after := cfg.OIDC.PostLogoutRedirectPath
	if after == "" {
		after = "/"
	}
	for what, uri := range map[string]string{
		"redirect URI":    cfg.Public.String() + cfg.Prefix + "/callback",
		"post-logout URI": cfg.Public.String() + after,
	} {
		if !bytes.Contains(data, []byte(uri)) {
			t.Errorf("the comments never mention the %s %s that this configuration registers", what, uri)
		}
	}
}

// assertSecretPaths checks that secrets are files of the Kubernetes Secret,
// never inline values.
func assertSecretPaths(t *testing.T, raw config.Config) {
	t.Helper()
	if raw.OIDC.ClientSecret != "" || raw.Session.Secret != "" || len(raw.Session.PreviousSecrets) > 0 {
		t.Error("a secret is written inline: use the *_file keys")
	}
	want := map[string]string{
		"oidc.client_secret_file": path.Join(secretMount, "oidc-client-secret"),
		"session.secret_file":     path.Join(secretMount, "cookie-secret"),
	}
	got := map[string]string{
		"oidc.client_secret_file": raw.OIDC.ClientSecretFile,
		"session.secret_file":     raw.Session.SecretFile,
	}
	for key, w := range want {
		if got[key] != w {
			t.Errorf("%s = %q, want %q (the Secret's mount in deploy/kubernetes)", key, got[key], w)
		}
	}
	if len(raw.Token.SigningKeys) == 0 {
		t.Fatal("token.signing_keys is empty")
	}
	for i, k := range raw.Token.SigningKeys {
		if path.Dir(k.File) != secretMount {
			t.Errorf("token.signing_keys[%d].file = %q, want a file in %s", i, k.File, secretMount)
		}
	}
}

// k8sDoc is the part of a Kubernetes object these tests read.
type k8sDoc struct {
	file       string
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec       yaml.Node         `yaml:"spec"`
	StringData map[string]string `yaml:"stringData"`
}

type podTemplate struct {
	Template struct {
		Spec podSpec `yaml:"spec"`
	} `yaml:"template"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int64          `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               securityContext `yaml:"securityContext"`
	InitContainers                []container     `yaml:"initContainers"`
	Containers                    []container     `yaml:"containers"`
	Volumes                       []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
	SeccompProfile struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type container struct {
	Name          string   `yaml:"name"`
	Image         string   `yaml:"image"`
	RestartPolicy string   `yaml:"restartPolicy"`
	Args          []string `yaml:"args"`
	Ports         []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	StartupProbe    *probe          `yaml:"startupProbe"`
	LivenessProbe   *probe          `yaml:"livenessProbe"`
	ReadinessProbe  *probe          `yaml:"readinessProbe"`
	SecurityContext securityContext `yaml:"securityContext"`
	Resources       struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

// port resolves a port given by number or by container port name.
func (c container) port(p any) (int, bool) {
	switch v := p.(type) {
	case int:
		return v, true
	case string:
		for _, cp := range c.Ports {
			if cp.Name == v {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// readK8sDocs parses every YAML document of every file in dir.
func readK8sDocs(t *testing.T, dir string) (docs []k8sDoc, files []string) {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) == 0 {
		t.Fatalf("no YAML files in %s", dir)
	}
	for _, file := range matches {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for n := 0; ; n++ {
			var d k8sDoc
			err := dec.Decode(&d)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d is not valid YAML: %v", file, n, err)
			}
			d.file = filepath.Base(file)
			docs = append(docs, d)
		}
		files = append(files, filepath.Base(file))
	}
	return docs, files
}

func findKind(t *testing.T, docs []k8sDoc, kind, file string) k8sDoc {
	t.Helper()
	for _, d := range docs {
		if d.Kind == kind && (file == "" || d.file == file) {
			return d
		}
	}
	t.Fatalf("no %s in %s", kind, kubernetesDir)
	return k8sDoc{}
}

func decodeSpec(t *testing.T, d k8sDoc, into any) {
	t.Helper()
	if err := d.Spec.Decode(into); err != nil {
		t.Fatalf("%s %s: spec: %v", d.Kind, d.Metadata.Name, err)
	}
}

// hostPort returns the port of a host:port or URL host.
func hostPort(t *testing.T, hostport string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%q: %v", hostport, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%q: %v", hostport, err)
	}
	return n
}

// TestKubernetesBase checks the kustomize base against its own config.yaml:
// the sidecar is native, the Service and probes point at the proxy, the
// Secret's files are where the configuration reads them, and the pod shuts
// down within its grace period.
func TestKubernetesBase(t *testing.T) {
	cfgFile := filepath.Join(kubernetesDir, "config.yaml")
	cfg, err := config.Load(cfgFile, secretsEnv(t))
	if err != nil {
		t.Fatalf("config.Load(%s): %v", cfgFile, err)
	}
	if cfg.OIDC.Issuer == "" || cfg.Token.Issuer == "" || len(cfg.Token.LWIContexts) == 0 {
		t.Errorf("%s: issuer %q, token issuer %q, %d lwicontexts: want all set", cfgFile, cfg.OIDC.Issuer, cfg.Token.Issuer, len(cfg.Token.LWIContexts))
	}
	raw := rawConfig(t, cfgFile)
	assertSecretPaths(t, raw)
	assertRegistrationDocumented(t, cfgFile, cfg)

	docs, files := readK8sDocs(t, kubernetesDir)
	kust := readKustomization(t, filepath.Join(kubernetesDir, "kustomization.yaml"))

	deploy := findKind(t, docs, "Deployment", "")
	var dspec podTemplate
	decodeSpec(t, deploy, &dspec)
	pod := dspec.Template.Spec

	var proxy, app *container
	for i, c := range pod.InitContainers {
		if c.Name == "lcw-auth-proxy" {
			proxy = &pod.InitContainers[i]
		}
	}
	if proxy == nil {
		t.Fatal("no initContainers entry named lcw-auth-proxy: the proxy must be a native sidecar")
	}
	for i, c := range pod.Containers {
		if c.Name == "lcw-auth-proxy" {
			t.Error("lcw-auth-proxy is also a regular container; it belongs in initContainers only")
		}
		if c.Name == "app" {
			app = &pod.Containers[i]
		}
	}
	if app == nil {
		t.Fatal("no container named app")
	}

	proxyPort := hostPort(t, cfg.Listen)
	metricsPort := hostPort(t, cfg.MetricsListen)
	appPort := hostPort(t, cfg.UpstreamURL.Host)

	t.Run("native sidecar", func(t *testing.T) {
		if proxy.RestartPolicy != "Always" {
			t.Errorf("restartPolicy = %q, want Always (a native sidecar)", proxy.RestartPolicy)
		}
		if p, ok := proxy.port("http"); !ok || p != proxyPort {
			t.Errorf("container port http = %d, want %d (listen in config.yaml)", p, proxyPort)
		}
		if p, ok := proxy.port("metrics"); !ok || p != metricsPort {
			t.Errorf("container port metrics = %d, want %d (metrics_listen in config.yaml)", p, metricsPort)
		}
		if h := cfg.UpstreamURL.Hostname(); h != "127.0.0.1" {
			t.Errorf("upstream.url host = %q, want 127.0.0.1: the app in the same pod", h)
		}
		if p, ok := app.port("app"); !ok || p != appPort {
			t.Errorf("app container port = %d, want %d (upstream.url in config.yaml)", p, appPort)
		}
	})

	t.Run("probes", func(t *testing.T) {
		want := map[string]struct {
			p    *probe
			path string
		}{
			"startupProbe":   {proxy.StartupProbe, cfg.Prefix + "/healthz"},
			"livenessProbe":  {proxy.LivenessProbe, cfg.Prefix + "/healthz"},
			"readinessProbe": {proxy.ReadinessProbe, cfg.Prefix + "/readyz"},
		}
		for name, w := range want {
			if w.p == nil || w.p.HTTPGet == nil {
				t.Errorf("%s: missing or not httpGet", name)
				continue
			}
			if w.p.HTTPGet.Path != w.path {
				t.Errorf("%s path = %q, want %q", name, w.p.HTTPGet.Path, w.path)
			}
			if p, ok := proxy.port(w.p.HTTPGet.Port); !ok || p != proxyPort {
				t.Errorf("%s port %v = %d, want the proxy's %d", name, w.p.HTTPGet.Port, p, proxyPort)
			}
		}
	})

	t.Run("service targets the proxy only", func(t *testing.T) {
		svc := findKind(t, docs, "Service", "")
		var spec struct {
			Ports []struct {
				Name       string `yaml:"name"`
				TargetPort any    `yaml:"targetPort"`
			} `yaml:"ports"`
		}
		decodeSpec(t, svc, &spec)
		if len(spec.Ports) == 0 {
			t.Fatal("Service has no ports")
		}
		for _, sp := range spec.Ports {
			if p, ok := proxy.port(sp.TargetPort); !ok || p != proxyPort {
				t.Errorf("Service port %s targets %v (= %d), want the proxy's port %d", sp.Name, sp.TargetPort, p, proxyPort)
			}
		}
	})

	t.Run("network policy admits only proxy and metrics", func(t *testing.T) {
		np := findKind(t, docs, "NetworkPolicy", "")
		var spec struct {
			Ingress []struct {
				Ports []struct {
					Port any `yaml:"port"`
				} `yaml:"ports"`
			} `yaml:"ingress"`
		}
		decodeSpec(t, np, &spec)
		for _, rule := range spec.Ingress {
			if len(rule.Ports) == 0 {
				t.Error("an ingress rule without ports admits every port, the app's too")
			}
			for _, p := range rule.Ports {
				n, _ := proxy.port(p.Port)
				if n != proxyPort && n != metricsPort {
					t.Errorf("NetworkPolicy admits port %v; only %d and %d belong there", p.Port, proxyPort, metricsPort)
				}
			}
		}
	})

	t.Run("graceful shutdown fits the grace period", func(t *testing.T) {
		if pod.TerminationGracePeriodSeconds == nil {
			t.Fatal("terminationGracePeriodSeconds is not set")
		}
		grace := *pod.TerminationGracePeriodSeconds
		if float64(grace) <= cfg.ShutdownTimeout.D().Seconds() {
			t.Errorf("terminationGracePeriodSeconds %d is not above shutdown_timeout %s", grace, cfg.ShutdownTimeout.D())
		}
	})

	t.Run("security context", func(t *testing.T) {
		for _, c := range []*container{proxy, app} {
			sc := c.SecurityContext
			if !isTrue(sc.RunAsNonRoot) && !isTrue(pod.SecurityContext.RunAsNonRoot) {
				t.Errorf("%s: runAsNonRoot is not set", c.Name)
			}
			if !isTrue(sc.ReadOnlyRootFilesystem) {
				t.Errorf("%s: readOnlyRootFilesystem is not true", c.Name)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation is not false", c.Name)
			}
			if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
				t.Errorf("%s: capabilities.drop = %v, want [ALL]", c.Name, sc.Capabilities.Drop)
			}
			if sc.SeccompProfile.Type != "RuntimeDefault" && pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
				t.Errorf("%s: no RuntimeDefault seccomp profile", c.Name)
			}
			if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
				t.Errorf("%s: resources need cpu and memory requests and a memory limit, got %+v", c.Name, c.Resources)
			}
		}
	})

	t.Run("config map and secret mounts", func(t *testing.T) {
		volumes := map[string]string{} // volume name -> "configmap:NAME" or "secret:NAME"
		for _, v := range pod.Volumes {
			switch {
			case v.ConfigMap != nil:
				volumes[v.Name] = "configmap:" + v.ConfigMap.Name
			case v.Secret != nil:
				volumes[v.Name] = "secret:" + v.Secret.SecretName
			}
		}
		mounts := map[string]string{} // source -> mount path in the proxy
		for _, m := range proxy.VolumeMounts {
			if m.SubPath != "" {
				t.Errorf("volume %s is mounted with subPath: Kubernetes never updates such files, so a rotated key would not arrive", m.Name)
			}
			mounts[volumes[m.Name]] = m.MountPath
		}
		for _, m := range app.VolumeMounts {
			if strings.HasPrefix(volumes[m.Name], "secret:") {
				t.Errorf("the app mounts the Secret volume %s: only the proxy may read the keys", m.Name)
			}
		}

		gen := kust.generatedConfigMap(t)
		cmDir, ok := mounts["configmap:"+gen]
		if !ok {
			t.Fatalf("the proxy mounts no volume of the generated ConfigMap %q (mounts %v)", gen, mounts)
		}
		if i := slices.Index(proxy.Args, "--config"); i < 0 || i+1 >= len(proxy.Args) || proxy.Args[i+1] != path.Join(cmDir, "config.yaml") {
			t.Errorf("args %v do not pass --config %s", proxy.Args, path.Join(cmDir, "config.yaml"))
		}

		secret := findKind(t, docs, "Secret", "secret.example.yaml")
		secDir, ok := mounts["secret:"+secret.Metadata.Name]
		if !ok {
			t.Fatalf("the proxy mounts no volume of the Secret %q (mounts %v)", secret.Metadata.Name, mounts)
		}
		if secDir != secretMount {
			t.Errorf("Secret mounted at %s, want %s where config.yaml reads it", secDir, secretMount)
		}
		for _, f := range append([]string{raw.OIDC.ClientSecretFile, raw.Session.SecretFile}, signingFiles(raw)...) {
			if _, ok := secret.StringData[path.Base(f)]; !ok || path.Dir(f) != secDir {
				t.Errorf("config.yaml reads %s: want a key %q in secret.example.yaml, mounted at %s", f, path.Base(f), secDir)
			}
		}
	})

	t.Run("kustomization", func(t *testing.T) {
		if slices.Contains(kust.Resources, "secret.example.yaml") {
			t.Error("secret.example.yaml must not be a kustomize resource: real secrets never go into git")
		}
		listed := append(slices.Clone(kust.Resources), "kustomization.yaml", "secret.example.yaml")
		for _, g := range kust.ConfigMapGenerator {
			listed = append(listed, g.Files...)
		}
		for _, r := range kust.Resources {
			if !slices.Contains(files, r) {
				t.Errorf("resource %s does not exist", r)
			}
		}
		for _, f := range files {
			if !slices.Contains(listed, f) {
				t.Errorf("%s is neither a resource nor generated: list it in kustomization.yaml", f)
			}
		}
		for _, d := range docs {
			if d.Kind != "" && d.APIVersion == "" {
				t.Errorf("%s: %s without apiVersion", d.file, d.Kind)
			}
		}
		images := map[string]bool{}
		for _, im := range kust.Images {
			images[im.Name] = true
		}
		for _, c := range []*container{proxy, app} {
			if !images[c.Image] {
				t.Errorf("image %q of %s has no images: entry in kustomization.yaml", c.Image, c.Name)
			}
		}
	})
}

func isTrue(b *bool) bool { return b != nil && *b }

func signingFiles(c config.Config) []string {
	var out []string
	for _, k := range c.Token.SigningKeys {
		out = append(out, k.File)
	}
	return out
}

type kustomization struct {
	Resources          []string `yaml:"resources"`
	Components         []string `yaml:"components"`
	ConfigMapGenerator []struct {
		Name     string   `yaml:"name"`
		Behavior string   `yaml:"behavior"`
		Files    []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
	Images []struct {
		Name string `yaml:"name"`
	} `yaml:"images"`
}

func readKustomization(t *testing.T, file string) kustomization {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return k
}

// generatedConfigMap is the name of the ConfigMap generated from config.yaml.
func (k kustomization) generatedConfigMap(t *testing.T) string {
	t.Helper()
	for _, g := range k.ConfigMapGenerator {
		if slices.Contains(g.Files, "config.yaml") {
			return g.Name
		}
	}
	t.Fatal("kustomization.yaml: no configMapGenerator takes config.yaml")
	return ""
}

// redisOverlayDir is an overlay of the base; kustomize refuses an overlay
// inside its base's directory ("cycle detected"), so it is a sibling.
const redisOverlayDir = "../deploy/redis-sessions"

// The redis-sessions overlay's config is the base's with sessions in Redis:
// it loads, and differs from the base in the session section only.
func TestKubernetesRedisOverlay(t *testing.T) {
	file := filepath.Join(redisOverlayDir, "config.yaml")
	env := secretsEnv(t)
	password := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(password, []byte("redis-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, func(k string) string {
		if k == "LCW_SESSION_REDIS_PASSWORD_FILE" {
			return password
		}
		return env(k)
	})
	if err != nil {
		t.Fatalf("config.Load(%s): %v", file, err)
	}
	if cfg.Session.Store != "redis" || cfg.Session.Redis.URL == "" || cfg.Session.Redis.Password != "redis-password" {
		t.Errorf("%s: store %q, url %q: want redis with the Secret's password", file, cfg.Session.Store, cfg.Session.Redis.URL)
	}
	base, err := config.Load(filepath.Join(kubernetesDir, "config.yaml"), env)
	if err != nil {
		t.Fatal(err)
	}
	redisURL := cfg.Session.Redis.URL
	cfg.Session, base.Session = config.Session{}, config.Session{}
	if a, b := redactedYAML(t, cfg), redactedYAML(t, base); a != b {
		t.Errorf("%s differs from the base's config.yaml beyond session:\n%s\nbase:\n%s", file, a, b)
	}
	assertSecretPaths(t, rawConfig(t, file))
	kust := readKustomization(t, filepath.Join(redisOverlayDir, "kustomization.yaml"))
	if !slices.Equal(kust.Resources, []string{"../kubernetes", "redis.yaml"}) {
		t.Errorf("overlay resources %v, want the base and redis.yaml", kust.Resources)
	}
	if len(kust.ConfigMapGenerator) != 1 || kust.ConfigMapGenerator[0].Name != "lcw-auth-proxy-config" ||
		kust.ConfigMapGenerator[0].Behavior != "replace" || !slices.Equal(kust.ConfigMapGenerator[0].Files, []string{"config.yaml"}) {
		t.Errorf("overlay configMapGenerator %+v, want lcw-auth-proxy-config replaced by config.yaml", kust.ConfigMapGenerator)
	}
	// The URL names the Service redis.yaml creates.
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	redisDoc, err := os.ReadFile(filepath.Join(redisOverlayDir, "redis.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(redisDoc), "kind: Service\nmetadata:\n  name: "+u.Hostname()+"\n") {
		t.Errorf("redis.yaml has no Service named %s (session.redis.url)", u.Hostname())
	}
}

func redactedYAML(t *testing.T, c *config.Config) string {
	t.Helper()
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// The forward-auth example runs without an upstream and trusts only the
// ingress.
func TestForwardAuthExample(t *testing.T) {
	file := filepath.Join(examplesDir, "forward-auth", "lcw-auth-proxy.yaml")
	cfg, err := config.Load(file, secretsEnv(t))
	if err != nil {
		t.Fatalf("config.Load(%s): %v", file, err)
	}
	if !cfg.Upstream.Disabled || cfg.UpstreamURL != nil || len(cfg.TrustedProxyNets) == 0 || !cfg.Headers.Pass || cfg.Inject.Enabled {
		t.Errorf("%s: upstream disabled %v, trusted %v, headers.pass %v, inject %v", file, cfg.Upstream.Disabled, cfg.TrustedProxyNets, cfg.Headers.Pass, cfg.Inject.Enabled)
	}
	assertSecretPaths(t, rawConfig(t, file))
}

// noSecrets: secrets are created outside git, never rendered from it.
func noSecrets(t *testing.T, r k8sObjects) {
	t.Helper()
	for _, s := range r.Secrets {
		t.Errorf("the rendered output contains Secret %s: secrets must be created outside git", s.Name)
	}
}

// mountedConfigMaps lists the ConfigMaps a Deployment's pods mount.
func mountedConfigMaps(d *appsv1.Deployment) []string {
	var out []string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			out = append(out, v.ConfigMap.Name)
		}
	}
	return out
}

// TestKustomizeBuild renders the base and the own-app overlay (the sidecar
// component in use): every object must be valid for the Kubernetes API,
// the generated ConfigMap must be the mounted one, and no Secret may
// appear.
func TestKustomizeBuild(t *testing.T) {
	t.Parallel()
	t.Run("base", func(t *testing.T) {
		r := decodeManifests(t, kubernetesDir, kustomizeBuild(t, kubernetesDir))
		noSecrets(t, r)
		if len(r.ConfigMaps) != 1 || !strings.HasPrefix(r.ConfigMaps[0].Name, "lcw-auth-proxy-config-") {
			t.Fatalf("rendered ConfigMaps %v, want one lcw-auth-proxy-config-<hash>", r.ConfigMaps)
		}
		if len(r.Deployments) != 1 || !slices.Equal(mountedConfigMaps(r.Deployments[0]), []string{r.ConfigMaps[0].Name}) {
			t.Errorf("the Deployment does not mount the generated ConfigMap %s", r.ConfigMaps[0].Name)
		}
	})

	t.Run("own app with the sidecar component", func(t *testing.T) {
		r := decodeManifests(t, ownAppDir, kustomizeBuild(t, ownAppDir))
		noSecrets(t, r)
		if len(r.ConfigMaps) != 1 || len(r.Deployments) != 1 || len(r.Services) != 1 || len(r.Ingresses) != 1 {
			t.Fatalf("rendered %d ConfigMaps, %d Deployments, %d Services, %d Ingresses; want one of each",
				len(r.ConfigMaps), len(r.Deployments), len(r.Services), len(r.Ingresses))
		}
		pod := r.Deployments[0].Spec.Template.Spec
		if !slices.Equal(mountedConfigMaps(r.Deployments[0]), []string{r.ConfigMaps[0].Name}) {
			t.Errorf("the pod mounts ConfigMaps %v, want the generated %s", mountedConfigMaps(r.Deployments[0]), r.ConfigMaps[0].Name)
		}
		var sidecar *corev1.Container
		for i, c := range pod.InitContainers {
			if c.Name == "lcw-auth-proxy" {
				sidecar = &pod.InitContainers[i]
			}
		}
		if sidecar == nil || sidecar.RestartPolicy == nil || *sidecar.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Fatalf("no native sidecar lcw-auth-proxy (initContainers, restartPolicy Always) in %+v", pod.InitContainers)
		}
		if len(pod.Containers) != 1 || pod.Containers[0].Name != "web" {
			t.Errorf("the app's containers are %v, want web alone, untouched", pod.Containers)
		}
		if !strings.HasPrefix(sidecar.Image, "registry.example.com/lcw-auth-proxy:") {
			t.Errorf("sidecar image %q: the overlay's images: did not apply", sidecar.Image)
		}
		// Service → the proxy's port; Ingress → the Service's port.
		svc := r.Services[0]
		target := svc.Spec.Ports[0].TargetPort.String()
		if !slices.ContainsFunc(sidecar.Ports, func(p corev1.ContainerPort) bool { return p.Name == target }) {
			t.Errorf("Service %s targets %q, not a port of the proxy (%v)", svc.Name, target, sidecar.Ports)
		}
		for _, c := range pod.Containers {
			if slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == target }) {
				t.Errorf("the app container also has a port named %s: the Service could reach it around the proxy", target)
			}
		}
		backend := r.Ingresses[0].Spec.Rules[0].HTTP.Paths[0].Backend.Service
		if backend.Name != svc.Name || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == backend.Port.Name }) {
			t.Errorf("Ingress backend %s:%s is not a port of Service %s", backend.Name, backend.Port.Name, svc.Name)
		}
	})
}

// TestSidecarComponent checks the component that adds the proxy to an
// existing Deployment against the own-app overlay's config.yaml, the way
// TestKubernetesBase checks the base: ports, probe paths, mounts and the
// Service's target agree with what the proxy is configured to do.
func TestSidecarComponent(t *testing.T) {
	cfgFile := filepath.Join(ownAppDir, "config.yaml")
	cfg, err := config.Load(cfgFile, secretsEnv(t))
	if err != nil {
		t.Fatalf("config.Load(%s): %v", cfgFile, err)
	}
	raw := rawConfig(t, cfgFile)
	assertSecretPaths(t, raw)
	assertRegistrationDocumented(t, cfgFile, cfg)

	data, err := os.ReadFile(filepath.Join(componentDir, "sidecar.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var patch struct {
		Spec podTemplate `yaml:"spec"`
	}
	if err := yaml.Unmarshal(data, &patch); err != nil {
		t.Fatalf("sidecar.yaml: %v", err)
	}
	pod := patch.Spec.Template.Spec
	if len(pod.InitContainers) != 1 || pod.InitContainers[0].Name != "lcw-auth-proxy" || len(pod.Containers) != 0 {
		t.Fatalf("sidecar.yaml must add exactly the init container lcw-auth-proxy and touch no app container")
	}
	proxy := pod.InitContainers[0]
	if proxy.RestartPolicy != "Always" {
		t.Errorf("restartPolicy = %q, want Always (a native sidecar)", proxy.RestartPolicy)
	}
	for name, want := range map[string]int{"lcw-proxy": hostPort(t, cfg.Listen), "lcw-metrics": hostPort(t, cfg.MetricsListen)} {
		if p, ok := proxy.port(name); !ok || p != want {
			t.Errorf("port %s = %d, want %d from config.yaml", name, p, want)
		}
	}
	for name, pr := range map[string]*probe{"startupProbe": proxy.StartupProbe, "livenessProbe": proxy.LivenessProbe, "readinessProbe": proxy.ReadinessProbe} {
		want := cfg.Prefix + "/healthz"
		if name == "readinessProbe" {
			want = cfg.Prefix + "/readyz"
		}
		if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != want || pr.HTTPGet.Port != "lcw-proxy" {
			t.Errorf("%s: want httpGet %s on port lcw-proxy", name, want)
		}
	}
	mounts := map[string]string{}
	for _, m := range proxy.VolumeMounts {
		if m.SubPath != "" {
			t.Errorf("volume %s is mounted with subPath: a rotated key would never arrive", m.Name)
		}
		mounts[m.Name] = m.MountPath
	}
	for _, v := range pod.Volumes {
		switch {
		case v.Secret != nil && mounts[v.Name] != secretMount:
			t.Errorf("the Secret is mounted at %q, want %s where config.yaml reads it", mounts[v.Name], secretMount)
		case v.ConfigMap != nil && (v.ConfigMap.Name != "lcw-auth-proxy-config" || slices.Index(proxy.Args, "--config") < 0 ||
			proxy.Args[slices.Index(proxy.Args, "--config")+1] != path.Join(mounts[v.Name], "config.yaml")):
			t.Errorf("the config volume (%s at %s) is not what args %v read", v.ConfigMap.Name, mounts[v.Name], proxy.Args)
		}
	}
	if len(pod.Volumes) != 2 {
		t.Errorf("sidecar.yaml adds %d volumes, want the config and the Secret", len(pod.Volumes))
	}

	svc, err := os.ReadFile(filepath.Join(componentDir, "service.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ops []struct {
		Op, Path string
		Value    any
	}
	if err := yaml.Unmarshal(svc, &ops); err != nil {
		t.Fatalf("service.yaml: %v", err)
	}
	if len(ops) != 1 || ops[0].Path != "/spec/ports/0/targetPort" || ops[0].Value != "lcw-proxy" {
		t.Errorf("service.yaml = %+v, want the Service's targetPort set to the proxy's port lcw-proxy", ops)
	}

	// The overlay uses the component and generates the ConfigMap it mounts.
	kust := readKustomization(t, filepath.Join(ownAppDir, "kustomization.yaml"))
	if kust.generatedConfigMap(t) != "lcw-auth-proxy-config" {
		t.Errorf("own-app generates %q, want lcw-auth-proxy-config, the component's volume", kust.generatedConfigMap(t))
	}
}
