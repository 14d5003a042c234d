package login

import (
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// afterLogout continues at the provider's end_session_endpoint only when
// there is an ID token to name the session there; it sends client_id,
// id_token_hint and the post-logout redirect URI (public origin +
// oidc.post_logout_redirect_path) and keeps the endpoint's own query. No
// state is sent: the proxy has nothing to carry through the provider, and
// the user lands on a plain page of the site. Without an ID token, an
// endpoint or a discovered provider, logout stays local.
func TestAfterLogout(t *testing.T) {
	s := startSite(t, siteOptions{oidc: `, post_logout_redirect_path: /bye`})
	p, _ := s.rp.disc.get()
	if p.endSession == "" {
		t.Fatal("the OP announces no end_session_endpoint")
	}

	got, err := url.Parse(s.rp.afterLogout(&session.Session{IDToken: "the.id.token"}))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := url.Parse(p.endSession)
	if got.Scheme != want.Scheme || got.Host != want.Host || got.Path != want.Path {
		t.Errorf("logout continues at %s, want the end_session_endpoint %s", got, want)
	}
	q := got.Query()
	if keys := slices.Sorted(maps.Keys(q)); !slices.Equal(keys, []string{"client_id", "id_token_hint", "post_logout_redirect_uri"}) {
		t.Errorf("end_session parameters %v", keys)
	}
	if q.Get("client_id") != s.op.ClientID || q.Get("id_token_hint") != "the.id.token" || q.Get("post_logout_redirect_uri") != s.url+"/bye" {
		t.Errorf("end_session parameters %v", q)
	}

	if got := s.rp.afterLogout(&session.Session{}); got != "/bye" {
		t.Errorf("without an ID token: %q, want the local /bye", got)
	}
	if got := s.rp.afterLogout(nil); got != "/bye" {
		t.Errorf("without a session: %q, want the local /bye", got)
	}

	// The endpoint's own query is kept (a provider may route on it).
	withQuery := *p
	withQuery.endSession = "https://idp.example/logout?tenant=shop"
	s.rp.disc.p.Store(&withQuery)
	u, _ := url.Parse(s.rp.afterLogout(&session.Session{IDToken: "t"}))
	if u.Query().Get("tenant") != "shop" || u.Query().Get("id_token_hint") != "t" {
		t.Errorf("endpoint with a query: %s", u)
	}

	none := *p
	none.endSession = ""
	s.rp.disc.p.Store(&none)
	if got := s.rp.afterLogout(&session.Session{IDToken: "t"}); got != "/bye" {
		t.Errorf("without end_session_endpoint: %q, want the local /bye", got)
	}

	// oidc.logout_url: an IdP that takes no ID token (Cognito) is sent
	// there whenever there was a session; one whose URL names
	// {id_token_hint} only with the token.
	s.rp.opt.OIDC.LogoutURL = "https://idp.example/logout?client_id={client_id}&logout_uri={post_logout_redirect_uri}"
	if got := s.rp.afterLogout(&session.Session{}); !strings.HasPrefix(got, "https://idp.example/logout?client_id=") {
		t.Errorf("Cognito-style logout without an ID token: %q", got)
	}
	if got := s.rp.afterLogout(nil); got != "/bye" {
		t.Errorf("Cognito-style logout without a session: %q, want the local /bye", got)
	}
	s.rp.opt.OIDC.LogoutURL = "https://idp.example/logout?id_token_hint={id_token_hint}"
	if got := s.rp.afterLogout(&session.Session{}); got != "/bye" {
		t.Errorf("logout_url with {id_token_hint} but no ID token: %q, want the local /bye", got)
	}
	if got := s.rp.afterLogout(&session.Session{IDToken: "a.b.c"}); got != "https://idp.example/logout?id_token_hint=a.b.c" {
		t.Errorf("logout_url with the ID token: %q", got)
	}
	s.rp.opt.OIDC.LogoutURL = ""

	undiscovered := newRP(t)
	if got := undiscovered.afterLogout(&session.Session{IDToken: "t"}); got != "/" {
		t.Errorf("before discovery: %q, want the local /", got)
	}
}

// Logging out with a session clears it and, with an end_session_endpoint,
// ends the provider's session too and comes back to the site; without the
// endpoint it ends here. Another site's request only gets a page asking to
// confirm, and the session stays.
func TestLogoutHandler(t *testing.T) {
	for _, tt := range []struct {
		name  string
		opts  testenv.OPOptions
		rpLed bool // through the provider's end_session_endpoint
	}{
		{"RP-initiated", testenv.OPOptions{}, true},
		{"no end_session_endpoint", testenv.OPOptions{NoEndSession: true}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startSite(t, siteOptions{op: tt.opts})
			s.login(t)

			cross, err := http.NewRequest(http.MethodGet, s.url+"/_lcw/logout", nil)
			if err != nil {
				t.Fatal(err)
			}
			cross.Header.Set("Sec-Fetch-Site", "cross-site")
			resp, err := s.noRedirect().Do(cross)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Sign out?") || s.browserSession(t) == nil {
				t.Fatalf("cross-site logout: %d, session kept %v: %s", resp.StatusCode, s.browserSession(t) != nil, body)
			}

			resp, err = s.noRedirect().Get(s.url + "/_lcw/logout")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || s.browserSession(t) != nil {
				t.Fatalf("logout: %d, session left %v", resp.StatusCode, s.browserSession(t) != nil)
			}
			atOP := strings.HasPrefix(loc.String(), s.op.Issuer)
			if atOP != tt.rpLed {
				t.Fatalf("logout leads to %s", loc)
			}
			if !tt.rpLed {
				if loc.String() != "/" {
					t.Errorf("local logout leads to %s, want /", loc)
				}
				return
			}
			// The provider accepts the request and sends the browser back.
			resp, err = s.browser.Get(loc.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.Request.URL.String() != s.url+"/" || strings.HasSuffix(resp.Request.URL.Path, devidp.LoggedOutPath) {
				t.Errorf("the provider's logout ended at %s, want back on the site", resp.Request.URL)
			}

			// A second logout (another tab) has no session: it stays local.
			resp, err = s.noRedirect().Get(s.url + "/_lcw/logout")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.Header.Get("Location") != "/" {
				t.Errorf("logout without a session leads to %s, want /", resp.Header.Get("Location"))
			}
		})
	}
}
