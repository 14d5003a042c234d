package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

const silentExtra = "access:\n  mode: optional\n  silent_sign_in: true\n  public_paths: [/public/]\n"

// hops follows a navigation by hand and returns every URL it visited, so a
// test can count the round trips through the IdP.
func hops(t *testing.T, c *http.Client, start string, hdr map[string]string) ([]string, *http.Response) {
	t.Helper()
	var seen []string
	u := start
	for range 12 {
		seen = append(seen, u)
		resp := testenv.Do(t, noRedirect(c), "GET", u, hdr)
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			return seen, resp
		}
		body(t, resp)
		next, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		u = next.String()
	}
	t.Fatalf("a redirect loop: %v", seen)
	return nil, nil
}

func throughIdP(seen []string, issuer string) int {
	n := 0
	for _, u := range seen {
		if p, err := url.Parse(u); err == nil && strings.HasPrefix(u, issuer) && p.Path == "/authorize" {
			n++
		}
	}
	return n
}

var topLevel = map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "none"}

// Not signed in at the IdP: one round trip with prompt=none, the page
// anonymous at the same URL (query kept), and never again in that browser
// session.
func TestSilentSignInNotSignedInAtIdP(t *testing.T) {
	e := startEnv(t, envOptions{Extra: silentExtra})
	c := testenv.NewBrowserClient(t)
	seen, resp := hops(t, c, e.URL+"/shop?item=7&x=1", topLevel)
	page := body(t, resp)
	if resp.StatusCode != http.StatusOK || seen[len(seen)-1] != e.URL+"/shop?item=7&x=1" || !strings.Contains(page, "upstream saw GET /shop?item=7&x=1") {
		t.Fatalf("ended at %s (%d):\n%s\nhops %v", seen[len(seen)-1], resp.StatusCode, page, seen)
	}
	if n := throughIdP(seen, e.OP.Issuer); n != 1 {
		t.Fatalf("%d round trips through the IdP, want exactly 1: %v", n, seen)
	}
	for _, u := range seen {
		if q, _ := url.Parse(u); q.Path == "/authorize" {
			if q.Query().Get("prompt") != "none" {
				t.Errorf("the IdP round trip is not prompt=none: %s", u)
			}
		}
	}
	if strings.Contains(page, "X-Forwarded-User: 3") {
		t.Errorf("anonymous page carries an identity:\n%s", page)
	}
	// The next navigations make no round trip at all.
	for _, p := range []string{"/shop", "/other", "/public/x"} {
		seen, resp := hops(t, c, e.URL+p, topLevel)
		if len(seen) != 1 || resp.StatusCode != http.StatusOK {
			t.Errorf("%s after the silent attempt: hops %v, status %d", p, seen, resp.StatusCode)
		}
	}
	if n := testutil.ToFloat64(e.App.Metrics().Logins.WithLabelValues("silent_login_required")); n != 1 {
		t.Errorf("silent_login_required = %v, want 1", n)
	}
}

// Never for scripts, frames, non-GET, the proxy's own endpoints, or
// visitors who are signed in.
func TestSilentSignInOnlyForTopLevelPageLoads(t *testing.T) {
	e := startEnv(t, envOptions{Extra: silentExtra})
	cases := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
	}{
		{"fetch", "GET", "/api", map[string]string{"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty", "Accept": "application/json"}},
		{"XHR", "GET", "/api", map[string]string{"X-Requested-With": "XMLHttpRequest", "Accept": "text/html"}},
		{"iframe", "GET", "/widget", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe", "Accept": "text/html"}},
		{"image", "GET", "/logo.png", map[string]string{"Sec-Fetch-Dest": "image"}},
		{"POST form", "POST", "/form", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": "text/html"}},
		{"HEAD", "HEAD", "/shop", topLevel},
		{"the proxy's own endpoint", "GET", "/_lcw/session", topLevel},
	}
	for _, tt := range cases {
		resp := testenv.Do(t, noRedirect(testenv.NewBrowserClient(t)), tt.method, e.URL+tt.path, tt.hdr)
		body(t, resp)
		if resp.StatusCode == http.StatusFound {
			t.Errorf("%s: redirected to %s", tt.name, resp.Header.Get("Location"))
		}
	}
	// A signed-in visitor is never sent through the IdP again.
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	if seen, _ := hops(t, c, e.URL+"/shop", topLevel); len(seen) != 1 {
		t.Errorf("signed in: hops %v", seen)
	}
}

// Cookies blocked: the marker never comes back, so the browser is sent
// back at once instead of to the IdP, and nothing loops.
func TestSilentSignInWithCookiesBlocked(t *testing.T) {
	e := startEnv(t, envOptions{Extra: silentExtra})
	noJar := &http.Client{}
	for range 2 { // every navigation: bounded, never through the IdP
		seen, resp := hops(t, noJar, e.URL+"/shop?a=1", topLevel)
		page := body(t, resp)
		if resp.StatusCode != http.StatusOK || throughIdP(seen, e.OP.Issuer) != 0 || len(seen) > 3 {
			t.Fatalf("cookies blocked: status %d, hops %v", resp.StatusCode, seen)
		}
		// The skip marker never reaches the site.
		if !strings.Contains(page, "upstream saw GET /shop?a=1\n") {
			t.Errorf("the site saw:\n%s", page)
		}
	}
}

// The IdP down: the page is served anonymous at once, once; nothing loops.
func TestSilentSignInWithIdPDown(t *testing.T) {
	e := startEnv(t, envOptions{Extra: silentExtra})
	e.OP.Stop()
	c := testenv.NewBrowserClient(t)
	seen, resp := hops(t, c, e.URL+"/shop", topLevel)
	if body(t, resp); resp.StatusCode != http.StatusOK || len(seen) > 3 {
		t.Fatalf("IdP down: status %d, hops %v", resp.StatusCode, seen)
	}
	if seen, _ := hops(t, c, e.URL+"/next", topLevel); len(seen) != 1 {
		t.Errorf("second navigation with the IdP down: hops %v", seen)
	}
}

// The silent round trip's rd is as strict as the login's.
func TestSilentSignInRedirectIsSameSite(t *testing.T) {
	e := startEnv(t, envOptions{Extra: silentExtra})
	c := testenv.NewBrowserClient(t)
	for _, rd := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example"} {
		resp := testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/silent?rd="+url.QueryEscape(rd), topLevel)
		body(t, resp)
		loc := resp.Header.Get("Location")
		if strings.Contains(loc, "evil.example") && !strings.HasPrefix(loc, e.OP.Issuer) {
			t.Errorf("rd %q sent the browser to %q", rd, loc)
		}
	}
}

// Signed in at the IdP already (its own browser session): the first page
// load comes back signed in, with no click, at the same URL.
func TestSilentSignInSignedInAtIdP(t *testing.T) {
	e := startEnv(t, envOptions{OP: testenv.OPOptions{RememberBrowser: true}, Extra: silentExtra + "headers:\n  pass: true\n"})
	// A sign-in at the IdP (through the proxy), then a browser that kept
	// only the IdP's cookie: the proxy's session is gone.
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	fresh := idpSessionOnly(t, e, c)
	seen, resp := hops(t, fresh, e.URL+"/account?tab=orders", topLevel)
	page := body(t, resp)
	if resp.StatusCode != http.StatusOK || seen[len(seen)-1] != e.URL+"/account?tab=orders" ||
		!strings.Contains(page, "X-Forwarded-Email: vip@example.com") {
		t.Fatalf("silent sign-in: ended at %s (%d) after %v:\n%s", seen[len(seen)-1], resp.StatusCode, seen, page)
	}
	if n := throughIdP(seen, e.OP.Issuer); n != 1 {
		t.Errorf("%d round trips through the IdP, want 1", n)
	}
	if r := testenv.Do(t, fresh, "GET", e.URL+"/_lcw/token", map[string]string{"Sec-Fetch-Site": "same-origin"}); r.StatusCode != http.StatusOK {
		t.Errorf("token after silent sign-in: %d", r.StatusCode)
	}
	if n := testutil.ToFloat64(e.App.Metrics().Logins.WithLabelValues("silent_success")); n != 1 {
		t.Errorf("silent_success = %v, want 1", n)
	}
}

// idpSessionOnly is a fresh browser holding only c's session at the IdP
// (the OP must run with RememberBrowser): signed in there, not at the proxy.
func idpSessionOnly(t *testing.T, e *env, c *http.Client) *http.Client {
	t.Helper()
	op, _ := url.Parse(e.OP.Issuer)
	fresh := testenv.NewBrowserClient(t)
	var kept int
	for _, ck := range c.Jar.Cookies(op) {
		if ck.Name == "devidp_session" {
			fresh.Jar.SetCookies(op, []*http.Cookie{ck})
			kept++
		}
	}
	if kept != 1 {
		t.Fatalf("the IdP set no browser session cookie")
	}
	return fresh
}
