// Package preflight checks, from where the proxy runs, that what a
// configuration points at answers: the OpenID provider's discovery document
// and keys, the session store, the Dataverse contact lookup, and the
// upstream. check-config --online runs it before a
// deployment; the demo checks a --upstream of the user's with it.
//
// A finding is a fact about the network, not about the configuration file:
// serve itself starts without these answers (it retries discovery, and
// answers 502 while the upstream is down), so they are reported, never
// turned into start-up errors.
package preflight

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/login"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// Finding is the result of one check.
type Finding struct {
	Key string // the configuration key the check is about
	OK  bool
	// Msg says what was seen; Fix, when not OK, what to do about it.
	Msg, Fix string
}

func (f Finding) String() string {
	if f.OK {
		return fmt.Sprintf("ok    %s: %s", f.Key, f.Msg)
	}
	return fmt.Sprintf("FAIL  %s: %s; fix: %s", f.Key, f.Msg, f.Fix)
}

// maxDocument bounds what is read of a discovery document or key set.
const maxDocument = 1 << 20

// Online runs every check against cfg: the provider, the session store,
// the contact lookup, then the upstream.
func Online(ctx context.Context, cfg *config.Config) []Finding {
	out := Provider(ctx, cfg.OIDC)
	out = append(out, Store(ctx, cfg.Session)...)
	out = append(out, Contact(ctx, cfg.Token.Contact, cfg.OIDC.AllowUnverifiedEmail)...)
	return append(out, Upstream(ctx, cfg.UpstreamURL, cfg.Upstream))
}

// Provider fetches the discovery document the way serve does
// (login.Discover: the exact issuer, or with oidc.discovery_url and a
// {tenantid} issuer the issuer template or one tenant's issuer) and the
// key set it names.
func Provider(ctx context.Context, o config.OIDC) []Finding {
	ctx, cancel := context.WithTimeout(ctx, o.DiscoveryTimeout.D())
	defer cancel()
	// As serve: oidc.ca_file's roots (read once by config) for every call.
	client := &http.Client{Timeout: o.DiscoveryTimeout.D()}
	if tc := o.TLSConfig(); tc != nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tc
		client.Transport = t
		defer t.CloseIdleConnections()
	}
	// Printed: without the credentials an issuer URL might carry.
	discoveryURL := config.RedactURL(o.DiscoveryDocumentURL())
	d, err := login.Discover(ctx, client, o)
	if err != nil {
		return []Finding{{Key: login.DiscoveryKey(o), Msg: fmt.Sprintf("discovery at %s failed: %s", discoveryURL, config.RedactURL(err.Error())), Fix: login.DiscoveryFix(o, err)}}
	}
	var doc struct {
		JWKSURI    string `json:"jwks_uri"`
		EndSession string `json:"end_session_endpoint"`
	}
	if err := json.Unmarshal(d.Doc, &doc); err != nil || doc.JWKSURI == "" {
		return []Finding{{Key: "oidc.issuer", Msg: fmt.Sprintf("the discovery document at %s names no jwks_uri", discoveryURL),
			Fix: "oidc.issuer must be an OpenID Connect provider; check that the URL is its issuer, not a login page"}}
	}
	logout := "no end_session_endpoint: logout ends the proxy's session only"
	switch {
	case o.LogoutURL != "":
		logout = "RP-initiated logout at oidc.logout_url " + config.RedactURL(o.LogoutURL)
	case doc.EndSession != "":
		logout = "RP-initiated logout at " + doc.EndSession
	}
	found := []Finding{{Key: "oidc.issuer", OK: true, Msg: fmt.Sprintf("discovery document at %s names this issuer; %s", discoveryURL, logout)}}
	if o.IssuerTemplated() {
		tenants := "any tenant (oidc.allowed_tenants is empty)"
		if len(o.AllowedTenants) > 0 {
			tenants = fmt.Sprintf("the tenants %s", strings.Join(o.AllowedTenants, ", "))
		}
		found[0].Msg += fmt.Sprintf("; ID and logout tokens must carry iss %s with their tid in place, from %s", o.Issuer, tenants)
	}
	return append(found, keySet(ctx, client, doc.JWKSURI))
}

func keySet(ctx context.Context, client *http.Client, uri string) Finding {
	f := Finding{Key: "oidc.issuer", Fix: "the provider's jwks_uri must serve its signing keys; check the provider's configuration"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		f.Msg = fmt.Sprintf("jwks_uri %q is not a URL: %v", uri, err)
		return f
	}
	resp, err := client.Do(req)
	if err != nil {
		f.Msg = fmt.Sprintf("fetch the key set %s: %v", uri, err)
		return f
	}
	defer resp.Body.Close()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument))
	switch {
	case err != nil:
		f.Msg = fmt.Sprintf("read the key set %s: %v", uri, err)
	case resp.StatusCode != http.StatusOK:
		f.Msg = fmt.Sprintf("the key set %s answered %s", uri, resp.Status)
	case json.Unmarshal(body, &set) != nil || len(set.Keys) == 0:
		f.Msg = fmt.Sprintf("the key set %s holds no keys: ID tokens could not be verified", uri)
	default:
		f.OK, f.Msg, f.Fix = true, fmt.Sprintf("key set at %s holds %d key(s)", uri, len(set.Keys)), ""
	}
	return f
}

// upstreamTimeout bounds the upstream check; a site that does not send
// response headers within it is reported as not answering.
const upstreamTimeout = 10 * time.Second

// Upstream sends one GET to the upstream's address, with the proxy's TLS
// settings for it (up.TLSConfig: the CA file was read when the
// configuration was loaded). Any HTTP answer, whatever its status, shows
// the site is there; only a failed connection, TLS handshake or timeout is
// a finding.
func Upstream(ctx context.Context, u *url.URL, up config.Upstream) Finding {
	f := Finding{Key: "upstream.url"}
	if u == nil {
		f.Msg, f.Fix = "no upstream configured", "set upstream.url to the site to proxy"
		return f
	}
	client := &http.Client{
		Timeout: upstreamTimeout,
		Transport: &http.Transport{
			Proxy:           nil, // as the proxy: straight to the upstream
			TLSClientConfig: up.TLSConfig(),
			DialContext:     (&net.Dialer{Timeout: up.DialTimeout.D()}).DialContext,
		},
		// The upstream's own answer counts, not where it redirects to.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		f.Msg, f.Fix = config.RedactURL(err.Error()), "set upstream.url to an http or https URL"
		return f
	}
	resp, err := client.Do(req)
	if err != nil {
		f.Msg = fmt.Sprintf("%s does not answer: %s", config.RedactURL(u.String()), config.RedactURL(err.Error()))
		f.Fix = "start the site, or set upstream.url to the address it listens on (as seen from the proxy)"
		if strings.Contains(err.Error(), "certificate") {
			f.Fix = "set upstream.ca_file to the CA that signed the upstream's certificate"
		}
		return f
	}
	resp.Body.Close()
	f.OK, f.Msg = true, fmt.Sprintf("%s answers (%s)", config.RedactURL(u.String()), resp.Status)
	return f
}
