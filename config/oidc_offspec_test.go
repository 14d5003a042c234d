package config

import (
	"strings"
	"testing"
)

// oidc.logout_url: only the known placeholders, an absolute https URL
// (http on loopback); errors name the key and the fix.
func TestLogoutURL(t *testing.T) {
	for _, tt := range []struct {
		url, want string
	}{
		{"https://shop.auth.eu-west-1.amazoncognito.com/logout?client_id={client_id}&logout_uri={post_logout_redirect_uri}", ""},
		{"https://tenant.auth0.com/v2/logout?client_id={client_id}&returnTo={post_logout_redirect_uri}", ""},
		{"http://127.0.0.1:5556/logout?id_token_hint={id_token_hint}", ""},
		{"https://idp.example/logout?x={tenant}", "unknown placeholder {tenant}"},
		{"http://idp.example/logout", "must use https"},
		{"/logout", "absolute https URL"},
	} {
		p := &problems{}
		o := OIDC{LogoutURL: tt.url}
		o.validateLogoutURL(p)
		err := p.err(func(k string) string { return k })
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.url, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "oidc.logout_url")):
			t.Errorf("%s: error %v, want oidc.logout_url and %q", tt.url, err, tt.want)
		}
	}
}

// oidc.ca_file is read once, by the reader every CA file goes through.
func TestOIDCCAFile(t *testing.T) {
	p := &problems{}
	o := OIDC{CAFile: "/nonexistent/ca.pem"}
	o.provisionCA(p)
	if err := p.err(func(k string) string { return k }); err == nil || !strings.Contains(err.Error(), "oidc.ca_file") {
		t.Fatalf("unreadable ca_file: %v", err)
	}
	if (&OIDC{}).TLSConfig() != nil {
		t.Error("without ca_file the system's roots are used (nil TLS config)")
	}
}
