package login

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// Two tenants of an Entra-like multi-tenant provider (internal/devidp's
// Tenants): the VIP signs in from tenant A, the customer from tenant B;
// the plain user gets the provider's plain issuer, as a token of another
// issuer would.
const (
	tenantA = "00000000-0000-4000-8000-0000000000aa"
	tenantB = "00000000-0000-4000-8000-0000000000bb"
	tenantC = "00000000-0000-4000-8000-0000000000cc"
)

// entraSite is a site whose provider behaves as Entra ID's /common
// endpoint, configured as deploy/examples/entra-multitenant.yaml is:
// the issuer template, the /common discovery document, allowed tenants.
// edit, when set, is applied to every ID token the provider issues.
func entraSite(t *testing.T, allowed string, edit *atomic.Pointer[func(map[string]any)]) *site {
	t.Helper()
	// Entra ID announces front-channel logout and sends sid alone.
	op := testenv.OPOptions{Tenants: map[string]string{testenv.VIPUsername: tenantA, testenv.CustomerUsername: tenantB},
		FrontchannelLogoutURI: frontchannelPath, FrontchannelSIDOnly: true}
	if edit != nil {
		op.EditIDToken = func(c map[string]any) {
			if f := edit.Load(); f != nil {
				(*f)(c)
			}
		}
	}
	return startSite(t, siteOptions{op: op, issuer: func(op *testenv.OP) string {
		return `issuer: "` + op.IssuerTemplate() + `", discovery_url: "` + op.CommonDiscoveryURL() + `"` + allowed
	}})
}

// signIn runs the real flow as user in a fresh browser and returns the
// session it got (nil: none).
func (s *site) signIn(t *testing.T, username, password string) *session.Session {
	t.Helper()
	s.browser = testenv.NewBrowserClient(t)
	testenv.Login(t, s.browser, s.url+"/_lcw/login?rd=/", username, password)
	return s.browserSession(t)
}

// Discovery succeeds although the document's issuer is the template (the
// proxy is ready), users of both tenants sign in with their tenant's
// issuer, their sessions refresh (the refreshed ID token is checked the
// same way), and a token of another issuer is refused.
func TestEntraMultiTenantSignIn(t *testing.T) {
	s := entraSite(t, ", allowed_tenants: ["+tenantA+", "+strings.ToUpper(tenantB)+"]", nil)
	for _, u := range []struct{ name, password, tenant string }{
		{testenv.VIPUsername, testenv.VIPPassword, tenantA},
		{testenv.CustomerUsername, testenv.CustomerPassword, tenantB},
	} {
		sess := s.signIn(t, u.name, u.password)
		if sess == nil {
			t.Fatalf("%s of tenant %s: no session (logins %v)", u.name, u.tenant, s.count("id_token_invalid"))
		}
		if iss, _ := sess.Claims["iss"].(string); !strings.Contains(iss, u.tenant) {
			t.Errorf("%s: iss %v, want tenant %s's", u.name, sess.Claims["iss"], u.tenant)
		}
		cp := *sess
		cp.RefreshAt = time.Now().Add(-time.Second)
		w := httptest.NewRecorder()
		got, err := s.rp.Session(w, s.request(s.cookieOf(t, &cp)))
		if err != nil || got == nil || got.RefreshedAt.IsZero() {
			t.Fatalf("%s: refresh: session %v, error %v", u.name, got, err)
		}
	}
	if n := s.count("refresh"); n != 2 {
		t.Errorf("refreshes counted %v, want 2", n)
	}
	if sess := s.signIn(t, testenv.PlainUsername, testenv.PlainPassword); sess != nil || s.count("id_token_invalid") != 1 {
		t.Errorf("a token with the provider's plain issuer: session %v, id_token_invalid %v", sess != nil, s.count("id_token_invalid"))
	}
}

// The attacks: a tenant not in oidc.allowed_tenants; a token whose iss
// names tenant A but whose tid says B; an iss of tenant A on another host;
// no tid at all; and a refreshed ID token that moves to another tenant.
func TestEntraTokensRefused(t *testing.T) {
	t.Run("tenant not allowed", func(t *testing.T) {
		s := entraSite(t, ", allowed_tenants: ["+tenantA+"]", nil)
		if sess := s.signIn(t, testenv.VIPUsername, testenv.VIPPassword); sess == nil {
			t.Fatal("tenant A: no session")
		}
		if sess := s.signIn(t, testenv.CustomerUsername, testenv.CustomerPassword); sess != nil || s.count("id_token_invalid") != 1 {
			t.Errorf("tenant B: session %v, id_token_invalid %v", sess != nil, s.count("id_token_invalid"))
		}
	})
	var edit atomic.Pointer[func(map[string]any)]
	s := entraSite(t, "", &edit)
	sess := s.signIn(t, testenv.VIPUsername, testenv.VIPPassword)
	if sess == nil {
		t.Fatal("no session before the attacks")
	}
	for i, tt := range []struct {
		name string
		edit func(map[string]any)
	}{
		{"iss of tenant A, tid of tenant B", func(c map[string]any) { c["tid"] = tenantB }},
		{"iss of tenant B, tid of tenant A", func(c map[string]any) { c["iss"] = s.op.TenantIssuer(tenantB) }},
		{"iss of tenant A on another host", func(c map[string]any) {
			c["iss"] = strings.Replace(s.op.TenantIssuer(tenantA), "127.0.0.1", "127.0.0.2", 1)
		}},
		{"no tid", func(c map[string]any) { delete(c, "tid") }},
		{"tid not a tenant id", func(c map[string]any) { c["tid"], c["iss"] = "common", s.op.TenantIssuer("common") }},
		{"the template itself", func(c map[string]any) { c["tid"], c["iss"] = "{tenantid}", s.op.IssuerTemplate() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			edit.Store(&tt.edit)
			defer edit.Store(nil)
			if got := s.signIn(t, testenv.VIPUsername, testenv.VIPPassword); got != nil || s.count("id_token_invalid") != float64(i+1) {
				t.Errorf("sign-in: session %v, id_token_invalid %v", got != nil, s.count("id_token_invalid"))
			}
			// The same ID token on refresh ends the session.
			cp := *sess
			cp.RefreshAt = time.Now().Add(-time.Second)
			got, err := s.rp.Session(httptest.NewRecorder(), s.request(s.cookieOf(t, &cp)))
			if err != nil || got != nil {
				t.Errorf("refresh: session %v, error %v", got != nil, err)
			}
		})
	}
}

// Logout tokens go through the same issuer and tenant check: a logout
// token of an allowed tenant is accepted; one from a foreign tenant, one
// whose iss and tid disagree, and one from another host are refused.
func TestEntraLogoutTokens(t *testing.T) {
	s := entraSite(t, ", allowed_tenants: ["+tenantA+", "+tenantB+"]", nil)
	p, err := s.rp.disc.get()
	if err != nil {
		t.Fatal(err)
	}
	token := func(iss, tid string) string {
		c := logoutClaimsFor(s.op, "sub-1")
		c["iss"] = iss
		if tid != "" {
			c["tid"] = tid
		}
		return signedByOP(t, s.op, c)
	}
	for _, tt := range []struct {
		name   string
		raw    string
		accept bool
	}{
		{"tenant A", token(s.op.TenantIssuer(tenantA), tenantA), true},
		{"tenant B", token(s.op.TenantIssuer(tenantB), tenantB), true},
		{"a foreign tenant", token(s.op.TenantIssuer(tenantC), tenantC), false},
		{"iss of tenant A, tid of tenant B", token(s.op.TenantIssuer(tenantA), tenantB), false},
		{"no tid", token(s.op.TenantIssuer(tenantA), ""), false},
		{"another host", token(strings.Replace(s.op.TenantIssuer(tenantA), "127.0.0.1", "127.0.0.2", 1), tenantA), false},
		{"the plain issuer", token(s.op.Issuer, tenantA), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifyLogoutToken(context.Background(), p, tt.raw, time.Now(), time.Minute)
			if (err == nil) != tt.accept {
				t.Errorf("accepted %v, want %v: %v", err == nil, tt.accept, err)
			}
			if err != nil && !tt.accept {
				var r *logoutRefusal
				if !errors.As(err, &r) || r.result != "invalid_token" {
					t.Errorf("refusal %v, want invalid_token", err)
				}
			}
		})
	}
}

// The issuer rule on its own: what a discovery document may announce.
func TestIssuerRuleDiscovered(t *testing.T) {
	r := newIssuerRule(config.OIDC{Issuer: "https://login.microsoftonline.com/{tenantid}/v2.0"})
	for iss, want := range map[string]bool{
		"https://login.microsoftonline.com/{tenantid}/v2.0":                        true,
		"https://login.microsoftonline.com/" + tenantA + "/v2.0":                   true,
		"https://login.microsoftonline.com/common/v2.0":                            false,
		"https://login.microsoftonline.com/" + tenantA + "/v2.0/":                  false,
		"https://sts.windows.net/" + tenantA + "/":                                 false,
		"https://login.microsoftonline.com.evil.example/" + tenantA + "/v2.0":      false,
		"https://login.microsoftonline.com/" + tenantA + "/x/" + tenantA + "/v2.0": false,
	} {
		if got := r.matchesDiscovered(iss); got != want {
			t.Errorf("%s: %v, want %v", iss, got, want)
		}
	}
	exact := newIssuerRule(config.OIDC{Issuer: "https://idp.example.com"})
	if !exact.matchesDiscovered("https://idp.example.com") || exact.matchesDiscovered("https://idp.example.com/") {
		t.Error("an issuer without a template must match exactly")
	}
}

// RP-initiated logout through the multi-tenant provider's
// end_session_endpoint: the provider takes the tenant's ID token as
// id_token_hint and sends the browser back to the site.
func TestEntraRPLogout(t *testing.T) {
	s := entraSite(t, "", nil)
	if s.signIn(t, testenv.VIPUsername, testenv.VIPPassword) == nil {
		t.Fatal("no session")
	}
	resp, err := s.noRedirect().Get(s.url + "/_lcw/logout")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, s.op.Issuer) || s.browserSession(t) != nil {
		t.Fatalf("logout: %d to %s, session left %v", resp.StatusCode, loc, s.browserSession(t) != nil)
	}
	resp, err = s.browser.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.String() != s.url+"/" {
		t.Errorf("the provider's logout ended at %s (%d), want back on the site", resp.Request.URL, resp.StatusCode)
	}
}

// A discovery document that is an HTML error page (a 404 with a body of
// many lines) fails with a one-line message, in both discovery paths.
func TestDiscoveryErrorIsOneLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>\n<body>\n<h1>Not Found</h1>\n"+strings.Repeat("x", 500)+"\n</body></html>", http.StatusNotFound)
	}))
	defer srv.Close()
	for _, o := range []config.OIDC{
		{Issuer: srv.URL},
		{Issuer: srv.URL + "/{tenantid}/v2.0", DiscoveryURL: srv.URL + "/common/v2.0/.well-known/openid-configuration"},
	} {
		_, err := Discover(context.Background(), srv.Client(), o)
		if err == nil || strings.ContainsAny(err.Error(), "\n\r") || len(err.Error()) > 310 || !strings.Contains(err.Error(), "404") {
			t.Errorf("discovery of %s: %q, want one line naming the 404", o.Issuer, err)
		}
	}
}
