package devidp

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// Microsoft Entra ID's multi-tenant endpoints, as Options.Tenants makes the
// provider behave: the discovery document of /common (and /organizations)
// announces the issuer template https://login.microsoftonline.com/{tenantid}/v2.0,
// which no token carries; each ID token's iss is its user's tenant's
// issuer, .../<tenant id>/v2.0, next to the same id in tid. Everything
// else (keys, endpoints) is the one provider's.

// Paths of the multi-tenant discovery documents, as Entra serves them.
const (
	CommonDiscoveryPath        = "/common/v2.0" + oidc.DiscoveryEndpoint
	OrganizationsDiscoveryPath = "/organizations/v2.0" + oidc.DiscoveryEndpoint
)

// tenantTemplate is the placeholder Entra's discovery document writes.
const tenantTemplate = "{tenantid}"

// IssuerTemplate is the issuer the multi-tenant discovery document
// announces: Issuer + "/{tenantid}/v2.0".
func (p *Provider) IssuerTemplate() string { return p.Issuer + "/" + tenantTemplate + "/v2.0" }

// TenantIssuer is the issuer of one tenant's tokens.
func (p *Provider) TenantIssuer(tenant string) string { return p.Issuer + "/" + tenant + "/v2.0" }

// CommonDiscoveryURL is the multi-tenant discovery document's URL.
func (p *Provider) CommonDiscoveryURL() string { return p.Issuer + CommonDiscoveryPath }

// entraFront stands in front of the library: it serves the multi-tenant
// discovery documents and rewrites the ID tokens of token responses (code
// and refresh grants alike) into their user's tenant, then applies edit,
// and signs the result with the provider's key.
type entraFront struct {
	next     http.Handler
	issuer   string
	tenants  map[string]string // by user ID
	edit     func(map[string]any)
	sign     func(any) (string, error)
	template string
}

func newEntraFront(next http.Handler, issuer string, users *userStore, opts Options, sign func(any) (string, error)) (*entraFront, error) {
	f := &entraFront{next: next, issuer: issuer, tenants: map[string]string{}, edit: opts.EditIDToken, sign: sign,
		template: issuer + "/" + tenantTemplate + "/v2.0"}
	for username, tenant := range opts.Tenants {
		u := users.GetUserByUsername(username)
		if u == nil {
			return nil, fmt.Errorf("Tenants names %q, which is no user", username)
		}
		f.tenants[u.ID] = tenant
	}
	return f, nil
}

func (f *entraFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case len(f.tenants) > 0 && r.Method == http.MethodGet && (r.URL.Path == CommonDiscoveryPath || r.URL.Path == OrganizationsDiscoveryPath):
		r2 := r.Clone(r.Context())
		r2.URL.Path = oidc.DiscoveryEndpoint
		rewriteResponse(w, r2, f.next, func(body []byte, status int) ([]byte, error) {
			return editDiscovery(body, status, func(doc map[string]json.RawMessage) error {
				v, err := json.Marshal(f.template)
				doc["issuer"] = v
				return err
			})
		})
	case r.Method == http.MethodPost && r.URL.Path == tokenPath:
		rewriteResponse(w, r, f.next, f.tokenResponse)
	case r.Method == http.MethodGet && r.URL.Path == endSessionPath && len(f.tenants) > 0:
		// Entra takes its tenants' ID tokens as id_token_hint; the library
		// knows only its own issuer, so the hint goes to it with that one.
		q := r.URL.Query()
		if hint := q.Get("id_token_hint"); hint != "" {
			plain, err := f.untenanted(hint)
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
func (f *entraFront) tokenResponse(body []byte, status int) ([]byte, error) {
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
	sub, _ := claims["sub"].(string)
	if tenant, ok := f.tenants[sub]; ok {
		claims["iss"] = f.issuer + "/" + tenant + "/v2.0"
		claims["tid"] = tenant
	}
	if f.edit != nil {
		f.edit(claims)
	}
	if resp["id_token"], err = f.sign(claims); err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// untenanted turns an ID token of one of the tenants back into one of the
// provider's own issuer, re-signed, so the library accepts it as a hint.
// Its signature is not checked first: in this mode the development
// provider takes any hint that names a tenant's issuer (harmless for a
// logout hint, and it never vouches for anything else).
func (f *entraFront) untenanted(raw string) (string, error) {
	claims, err := jwtClaims(raw)
	if err != nil {
		return "", err
	}
	tid, _ := claims["tid"].(string)
	if iss, _ := claims["iss"].(string); tid == "" || iss != f.issuer+"/"+tid+"/v2.0" {
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
