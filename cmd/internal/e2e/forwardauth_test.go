package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// The site behind nginx: it shows the identity nginx passed on, and serves
// pages with a </head> for nginx's sub_filter to put the bootstrap before.
func forwardAuthSite() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><head><title>site</title></head><body>\nsite saw %s\nX-Forwarded-User: %s\nX-Forwarded-Email: %s\n</body></html>\n",
			r.URL.RequestURI(), r.Header.Get("X-Forwarded-User"), r.Header.Get("X-Forwarded-Email"))
	})
}

// nginxConf is deploy/examples/forward-auth/nginx.conf with the test's
// addresses, so the example users copy is the one that is tested.
func nginxConf(t *testing.T, proxy, site string) string {
	t.Helper()
	raw, err := os.ReadFile("../../../deploy/examples/forward-auth/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	for old, nw := range map[string]string{"127.0.0.1:4180": proxy, "127.0.0.1:8080": site, "listen 80;": "listen {listen};"} {
		if !strings.Contains(conf, old) {
			t.Fatalf("the example nginx.conf no longer contains %q", old)
		}
		conf = strings.ReplaceAll(conf, old, nw)
	}
	return conf
}

// Forward-auth end to end behind a real nginx: a real login through nginx,
// a protected page with the identity from auth_request_set, the bootstrap
// added by sub_filter, the chat token through nginx, logout.
func TestForwardAuthBehindNginx(t *testing.T) {
	site := httptest.NewServer(forwardAuthSite())
	t.Cleanup(site.Close)
	nginxAddr, e := startForwardAuthEnv(t)
	ng := testenv.StartNginx(t, nginxAddr, nginxConf(t, e.Config.Listen, strings.TrimPrefix(site.URL, "http://")))

	// Without an upstream, the proxy itself serves nothing outside its prefix.
	if resp := testenv.Do(t, &http.Client{}, "GET", proxyAddr(e)+"/page", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("proxy without upstream answered %d for /page, want 404", resp.StatusCode)
	}
	// A public page needs no login; a protected one sends to sign in with rd.
	if resp := testenv.Do(t, &http.Client{}, "GET", ng.URL+"/public/info", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("public page through nginx: %d", resp.StatusCode)
	}
	first := testenv.Do(t, noRedirect(&http.Client{}), "GET", ng.URL+"/orders?id=7&x=1", navigate)
	if first.StatusCode != http.StatusFound || first.Header.Get("Location") != ng.URL+"/_lcw/login?rd=%2Forders%3Fid%3D7%26x%3D1" {
		t.Fatalf("anonymous page through nginx: %d Location %q", first.StatusCode, first.Header.Get("Location"))
	}

	c := testenv.NewBrowserClient(t)
	resp := testenv.Login(t, c, ng.URL+"/orders?id=7&x=1", testenv.VIPUsername, testenv.VIPPassword)
	page, _ := io.ReadAll(resp.Body)
	if resp.Request.URL.String() != ng.URL+"/orders?id=7&x=1" || !strings.Contains(string(page), "site saw /orders?id=7&x=1") {
		t.Fatalf("after login ended at %s:\n%s", resp.Request.URL, page)
	}
	for _, want := range []string{"X-Forwarded-Email: vip@example.com", "X-Forwarded-User: 3f1c9a52-", `<script src="/_lcw/bootstrap.js" defer></script></head>`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page through nginx lacks %q:\n%s", want, page)
		}
	}
	// The chat token and the bootstrap through nginx.
	tok := testenv.Do(t, c, "GET", ng.URL+"/_lcw/token", map[string]string{"Sec-Fetch-Site": "same-origin"})
	if b := body(t, tok); tok.StatusCode != http.StatusOK || strings.Count(b, ".") != 2 {
		t.Fatalf("token through nginx: %d %s", tok.StatusCode, b)
	}
	if r := testenv.Do(t, c, "GET", ng.URL+"/_lcw/bootstrap.js", nil); r.StatusCode != http.StatusOK {
		t.Errorf("bootstrap.js through nginx: %d", r.StatusCode)
	}
	// The auth endpoint is nginx-internal: a client cannot call it.
	if r := testenv.Do(t, c, "GET", ng.URL+"/_lcw/auth", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("/_lcw/auth from outside through nginx: %d, want 404", r.StatusCode)
	}
	// Logout from the site's own page ends it.
	lo := testenv.Do(t, noRedirect(c), "GET", ng.URL+"/_lcw/logout", map[string]string{"Sec-Fetch-Site": "same-origin"})
	if lo.StatusCode != http.StatusFound {
		t.Fatalf("logout through nginx: %d", lo.StatusCode)
	}
	if r := testenv.Do(t, noRedirect(c), "GET", ng.URL+"/orders", navigate); r.StatusCode != http.StatusFound {
		t.Errorf("after logout: %d, want a redirect to sign in", r.StatusCode)
	}
}

// startForwardAuthEnv starts the proxy as the forward-auth example runs
// it (no upstream, nginx trusted, identity headers on the auth answer), with
// public_url on the address nginx will listen on.
func startForwardAuthEnv(t *testing.T) (nginxAddr string, e *env) {
	t.Helper()
	nginxAddr = testenv.NginxListener(t)
	e = startEnv(t, envOptions{
		PublicURL: "http://" + nginxAddr,
		Extra: "upstream:\n  disabled: true\ntrusted_proxies: [127.0.0.1]\nheaders:\n  pass: true\n" +
			"access:\n  mode: required\n  public_paths: [/public/]\n",
	})
	return nginxAddr, e
}

// proxyAddr is the proxy's own listener (e.URL is public_url, nginx's).
func proxyAddr(e *env) string { return "http://" + e.Config.Listen }

// The second review's forward-auth bypass, end to end behind the real nginx
// running the shipped example: a client sends a Host nginx accepts but that
// does not parse as a URL's (nginx builds X-Original-URL from it) together
// with its own copy of each header the auth endpoint reads, naming a public
// path. Every such request for a protected page must go to the sign-in (or
// be refused by nginx), and the site must never serve it: with the example
// as shipped, and with its lines that clear the client's headers removed
// (an nginx.conf written before them), where the proxy alone must hold.
func TestForwardAuthBypassBehindNginx(t *testing.T) {
	t.Run("example", func(t *testing.T) { testForwardAuthBypass(t, false) })
	t.Run("client headers passed on", func(t *testing.T) { testForwardAuthBypass(t, true) })
}

func testForwardAuthBypass(t *testing.T, passClientHeaders bool) {
	var mu sync.Mutex
	var served []string
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served = append(served, r.URL.RequestURI())
		mu.Unlock()
		forwardAuthSite().ServeHTTP(w, r)
	}))
	t.Cleanup(site.Close)
	nginxAddr, e := startForwardAuthEnv(t)
	conf := nginxConf(t, e.Config.Listen, strings.TrimPrefix(site.URL, "http://"))
	if passClientHeaders {
		var kept []string
		for line := range strings.Lines(conf) {
			if !strings.Contains(line, `"";`) || strings.Contains(line, "Content-Length") {
				kept = append(kept, line)
			}
		}
		conf = strings.Join(kept, "")
	}
	testenv.StartNginx(t, nginxAddr, conf)

	raw := func(host string, extra ...string) int {
		t.Helper()
		conn, err := net.Dial("tcp", nginxAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := "GET /admin HTTP/1.1\r\nHost: " + host + "\r\n"
		for _, h := range extra {
			req += h + "\r\n"
		}
		if _, err := io.WriteString(conn, req+"Connection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("Host %q %v: %v", host, extra, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	spoofs := []string{
		"X-Forwarded-Uri: /public/x",
		"X-Original-URL: http://shop.example.com/public/x",
		"X-Original-URL: /public/x",
	}
	for _, host := range []string{"shop.example.com:b", "%zz", "[::1", "a:1:2", "a?", "x#", nginxAddr} {
		for _, spoof := range spoofs {
			if code := raw(host, spoof); code == http.StatusOK || code/100 == 5 {
				t.Errorf("GET /admin with Host %q and %s: %d, want a sign-in (302) or nginx's 400", host, spoof, code)
			}
		}
		if code := raw(host, spoofs...); code == http.StatusOK || code/100 == 5 {
			t.Errorf("GET /admin with Host %q and every spoofed header: %d", host, code)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if slices.Contains(served, "/admin") {
		t.Errorf("the site served /admin to an anonymous client: %v", served)
	}
	// The public path itself still passes, with a Host that does not parse too.
	if code := raw("shop.example.com:b", "X-Forwarded-Uri: /admin"); code != http.StatusFound {
		t.Errorf("control: GET /admin: %d, want 302", code)
	}
}
