package e2e

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// authorizeCounter counts the browser's requests to the IdP's
// authorization endpoint, so a test sees every round trip through the IdP.
type authorizeCounter struct {
	mu    sync.Mutex
	n     int
	urls  []string
	match func(*url.URL) bool
}

func countAuthorize(ctx context.Context, t *testing.T, issuer string) *authorizeCounter {
	t.Helper()
	op, _ := url.Parse(issuer)
	c := &authorizeCounter{match: func(u *url.URL) bool { return u.Host == op.Host && u.Path == "/authorize" }}
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			if u, err := url.Parse(e.Request.URL); err == nil && c.match(u) {
				c.mu.Lock()
				c.n++
				c.urls = append(c.urls, e.Request.URL)
				c.mu.Unlock()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *authorizeCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

const silentBrowserExtra = silentExtra + "headers:\n  pass: true\ninject:\n  enabled: true\n  client_function: lcwAuth.getAuthenticationToken\n"

// In a real browser: signed in at the IdP first, visiting the site shows the
// signed-in page and a working token, with no click.
func TestBrowserSilentSignInSignedInAtIdP(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{OP: testenv.OPOptions{RememberBrowser: true}, Upstream: browserSite(), Extra: silentBrowserExtra})
	ctx := testenv.Browser(t)
	// Sign in once (the IdP remembers the browser), then drop the proxy's
	// cookies: the next visit starts with an IdP session and no proxy one.
	testenv.BrowserLogin(t, ctx, e.URL+"/_lcw/login?rd=/chat", testenv.VIPUsername, testenv.VIPPassword)
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{e.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies.Cookies {
		if strings.HasPrefix(c.Name, "_lcw") {
			if _, err := chromedp.Call(ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: c.Name, Domain: c.Domain}); err != nil {
				t.Fatal(err)
			}
		}
	}
	idp := countAuthorize(ctx, t, e.OP.Issuer)
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/chat?from=ad"), chromedp.WaitVisible(chromedp.ID("content"))); err != nil {
		t.Fatal(err)
	}
	loc := evalJS[string](t, ctx, `location.href`)
	if loc != e.URL+"/chat?from=ad" {
		t.Fatalf("ended at %s, want the page itself", loc)
	}
	tok := evalJS[string](t, ctx, `new Promise(function (resolve) { window.lcwAuth.getAuthenticationToken(resolve); })`)
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("client function gave %q, want a JWT: the visitor is not signed in", tok)
	}
	if n := idp.count(); n != 1 {
		t.Errorf("%d round trips through the IdP, want 1 (%v)", n, idp.urls)
	}
}

// Not signed in at the IdP: one round trip, the page anonymous, and the
// next navigation goes nowhere near the IdP.
func TestBrowserSilentSignInNotSignedIn(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{OP: testenv.OPOptions{RememberBrowser: true}, Upstream: browserSite(), Extra: silentBrowserExtra})
	ctx := testenv.Browser(t)
	idp := countAuthorize(ctx, t, e.OP.Issuer)
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/chat?x=1"), chromedp.WaitVisible(chromedp.ID("content"))); err != nil {
		t.Fatal(err)
	}
	if loc := evalJS[string](t, ctx, `location.href`); loc != e.URL+"/chat?x=1" {
		t.Fatalf("ended at %s", loc)
	}
	if tok := evalJS[string](t, ctx, `new Promise(function (resolve) { window.lcwAuth.getAuthenticationToken(resolve); })`); tok != "" {
		t.Errorf("anonymous visitor got a token %q", tok)
	}
	if n := idp.count(); n != 1 {
		t.Fatalf("%d round trips through the IdP on the first visit, want 1 (%v)", n, idp.urls)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/strict"), chromedp.WaitVisible(chromedp.ID("content"))); err != nil {
		t.Fatal(err)
	}
	if n := idp.count(); n != 1 {
		t.Errorf("the next navigation went through the IdP again (%d)", n)
	}
}

// With cookies blocked the marker never sticks: the page is served without
// a trip to the IdP and without a loop.
func TestBrowserSilentSignInCookiesBlocked(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{OP: testenv.OPOptions{RememberBrowser: true}, Upstream: browserSite(), Extra: silentBrowserExtra})
	ctx := testenv.Browser(t, testenv.BlockCookies())
	idp := countAuthorize(ctx, t, e.OP.Issuer)
	for _, p := range []string{"/chat", "/strict"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+p), chromedp.WaitVisible(chromedp.ID("content"))); err != nil {
			t.Fatalf("%s with cookies blocked: %v", p, err)
		}
	}
	if cookies := evalJS[string](t, ctx, `document.cookie`); cookies != "" {
		t.Fatalf("cookies are not blocked: %q", cookies)
	}
	if n := idp.count(); n != 0 {
		t.Errorf("%d trips to the IdP with cookies blocked, want none", n)
	}
}
