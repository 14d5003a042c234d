package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// v1Sessions are sessions sealed by the proxy before issue 22 (format 1:
// every claim; in the cookie, the ID token too), minted by that version's
// own code (auth/session/testdata/v1-generator.go.txt, run at commit
// 48946f5) for an Entra ID sign-in with 60 groups and a 4.6 KB ID token:
// the cookie store's 4 cookies, and the Redis store's ticket with every
// key it wrote.
type v1Sessions struct {
	Secret      string         `json:"secret"`
	CookieStore string         `json:"cookie_store"`
	RedisCookie string         `json:"redis_cookie"`
	RedisKeys   map[string]any `json:"redis_keys"`
	Session     struct {
		Sub string `json:"sub"`
		IDT string `json:"idt"`
	} `json:"session"`
}

func readV1Sessions(t *testing.T) (v1Sessions, []byte) {
	t.Helper()
	data, err := os.ReadFile("../../../auth/session/testdata/v1-sessions.json")
	if err != nil {
		t.Fatal(err)
	}
	var v v1Sessions
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	secret, err := base64.StdEncoding.DecodeString(v.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return v, secret
}

// get sends GET path with the Cookie header cookie, not following
// redirects.
func (e *env) get(t *testing.T, path, cookie string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := noRedirect(http.DefaultClient).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// jar applies resp's Set-Cookie lines to the cookies of a Cookie header
// (name → value), as a browser would for the paths given.
func jar(cookies map[string]string, resp *http.Response) {
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(cookies, c.Name)
		} else {
			cookies[c.Name] = c.Value
		}
	}
}

func parseCookieHeader(h string) map[string]string {
	out := map[string]string{}
	for _, p := range strings.Split(h, "; ") {
		k, v, _ := strings.Cut(p, "=")
		out[k] = v
	}
	return out
}

func header(cookies map[string]string, names ...string) string {
	var parts []string
	for _, n := range names {
		if v, ok := cookies[n]; ok {
			parts = append(parts, n+"="+v)
		}
	}
	return strings.Join(parts, "; ")
}

// A cookie-store session of the previous format is read once and
// rewritten on its first response: one cookie under 4 KB with only the
// claims the configuration reads, the three chunk cookies expired, the ID
// token moved to the logout cookie, which RP-initiated logout then sends.
func TestUpgradeOldCookieSession(t *testing.T) {
	v, secret := readV1Sessions(t)
	e := startEnv(t, envOptions{Secret: secret, Extra: "headers:\n  pass: true\n"})
	cookies := parseCookieHeader(v.CookieStore)
	if len(cookies) != 4 || len(v.CookieStore) < 9000 {
		t.Fatalf("the fixture holds %d cookies (%d bytes), want the old format's 4", len(cookies), len(v.CookieStore))
	}

	resp, body := e.get(t, "/shop", v.CookieStore)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "X-Forwarded-Email: jane.doe@contoso.com") {
		t.Fatalf("old session: %d\n%s", resp.StatusCode, body)
	}
	jar(cookies, resp)
	if len(cookies) != 2 || cookies["_lcw"] == "" || cookies["_lcw_logout"] == "" {
		t.Fatalf("after the first response the browser holds %v, want _lcw and _lcw_logout", keys(cookies))
	}
	for _, c := range resp.Cookies() {
		if c.Name == "_lcw_logout" && c.Path != "/_lcw/logout" {
			t.Errorf("logout cookie path %q, want /_lcw/logout", c.Path)
		}
	}
	perRequest := header(cookies, "_lcw")
	if n := len(perRequest); n > 4096 {
		t.Errorf("the rewritten session cookie is %d bytes, want at most 4096", n)
	}
	t.Logf("Cookie header: %d bytes in 4 cookies before, %d bytes in 1 after", len(v.CookieStore), len(perRequest))
	if got := testutil.ToFloat64(e.App.Metrics().Logins.WithLabelValues("session_upgraded")); got != 1 {
		t.Errorf("session_upgraded = %v, want 1", got)
	}

	resp, body = e.get(t, "/shop", perRequest)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "X-Forwarded-Email: jane.doe@contoso.com") || len(resp.Cookies()) != 0 {
		t.Fatalf("rewritten session: %d, Set-Cookie %v\n%s", resp.StatusCode, resp.Header["Set-Cookie"], body)
	}
	resp, _ = e.get(t, "/_lcw/token", perRequest)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token with the rewritten session: %d", resp.StatusCode)
	}

	assertLogoutSendsIDToken(t, e, header(cookies, "_lcw", "_lcw_logout"), v.Session.IDT)
}

// A Redis record of the previous format is read once and replaced in
// place with today's format (the ticket cookie stays); the record keeps
// the ID token, which logout sends.
func TestUpgradeOldRedisSession(t *testing.T) {
	v, secret := readV1Sessions(t)
	r := testenv.StartRedis(t)
	record := ""
	for k, val := range v.RedisKeys {
		switch val := val.(type) {
		case string:
			if strings.HasPrefix(k, "lcw:s:{") {
				record = k
			}
			if _, err := r.Do("SET", k, val, "EX", fmt.Sprint(int(time.Until(time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)).Seconds()))); err != nil {
				t.Fatal(err)
			}
		case []any:
			for _, m := range val {
				if _, err := r.Do("SADD", k, m.(string)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	old, _ := r.Do("GET", record)
	section := "session:\n  secret: " + base64.StdEncoding.EncodeToString(secret) + "\n  store: redis\n  redis:\n    url: " + r.URL() + "\n"
	e := startEnv(t, envOptions{Secret: secret, Extra: "headers:\n  pass: true\n" + section})

	resp, body := e.get(t, "/shop", v.RedisCookie)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "X-Forwarded-Email: jane.doe@contoso.com") || len(resp.Cookies()) != 0 {
		t.Fatalf("old record: %d, Set-Cookie %v\n%s", resp.StatusCode, resp.Header["Set-Cookie"], body)
	}
	now, err := r.Do("GET", record)
	if err != nil || now == old || len(now) >= len(old) {
		t.Fatalf("the record was not rewritten smaller (%d bytes before, %d after, %v)", len(old), len(now), err)
	}
	t.Logf("Redis record: %d bytes before, %d after", len(old), len(now))
	resp, _ = e.get(t, "/shop", v.RedisCookie)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rewritten record: %d", resp.StatusCode)
	}
	if again, _ := r.Do("GET", record); again != now {
		t.Fatal("the record was rewritten a second time")
	}
	if got := testutil.ToFloat64(e.App.Metrics().Logins.WithLabelValues("session_upgraded")); got != 1 {
		t.Errorf("session_upgraded = %v, want 1", got)
	}
	assertLogoutSendsIDToken(t, e, v.RedisCookie, v.Session.IDT)
}

// assertLogoutSendsIDToken logs out with cookie and checks that the
// browser is sent to the IdP's end_session_endpoint with idToken as
// id_token_hint.
func assertLogoutSendsIDToken(t *testing.T, e *env, cookie, idToken string) {
	t.Helper()
	resp, _ := e.get(t, "/_lcw/logout", cookie)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), e.OP.Issuer) {
		t.Fatalf("logout: %d to %q, want the IdP's end_session_endpoint", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := loc.Query().Get("id_token_hint"); got != idToken {
		t.Fatalf("id_token_hint is %d bytes, want the session's ID token (%d bytes)", len(got), len(idToken))
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
