package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// Identity providers off the spec's path: Microsoft Entra ID's multi-tenant
// endpoints (/common, /organizations), Azure AD B2C and Entra External ID
// serve their discovery document somewhere else than
// {issuer}/.well-known/openid-configuration (oidc.discovery_url), and the
// multi-tenant document names the issuer
// https://login.microsoftonline.com/{tenantid}/v2.0, a template no token
// carries: each token's iss has the signing tenant's id in its place, the
// same id as its tid claim. go-oidc insists on one exact issuer for both
// (coreos/go-oidc#344), so with a template the issuer is checked here, on
// every ID token (refreshed ones too) and every logout token: iss must be
// oidc.issuer with the token's tid in place, tid a tenant id, and in
// oidc.allowed_tenants when that is set. Never "any issuer".

// maxDiscoveryDocument bounds what is read of a discovery document.
const maxDiscoveryDocument = 1 << 20

// Discovered is a provider's discovery document as the proxy reads it.
type Discovered struct {
	Provider *oidc.Provider
	// Doc is the document itself, for the fields go-oidc does not expose
	// (end_session_endpoint, token_endpoint_auth_methods_supported).
	Doc json.RawMessage
	// URL is where it was fetched.
	URL string
}

// Discover fetches the discovery document o names (oidc.discovery_url, or
// the issuer's) with client and checks the issuer it announces against
// oidc.issuer: equal, or, for a {tenantid} issuer, the same template or
// one tenant's issuer of it. A mismatch is an *oidc.IssuerMismatchError.
// serve and check-config --online both discover through it.
func Discover(ctx context.Context, client *http.Client, o config.OIDC) (*Discovered, error) {
	cctx := oidc.ClientContext(ctx, client)
	if o.DiscoveryURL == "" && !o.IssuerTemplated() {
		// On the spec's path: go-oidc's discovery as it always was.
		op, err := oidc.NewProvider(cctx, o.Issuer)
		if err != nil {
			return nil, oneLine{err}
		}
		var doc json.RawMessage
		if err := op.Claims(&doc); err != nil {
			return nil, fmt.Errorf("read discovery document: %w", err)
		}
		return &Discovered{Provider: op, Doc: doc, URL: o.DiscoveryDocumentURL()}, nil
	}
	doc, err := fetchDiscovery(ctx, client, o.DiscoveryURL)
	if err != nil {
		return nil, oneLine{err}
	}
	var pc oidc.ProviderConfig
	if err := json.Unmarshal(doc, &pc); err != nil {
		return nil, fmt.Errorf("decode the discovery document at %s: %w", config.RedactURL(o.DiscoveryURL), err)
	}
	if !newIssuerRule(o).matchesDiscovered(pc.IssuerURL) {
		return nil, &oidc.IssuerMismatchError{Provided: o.Issuer, Discovered: pc.IssuerURL}
	}
	// As oidc.NewProvider does: only the algorithms go-oidc verifies.
	var algs []string
	for _, a := range pc.Algorithms {
		if supportedAlg(a) {
			algs = append(algs, a)
		}
	}
	pc.Algorithms = algs
	return &Discovered{Provider: pc.NewProvider(cctx), Doc: doc, URL: o.DiscoveryURL}, nil
}

// oneLine is an error whose message is one line of at most 300 bytes: a
// failed discovery's message carries the body the IdP (or whatever answers
// in its place, an HTML 404 page) sent, and log lines and check-config's
// output must stay one line each.
type oneLine struct{ err error }

func (e oneLine) Error() string {
	msg := strings.Join(strings.Fields(e.err.Error()), " ")
	if len(msg) > 300 {
		msg = strings.ToValidUTF8(msg[:300], "") + "…"
	}
	return msg
}

func (e oneLine) Unwrap() error { return e.err }

// fetchDiscovery GETs a discovery document.
func fetchDiscovery(ctx context.Context, client *http.Client, url string) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("discovery URL: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryDocument))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read the discovery document: %w", err)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body[:min(len(body), 200)])))
	case !json.Valid(body):
		return nil, errors.New("the discovery document is not JSON")
	}
	return body, nil
}

// issuerRule is oidc.issuer as tokens are checked against it.
type issuerRule struct {
	exact string // the issuer without a template
	// With a template: the issuer around {tenantid}, and the allowed
	// tenants in lower case (empty: any tenant).
	templated      bool
	prefix, suffix string
	tenants        map[string]bool
}

func newIssuerRule(o config.OIDC) issuerRule {
	if !o.IssuerTemplated() {
		return issuerRule{exact: o.Issuer}
	}
	prefix, suffix, _ := strings.Cut(o.Issuer, config.TenantIDPlaceholder)
	r := issuerRule{templated: true, prefix: prefix, suffix: suffix}
	if len(o.AllowedTenants) > 0 {
		r.tenants = make(map[string]bool, len(o.AllowedTenants))
		for _, t := range o.AllowedTenants {
			r.tenants[strings.ToLower(t)] = true
		}
	}
	return r
}

// matchesDiscovered reports whether a discovery document's issuer fits:
// the configured issuer itself (Entra's multi-tenant document announces
// the template), or, with a template, one tenant's issuer of it (a
// tenant's own document).
func (r issuerRule) matchesDiscovered(iss string) bool {
	if !r.templated {
		return iss == r.exact
	}
	if iss == r.prefix+config.TenantIDPlaceholder+r.suffix {
		return true
	}
	t, ok := strings.CutPrefix(iss, r.prefix)
	if !ok {
		return false
	}
	t, ok = strings.CutSuffix(t, r.suffix)
	return ok && config.IsGUID(t)
}

// errIssuer is a token whose issuer or tenant does not fit oidc.issuer and
// oidc.allowed_tenants.
var errIssuer = errors.New("token issuer refused")

// check verifies a token's issuer and tenant against a templated issuer;
// without a template, go-oidc has already compared iss with the issuer.
func (r issuerRule) check(idt *oidc.IDToken) error {
	if !r.templated {
		return nil
	}
	var c struct {
		TID any `json:"tid"`
	}
	if err := idt.Claims(&c); err != nil {
		return fmt.Errorf("%w: read tid: %w", errIssuer, err)
	}
	tid, _ := c.TID.(string)
	return r.checkTenant(idt.Issuer, tid)
}

// checkIssuer checks an issuer that comes without a token (a front-channel
// logout request's iss): oidc.issuer itself, or, with a template, the
// issuer with a tenant id in place that oidc.allowed_tenants allows, by
// the very checks a token's iss and tid get (checkTenant, the tenant read
// from iss itself).
func (r issuerRule) checkIssuer(iss string) error {
	if !r.templated {
		if iss != r.exact {
			return fmt.Errorf("%w: iss %q is not oidc.issuer", errIssuer, iss)
		}
		return nil
	}
	t, _ := strings.CutPrefix(iss, r.prefix)
	t, _ = strings.CutSuffix(t, r.suffix)
	return r.checkTenant(iss, t)
}

// checkTenant: tid is a tenant id, iss the configured issuer with exactly
// that tid in place, and the tenant allowed.
func (r issuerRule) checkTenant(iss, tid string) error {
	switch {
	case !config.IsGUID(tid):
		return fmt.Errorf("%w: the token has no tenant id in tid (got %q), which oidc.issuer's %s needs", errIssuer, tid, config.TenantIDPlaceholder)
	case iss != r.prefix+tid+r.suffix:
		return fmt.Errorf("%w: iss %q is not %s%s%s with the token's tid %s", errIssuer, iss, r.prefix, config.TenantIDPlaceholder, r.suffix, tid)
	case r.tenants != nil && !r.tenants[strings.ToLower(tid)]:
		return fmt.Errorf("%w: tenant %s is not in oidc.allowed_tenants", errIssuer, tid)
	}
	return nil
}
