package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// demo is one in-process run of the demo.
type demo struct {
	URL    string // the proxy's URL, no trailing slash
	Stdout *testenv.LogBuffer
	Stderr *testenv.LogBuffer
	stop   func() error
}

var openLine = regexp.MustCompile(`Open (http://127\.0\.0\.1:\d+)/`)

// launchDemo runs the demo in-process on a free loopback port (plus args)
// and waits until it printed its URL. Stop (idempotent) ends it and
// returns run's result.
func launchDemo(t *testing.T, args ...string) *demo {
	t.Helper()
	d := &demo{Stdout: &testenv.LogBuffer{}, Stderr: &testenv.LogBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), func(string) string { return "" }, d.Stdout, d.Stderr)
	}()
	var once sync.Once
	var runErr error
	d.stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = d.stop() })
	deadline := time.After(30 * time.Second)
	for {
		if m := openLine.FindStringSubmatch(d.Stdout.String()); m != nil {
			d.URL = m[1]
			return d
		}
		select {
		case err := <-done:
			done <- err // for stop
			t.Fatalf("demo stopped before printing its URL: %v\nstderr:\n%s", err, d.Stderr)
		case <-deadline:
			t.Fatalf("demo printed no URL within 30s\nstdout:\n%s\nstderr:\n%s", d.Stdout, d.Stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startDemo is launchDemo that also checks, when the test ends, that the
// demo shut down cleanly, and shows its output when the test failed.
func startDemo(t *testing.T, args ...string) *demo {
	t.Helper()
	d := launchDemo(t, args...)
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("run returned %v after shutdown, want nil", err)
		}
		if t.Failed() {
			t.Logf("demo stdout:\n%s\ndemo stderr:\n%s", d.Stdout, d.Stderr)
		}
	})
	return d
}

func TestRunRefusesBadCommandLines(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "listen on every interface", args: []string{"--listen", ":4180"}, wantErr: "every interface"},
		{name: "listen on 0.0.0.0", args: []string{"--listen", "0.0.0.0:4180"}, wantErr: "not loopback"},
		{name: "listen on a LAN address", args: []string{"--listen", "192.168.1.20:4180"}, wantErr: "not loopback"},
		{name: "listen on a host name", args: []string{"--listen", "demo.example.com:4180"}, wantErr: "not loopback"},
		{name: "listen on IPv6 any", args: []string{"--listen", "[::]:4180"}, wantErr: "not loopback"},
		{name: "upstream without scheme", args: []string{"--upstream", "localhost:8080"}, wantErr: "absolute http(s) URL"},
		{name: "upstream of another scheme", args: []string{"--upstream", "ftp://127.0.0.1/"}, wantErr: "absolute http(s) URL"},
		{name: "real widget without org", args: []string{"--widget-app-id", "a", "--widget-org-url", "https://x.omnichannelengagementhub.com"}, wantErr: "missing --widget-org-id"},
		{name: "widget src alone", args: []string{"--widget-src", "https://cdn.example/x.js"}, wantErr: "missing --widget-app-id, --widget-org-id, --widget-org-url"},
		{name: "unknown flag", args: []string{"--port", "80"}, wantErr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"serve"}, wantErr: `unexpected argument "serve"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), tt.args, func(string) string { return "" }, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
			var ue usageError
			if !errors.As(err, &ue) {
				t.Errorf("error %v is not a usage error (exit code 2)", err)
			}
			if stdout.Len() > 0 {
				t.Errorf("a refused start printed %q", stdout.String())
			}
		})
	}
}

func TestRunListenRefusalSaysWhy(t *testing.T) {
	err := run(t.Context(), []string{"--listen", "0.0.0.0:4180"}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--listen") || !strings.Contains(err.Error(), "must not be reachable from other machines") {
		t.Fatalf("error = %v, want one naming --listen and why", err)
	}
}

func TestRunHelp(t *testing.T) {
	var stdout bytes.Buffer
	if err := run(t.Context(), []string{"--help"}, func(string) string { return "" }, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"--listen", "--state", "--upstream", "--widget-src", "--widget-app-id", "--widget-org-id", "--widget-org-url"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help does not mention %s", want)
		}
	}
}

func TestRunPrintsURLAndUsers(t *testing.T) {
	d := startDemo(t)
	out := d.Stdout.String()
	for _, want := range []string{
		"vip", "vip-password", "customer", "customer-password",
		"Chat widget: SIMULATED", "Public key:  " + d.URL + "/_lcw/public-key.pem",
		"Your own site and IdP: lcw-auth-proxy init", // the way on from the demo
	} {
		if !strings.Contains(out, want) {
			t.Errorf("welcome text lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(d.Stderr.String(), "DEVELOPMENT-ONLY") {
		t.Errorf("no development-only warning in the log:\n%s", d.Stderr)
	}
}

func TestStateDirKeepsKeyAndSecretAcrossRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	once := func() (pub, secret string) {
		t.Helper()
		d := launchDemo(t, "--state", dir)
		if err := d.stop(); err != nil {
			t.Fatalf("run: %v", err)
		}
		return read(keys.PublicKeyFile), read(cookieSecretFile)
	}
	pub1, secret1 := once()
	pub2, secret2 := once()
	if !strings.Contains(pub1, "BEGIN PUBLIC KEY") || pub1 != pub2 {
		t.Errorf("public key changed between runs of one --state dir:\n%s\n%s", pub1, pub2)
	}
	if secret1 == "" || secret1 != secret2 {
		t.Errorf("cookie secret changed between runs of one --state dir")
	}
	if cfg := read("config.yaml"); !strings.Contains(cfg, "lwicontexts") {
		t.Errorf("config.yaml not written to the state dir:\n%s", cfg)
	}
	if info, err := os.Stat(filepath.Join(dir, keys.PrivateKeyFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("private key %v (err %v), want mode 0600", info, err)
	}
}

func TestTemporaryStateIsRemovedOnExit(t *testing.T) {
	d := launchDemo(t)
	m := regexp.MustCompile(`State:\s+(\S+) \(removed on exit\)`).FindStringSubmatch(d.Stdout.String())
	if m == nil {
		t.Fatalf("no temporary state dir in the welcome text:\n%s", d.Stdout)
	}
	if _, err := os.Stat(filepath.Join(m[1], keys.PrivateKeyFile)); err != nil {
		t.Fatalf("signing key not in the state dir while running: %v", err)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary state dir %s still there after exit (stat: %v)", m[1], err)
	}
}

func TestUpstreamFlagFrontsYourOwnSite(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><head><title>mine</title></head><body>my own site at %s</body></html>", r.URL.Path)
	}))
	t.Cleanup(site.Close)
	d := startDemo(t, "--upstream", site.URL)
	if out := d.Stdout.String(); !strings.Contains(out, "your site at "+site.URL) {
		t.Errorf("welcome text does not name the upstream:\n%s", out)
	}
	resp, body := get(t, http.DefaultClient, d.URL+"/shop/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "my own site at /shop/") {
		t.Errorf("GET /shop/ through the demo: %d %q, want the upstream's page", resp.StatusCode, body)
	}
}

// An --upstream where nothing listens is said at start, not discovered as a
// 502 in the browser; the demo still runs, for a site started later.
func TestUpstreamThatDoesNotAnswerIsReported(t *testing.T) {
	addr := testenv.ClosedAddr(t)
	d := startDemo(t, "--upstream", "http://"+addr)
	out := d.Stdout.String()
	for _, want := range []string{"Note:        --upstream: http://" + addr + " does not answer", "connection refused", "Start your site there"} {
		if !strings.Contains(out, want) {
			t.Errorf("welcome text lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(d.Stderr.String(), "does not answer") {
		t.Errorf("the log does not carry the warning:\n%s", d.Stderr)
	}
	if resp, _ := get(t, http.DefaultClient, d.URL+"/"); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("GET / = %d, want 502 while the site is down", resp.StatusCode)
	}

	// A site that answers, even with an error, draws no warning.
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }))
	defer site.Close()
	if out := startDemo(t, "--upstream", site.URL).Stdout.String(); strings.Contains(out, "does not answer") {
		t.Errorf("a site answering 404 was reported as not answering:\n%s", out)
	}
}

func TestRealWidgetFlagsReplaceTheSimulatedWidget(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, "--state", dir,
		"--widget-app-id", "11111111-2222-3333-4444-555555555555",
		"--widget-org-id", "66666666-7777-8888-9999-000000000000",
		"--widget-org-url", "https://org.omnichannelengagementhub.com")
	out := d.Stdout.String()
	if !strings.Contains(out, "your Omnichannel widget") || strings.Contains(out, "SIMULATED") {
		t.Errorf("welcome text does not describe the real widget:\n%s", out)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"src: " + defaultWidgetSrc, "app_id: 11111111-2222-3333-4444-555555555555", "org_url: https://org.omnichannelengagementhub.com"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config.yaml lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(string(cfg), "data-demo-") {
		t.Errorf("config.yaml carries the simulated widget's attributes:\n%s", cfg)
	}
}
