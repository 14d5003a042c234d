package config_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// oldestKubernetes is the oldest release the README claims: native sidecars
// (an initContainers entry with restartPolicy: Always) are on by default
// from 1.29.
const (
	oldestKubernetes = "1.29.0"
	k8s129Dir        = "testdata/k8s129"
)

// TestManifestsFitOldestKubernetes renders everything the repository ships
// for Kubernetes — the chart with its default values and every example (all
// its features on in examples/platform.yaml), and every kustomization — and
// checks it against Kubernetes 1.29 with testdata/k8s129, a module of its
// own holding the 1.29 API types: a field added after 1.29 does not decode
// there, and a field 1.29 has but gates off is refused by name.
func TestManifestsFitOldestKubernetes(t *testing.T) {
	t.Parallel()
	helm := helmTool(t)
	var all bytes.Buffer
	values := []string{""}
	examples, err := filepath.Glob(filepath.Join(chartExamplesDir, "*.yaml"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no chart examples: %v", err)
	}
	values = append(values, examples...)
	for _, v := range values {
		args := []string{"--kube-version", oldestKubernetes}
		if v != "" {
			args = append(args, "-f", v)
		}
		all.Write(helmTemplate(t, helm, args...))
		all.WriteString("\n---\n")
	}
	for _, dir := range kustomizeDirs(t) {
		all.Write(kustomizeBuild(t, dir))
		all.WriteString("\n---\n")
	}
	if out, err := runK8s129(t, all.Bytes()); err != nil {
		t.Errorf("not for Kubernetes %s:\n%s", oldestKubernetes, out)
	}
}

// TestK8s129CatchesNewerFields: the checker refuses a field newer than 1.29
// and one that 1.29 gates off, and passes the same objects without them.
func TestK8s129CatchesNewerFields(t *testing.T) {
	t.Parallel()
	newer := `apiVersion: v1
kind: Service
metadata: {name: svc}
spec:
  ports: [{port: 80}]
  trafficDistribution: PreferClose
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers:
        - name: app
          image: app
          lifecycle: {preStop: {sleep: {seconds: 5}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: route}
spec: {anything: goes}
`
	out, err := runK8s129(t, []byte(newer))
	if err == nil {
		t.Fatal("the checker passed a field added in 1.30 and one gated off in 1.29")
	}
	for _, want := range []string{`unknown field "spec.trafficDistribution"`, "lifecycle.preStop.sleep needs PodLifecycleSleepAction"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("checker output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "HTTPRoute") {
		t.Errorf("a custom resource was checked against Kubernetes' types:\n%s", out)
	}
	fixed := strings.NewReplacer("  trafficDistribution: PreferClose\n", "", "{preStop: {sleep: {seconds: 5}}}", "{preStop: {exec: {command: [sleep, '5']}}}").Replace(newer)
	if out, err := runK8s129(t, []byte(fixed)); err != nil {
		t.Errorf("the checker refused objects 1.29 accepts: %v\n%s", err, out)
	}
}

// runK8s129 runs the checker on manifests with go run and the go command
// that runs this test: go run keeps what it links in Go's build cache, so
// the checker (k8s.io/api v0.29; make deps downloads it, make test's setup
// builds it with this same command) is compiled and linked once, not per
// run. It builds static and with -trimpath, the release binary's mode, so
// one compile of the standard library serves both. go run exits 1 for any
// failure of the checker and adds "exit status N" to its output; a crash
// still fails the callers, which want either no error or the checker's
// findings.
func runK8s129(t *testing.T, manifests []byte) ([]byte, error) {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	cmd := exec.Command(goTool, "run", "-trimpath", ".")
	cmd.Dir = k8s129Dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	cmd.Stdin = bytes.NewReader(manifests)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
		t.Fatalf("go run %s: %v\n%s", k8s129Dir, err, out)
	}
	return out, err
}
