package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// jarCookie is the cookie name that c's jar sends with a request to path.
func (e *env) jarCookie(c *http.Client, path, name string) *http.Cookie {
	u, _ := url.Parse(e.URL + path)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// logoutTo logs out with the Cookie header cookie (a browser's, or a
// forged one) and returns where the proxy sends the browser.
func (e *env) logoutTo(t *testing.T, cookie string) *url.URL {
	t.Helper()
	resp, _ := e.get(t, "/_lcw/logout", cookie)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc
}

// With the cookie store the ID token is not in the session cookie that
// every request carries: sign-in puts it in a logout cookie that the
// browser sends to the logout endpoint only, and RP-initiated logout reads
// it from there for id_token_hint. The OP checks the hint (zitadel's
// end_session refuses an invalid one), so a logout that comes back to the
// site proves the hint was the session's own ID token.
func TestLogoutCookie(t *testing.T) {
	t.Run("end_session_endpoint gets the ID token from the logout cookie", func(t *testing.T) {
		e := startEnv(t, envOptions{})
		c, resp := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-in: %d", resp.StatusCode)
		}
		if ck := e.jarCookie(c, "/page", "_lcw_logout"); ck != nil {
			t.Fatal("the logout cookie is sent with every request, want the logout path only")
		}
		if ck := e.jarCookie(c, "/_lcw/logout", "_lcw_logout"); ck == nil {
			t.Fatal("sign-in set no logout cookie for /_lcw/logout")
		}
		sessCk := e.jarCookie(c, "/page", "_lcw")
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/page", nil)
		req.AddCookie(sessCk)
		sess, err := e.App.Store().Load(req)
		if err != nil || sess.IDToken != "" {
			t.Fatalf("the per-request session cookie: %v, ID token %d bytes, want none", err, len(sess.IDToken))
		}

		out := testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/logout", nil)
		loc, _ := url.Parse(out.Header.Get("Location"))
		if out.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), e.OP.Issuer) ||
			loc.Query().Get("id_token_hint") == "" || loc.Query().Get("post_logout_redirect_uri") != e.URL+"/" {
			t.Fatalf("logout redirect %d %s", out.StatusCode, loc)
		}
		if ck := e.jarCookie(c, "/_lcw/logout", "_lcw_logout"); ck != nil {
			t.Error("the logout cookie survived logout")
		}
		// The OP checks the hint: a forged one is refused, the logout
		// cookie's is accepted.
		forged := *loc
		q := forged.Query()
		q.Set("id_token_hint", q.Get("id_token_hint")[:len(q.Get("id_token_hint"))-8]+"AAAAAAAA")
		forged.RawQuery = q.Encode()
		if r := testenv.Do(t, noRedirect(&http.Client{}), "GET", forged.String(), nil); r.StatusCode == http.StatusFound &&
			strings.HasPrefix(r.Header.Get("Location"), e.URL+"/") {
			t.Fatal("the OP accepted a forged id_token_hint: this test could not tell a wrong hint from the right one")
		}
		back := testenv.Do(t, noRedirect(c), "GET", loc.String(), nil)
		if back.StatusCode != http.StatusFound || !strings.HasPrefix(back.Header.Get("Location"), e.URL+"/") {
			t.Fatalf("the OP answered the logout with %d %q, want a redirect back to the site",
				back.StatusCode, back.Header.Get("Location"))
		}
	})

	// A logout cookie is bound to its session: another user's (a shared
	// machine, a planted cookie), a tampered one or two at once never name
	// this session at the IdP. Logout then stays local, as without an ID
	// token.
	t.Run("a logout cookie of another session is not used", func(t *testing.T) {
		e := startEnv(t, envOptions{})
		alice, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
		bob, _ := e.login(t, testenv.CustomerUsername, testenv.CustomerPassword, "/")
		aliceSess := e.jarCookie(alice, "/", "_lcw").Value
		aliceOut := e.jarCookie(alice, "/_lcw/logout", "_lcw_logout").Value
		bobOut := e.jarCookie(bob, "/_lcw/logout", "_lcw_logout").Value

		if loc := e.logoutTo(t, "_lcw="+aliceSess+"; _lcw_logout="+aliceOut); loc.Query().Get("id_token_hint") == "" {
			t.Fatalf("alice's own logout cookie: %s, want id_token_hint", loc)
		}
		for name, cookie := range map[string]string{
			"bob's logout cookie":        "_lcw=" + aliceSess + "; _lcw_logout=" + bobOut,
			"tampered":                   "_lcw=" + aliceSess + "; _lcw_logout=" + aliceOut[:len(aliceOut)-4] + "AAAA",
			"two logout cookies":         "_lcw=" + aliceSess + "; _lcw_logout=" + aliceOut + "; _lcw_logout=" + bobOut,
			"logout cookie as a session": "_lcw=" + aliceOut,
		} {
			loc := e.logoutTo(t, cookie)
			if loc.Query().Has("id_token_hint") || loc.Query().Has("post_logout_redirect_uri") {
				t.Errorf("%s: sent to %s, want no id_token_hint (and so no post_logout_redirect_uri)", name, loc)
			}
		}
	})

	// oidc.logout_url without {id_token_hint} (Amazon Cognito, Auth0's
	// /v2/logout): nothing needs the ID token, so no logout cookie is set;
	// logout still goes to the IdP when there was a session.
	t.Run("logout_url without id_token_hint keeps no ID token", func(t *testing.T) {
		e := startEnv(t, envOptions{OP: testenv.OPOptions{CognitoLogout: true},
			Extra: offspecOIDC + "  logout_url: {issuer}/logout?client_id={client_id}&logout_uri={post_logout_redirect_uri}\n"})
		c, resp := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-in: %d", resp.StatusCode)
		}
		if ck := e.jarCookie(c, "/_lcw/logout", "_lcw_logout"); ck != nil {
			t.Fatal("a logout cookie was set although logout_url sends no ID token")
		}
		out := testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/logout", nil)
		if loc := out.Header.Get("Location"); !strings.HasPrefix(loc, e.OP.Issuer+"/logout?client_id=") {
			t.Fatalf("logout: %d %q, want the Cognito-style logout", out.StatusCode, loc)
		}
	})

	// oidc.logout_url with {id_token_hint} (an IdP whose logout is not in
	// its discovery document, or needs other parameters): the hint comes
	// from the logout cookie, and the OP accepts it.
	t.Run("logout_url with id_token_hint", func(t *testing.T) {
		e := startEnv(t, envOptions{
			Extra: offspecOIDC + "  logout_url: {issuer}/end_session?id_token_hint={id_token_hint}&post_logout_redirect_uri={post_logout_redirect_uri}\n"})
		c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
		out := testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/logout", nil)
		loc, _ := url.Parse(out.Header.Get("Location"))
		if !strings.HasPrefix(loc.String(), e.OP.Issuer+"/end_session?") || loc.Query().Get("id_token_hint") == "" {
			t.Fatalf("logout: %d %s, want the configured URL with the ID token", out.StatusCode, loc)
		}
		back := testenv.Do(t, noRedirect(c), "GET", loc.String(), nil)
		if back.StatusCode != http.StatusFound || !strings.HasPrefix(back.Header.Get("Location"), e.URL+"/") {
			t.Fatalf("the OP answered %d %q, want a redirect back to the site", back.StatusCode, back.Header.Get("Location"))
		}
	})
}
