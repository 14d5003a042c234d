package preflight

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// loadUpstream loads a minimal configuration whose upstream section is
// upstream (YAML flow style), so the upstream is as Load provisions it.
func loadUpstream(t *testing.T, upstream string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "k.pem")
	if err := os.WriteFile(key, []byte("unused"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "public_url: http://127.0.0.1:4180\nupstream: " + upstream + "\n" +
		"oidc: {issuer: \"https://idp.example.com\", client_id: c}\n" +
		"session: {secret: \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"}\n" +
		"token: {issuer: shop.example.com, signing_keys: [{file: " + strconv.Quote(key) + "}]}\n"
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The upstream check dials as the proxy does: with upstream.ca_file's
// certificates (read when the configuration was loaded) as the roots, or
// without verification when insecure_skip_verify says so.
func TestUpstreamTLS(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, upstream string
		ok             bool
	}{
		{"the upstream's CA", `{url: "` + up.URL + `", ca_file: ` + strconv.Quote(ca) + `}`, true},
		{"insecure_skip_verify", `{url: "` + up.URL + `", insecure_skip_verify: true}`, true},
		{"the system's roots", `{url: "` + up.URL + `"}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadUpstream(t, tt.upstream)
			f := Upstream(context.Background(), cfg.UpstreamURL, cfg.Upstream)
			if f.OK != tt.ok {
				t.Fatalf("finding %s, want OK %v", f, tt.ok)
			}
			if !tt.ok && !strings.Contains(f.Fix, "upstream.ca_file") {
				t.Errorf("a certificate the system does not trust: fix %q, want upstream.ca_file named", f.Fix)
			}
		})
	}
}
