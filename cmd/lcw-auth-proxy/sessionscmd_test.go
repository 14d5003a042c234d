package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// redisProxy is the whole program serving with sessions in a real Redis,
// signed in through a real OP, and the config file the sessions command
// reads.
type redisProxy struct {
	*runningProxy
	Config string
	OP     *testenv.OP
}

func startRedisProxy(t *testing.T) *redisProxy {
	t.Helper()
	redis := testenv.StartRedis(t)
	addr, public, op, upstream, secret := signInSite(t, testenv.OPOptions{})
	path := baseConfig(t, upstream, fmt.Sprintf(`listen: %s
public_url: %s
oidc:
  issuer: %s
  client_id: %s
  client_secret: %s
  scopes: [openid, profile, email, offline_access]
session:
  secret: %s
  store: redis
  redis:
    url: %s
`, addr, public, op.Issuer, op.ClientID, op.ClientSecret, secret, redis.URL()))
	p := startProxy(t, path, nil)
	if p.URL != public {
		t.Fatalf("proxy listens on %s, want %s", p.URL, public)
	}
	return &redisProxy{runningProxy: p, Config: path, OP: op}
}

// login signs username in through the proxy and returns the browser.
func (p *redisProxy) login(t *testing.T, username, password string) *http.Client {
	t.Helper()
	c := testenv.NewBrowserClient(t)
	waitReady(t, p.URL) // discovery runs in the background after start
	if resp := testenv.Login(t, c, p.URL+"/_lcw/login?rd=/", username, password); resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		t.Fatalf("login ended at %s with %d", resp.Request.URL, resp.StatusCode)
	}
	return c
}

// signedIn reports whether the browser's session is alive, asking the
// token endpoint without minting a token.
func (p *redisProxy) signedIn(t *testing.T, c *http.Client) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, p.URL+"/_lcw/token", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// signedOut waits a moment for the browser's session to end: the proxy
// serves records from its client-side cache until Redis's invalidation
// message for the deleted record reaches it.
func (p *redisProxy) signedOut(t *testing.T, c *http.Client) bool {
	t.Helper()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if !p.signedIn(t, c) {
			return true
		}
	}
	return false
}

// An operator lists a user's sessions (two sign-ins: two rows, with the
// IdP's sid, never a token) and revokes them: the user's browsers are signed
// out at once, other users are not.
func TestSessionsListAndRevoke(t *testing.T) {
	p := startRedisProxy(t)
	vip := testenv.SubjectOf(t, p.OP, testenv.VIPUsername)
	laptop := p.login(t, testenv.VIPUsername, testenv.VIPPassword)
	phone := p.login(t, testenv.VIPUsername, testenv.VIPPassword)
	other := p.login(t, testenv.CustomerUsername, testenv.CustomerPassword)

	out, _, err := runCmd(t, nil, "sessions", "list", "--config", p.Config, "--sub", vip)
	if err != nil {
		t.Fatalf("sessions list: %v", err)
	}
	t.Logf("sessions list:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^ID\s+CREATED\s+EXPIRES\s+LAST REFRESH\s+SID$`).MatchString(lines[0]) {
		t.Fatalf("list: want a header and two rows:\n%s", out)
	}
	row := regexp.MustCompile(`^[A-Za-z0-9_-]{8}\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+-\s+[A-Za-z0-9_-]{22}$`)
	for _, l := range lines[1:] {
		if !row.MatchString(l) {
			t.Errorf("row %q: want id prefix, created, expires, no refresh yet, sid", l)
		}
	}

	out, _, err = runCmd(t, nil, "sessions", "list", "--config", p.Config, "--sub", vip, "--json")
	if err != nil {
		t.Fatalf("sessions list --json: %v", err)
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("list --json is not a JSON array: %v\n%s", err, out)
	}
	if len(listed) != 2 {
		t.Fatalf("list --json: %d sessions, want 2:\n%s", len(listed), out)
	}
	for _, s := range listed {
		var keys []string
		for k := range s {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"created_at", "expires_at", "id", "sid"}) {
			t.Errorf("a listed session has %v, want only id, created_at, expires_at, sid (no tokens, no claims)", keys)
		}
	}
	if listed[0]["sid"] == listed[1]["sid"] {
		t.Errorf("two sign-ins share the sid %v", listed[0]["sid"])
	}

	out, _, err = runCmd(t, nil, "sessions", "revoke", "--config", p.Config, "--sub", vip)
	if err != nil || out != fmt.Sprintf("revoked 2 session(s) of %q\n", vip) {
		t.Fatalf("sessions revoke: %v %q", err, out)
	}
	for _, c := range []*http.Client{laptop, phone} {
		if !p.signedOut(t, c) {
			t.Error("a revoked session still works")
		}
	}
	if !p.signedIn(t, other) {
		t.Error("another user's session ended too")
	}
	out, _, err = runCmd(t, nil, "sessions", "list", "--config", p.Config, "--sub", vip)
	if err != nil || out != fmt.Sprintf("no sessions of %q\n", vip) {
		t.Errorf("list after revoke: %v %q", err, out)
	}
	out, _, err = runCmd(t, nil, "sessions", "list", "--config", p.Config, "--sub", vip, "--json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("list --json after revoke: %v %q, want []", err, out)
	}
	out, _, err = runCmd(t, nil, "sessions", "revoke", "--config", p.Config, "--sub", vip)
	if err != nil || !strings.HasPrefix(out, "revoked 0 ") {
		t.Errorf("revoke again: %v %q", err, out)
	}
}

func TestSessionsCommandErrors(t *testing.T) {
	cookieStore := baseConfig(t, "http://127.0.0.1:8080", "")
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	noRedis := baseConfig(t, "http://127.0.0.1:8080", fmt.Sprintf("session:\n  secret: %s\n  store: redis\n  redis:\n    url: redis://%s\n    dial_timeout: 500ms\n",
		base64.StdEncoding.EncodeToString(secret), closed))
	tests := []struct {
		name  string
		args  []string
		usage bool // exit status 2
		wants []string
	}{
		{"no action", []string{"sessions"}, true, []string{"list or revoke"}},
		{"unknown action", []string{"sessions", "delete", "--sub", "x"}, true, []string{"list or revoke"}},
		{"no sub", []string{"sessions", "revoke", "--config", cookieStore}, true, []string{"--sub SUB is required"}},
		{"no config", []string{"sessions", "revoke", "--sub", "x"}, true, []string{"--config FILE is required"}},
		{"json with revoke", []string{"sessions", "revoke", "--config", cookieStore, "--sub", "x", "--json"}, true, []string{"--json is for list"}},
		{"cookie store", []string{"sessions", "list", "--config", cookieStore, "--sub", "x"}, false, []string{`session.store is "cookie"`, "session.store: redis"}},
		{"Redis unreachable", []string{"sessions", "revoke", "--config", noRedis, "--sub", "x"}, false, []string{"cannot reach Redis"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCmd(t, nil, tt.args...)
			if err == nil {
				t.Fatalf("succeeded with %q, want an error", out)
			}
			if got := exitCode(err); (got == 2) != tt.usage || got == 0 {
				t.Errorf("exit status %d for %v", got, err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
