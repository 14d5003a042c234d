package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// loadWithUpstream loads a minimal valid configuration whose upstream
// section is upstream (a YAML flow mapping) with env as the environment.
func loadWithUpstream(t *testing.T, upstream string, env map[string]string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"key.pem": "placeholder",
		"c.yaml": "public_url: http://127.0.0.1:4180\nupstream: " + upstream + "\n" +
			"oidc: {issuer: \"https://idp.example.com\", client_id: c}\nsession: {secret: " + testCookieSecret + "}\n" +
			"token: {issuer: shop.example.com, signing_keys: [{file: key.pem}]}\n",
	})
	return Load(filepath.Join(dir, "c.yaml"), func(k string) string { return env[k] })
}

// Websocket is the one upgrade allowed by default; the list can name
// others, never h2c (nor h2): after that switch the connection carries
// requests the proxy never sees.
func TestAllowedUpgrades(t *testing.T) {
	for _, tt := range []struct {
		name     string
		upstream string
		env      map[string]string
		want     []string // the list loaded, when it loads
		problem  string   // the validation error, when it does not
	}{
		{name: "default", upstream: `{url: "http://127.0.0.1:8080"}`, want: []string{"websocket"}},
		{name: "none", upstream: `{url: "http://127.0.0.1:8080", allowed_upgrades: []}`, want: []string{}},
		{name: "another protocol", upstream: `{url: "http://127.0.0.1:8080", allowed_upgrades: [websocket, foo/2]}`, want: []string{"websocket", "foo/2"}},
		{name: "from the environment", upstream: `{url: "http://127.0.0.1:8080"}`, env: map[string]string{"LCW_UPSTREAM_ALLOWED_UPGRADES": "websocket,bar"}, want: []string{"websocket", "bar"}},
		{name: "h2c", upstream: `{url: "http://127.0.0.1:8080", allowed_upgrades: [websocket, H2C]}`, problem: `upstream.allowed_upgrades[1]: "H2C" cannot be allowed`},
		{name: "h2", upstream: `{url: "http://127.0.0.1:8080", allowed_upgrades: [h2]}`, problem: `upstream.allowed_upgrades[0]: "h2" cannot be allowed`},
		{name: "h2c from the environment", upstream: `{url: "http://127.0.0.1:8080"}`, env: map[string]string{"LCW_UPSTREAM_ALLOWED_UPGRADES": "h2c"}, problem: `upstream.allowed_upgrades[0]: "h2c" cannot be allowed`},
		{name: "not a protocol", upstream: `{url: "http://127.0.0.1:8080", allowed_upgrades: ["web socket"]}`, problem: `upstream.allowed_upgrades[0]: "web socket" is not a protocol`},
		{name: "a list in one entry", upstream: `{url: "http://127.0.0.1:8080", allowed_upgrades: ["websocket, h2c"]}`, problem: `upstream.allowed_upgrades[0]: "websocket, h2c" is not a protocol`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadWithUpstream(t, tt.upstream, tt.env)
			if tt.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("error %v, want %q", err, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.Upstream.AllowedUpgrades, tt.want) {
				t.Errorf("allowed_upgrades = %q, want %q", cfg.Upstream.AllowedUpgrades, tt.want)
			}
		})
	}
}
