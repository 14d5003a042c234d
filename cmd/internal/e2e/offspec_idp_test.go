package e2e

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

const offspecOIDC = `oidc:
  issuer: {issuer}
  client_id: lcw-auth-proxy
  client_secret: secret
  scopes: [openid, profile, email, offline_access]
`

// Amazon Cognito: no end_session_endpoint, a /logout that wants client_id
// and logout_uri and refuses post_logout_redirect_uri. With
// oidc.logout_url the user signs in, logs out at the IdP and is back at
// the site, signed out.
func TestCognitoLogout(t *testing.T) {
	e := startEnv(t, envOptions{OP: testenv.OPOptions{CognitoLogout: true},
		Extra: offspecOIDC + "  logout_url: {issuer}/logout?client_id={client_id}&logout_uri={post_logout_redirect_uri}\n"})
	// The test OP refuses what the spec's logout would send.
	refused := testenv.Do(t, noRedirect(testenv.NewBrowserClient(t)), "GET",
		e.OP.Issuer+"/logout?client_id=lcw-auth-proxy&post_logout_redirect_uri="+url.QueryEscape(e.URL+"/"), nil)
	if refused.StatusCode != http.StatusBadRequest {
		t.Fatalf("Cognito-like /logout with post_logout_redirect_uri: %d, want 400", refused.StatusCode)
	}
	c, resp := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in ended with %d", resp.StatusCode)
	}
	out := testenv.Do(t, noRedirect(c), "GET", e.URL+"/_lcw/logout", nil)
	loc, _ := url.Parse(out.Header.Get("Location"))
	q := loc.Query()
	if out.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), e.OP.Issuer+"/logout?") ||
		q.Get("client_id") != "lcw-auth-proxy" || q.Get("logout_uri") != e.URL+"/" || q.Has("post_logout_redirect_uri") {
		t.Fatalf("logout redirect %d %s", out.StatusCode, loc)
	}
	back := testenv.Do(t, noRedirect(c), "GET", loc.String(), nil)
	if back.StatusCode != http.StatusFound || back.Header.Get("Location") != e.URL+"/" {
		t.Fatalf("the IdP's logout answered %d %s, want a redirect back to the site", back.StatusCode, back.Header.Get("Location"))
	}
	site := testenv.Do(t, noRedirect(c), "GET", e.URL+"/", nil)
	if site.StatusCode != http.StatusUnauthorized { // a client without Fetch metadata: 401, not a login redirect
		t.Fatalf("back at the site: %d %s, want signed out (sent to login)", site.StatusCode, site.Header.Get("Location"))
	}
}

// An IdP behind a private CA (ADFS): sign-in works with oidc.ca_file;
// without it the proxy is not ready and the log names x509 and the key.
func TestPrivateCAIdP(t *testing.T) {
	ca := testenv.NewPrivateCA(t)
	t.Run("with oidc.ca_file", func(t *testing.T) {
		e := startEnv(t, envOptions{OP: testenv.OPOptions{TLS: ca.Server}, Extra: offspecOIDC + "  ca_file: " + ca.CAFile + "\n"})
		if !strings.HasPrefix(e.OP.Issuer, "https://") {
			t.Fatalf("OP issuer %s, want https", e.OP.Issuer)
		}
		c := testenv.NewBrowserClient(t)
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}}
		resp := testenv.Login(t, c, e.URL+"/_lcw/login?rd=/", testenv.VIPUsername, testenv.VIPPassword)
		if b := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(b, "upstream saw GET /") {
			t.Fatalf("sign-in through the TLS IdP: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("without", func(t *testing.T) {
		e := startEnv(t, envOptions{OP: testenv.OPOptions{TLS: ca.Server}, SkipReady: true})
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(e.Logs.String(), "oidc.ca_file") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		logs := e.Logs.String()
		if !strings.Contains(logs, "x509") || !strings.Contains(logs, "oidc.ca_file") {
			t.Fatalf("no log line naming x509 and oidc.ca_file:\n%s", logs)
		}
		if e.App.Ready() == nil {
			t.Fatal("ready although the IdP's certificate is not trusted")
		}
		if r := testenv.Do(t, noRedirect(testenv.NewBrowserClient(t)), "GET", e.URL+"/_lcw/login", nil); r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("login %d, want 503 while the IdP is not trusted", r.StatusCode)
		}
		if up := testutil.ToFloat64(e.App.Metrics().DependencyUp.WithLabelValues("idp")); up != 0 {
			t.Fatalf("lcw_dependency_up{dep=idp} = %v, want 0", up)
		}
	})
}
