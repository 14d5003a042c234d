package config

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"https://crm.internal/ctx?mail=a@b.example", "https://crm.internal/ctx?mail=a@b.example"},
		{"vip@example.com", "vip@example.com"},
		{"http://user:pw@host:1/p?q=1", "http://user:REDACTED@host:1/p?q=1"},
		{"redis://:pw@redis:6379/0", "redis://:REDACTED@redis:6379/0"},
		{"https://ghp_token@host/x", "https://REDACTED@host/x"},
		{"http://user:p@ss@host", "http://user:REDACTED@host"},
		{"https://user:p#w@host", "REDACTED"}, // does not parse; the password is in the text
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The copy printed is redacted; the configuration in use keeps its values,
// also in the slices and maps the copy shares with it.
func TestRedactedLeavesTheConfigAlone(t *testing.T) {
	c := Default()
	c.Upstream.URL = "http://u:pw@up"
	c.TrustedProxies = []string{"http://u:pw@x"}
	c.OIDC.AuthParams = map[string]string{"k": "http://u:pw@x"}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "pw") {
		t.Errorf("printed a password:\n%s", out)
	}
	if c.Upstream.URL != "http://u:pw@up" || c.TrustedProxies[0] != "http://u:pw@x" || c.OIDC.AuthParams["k"] != "http://u:pw@x" {
		t.Errorf("Redacted changed the live config: %q %q %q", c.Upstream.URL, c.TrustedProxies, c.OIDC.AuthParams)
	}
}
