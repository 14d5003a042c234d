package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// startRedisProxy starts it with the OP's opts (users); extra is more
// configuration (whole sections).
func startRedisProxy(t *testing.T, opts testenv.OPOptions, extra string) *redisProxy {
	t.Helper()
	redis := testenv.StartRedis(t)
	addr, public, op, upstream, secret := signInSite(t, opts)
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
%s`, addr, public, op.Issuer, op.ClientID, op.ClientSecret, secret, redis.URL(), extra))
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
	p := startRedisProxy(t, testenv.OPOptions{}, "")
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
	if len(lines) != 3 || !regexp.MustCompile(`^ID\s+EMAIL\s+NAME\s+CREATED\s+EXPIRES\s+LAST REFRESH\s+SID$`).MatchString(lines[0]) {
		t.Fatalf("list: want a header and two rows:\n%s", out)
	}
	row := regexp.MustCompile(`^[A-Za-z0-9_-]{8}\s+"vip@example\.com"\s+"Vera Important"\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+-\s+[A-Za-z0-9_-]{22}$`)
	for _, l := range lines[1:] {
		if !row.MatchString(l) {
			t.Errorf("row %q: want id prefix, email, name, created, expires, no refresh yet, sid", l)
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
		if !slices.Equal(keys, []string{"created_at", "email", "expires_at", "id", "name", "sid"}) {
			t.Errorf("a listed session has %v, want only id, email, name, created_at, expires_at, sid (no tokens, no other claims)", keys)
		}
		if s["email"] != "vip@example.com" || s["name"] != "Vera Important" {
			t.Errorf("listed email %v, name %v; want the VIP's", s["email"], s["name"])
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
	closed := testenv.ClosedAddr(t)
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
		{"no sub", []string{"sessions", "revoke", "--config", cookieStore}, true, []string{"--sub SUB (the user's sub claim) or --email ADDRESS is required"}},
		{"sub and email", []string{"sessions", "list", "--config", cookieStore, "--sub", "x", "--email", "x@example.com"}, true, []string{"--sub or --email, not both"}},
		{"empty email", []string{"sessions", "revoke", "--config", cookieStore, "--email", " "}, true, []string{"--email is empty"}},
		{"cookie store by email", []string{"sessions", "revoke", "--config", cookieStore, "--email", "x@example.com"}, false, []string{`session.store is "cookie"`, "session.store: redis"}},
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

// An operator who knows only the address finds and ends a person's
// sessions: --email in any letter case lists both of alice's devices (with
// her subject, email and name) and revokes them; an address with glob
// characters finds only itself, never the address its pattern would
// match. The sign-in log names the address by its hash (log.email's
// default), which the operator computes from the address.
func TestSessionsByEmail(t *testing.T) {
	users := []testenv.User{
		{ID: "alice-sub", Username: "alice", Password: "alice-password", FirstName: "Alice", LastName: "Smith", Email: "Alice.Smith@Example.COM", EmailVerified: true},
		{ID: "glob-sub", Username: "glob", Password: "glob-password", FirstName: "Glob", LastName: "Star", Email: "a*[x]?@example.com", EmailVerified: true},
		// What "a*[x]?@example.com" matches as a glob pattern.
		{ID: "decoy-sub", Username: "decoy", Password: "decoy-password", FirstName: "Dee", LastName: "Coy", Email: "abxc@example.com", EmailVerified: true},
	}
	p := startRedisProxy(t, testenv.OPOptions{Users: users}, "")
	laptop := p.login(t, "alice", "alice-password")
	phone := p.login(t, "alice", "alice-password")
	glob := p.login(t, "glob", "glob-password")
	decoy := p.login(t, "decoy", "decoy-password")

	out, _, err := runCmd(t, nil, "sessions", "list", "--config", p.Config, "--email", "alice.smith@example.com")
	if err != nil {
		t.Fatalf("sessions list --email: %v", err)
	}
	t.Logf("sessions list --email:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^ID\s+SUB\s+EMAIL\s+NAME\s+CREATED`).MatchString(lines[0]) {
		t.Fatalf("list --email: want a header with SUB and two rows:\n%s", out)
	}
	for _, l := range lines[1:] {
		if !regexp.MustCompile(`^[A-Za-z0-9_-]{8}\s+"alice-sub"\s+"Alice\.Smith@Example\.COM"\s+"Alice Smith"\s+\d{4}-`).MatchString(l) {
			t.Errorf("row %q: want alice's subject, email as signed in, name", l)
		}
	}

	out, _, err = runCmd(t, nil, "sessions", "list", "--config", p.Config, "--email", "a*[x]?@example.com", "--json")
	var listed []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil {
		t.Fatalf("list --email --json: %v\n%s", err, out)
	}
	if len(listed) != 1 || listed[0]["sub"] != "glob-sub" || listed[0]["email"] != "a*[x]?@example.com" || listed[0]["name"] != "Glob Star" {
		t.Errorf("list --email a*[x]?@…: %v, want only that user's one session", listed)
	}

	out, _, err = runCmd(t, nil, "sessions", "revoke", "--config", p.Config, "--email", "ALICE.SMITH@example.com")
	if err != nil || out != "revoked 2 session(s) of email \"ALICE.SMITH@example.com\"\n" {
		t.Fatalf("sessions revoke --email: %v %q", err, out)
	}
	for _, c := range []*http.Client{laptop, phone} {
		if !p.signedOut(t, c) {
			t.Error("a device of alice still works after revoke --email")
		}
	}
	out, _, err = runCmd(t, nil, "sessions", "revoke", "--config", p.Config, "--email", "a*[x]?@example.com")
	if err != nil || !strings.HasPrefix(out, "revoked 1 ") {
		t.Fatalf("revoke --email a*[x]?@…: %v %q", err, out)
	}
	if !p.signedOut(t, glob) {
		t.Error("the glob user's session still works")
	}
	if !p.signedIn(t, decoy) {
		t.Error("revoking a*[x]?@example.com ended abxc@example.com's session: the address was read as a pattern")
	}
	out, _, err = runCmd(t, nil, "sessions", "list", "--config", p.Config, "--email", "alice.smith@example.com")
	if err != nil || out != "no sessions of email \"alice.smith@example.com\"\n" {
		t.Errorf("list after revoke: %v %q", err, out)
	}

	// The sign-in log: the subject and the hash of the lower-cased
	// address, never the address.
	sum := sha256.Sum256([]byte("alice.smith@example.com"))
	logins := p.Logs.lines("login")
	found := 0
	for _, l := range logins {
		if l["sub"] == "alice-sub" {
			found++
			if l["email_sha256"] != hex.EncodeToString(sum[:]) {
				t.Errorf("login line %v: want email_sha256 %x", l, sum)
			}
		}
	}
	if found != 2 {
		t.Errorf("%d login lines of alice, want 2: %v", found, logins)
	}
	if strings.Contains(strings.ToLower(p.Logs.String()), "alice.smith@example.com") {
		t.Error("the log holds alice's address in clear with log.email: hash")
	}
}

// log.email: plain names the address; off names none.
func TestSignInLogEmail(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"plain", "off"} {
		t.Run(mode, func(t *testing.T) {
			p := startRedisProxy(t, testenv.OPOptions{}, "log:\n  email: "+mode+"\n")
			p.login(t, testenv.VIPUsername, testenv.VIPPassword)
			logins := p.Logs.lines("login")
			if len(logins) != 1 {
				t.Fatalf("%d login lines, want 1", len(logins))
			}
			l := logins[0]
			if _, hashed := l["email_sha256"]; hashed {
				t.Errorf("log.email: %s logged a hash: %v", mode, l)
			}
			if want := map[string]any{"plain": "vip@example.com", "off": nil}[mode]; l["email"] != want {
				t.Errorf("log.email: %s logged email %v, want %v", mode, l["email"], want)
			}
		})
	}
}
