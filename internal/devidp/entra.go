package devidp

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// Microsoft's identity providers off the spec's path, as Options.Tenants,
// Options.B2C and Options.ExternalID make the provider behave. Each serves
// its discovery document somewhere else than under the issuer it
// announces, and its ID tokens carry that issuer (or, multi-tenant, their
// tenant's), not the library's:
//
//   - Entra ID's multi-tenant endpoints: the documents of /common and
//     /organizations announce the issuer template
//     https://login.microsoftonline.com/{tenantid}/v2.0, which no token
//     carries; each ID token's iss is its user's tenant's issuer,
//     .../<tenant id>/v2.0, next to the same id in tid, and no
//     email_verified (Entra's optional claim xms_edov is the tests' to add
//     with EditIDToken).
//   - Azure AD B2C: one document per user flow, at
//     /<tenant>.onmicrosoft.com/<policy>/v2.0/.well-known/openid-configuration,
//     announcing the tenant-GUID issuer .../<tenant id>/v2.0/ (trailing
//     slash included); ID tokens carry tfp (the user flow), the
//     account's addresses as the array emails, and neither email nor
//     email_verified.
//   - Entra External ID: the document at
//     /<tenant>.onmicrosoft.com/v2.0/.well-known/openid-configuration
//     announces an issuer on another host than the document's
//     (https://<tenant id>.ciamlogin.com/<tenant id>/v2.0; here localhost
//     for 127.0.0.1); ID tokens carry it, tid, and email without
//     email_verified.
//
// Everything else (keys, endpoints) is the one provider's.

// Paths of the multi-tenant discovery documents, as Entra serves them.
const (
	CommonDiscoveryPath        = "/common/v2.0" + oidc.DiscoveryEndpoint
	OrganizationsDiscoveryPath = "/organizations/v2.0" + oidc.DiscoveryEndpoint
)

// tenantTemplate is the placeholder Entra's discovery document writes.
const tenantTemplate = "{tenantid}"

// B2C is an Azure AD B2C tenant and the user flow the provider plays.
type B2C struct {
	Tenant   string // the tenant's name: contoso of contoso.onmicrosoft.com
	TenantID string // its GUID
	Policy   string // the user flow, e.g. B2C_1_signupsignin
}

// ExternalID is a Microsoft Entra External ID (external) tenant.
type ExternalID struct {
	Tenant   string // the tenant's name: contoso of contoso.onmicrosoft.com
	TenantID string // its GUID
}

// IssuerTemplate is the issuer the multi-tenant discovery document
// announces: Issuer + "/{tenantid}/v2.0".
func (p *Provider) IssuerTemplate() string { return p.Issuer + "/" + tenantTemplate + "/v2.0" }

// TenantIssuer is the issuer of one tenant's tokens.
func (p *Provider) TenantIssuer(tenant string) string { return p.Issuer + "/" + tenant + "/v2.0" }

// CommonDiscoveryURL is the multi-tenant discovery document's URL.
func (p *Provider) CommonDiscoveryURL() string { return p.Issuer + CommonDiscoveryPath }

// B2CDiscoveryURL is the user flow's discovery document (Options.B2C).
func (p *Provider) B2CDiscoveryURL() string { return p.Issuer + b2cDiscoveryPath(p.b2c) }

// B2CIssuer is the issuer the B2C user flow announces and its tokens carry.
func (p *Provider) B2CIssuer() string { return b2cIssuer(p.Issuer, p.b2c) }

// ExternalIDDiscoveryURL is the External ID tenant's discovery document
// (Options.ExternalID).
func (p *Provider) ExternalIDDiscoveryURL() string {
	return p.Issuer + externalIDDiscoveryPath(p.externalID)
}

// ExternalIDIssuer is the issuer the External ID tenant announces and its
// tokens carry: on another host name than the provider's.
func (p *Provider) ExternalIDIssuer() string { return externalIDIssuer(p.Issuer, p.externalID) }

func b2cDiscoveryPath(b *B2C) string {
	return "/" + b.Tenant + ".onmicrosoft.com/" + b.Policy + "/v2.0" + oidc.DiscoveryEndpoint
}

func b2cIssuer(issuer string, b *B2C) string { return issuer + "/" + b.TenantID + "/v2.0/" }

func externalIDDiscoveryPath(x *ExternalID) string {
	return "/" + x.Tenant + ".onmicrosoft.com/v2.0" + oidc.DiscoveryEndpoint
}

// externalIDIssuer names the provider's loopback address by its other
// name, as ciamlogin.com names the tenant by its id instead of its name.
func externalIDIssuer(issuer string, x *ExternalID) string {
	host := strings.NewReplacer("://127.0.0.1:", "://localhost:", "://localhost:", "://127.0.0.1:").Replace(issuer)
	return host + "/" + x.TenantID + "/v2.0"
}

// shape is how one of Microsoft's endpoints looks from outside.
type shape struct {
	// discovery maps each discovery document's path to the issuer it
	// announces.
	discovery map[string]string
	// idToken rewrites an ID token's claims into the shape's.
	idToken func(claims map[string]any)
	// issuers are every iss idToken writes, which end_session takes back
	// as id_token_hint.
	issuers map[string]bool
}

// newShape builds the shape opts ask for; nil when none (only EditIDToken).
func newShape(issuer string, users *userStore, opts Options) (*shape, error) {
	n := 0
	for _, set := range []bool{len(opts.Tenants) > 0, opts.B2C != nil, opts.ExternalID != nil} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, errors.New("Tenants, B2C and ExternalID are different providers: set one")
	case len(opts.Tenants) > 0:
		return entraShape(issuer, users, opts.Tenants)
	case opts.B2C != nil:
		b, iss := opts.B2C, b2cIssuer(issuer, opts.B2C)
		return &shape{
			discovery: map[string]string{b2cDiscoveryPath(b): iss},
			issuers:   map[string]bool{iss: true},
			idToken: func(c map[string]any) {
				c["iss"], c["tfp"] = iss, b.Policy
				if email, _ := c["email"].(string); email != "" {
					c["emails"] = []string{email}
				}
				delete(c, "email")
				delete(c, "email_verified")
			},
		}, nil
	case opts.ExternalID != nil:
		x, iss := opts.ExternalID, externalIDIssuer(issuer, opts.ExternalID)
		return &shape{
			discovery: map[string]string{externalIDDiscoveryPath(x): iss},
			issuers:   map[string]bool{iss: true},
			idToken: func(c map[string]any) {
				c["iss"], c["tid"] = iss, x.TenantID
				delete(c, "email_verified")
			},
		}, nil
	}
	return nil, nil
}

// entraShape is Entra ID's multi-tenant endpoint: users of Tenants get
// their tenant's issuer and tid; others keep the plain issuer.
func entraShape(issuer string, users *userStore, tenants map[string]string) (*shape, error) {
	template := issuer + "/" + tenantTemplate + "/v2.0"
	s := &shape{
		discovery: map[string]string{CommonDiscoveryPath: template, OrganizationsDiscoveryPath: template},
		issuers:   map[string]bool{},
	}
	byID := map[string]string{}
	for username, tenant := range tenants {
		u := users.GetUserByUsername(username)
		if u == nil {
			return nil, fmt.Errorf("Tenants names %q, which is no user", username)
		}
		byID[u.ID] = tenant
		s.issuers[issuer+"/"+tenant+"/v2.0"] = true
	}
	s.idToken = func(c map[string]any) {
		sub, _ := c["sub"].(string)
		if tenant, ok := byID[sub]; ok {
			c["iss"], c["tid"] = issuer+"/"+tenant+"/v2.0", tenant
			delete(c, "email_verified") // Entra never sends it
		}
	}
	return s, nil
}

// microsoftFront stands in front of the library: it serves the shape's
// discovery documents, rewrites the ID tokens of token responses (code
// and refresh grants alike) into the shape, then applies edit, and signs
// the result with the provider's key.
type microsoftFront struct {
	next   http.Handler
	issuer string
	shape  *shape // nil: only edit
	edit   func(map[string]any)
	sign   func(any) (string, error)
}

func newMicrosoftFront(next http.Handler, issuer string, users *userStore, opts Options, sign func(any) (string, error)) (*microsoftFront, error) {
	s, err := newShape(issuer, users, opts)
	if err != nil {
		return nil, err
	}
	return &microsoftFront{next: next, issuer: issuer, shape: s, edit: opts.EditIDToken, sign: sign}, nil
}

func (f *microsoftFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var announced string
	if f.shape != nil && r.Method == http.MethodGet {
		announced = f.shape.discovery[r.URL.Path]
	}
	switch {
	case announced != "":
		r2 := r.Clone(r.Context())
		r2.URL.Path = oidc.DiscoveryEndpoint
		rewriteResponse(w, r2, f.next, func(body []byte, status int) ([]byte, error) {
			return editDiscovery(body, status, func(doc map[string]json.RawMessage) error {
				v, err := json.Marshal(announced)
				doc["issuer"] = v
				return err
			})
		})
	case r.Method == http.MethodPost && r.URL.Path == tokenPath:
		rewriteResponse(w, r, f.next, f.tokenResponse)
	case r.Method == http.MethodGet && r.URL.Path == endSessionPath && f.shape != nil:
		// Microsoft takes its own ID tokens as id_token_hint; the library
		// knows only its own issuer, so the hint goes to it with that one.
		q := r.URL.Query()
		if hint := q.Get("id_token_hint"); hint != "" {
			plain, err := f.unshaped(hint)
			if err != nil {
				http.Error(w, "invalid_request: id_token_hint: "+err.Error(), http.StatusBadRequest)
				return
			}
			q.Set("id_token_hint", plain)
			r.URL.RawQuery = q.Encode()
		}
		f.next.ServeHTTP(w, r)
	default:
		f.next.ServeHTTP(w, r)
	}
}

// tokenResponse rewrites the id_token of a successful token response.
func (f *microsoftFront) tokenResponse(body []byte, status int) ([]byte, error) {
	if status != http.StatusOK {
		return body, nil
	}
	var resp map[string]any
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("decode token response: %w", err)
	}
	raw, _ := resp["id_token"].(string)
	if raw == "" {
		return body, nil
	}
	claims, err := jwtClaims(raw)
	if err != nil {
		return nil, err
	}
	if f.shape != nil {
		f.shape.idToken(claims)
	}
	if f.edit != nil {
		f.edit(claims)
	}
	if resp["id_token"], err = f.sign(claims); err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// unshaped turns an ID token of the shape back into one of the provider's
// own issuer, re-signed, so the library accepts it as a hint. Its
// signature is not checked first: in these modes the development provider
// takes any hint that names an issuer of the shape (harmless for a logout
// hint, and it never vouches for anything else).
func (f *microsoftFront) unshaped(raw string) (string, error) {
	claims, err := jwtClaims(raw)
	if err != nil {
		return "", err
	}
	if iss, _ := claims["iss"].(string); !f.shape.issuers[iss] {
		return raw, nil
	}
	claims["iss"] = f.issuer
	delete(claims, "tid")
	return f.sign(claims)
}

// jwtClaims decodes a JWS's payload, unverified.
func jwtClaims(raw string) (map[string]any, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("id_token is not a JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("decode id_token: %w", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("decode id_token claims: %w", err)
	}
	return claims, nil
}
