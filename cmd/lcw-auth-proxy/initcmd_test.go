package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// initSite is an OP, an upstream and a free address for a proxy that init
// configures: what a person has before running init.
type initSite struct {
	op                 *testenv.OP
	upstream           *httptest.Server
	listen, public     string
	clientSecretFile   string
	flags              []string // init's flags for this site
	upstreamSawSignIns chan string
}

func newInitSite(t *testing.T) *initSite {
	t.Helper()
	s := &initSite{upstreamSawSignIns: make(chan string, 10)}
	s.listen = testenv.FreeAddr(t) // the proxy listens here, after init wrote it
	s.public = "http://" + s.listen
	s.op = testenv.StartOP(t, testenv.OPOptions{
		RedirectURIs:           []string{s.public + "/_lcw/callback"},
		PostLogoutRedirectURIs: []string{s.public + "/"},
	})
	s.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><html><head><title>shop</title></head><body>the shop</body></html>")
	}))
	t.Cleanup(s.upstream.Close)
	s.clientSecretFile = writeTemp(t, "client-secret", s.op.ClientSecret+"\n")
	s.flags = []string{
		"--public-url", s.public, "--upstream", s.upstream.URL, "--issuer", s.op.Issuer,
		"--client-id", s.op.ClientID, "--client-secret-file", s.clientSecretFile, "--listen", s.listen,
	}
	return s
}

// waitReady waits for the proxy at url to have loaded the IdP's discovery
// document: a sign-in before that is answered 503, as it should be.
// Readiness does not wait for the IdP (it is shared by every replica), so
// the sign-in endpoint itself is asked.
func waitReady(t *testing.T, url string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get(url + "/_lcw/login?rd=/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusFound {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sign-in at %s not available after 20s (last: %v)", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signIn logs the VIP in through the proxy at url and returns what
// {prefix}/session says.
func signIn(t *testing.T, url string) map[string]any {
	t.Helper()
	waitReady(t, url)
	c := testenv.NewBrowserClient(t)
	resp := testenv.Login(t, c, url+"/_lcw/login?rd=/", testenv.VIPUsername, testenv.VIPPassword)
	body, _ := io.ReadAll(resp.Body)
	if resp.Request.URL.String() != url+"/" || !strings.Contains(string(body), "the shop") {
		t.Fatalf("sign-in ended at %s with %q, want the shop's home page", resp.Request.URL, body)
	}
	resp = testenv.Do(t, c, http.MethodGet, url+"/_lcw/session", map[string]string{"Accept": "application/json", "Sec-Fetch-Site": "same-origin"})
	defer resp.Body.Close()
	var session map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&session); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/_lcw/session: %d %v", resp.StatusCode, err)
	}
	return session
}

// The real starting point: init writes a configuration that check-config
// accepts and that serves a real sign-in against a real OpenID provider.
func TestInitConfigSignsIn(t *testing.T) {
	s := newInitSite(t)
	dir := filepath.Join(t.TempDir(), "site")
	out, stderr, err := runCmd(t, nil, append([]string{"init", "--out", dir}, s.flags...)...)
	if err != nil {
		t.Fatalf("init: %v\n%s%s", err, out, stderr)
	}
	for _, want := range []string{
		"Redirect URI:              " + s.public + "/_lcw/callback\n",
		"Post-logout redirect URI:  " + s.public + "/\n",
		"Back-channel logout URI:   " + s.public + "/_lcw/backchannel-logout\n",
		"Front-channel logout URI:  " + s.public + "/_lcw/frontchannel-logout\n",
		"(when the server-side session store is enabled)",
		"Public key URL:              " + s.public + "/_lcw/public-keys\n",
		"or " + s.public + "/_lcw/public-key.pem)",
		"JavaScript client function:  lcwAuth.getAuthenticationToken\n",
		"lcw-auth-proxy check-config --config " + filepath.Join(dir, "config.yaml") + " --online\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Before serving") {
		t.Errorf("init reports problems with its own configuration:\n%s", out)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if out, _, err := runCmd(t, nil, "check-config", "--config", cfgPath, "--online"); err != nil {
		t.Fatalf("check-config --online of init's configuration: %v\n%s", err, out)
	}

	// Served from another directory: its relative paths are the config's.
	t.Chdir(t.TempDir())
	p := startProxy(t, cfgPath, nil)
	if p.URL != s.public {
		t.Fatalf("the proxy listens on %s, want %s (init's --listen)", p.URL, s.public)
	}
	session := signIn(t, p.URL)
	if session["subject"] == "" || session["subject"] == nil {
		t.Errorf("session %v has no subject", session)
	}
	pem := testenv.Do(t, &http.Client{}, http.MethodGet, p.URL+"/_lcw/public-key.pem", nil)
	defer pem.Body.Close()
	served, _ := io.ReadAll(pem.Body)
	written, _ := os.ReadFile(filepath.Join(dir, "lcw-signing-key.pub.pem"))
	if !bytes.Equal(served, written) {
		t.Errorf("the public key URL serves\n%s\nwant the key init wrote\n%s", served, written)
	}
}

func TestInitAsksInATerminalOnly(t *testing.T) {
	s := newInitSite(t)

	t.Run("no terminal: the missing flags are named", func(t *testing.T) {
		_, _, err := runCmd(t, nil, "init", "--out", t.TempDir(), "--upstream", s.upstream.URL)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "init: missing --public-url, --issuer, --client-id (give them as flags, or run init in a terminal to be asked)") {
			t.Fatalf("init without flags, not in a terminal: %v", err)
		}
	})

	t.Run("terminal: every value is asked, a wrong one again", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "site")
		answers := strings.Join([]string{
			"shop.example.com", // not an origin: asked again
			s.public,
			s.upstream.URL,
			s.op.Issuer,
			s.op.ClientID,
			s.clientSecretFile,
			"", // no widget
			"", "",
		}, "\n") + "\n"
		p := process{getenv: func(string) string { return "" }, stdin: strings.NewReader(answers), interactive: true}
		var stdout, prompts bytes.Buffer
		if err := runProcess(context.Background(), []string{"init", "--out", dir, "--listen", s.listen}, p, &stdout, &prompts); err != nil {
			t.Fatalf("init: %v\nprompts:\n%s", err, prompts.String())
		}
		if !strings.Contains(prompts.String(), "must be an origin") || strings.Count(prompts.String(), "Public URL of the site") != 2 {
			t.Errorf("the wrong public URL was not asked again:\n%s", prompts.String())
		}
		text, _ := os.ReadFile(filepath.Join(dir, "config.yaml"))
		if !strings.Contains(string(text), "issuer: "+s.op.Issuer+"\n") || !strings.Contains(string(text), "# widget:") {
			t.Errorf("config.yaml does not hold the answers:\n%s", text)
		}
		if out, _, err := runCmd(t, nil, "check-config", "--config", filepath.Join(dir, "config.yaml")); err != nil {
			t.Fatalf("check-config: %v\n%s", err, out)
		}
	})

	t.Run("input ends before the answers do", func(t *testing.T) {
		p := process{getenv: func(string) string { return "" }, stdin: strings.NewReader(s.public + "\n"), interactive: true}
		err := runProcess(context.Background(), []string{"init", "--out", t.TempDir()}, p, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "no answer for --upstream") {
			t.Fatalf("init with too few answers: %v", err)
		}
	})
}

func TestInitRefusals(t *testing.T) {
	s := newInitSite(t)
	dir := t.TempDir()
	if _, _, err := runCmd(t, nil, append([]string{"init", "--out", dir, "--idp", "keycloak"}, s.flags...)...); err != nil {
		t.Fatalf("init: %v", err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"existing files", append([]string{"init", "--out", dir}, s.flags...), "already holds config.yaml"},
		{"unknown IdP", append([]string{"init", "--out", t.TempDir(), "--idp", "ping"}, s.flags...), `--idp "ping": use one of entra, entra-multitenant, entra-external-id, azure-ad-b2c, keycloak, okta, auth0, google, cognito, adfs, dex, or leave it out`},
		{"half a widget", append([]string{"init", "--out", t.TempDir(), "--widget-app-id", "a"}, s.flags...), "--widget-app-id, --widget-org-id and --widget-org-url together"},
		{"a public URL with a path", []string{"init", "--out", t.TempDir(), "--public-url", "https://a.test/shop", "--upstream", "http://x", "--issuer", "https://i.test", "--client-id", "c"}, "--public-url: must be an origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCmd(t, nil, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("init %v: %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
	// With --force the same command replaces them.
	if _, _, err := runCmd(t, nil, append([]string{"init", "--out", dir, "--force"}, s.flags...)...); err != nil {
		t.Fatalf("init --force: %v", err)
	}
	// A directory others can write to: refused with the fix, unless --force.
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, nil, append([]string{"init", "--out", shared}, s.flags...)...); err == nil ||
		!strings.Contains(err.Error(), shared+" is writable by every user") || !strings.Contains(err.Error(), "chmod o-w "+shared) {
		t.Fatalf("init into a world-writable directory: %v, want a refusal naming it and chmod o-w", err)
	}
	out, _, err := runCmd(t, nil, append([]string{"init", "--out", shared, "--force"}, s.flags...)...)
	if err != nil || !strings.Contains(out, "Note: written although "+shared+" is writable by every user") {
		t.Fatalf("init --force into a world-writable directory: %v\n%s", err, out)
	}
	// Google's issuer is fixed: --issuer may be left out.
	out, _, err = runCmd(t, nil, "init", "--out", t.TempDir(), "--idp", "google", "--public-url", "https://a.test", "--upstream", "http://127.0.0.1:1", "--client-id", "c.apps.googleusercontent.com")
	if err != nil || !strings.Contains(out, "deploy/examples/google.yaml") {
		t.Fatalf("init --idp google without --issuer: %v\n%s", err, out)
	}
}
