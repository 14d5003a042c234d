package config

import (
	"slices"
	"strings"
	"testing"
)

// The answer's frame-ancestors are the issuer's origin and the configured
// origins; anything in frame_ancestors that is not one https origin stops
// start-up naming the entry and the fix.
func TestFrontchannelLogoutFrameAncestors(t *testing.T) {
	const secret = "public_url: https://shop.example.com\nsession: {secret: \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\", frontchannel_logout: "
	for _, tt := range []struct {
		name, fc string
		want     []string
		off      bool
	}{
		{"unset", "{}", []string{"https://idp.example.com"}, false},
		{"more origins", "{frame_ancestors: [\"https://Login.Example.com\", \"https://idp.example.com/\", \"http://127.0.0.1:5556\"]}", []string{"https://idp.example.com", "https://login.example.com", "http://127.0.0.1:5556"}, false},
		{"off", "{enabled: false, frame_ancestors: [\"https://login.example.com\"]}", nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadYAML(t, secret+tt.fc+"}\n")
			if err != nil {
				t.Fatal(err)
			}
			fc := cfg.Session.FrontchannelLogout
			if !slices.Equal(fc.Ancestors, tt.want) || fc.Off() != tt.off {
				t.Errorf("ancestors %q, off %v; want %q, %v", fc.Ancestors, fc.Off(), tt.want, tt.off)
			}
		})
	}
	for _, bad := range []string{
		"http://login.example.com", // not https, not loopback
		"https://*.example.com",
		"*",
		"https://login.example.com/oauth2/logout",
		"https://login.example.com?x=1",
		"https://user@login.example.com",
		"login.example.com",
		"'self'",
		"https://login.example.com; script-src *",
		"javascript:alert(1)",
	} {
		t.Run(bad, func(t *testing.T) {
			_, err := loadYAML(t, secret+"{frame_ancestors: [\"https://ok.example.com\", \""+strings.ReplaceAll(bad, `"`, `\"`)+"\"]}}\n")
			if err == nil || !strings.Contains(err.Error(), "session.frontchannel_logout.frame_ancestors[1]") || !strings.Contains(err.Error(), "like https://login.microsoftonline.com") {
				t.Errorf("error %v, want one naming session.frontchannel_logout.frame_ancestors[1] and the fix", err)
			}
		})
	}
}

// The IdP's sign-out page is on its discovery document's origin, which
// need not be the issuer's (Entra External ID: the issuer names the tenant
// id in its host, the document the tenant's name): both may frame the
// answer.
func TestFrontchannelLogoutDiscoveryOrigin(t *testing.T) {
	for _, tt := range []struct {
		name, oidc string
		want       []string
	}{
		{"External ID", `issuer: "https://00000000-0000-0000-0000-0000000000dd.ciamlogin.com/00000000-0000-0000-0000-0000000000dd/v2.0", discovery_url: "https://Contoso.ciamlogin.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"`,
			[]string{"https://00000000-0000-0000-0000-0000000000dd.ciamlogin.com", "https://contoso.ciamlogin.com"}},
		{"multi-tenant: one origin", `issuer: "https://login.microsoftonline.com/{tenantid}/v2.0", discovery_url: "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"`,
			[]string{"https://login.microsoftonline.com"}},
		{"no discovery_url", `issuer: "https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000aa/v2.0"`,
			[]string{"https://login.microsoftonline.com"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadOIDC(t, tt.oidc)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Session.FrontchannelLogout.Ancestors; !slices.Equal(got, tt.want) {
				t.Errorf("ancestors %q, want %q", got, tt.want)
			}
		})
	}
}
