package devidp

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Each Microsoft shape serves its discovery document where that provider
// does, announcing that provider's issuer (not the library's), with the
// library's endpoints.
func TestMicrosoftDiscoveryDocuments(t *testing.T) {
	const tid = "00000000-0000-4000-8000-0000000000cc"
	for _, tt := range []struct {
		name       string
		opts       Options
		url, iss   func(p *Provider) string
		wantPath   string
		wantIssuer func(p *Provider) string
	}{
		{"Entra multi-tenant", Options{Tenants: map[string]string{VIPUsername: tid}},
			(*Provider).CommonDiscoveryURL, (*Provider).IssuerTemplate, "/common/v2.0/.well-known/openid-configuration",
			func(p *Provider) string { return p.Issuer + "/{tenantid}/v2.0" }},
		{"Azure AD B2C", Options{B2C: &B2C{Tenant: "contoso", TenantID: tid, Policy: "B2C_1_signupsignin"}},
			(*Provider).B2CDiscoveryURL, (*Provider).B2CIssuer, "/contoso.onmicrosoft.com/B2C_1_signupsignin/v2.0/.well-known/openid-configuration",
			func(p *Provider) string { return p.Issuer + "/" + tid + "/v2.0/" }},
		{"Entra External ID", Options{ExternalID: &ExternalID{Tenant: "contoso", TenantID: tid}},
			(*Provider).ExternalIDDiscoveryURL, (*Provider).ExternalIDIssuer, "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration",
			func(p *Provider) string {
				return strings.Replace(p.Issuer, "127.0.0.1", "localhost", 1) + "/" + tid + "/v2.0"
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop()
			u, _ := url.Parse(tt.url(p))
			if u.Path != tt.wantPath || tt.iss(p) != tt.wantIssuer(p) {
				t.Fatalf("discovery %s, issuer %s; want path %s, issuer %s", u, tt.iss(p), tt.wantPath, tt.wantIssuer(p))
			}
			resp, err := http.Get(tt.url(p))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var doc struct {
				Issuer     string `json:"issuer"`
				Token      string `json:"token_endpoint"`
				JWKS       string `json:"jwks_uri"`
				EndSession string `json:"end_session_endpoint"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("discovery: %d %v", resp.StatusCode, err)
			}
			if doc.Issuer != tt.wantIssuer(p) || doc.Token != p.Issuer+"/oauth/token" || doc.JWKS == "" || doc.EndSession == "" {
				t.Errorf("document %+v", doc)
			}
		})
	}
}
