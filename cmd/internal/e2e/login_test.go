package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var navigate = map[string]string{"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate"}

func TestLoginThenProxiedPage(t *testing.T) {
	e := startEnv(t, envOptions{Extra: "headers:\n  pass: true\n"})
	c := testenv.NewBrowserClient(t)
	// An anonymous navigation is sent to the login with the page as rd; the
	// whole chain ends on the page itself.
	first := testenv.Do(t, noRedirect(c), "GET", e.URL+"/shop/cart?item=1", navigate)
	if first.StatusCode != http.StatusFound || first.Header.Get("Location") != "/_lcw/login?rd="+url.QueryEscape("/shop/cart?item=1") {
		t.Fatalf("anonymous navigation: %d Location %q", first.StatusCode, first.Header.Get("Location"))
	}
	resp := testenv.Login(t, c, e.URL+first.Header.Get("Location"), testenv.VIPUsername, testenv.VIPPassword)
	got := body(t, resp)
	if resp.Request.URL.Path != "/shop/cart" || !strings.Contains(got, "upstream saw GET /shop/cart?item=1") {
		t.Fatalf("after login ended at %s: %s", resp.Request.URL, got)
	}
	for _, want := range []string{"X-Forwarded-Email: vip@example.com", "X-Forwarded-Groups: vip,customers", "X-Forwarded-User: 3f1c9a52-"} {
		if !strings.Contains(got, want) {
			t.Errorf("upstream did not get %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "_lcw") {
		t.Errorf("the proxy's cookies reached the upstream:\n%s", got)
	}
	if _, err := e.cookie(c, "_lcw"); err != nil {
		t.Fatalf("no session cookie: %v", err)
	}
	// Forged identity headers from a signed-in browser are replaced.
	spoof := body(t, testenv.Do(t, c, "GET", e.URL+"/x", map[string]string{"X-Forwarded-Email": "admin@evil.com", "X_Forwarded_User": "admin"}))
	if strings.Contains(spoof, "evil") || strings.Contains(spoof, "admin") || !strings.Contains(spoof, "X-Forwarded-Email: vip@example.com") {
		t.Errorf("spoofed headers reached the upstream:\n%s", spoof)
	}
	if n := testutil.ToFloat64(e.App.Metrics().Logins.WithLabelValues("success")); n != 1 {
		t.Errorf("logins_total{success} = %v", n)
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	e := startEnv(t, envOptions{})
	c := testenv.NewBrowserClient(t)
	start := testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/login?rd=/", nil)
	var flow *http.Cookie
	for _, ck := range start.Cookies() {
		if strings.HasPrefix(ck.Name, "_lcw_flow_") {
			flow = ck
		}
	}
	if flow == nil || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || flow.Path != "/_lcw" || flow.MaxAge <= 0 || flow.MaxAge > 600 {
		t.Fatalf("flow cookie %+v", flow)
	}
	loc, _ := url.Parse(start.Header.Get("Location"))
	q := loc.Query()
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if q.Get(k) == "" {
			t.Errorf("authorization request lacks %s: %s", k, loc)
		}
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("redirect_uri") != e.URL+"/_lcw/callback" {
		t.Errorf("authorization request %s", loc)
	}
}

func TestNotSignedInAnswers(t *testing.T) {
	e := startEnv(t, envOptions{})
	c := noRedirect(&http.Client{})
	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		status int
	}{
		{"browser navigation redirects to login", "GET", "/page", navigate, http.StatusFound},
		{"html accept without fetch metadata redirects", "GET", "/page", map[string]string{"Accept": "text/html"}, http.StatusFound},
		{"fetch gets 401", "GET", "/api/x", map[string]string{"Sec-Fetch-Mode": "cors", "Accept": "*/*"}, http.StatusUnauthorized},
		{"json client gets 401", "GET", "/api/x", map[string]string{"Accept": "application/json"}, http.StatusUnauthorized},
		{"xhr gets 401", "GET", "/api/x", map[string]string{"X-Requested-With": "XMLHttpRequest", "Accept": "text/html"}, http.StatusUnauthorized},
		{"POST navigation gets 401", "POST", "/form", map[string]string{"Accept": "text/html"}, http.StatusUnauthorized},
		{"public path passes", "GET", "/public/logo.png", nil, http.StatusOK},
		{"public file passes", "GET", "/favicon.ico", nil, http.StatusOK},
		{"dot segments do not borrow a public prefix", "GET", "/public/../admin", nil, http.StatusUnauthorized},
		{"path parameters do not borrow a public prefix", "GET", "/public/..;/admin", nil, http.StatusUnauthorized},
		{"encoded slash does not borrow a public prefix", "GET", "/public%2F..%2Fadmin", nil, http.StatusUnauthorized},
		{"double-encoded dot segments do not borrow a public prefix", "GET", "/public/%252e%252e/secret", nil, http.StatusUnauthorized},
		{"overlong UTF-8 dots do not borrow a public prefix", "GET", "/public/%c0%ae%c0%ae/secret", nil, http.StatusUnauthorized},
		{"prefix look-alike is not public", "GET", "/publicity", nil, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.URL+"/", nil)
			req.URL.Opaque = tt.path // send the path exactly as written
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b := body(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.status == http.StatusUnauthorized && (resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(b, `"status":401`)) {
				t.Errorf("401 is not JSON: %s %s", resp.Header.Get("Content-Type"), b)
			}
			if tt.status == http.StatusFound && !strings.HasPrefix(resp.Header.Get("Location"), "/_lcw/login?rd=") {
				t.Errorf("Location %q", resp.Header.Get("Location"))
			}
		})
	}
}

func TestBadSessionCookiesAreAnonymous(t *testing.T) {
	e := startEnv(t, envOptions{})
	c, _ := e.login(t, testenv.CustomerUsername, testenv.CustomerPassword, "/")
	good, err := e.cookie(c, "_lcw")
	if err != nil {
		t.Fatal(err)
	}
	v := good.Value
	flip := []byte(v)
	flip[len(flip)/2] ^= 0x01
	tests := map[string]string{
		"tampered":      string(flip),
		"truncated":     v[:len(v)/2],
		"empty":         "",
		"garbage":       "%%%not-base64%%%",
		"tampered head": "AAAA" + v[4:],
		"huge":          strings.Repeat("A", 3500),
	}
	for name, val := range tests {
		t.Run(name, func(t *testing.T) {
			resp := testenv.Do(t, noRedirect(&http.Client{}), "GET", e.URL+"/page", map[string]string{"Cookie": "_lcw=" + val, "Accept": "text/html"})
			body(t, resp)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d, want the anonymous redirect", resp.StatusCode)
			}
		})
	}
	// The real cookie still works.
	if resp := testenv.Do(t, noRedirect(&http.Client{}), "GET", e.URL+"/page", map[string]string{"Cookie": "_lcw=" + v}); resp.StatusCode != 200 {
		t.Fatalf("valid cookie: %d", resp.StatusCode)
	}
}

func TestCallbackStateAttacks(t *testing.T) {
	e := startEnv(t, envOptions{})
	// Capture a real callback URL by stopping before the proxy's callback.
	c := testenv.NewBrowserClient(t)
	var callback string
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == "/_lcw/callback" && callback == "" {
			callback = req.URL.String()
		}
		return nil
	}
	testenv.Login(t, c, e.URL+"/_lcw/login?rd=/after", testenv.VIPUsername, testenv.VIPPassword)
	if callback == "" {
		t.Fatal("no callback seen")
	}
	// Replaying the same callback (same code, same state) fails: the flow
	// cookie is spent.
	resp := testenv.Do(t, noRedirect(c), "GET", callback, nil)
	if b := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "try again") {
		t.Fatalf("replayed callback: %d %s", resp.StatusCode, b)
	}
	// A callback whose state belongs to no flow of this browser fails, even
	// if the attacker's browser has a valid flow of its own.
	attacker := testenv.NewBrowserClient(t)
	testenv.Do(t, noRedirect(attacker), "GET", e.URL+"/_lcw/login?rd=/", nil)
	u, _ := url.Parse(callback)
	q := u.Query()
	q.Set("state", "forged-state-value-000000000000000")
	u.RawQuery = q.Encode()
	resp = testenv.Do(t, noRedirect(attacker), "GET", u.String(), nil)
	if body(t, resp); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("forged state: %d", resp.StatusCode)
	}
	// Errors from the IdP are shown by code only.
	resp = testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C/script%3E&state=x", nil)
	if b := body(t, resp); resp.StatusCode != http.StatusForbidden || strings.Contains(b, "<script>alert") || !strings.Contains(b, "access_denied") {
		t.Fatalf("idp error: %d %s", resp.StatusCode, b)
	}
	for _, reason := range []string{"state_missing", "idp_error"} {
		if n := testutil.ToFloat64(e.App.Metrics().Logins.WithLabelValues(reason)); n < 1 {
			t.Errorf("logins_total{%s} = %v", reason, n)
		}
	}
}

func TestParallelLoginsInTwoTabs(t *testing.T) {
	e := startEnv(t, envOptions{})
	c := testenv.NewBrowserClient(t)
	// Tab 1 and tab 2 both start a login; tab 2 finishes first, then tab 1.
	tab1 := testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/login?rd=/one", nil)
	tab2 := testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/login?rd=/two", nil)
	for i, start := range []*http.Response{tab2, tab1} {
		resp := testenv.Login(t, c, start.Header.Get("Location"), testenv.VIPUsername, testenv.VIPPassword)
		want := []string{"/two", "/one"}[i]
		if resp.Request.URL.Path != want {
			t.Fatalf("tab finished at %s, want %s", resp.Request.URL, want)
		}
	}
}

func TestFlowCookiesDoNotPileUp(t *testing.T) {
	e := startEnv(t, envOptions{})
	c := testenv.NewBrowserClient(t)
	for i := 0; i < 12; i++ {
		body(t, testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/login?rd=/", nil))
	}
	u, _ := url.Parse(e.URL + "/_lcw/callback")
	n := 0
	for _, ck := range c.Jar.Cookies(u) {
		if strings.HasPrefix(ck.Name, "_lcw_flow_") {
			n++
		}
	}
	if n == 0 || n > 4 {
		t.Fatalf("%d flow cookies after 12 abandoned logins, want 1..4", n)
	}
}

func TestRedirectAfterLoginStaysOnSite(t *testing.T) {
	e := startEnv(t, envOptions{})
	for _, rd := range []string{"//evil.example", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "%2F%2Fevil.example"} {
		c := testenv.NewBrowserClient(t)
		resp := testenv.Login(t, c, e.URL+"/_lcw/login?rd="+url.QueryEscape(rd), testenv.VIPUsername, testenv.VIPPassword)
		if resp.Request.URL.Host != strings.TrimPrefix(e.URL, "http://") || resp.Request.URL.Path != "/" {
			t.Errorf("rd=%q ended at %s", rd, resp.Request.URL)
		}
	}
}

func TestRefreshOncePerSession(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{Extra: "session:\n  secret: {secret}\n  refresh_interval: 1s\n"})
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	old, _ := e.cookie(c, "_lcw")
	time.Sleep(1200 * time.Millisecond)
	// A page that fires many requests at once: one refresh at the IdP.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", e.URL+"/asset", nil)
			req.Header.Set("Cookie", "_lcw="+old.Value)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			if body(t, resp); resp.StatusCode != 200 {
				t.Errorf("status %d during refresh", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if n := testutil.ToFloat64(e.App.Metrics().Logins.WithLabelValues("refresh")); n != 1 {
		t.Fatalf("refreshes = %v, want exactly 1", n)
	}
	// The browser got the refreshed cookie and keeps working with it.
	if resp := testenv.Do(t, c, "GET", e.URL+"/after-refresh", nil); resp.StatusCode != 200 {
		t.Fatalf("after refresh: %d", resp.StatusCode)
	}
	nw, _ := e.cookie(c, "_lcw")
	if nw.Value == old.Value {
		t.Errorf("session cookie not renewed by the refresh")
	}
}

func TestRefreshInvalidGrantEndsSession(t *testing.T) {
	t.Parallel()
	opts := envOptions{Extra: "session:\n  secret: {secret}\n  refresh_interval: 1s\n"}
	e := startEnv(t, opts)
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	// A new OP at the same address has forgotten every refresh token: it
	// answers invalid_grant, as a provider does after a revocation.
	addr := e.OP.Addr
	e.OP.Stop()
	e.OPOpts.Addr = addr
	testenv.StartOP(t, e.OPOpts)
	time.Sleep(1200 * time.Millisecond)
	resp := testenv.Do(t, noRedirect(c), "GET", e.URL+"/page", navigate)
	if body(t, resp); resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want a new login", resp.StatusCode)
	}
	if _, err := e.cookie(c, "_lcw"); err == nil {
		t.Errorf("session cookie kept after invalid_grant")
	}
}

func TestLogout(t *testing.T) {
	t.Run("with end_session_endpoint", func(t *testing.T) {
		e := startEnv(t, envOptions{})
		c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
		resp := testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/logout", nil)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), e.OP.Issuer) || loc.Query().Get("id_token_hint") == "" || loc.Query().Get("post_logout_redirect_uri") != e.URL+"/" {
			t.Fatalf("logout redirect %d %s", resp.StatusCode, loc)
		}
		if _, err := e.cookie(c, "_lcw"); err == nil {
			t.Fatal("session cookie survived logout")
		}
		// The OP accepts the logout and sends the browser back.
		final, err := c.Get(loc.String())
		if err != nil {
			t.Fatal(err)
		}
		body(t, final)
		if final.Request.URL.String() != e.URL+"/_lcw/login?rd=%2F" && final.Request.URL.Host != strings.TrimPrefix(e.URL, "http://") {
			t.Fatalf("after OP logout ended at %s", final.Request.URL)
		}
	})
	// Without a session there is no id_token_hint, and an IdP such as
	// Hydra refuses post_logout_redirect_uri without it: a second click, a
	// second tab or a session that already ended logs out locally.
	t.Run("without a session it stays local", func(t *testing.T) {
		// Redis: a session ended elsewhere (here: by this logout) is gone
		// for its cookie too.
		redis := testenv.StartRedis(t)
		e := startEnv(t, envOptions{Extra: "session:\n  secret: {secret}\n  store: redis\n  redis:\n    url: " + redis.URL() + "\n"})
		c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
		ck, err := e.cookie(c, "_lcw")
		if err != nil {
			t.Fatal(err)
		}
		first := testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/logout", nil)
		loc, _ := url.Parse(first.Header.Get("Location"))
		if !strings.HasPrefix(loc.String(), e.OP.Issuer) || loc.Query().Get("id_token_hint") == "" || loc.Query().Get("post_logout_redirect_uri") != e.URL+"/" {
			t.Fatalf("logout with a session: %s, want the IdP with id_token_hint and post_logout_redirect_uri", loc)
		}
		for name, hdr := range map[string]map[string]string{
			"second click":                 nil,
			"cookie of the ended session":  {"Cookie": "_lcw=" + ck.Value},
			"second tab, a planted cookie": {"Cookie": "_lcw=garbage"},
		} {
			resp := testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/logout", hdr)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
				t.Errorf("%s: %d %q, want a local redirect to /", name, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		// What the old code sent is refused by the OP, as by Hydra.
		bad := testenv.Do(t, noRedirect(&http.Client{}), "GET", e.OP.Issuer+"/end_session?client_id="+testenv.DefaultClientID+"&post_logout_redirect_uri="+url.QueryEscape(e.URL+"/"), nil)
		if body(t, bad); bad.StatusCode != http.StatusBadRequest {
			t.Errorf("the OP answered %d to post_logout_redirect_uri without id_token_hint, want 400 as Hydra", bad.StatusCode)
		}
	})
	t.Run("provider without end_session_endpoint", func(t *testing.T) {
		e := startEnv(t, envOptions{OP: testenv.OPOptions{NoEndSession: true}})
		c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
		resp := testenv.Do(t, noRedirect(c), "POST", e.URL+"/_lcw/logout", nil)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
			t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if r := testenv.Do(t, noRedirect(c), "GET", e.URL+"/page", navigate); r.StatusCode != http.StatusFound {
			t.Fatalf("still signed in after logout: %d", r.StatusCode)
		}
	})
	// Another site cannot end the session with a link, an image or an
	// auto-submitted form: it gets a page whose button posts from our origin.
	t.Run("cross-site asks to confirm", func(t *testing.T) {
		e := startEnv(t, envOptions{OP: testenv.OPOptions{NoEndSession: true}})
		c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
		for _, tt := range []struct {
			method string
			hdr    map[string]string
		}{
			{"GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}},
			{"GET", map[string]string{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Dest": "image"}},
			{"GET", map[string]string{"Sec-Fetch-Site": "none"}},
			{"POST", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}},
			{"POST", map[string]string{"Origin": "null"}},
		} {
			resp := testenv.Do(t, noRedirect(c), tt.method, e.URL+"/_lcw/logout", tt.hdr)
			page := body(t, resp)
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<form method="post" action="/_lcw/logout">`) ||
				!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("%s %v: %d, want the confirmation page:\n%s", tt.method, tt.hdr, resp.StatusCode, page)
			}
			if r := testenv.Do(t, noRedirect(c), "GET", e.URL+"/page", navigate); r.StatusCode != http.StatusOK {
				t.Fatalf("%s %v ended the session: %d", tt.method, tt.hdr, r.StatusCode)
			}
		}
		// The confirmation's button: a POST from our own origin.
		resp := testenv.Do(t, noRedirect(c), "POST", e.URL+"/_lcw/logout", map[string]string{"Origin": e.URL, "Sec-Fetch-Site": "same-origin"})
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("confirmed logout: %d", resp.StatusCode)
		}
		if r := testenv.Do(t, noRedirect(c), "GET", e.URL+"/page", navigate); r.StatusCode != http.StatusFound {
			t.Fatalf("still signed in after the confirmed logout: %d", r.StatusCode)
		}
	})
	t.Run("link on the site logs out at once", func(t *testing.T) {
		e := startEnv(t, envOptions{OP: testenv.OPOptions{NoEndSession: true}})
		c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
		resp := testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/logout", map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"})
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("logout link: %d", resp.StatusCode)
		}
		if r := testenv.Do(t, noRedirect(c), "GET", e.URL+"/page", navigate); r.StatusCode != http.StatusFound {
			t.Fatalf("still signed in after logout: %d", r.StatusCode)
		}
	})
}

func TestClaimsOnlyInUserinfo(t *testing.T) {
	for _, userinfo := range []bool{true, false} {
		t.Run(fmt.Sprintf("oidc.userinfo=%v", userinfo), func(t *testing.T) {
			extra := fmt.Sprintf("headers:\n  pass: true\noidc:\n  issuer: {issuer}\n  client_id: %s\n  client_secret: %s\n  userinfo: %v\n",
				testenv.DefaultClientID, testenv.DefaultClientSecret, userinfo)
			e := startEnv(t, envOptions{OP: testenv.OPOptions{ClaimsOnlyInUserinfo: true}, Extra: extra})
			_, resp := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/p")
			got := strings.Contains(body(t, resp), "X-Forwarded-Email: vip@example.com")
			if got != userinfo {
				t.Fatalf("email from userinfo reached the upstream: %v, want %v", got, userinfo)
			}
		})
	}
}

func TestAuthorizationRulesAnswer403NotLoop(t *testing.T) {
	e := startEnv(t, envOptions{Extra: "access:\n  mode: required\n  allowed_email_domains: [corp.example]\n"})
	c := testenv.NewBrowserClient(t)
	resp := testenv.Login(t, c, e.URL+"/_lcw/login?rd=/secret", testenv.VIPUsername, testenv.VIPPassword)
	if b := body(t, resp); resp.StatusCode != http.StatusForbidden || resp.Request.URL.Path != "/secret" {
		t.Fatalf("unauthorized user: %d at %s: %s", resp.StatusCode, resp.Request.URL, b)
	}
}

// The 403 explains itself: who is signed in, the rule that refused them
// (the site's configuration, not a secret), and a button that signs out so
// another account can be used. A name from the IdP is escaped, never markup.
func TestRefusedPageExplainsAndSignsOut(t *testing.T) {
	users := devidp.DefaultUsers()
	users[0].Email = `<script>alert(1)</script>@corp.example`
	e := startEnv(t, envOptions{OP: testenv.OPOptions{Users: users}, Extra: "access:\n  mode: required\n  groups_claim: groups\n  required_groups: [staff]\n"})
	c, resp := e.login(t, users[0].Username, users[0].Password, "/secret")
	page := body(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refused user: %d:\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt;@corp.example",
		"user is in none of the required groups [staff]",
		`<form method="post" action="/_lcw/logout">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the 403 page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Errorf("a claim reached the page as markup:\n%s", page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("403 page CSP %q", csp)
	}
	// The button: a same-origin POST from the page signs out at once.
	out := testenv.Do(t, noRedirect(c), "POST", e.URL+"/_lcw/logout", map[string]string{"Origin": e.URL, "Sec-Fetch-Site": "same-origin"})
	if out.StatusCode != http.StatusFound {
		t.Fatalf("sign out from the 403 page: %d", out.StatusCode)
	}
	if _, err := e.cookie(c, "_lcw"); err == nil {
		t.Error("the session survived sign-out from the 403 page")
	}
	// Scripts get the same explanation as JSON.
	c, _ = e.login(t, users[0].Username, users[0].Password, "/")
	api := testenv.Do(t, c, "GET", e.URL+"/api", map[string]string{"Accept": "application/json"})
	if b := body(t, api); api.StatusCode != http.StatusForbidden || !strings.Contains(b, "required groups [staff]") || !strings.HasPrefix(api.Header.Get("Content-Type"), "application/json") {
		t.Errorf("a script's 403: %d %s %s", api.StatusCode, api.Header.Get("Content-Type"), b)
	}
}

func TestIdPDownAtStart(t *testing.T) {
	addr := freeAddr(t)
	e := startEnv(t, envOptions{NoOP: true, OP: testenv.OPOptions{Addr: addr}, ProbeInterval: 100 * time.Millisecond})
	c := noRedirect(&http.Client{})
	waitDependency(t, e, "idp", 0)
	// Ready: the IdP is every replica's, and its outage must not empty
	// the Service.
	if r := testenv.Do(t, c, "GET", e.URL+"/_lcw/readyz", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("readyz with the IdP down: %d, want 200", r.StatusCode)
	}
	if r := testenv.Do(t, c, "GET", e.URL+"/public/info", nil); r.StatusCode != 200 {
		t.Fatalf("public path with the IdP down: %d", r.StatusCode)
	}
	r := testenv.Do(t, c, "GET", e.URL+"/_lcw/login?rd=/", nil)
	if b := body(t, r); r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "identity provider cannot be reached") {
		t.Fatalf("login with the IdP down: %d %s", r.StatusCode, b)
	}
	// The IdP comes up: discovery retries and sign-in works.
	e.OP = testenv.StartOP(t, e.OPOpts)
	waitDependency(t, e, "idp", 1) // a probe that reaches the IdP wakes discovery from its backoff
	_, resp := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/welcome")
	if resp.Request.URL.Path != "/welcome" {
		t.Fatalf("login after the IdP came up ended at %s", resp.Request.URL)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// An email the IdP has not verified is no email: the dev IdP's plain user
// has email_verified false, and anyone who can register such an address
// must not reach identity headers, email rules or lwicontexts with it.
func TestUnverifiedEmailIsAbsent(t *testing.T) {
	for _, tt := range []struct {
		name   string
		extra  string
		trusts bool
	}{
		{"default", "", false},
		{"allow_unverified_email", "  allow_unverified_email: true\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := startEnv(t, envOptions{Extra: "headers:\n  pass: true\n" + oidcSection(tt.extra)})
			c, resp := e.login(t, testenv.PlainUsername, testenv.PlainPassword, "/page")
			page := body(t, resp)
			if got := strings.Contains(page, "X-Forwarded-Email: plain@example.com"); got != tt.trusts {
				t.Errorf("email header sent = %v, want %v:\n%s", got, tt.trusts, page)
			}
			sess := body(t, testenv.Do(t, c, "GET", e.URL+"/_lcw/session", nil))
			if got := strings.Contains(sess, `"customer_email": "plain@example.com"`); got != tt.trusts {
				t.Errorf("lwicontexts carries the email = %v, want %v:\n%s", got, tt.trusts, sess)
			}
		})
	}
	// An email domain rule cannot be met with an unverified address.
	e := startEnv(t, envOptions{Extra: "access:\n  allowed_email_domains: [example.com]\n"})
	_, resp := e.login(t, testenv.PlainUsername, testenv.PlainPassword, "/page")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("allowed_email_domains with an unverified email: status %d, want 403", resp.StatusCode)
	}
}

// oidcSection is the test env's oidc section with extra keys (sections in
// envOptions.Extra replace the base's whole).
func oidcSection(extra string) string {
	if extra == "" {
		return ""
	}
	return oidcSectionFor("  issuer: {issuer}\n" + extra)
}

// oidcSectionFor is the test env's oidc section with the client's settings
// and keys (the issuer among them).
func oidcSectionFor(keys string) string {
	return "oidc:\n  client_id: " + testenv.DefaultClientID + "\n  client_secret: " + testenv.DefaultClientSecret +
		"\n  scopes: [openid, profile, email, offline_access]\n" + keys
}

// Cookie tossing: a sibling subdomain plants the attacker's own valid
// session cookie next to the victim's. The request is nobody's: no chat
// token for either contact, and no sign-in loop through the IdP.
func TestPlantedSecondSessionCookie(t *testing.T) {
	e := startEnv(t, envOptions{})
	victim, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	attacker, _ := e.login(t, testenv.CustomerUsername, testenv.CustomerPassword, "/")
	v, err := e.cookie(victim, "_lcw")
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.cookie(attacker, "_lcw")
	if err != nil {
		t.Fatal(err)
	}
	both := map[string]string{"Sec-Fetch-Site": "same-origin", "Cookie": "_lcw=" + a.Value + "; _lcw=" + v.Value}
	if r := testenv.Do(t, &http.Client{}, "GET", e.URL+"/_lcw/token", both); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("token with two session cookies: %d, want 401", r.StatusCode)
	}
	if r := testenv.Do(t, &http.Client{}, "GET", e.URL+"/_lcw/token", map[string]string{"Sec-Fetch-Site": "same-origin", "Cookie": "_lcw=" + v.Value}); r.StatusCode != http.StatusOK {
		t.Errorf("token with the victim's cookie alone: %d", r.StatusCode)
	}
	login := testenv.Do(t, noRedirect(&http.Client{}), "GET", e.URL+"/_lcw/login?rd=/", map[string]string{"Cookie": both["Cookie"]})
	if login.StatusCode != http.StatusBadRequest || !strings.Contains(body(t, login), "two sign-in cookies") {
		t.Errorf("login with two session cookies: %d %q, want a 400 page instead of a sign-in loop", login.StatusCode, login.Header.Get("Location"))
	}
}

// A wrong client secret is the site's configuration problem: the page says
// so (and that trying again will not help) instead of "try again", and the
// log names invalid_client.
func TestWrongClientSecretSaysItIsTheSite(t *testing.T) {
	e := startEnv(t, envOptions{Extra: "oidc:\n  issuer: {issuer}\n  client_id: " + testenv.DefaultClientID + "\n  client_secret: not-the-secret\n  scopes: [openid, profile, email]\n"})
	_, resp := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	page := body(t, resp)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(page, "configuration problem at the site") || strings.Contains(page, "Please go back and try again") {
		t.Fatalf("wrong client secret: %d\n%s", resp.StatusCode, page)
	}
	if n := testutil.ToFloat64(e.App.Metrics().Logins.WithLabelValues("client_refused")); n != 1 {
		t.Errorf("client_refused = %v, want 1", n)
	}
	if !strings.Contains(e.Logs.String(), "invalid_client") {
		t.Errorf("the log does not name invalid_client:\n%s", e.Logs)
	}
}
