package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// Tenant ids of the Microsoft-shaped test OPs.
const (
	msTenantA  = "00000000-0000-4000-8000-0000000000aa"
	msTenantB  = "00000000-0000-4000-8000-0000000000bb"
	msB2CID    = "00000000-0000-4000-8000-0000000000cc"
	msCIAMID   = "00000000-0000-4000-8000-0000000000dd"
	msTenantOf = "contoso"
)

// msIdP is one of Microsoft's identity providers, as the test OP plays it
// and as its example in deploy/examples configures the proxy.
type msIdP struct {
	name string
	op   testenv.OPOptions
	// oidc is the example's issuer, discovery_url, tenant and email
	// settings for the running OP.
	oidc func(op *testenv.OP) string
	// email: the chat token and the identity header carry the VIP user's
	// email (only when the IdP's claims vouch for it).
	email bool
}

func microsoftIdPs() []msIdP {
	xmsEdov := func(c map[string]any) { c["xms_edov"] = true }
	multiTenant := func(op *testenv.OP) string {
		return "  issuer: \"" + op.IssuerTemplate() + "\"\n  discovery_url: " + op.Issuer + devidp.OrganizationsDiscoveryPath +
			"\n  allowed_tenants: [" + msTenantA + "]\n"
	}
	tenants := map[string]string{testenv.VIPUsername: msTenantA, testenv.CustomerUsername: msTenantB}
	return []msIdP{
		// entra-multitenant.yaml: the email counts with xms_edov only.
		{name: "entra-multitenant with xms_edov", op: testenv.OPOptions{Tenants: tenants, EditIDToken: xmsEdov}, oidc: multiTenant, email: true},
		{name: "entra-multitenant without xms_edov", op: testenv.OPOptions{Tenants: tenants}, oidc: multiTenant},
		// azure-ad-b2c.yaml: the user flow's document, the tenant-GUID
		// issuer, the address from the emails array.
		{name: "azure-ad-b2c", op: testenv.OPOptions{B2C: &devidp.B2C{Tenant: msTenantOf, TenantID: msB2CID, Policy: "B2C_1_signupsignin"}},
			oidc: func(op *testenv.OP) string {
				return "  issuer: " + op.B2CIssuer() + "\n  discovery_url: " + op.B2CDiscoveryURL() + "\n  allow_unverified_email: true\n"
			}, email: true},
		// entra-external-id.yaml: the issuer on another host than the
		// document's.
		{name: "entra-external-id", op: testenv.OPOptions{ExternalID: &devidp.ExternalID{Tenant: msTenantOf, TenantID: msCIAMID}},
			oidc: func(op *testenv.OP) string {
				return "  issuer: " + op.ExternalIDIssuer() + "\n  discovery_url: " + op.ExternalIDDiscoveryURL() + "\n  allow_unverified_email: true\n"
			}, email: true},
	}
}

// startMicrosoft runs the proxy against idp's test OP, configured as the
// example is, with extra (YAML sections other than oidc).
func startMicrosoft(t *testing.T, idp msIdP, extra string) *env {
	t.Helper()
	return startEnv(t, envOptions{OP: idp.op, Extra: extra, ExtraFor: func(op *testenv.OP) string {
		return oidcSectionFor(idp.oidc(op))
	}})
}

// Each of Microsoft's IdPs, configured as its example: discovery succeeds
// (the proxy is ready although no document's issuer is the token's), the
// user signs in, the chat token carries the email exactly when the IdP's
// claims vouch for it, the session refreshes (the refreshed ID token is
// checked by the same issuer rule), and RP-initiated logout goes to the
// IdP with id_token_hint and comes back signed out.
func TestMicrosoftIdPsAsTheirExamples(t *testing.T) {
	t.Parallel()
	for _, idp := range microsoftIdPs() {
		t.Run(idp.name, func(t *testing.T) {
			e := startMicrosoft(t, idp, "headers:\n  pass: true\nsession:\n  secret: {secret}\n  refresh_interval: 1s\n")
			c, resp := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/page")
			page := body(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("sign-in ended with %d:\n%s", resp.StatusCode, page)
			}
			sess := body(t, testenv.Do(t, c, "GET", e.URL+"/_lcw/session", nil))
			hasEmail := strings.Contains(sess, `"customer_email": "vip@example.com"`)
			header := strings.Contains(page, "X-Forwarded-Email: vip@example.com")
			if hasEmail != idp.email || header != idp.email {
				t.Errorf("email in the chat token = %v, in the identity header = %v, want %v:\n%s\n%s", hasEmail, header, idp.email, sess, page)
			}

			old, err := e.cookie(c, "_lcw")
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(1200 * time.Millisecond)
			if r := testenv.Do(t, c, "GET", e.URL+"/after-refresh", nil); r.StatusCode != http.StatusOK {
				t.Fatalf("after the refresh interval: %d", r.StatusCode)
			}
			if n := testutil.ToFloat64(e.App.Metrics().Logins.WithLabelValues("refresh")); n != 1 {
				t.Errorf("refreshes = %v, want 1", n)
			}
			if nw, _ := e.cookie(c, "_lcw"); nw == nil || nw.Value == old.Value {
				t.Error("the session was not renewed by the refresh")
			}

			out := testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/logout", nil)
			loc, _ := url.Parse(out.Header.Get("Location"))
			if out.StatusCode != http.StatusFound || loc.Query().Get("id_token_hint") == "" || loc.Query().Get("post_logout_redirect_uri") != e.URL+"/" {
				t.Fatalf("logout redirect %d %s, want the IdP with id_token_hint and post_logout_redirect_uri", out.StatusCode, loc)
			}
			back := testenv.Do(t, noRedirect(c), "GET", loc.String(), nil)
			if back.StatusCode != http.StatusFound || back.Header.Get("Location") != e.URL+"/" {
				t.Fatalf("the IdP's logout answered %d %s, want a redirect back to the site", back.StatusCode, back.Header.Get("Location"))
			}
			if _, err := e.cookie(c, "_lcw"); err == nil {
				t.Error("the session cookie survived logout")
			}
		})
	}
}

// A user of a tenant not in oidc.allowed_tenants gets no session, though
// Entra's /organizations endpoint signed them in.
func TestEntraTenantNotAllowed(t *testing.T) {
	e := startMicrosoft(t, microsoftIdPs()[0], "")
	c, resp := e.login(t, testenv.CustomerUsername, testenv.CustomerPassword, "/page")
	page := body(t, resp)
	if resp.StatusCode == http.StatusOK || strings.Contains(page, "upstream saw") {
		t.Fatalf("a user of tenant %s reached the site (%d):\n%s", msTenantB, resp.StatusCode, page)
	}
	if _, err := e.cookie(c, "_lcw"); err == nil {
		t.Error("a user of a tenant not allowed got a session cookie")
	}
	// The allowed tenant still signs in on the same proxy.
	if _, resp := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/page"); resp.StatusCode != http.StatusOK {
		t.Errorf("a user of the allowed tenant: %d", resp.StatusCode)
	}
}

// Silent sign-in (prompt=none) against each of Microsoft's IdPs as its
// example configures it: the prompt=none answer carries the tenant's (or
// the B2C or External ID tenant-GUID) issuer, checked as a click's.
func TestSilentSignInMicrosoftIdPs(t *testing.T) {
	for _, idp := range microsoftIdPs() {
		t.Run(idp.name, func(t *testing.T) {
			idp.op.RememberBrowser = true
			e := startMicrosoft(t, idp, silentExtra+"headers:\n  pass: true\n")
			c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
			fresh := idpSessionOnly(t, e, c)
			seen, resp := hops(t, fresh, e.URL+"/account", topLevel)
			page := body(t, resp)
			if resp.StatusCode != http.StatusOK || seen[len(seen)-1] != e.URL+"/account" || strings.Contains(page, "X-Forwarded-User: \n") {
				t.Fatalf("silent sign-in: ended at %s (%d) after %v:\n%s", seen[len(seen)-1], resp.StatusCode, seen, page)
			}
			if strings.Contains(page, "X-Forwarded-Email: vip@example.com") != idp.email {
				t.Errorf("email after silent sign-in: want it %v (only when the claims vouch for it):\n%s", idp.email, page)
			}
			if n := testutil.ToFloat64(e.App.Metrics().Logins.WithLabelValues("silent_success")); n != 1 {
				t.Errorf("silent_success = %v, want 1", n)
			}
		})
	}
}

// Silent sign-in for a user signed in at Entra in a tenant not in
// oidc.allowed_tenants: the prompt=none answer is refused like a click's,
// the page is served anonymous where the visitor was, once, with no loop
// back through the IdP.
func TestSilentSignInEntraTenantNotAllowed(t *testing.T) {
	idp := microsoftIdPs()[0]
	idp.op.RememberBrowser = true
	e := startMicrosoft(t, idp, silentExtra+"headers:\n  pass: true\n")
	c, _ := e.login(t, testenv.CustomerUsername, testenv.CustomerPassword, "/")
	fresh := idpSessionOnly(t, e, c)
	seen, resp := hops(t, fresh, e.URL+"/account", topLevel)
	page := body(t, resp)
	if resp.StatusCode != http.StatusOK || seen[len(seen)-1] != e.URL+"/account" || !strings.Contains(page, "X-Forwarded-User: \n") {
		t.Fatalf("ended at %s (%d) after %v, want the page anonymous:\n%s", seen[len(seen)-1], resp.StatusCode, seen, page)
	}
	if n := throughIdP(seen, e.OP.Issuer); n != 1 {
		t.Errorf("%d round trips through the IdP, want exactly 1: %v", n, seen)
	}
	if _, err := e.cookie(fresh, "_lcw"); err == nil {
		t.Error("a user of a tenant not allowed got a session by silent sign-in")
	}
	if seen, _ := hops(t, fresh, e.URL+"/other", topLevel); len(seen) != 1 {
		t.Errorf("the next navigation went through the IdP again: %v", seen)
	}
	m := e.App.Metrics().Logins
	if ok, bad := testutil.ToFloat64(m.WithLabelValues("silent_success")), testutil.ToFloat64(m.WithLabelValues("silent_id_token_invalid")); ok != 0 || bad != 1 {
		t.Errorf("silent_success = %v, silent_id_token_invalid = %v, want 0 and 1 (refused by the ID token's issuer rule)", ok, bad)
	}
}
