package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadOIDC(t *testing.T, oidc string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(key, []byte("placeholder: read by auth/keys"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `public_url: https://shop.example.com
upstream: {url: "http://127.0.0.1:8080"}
session: {secret: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
oidc: {client_id: c, ` + oidc + `}
token: {issuer: shop.example.com, signing_keys: [{file: "` + key + `"}]}
`
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path, nil)
}

// oidc.discovery_url, {tenantid} in oidc.issuer and oidc.allowed_tenants:
// what loads, and what is refused with the key and the fix.
func TestTenantKeys(t *testing.T) {
	const (
		tmpl = `issuer: "https://login.microsoftonline.com/{tenantid}/v2.0"`
		disc = `discovery_url: "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"`
		a    = "00000000-0000-0000-0000-0000000000aa"
	)
	for _, tt := range []struct {
		name, oidc string
		want       string // a part of the error; "" loads
	}{
		{"multi-tenant", tmpl + ", " + disc, ""},
		{"multi-tenant with allowed tenants", tmpl + ", " + disc + ", allowed_tenants: [" + a + ", 00000000-0000-0000-0000-0000000000BB]", ""},
		{"B2C: one issuer, another discovery document", `issuer: "https://contoso.b2clogin.com/` + a + `/v2.0/", discovery_url: "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin/v2.0/.well-known/openid-configuration"`, ""},
		{"template without discovery_url", tmpl, "oidc.discovery_url: is required with {tenantid} in oidc.issuer"},
		{"template in the host", `issuer: "https://{tenantid}.ciamlogin.com/x/v2.0", ` + disc, "oidc.issuer"},
		{"template twice", `issuer: "https://login.microsoftonline.com/{tenantid}/{tenantid}/v2.0", ` + disc, "must contain {tenantid} once"},
		{"template in the query", `issuer: "https://login.microsoftonline.com/v2.0?t={tenantid}", ` + disc, "only in its path"},
		{"template in upper case", `issuer: "https://login.microsoftonline.com/{tenantId}/v2.0", ` + disc, "in lower case"},
		{"tenant not a GUID", tmpl + ", " + disc + ", allowed_tenants: [contoso.onmicrosoft.com]", `oidc.allowed_tenants: entry 0 ("contoso.onmicrosoft.com") is not a tenant id`},
		{"allowed tenants without a template", `issuer: "https://login.microsoftonline.com/` + a + `/v2.0", allowed_tenants: [` + a + `]`, "oidc.allowed_tenants: applies only to an oidc.issuer with {tenantid}"},
		{"discovery_url not a URL", `issuer: "https://idp.example.com", discovery_url: "/.well-known/openid-configuration"`, "oidc.discovery_url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadOIDC(t, tt.oidc)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one with %q", err, tt.want)
			case tt.want == "" && c.OIDC.DiscoveryDocumentURL() == "":
				t.Fatal("no discovery document URL")
			}
		})
	}
}

func TestDiscoveryDocumentURL(t *testing.T) {
	o := OIDC{Issuer: "https://idp.example.com/"}
	if got := o.DiscoveryDocumentURL(); got != "https://idp.example.com/.well-known/openid-configuration" {
		t.Errorf("derived: %s", got)
	}
	o.DiscoveryURL = "https://idp.example.com/x?p=B2C_1_signin"
	if got := o.DiscoveryDocumentURL(); got != o.DiscoveryURL {
		t.Errorf("configured: %s", got)
	}
}
