package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testCAPEM returns a self-signed CA certificate as PEM.
func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// upstream.ca_file is read and parsed once, by Load: the proxy's transport
// and check-config --online take the pool from the configuration, and a
// file that is missing or holds no certificate is a load error naming the
// key and the fix.
func TestUpstreamCAFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ca.pem": testCAPEM(t), "not.pem": "no certificate here\n"})
	for _, tt := range []struct {
		name, upstream string
		problem        []string // the load error's parts, when it fails
		roots, skip    bool     // TLSConfig: RootCAs set, InsecureSkipVerify
		noTLS          bool     // TLSConfig is nil: the system's roots
	}{
		{name: "none", upstream: `{url: "https://127.0.0.1:8443"}`, noTLS: true},
		{name: "a CA", upstream: `{url: "https://127.0.0.1:8443", ca_file: ca.pem}`, roots: true},
		{name: "insecure", upstream: `{url: "https://127.0.0.1:8443", insecure_skip_verify: true}`, skip: true},
		{name: "missing", upstream: `{url: "https://127.0.0.1:8443", ca_file: /nonexistent/ca.pem}`,
			problem: []string{"upstream.ca_file: cannot read /nonexistent/ca.pem"}},
		{name: "not PEM", upstream: `{url: "https://127.0.0.1:8443", ca_file: not.pem}`,
			problem: []string{"upstream.ca_file: ", "not.pem holds no PEM certificate", "BEGIN CERTIFICATE", "signed the upstream's certificate"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			writeFiles(t, dir, map[string]string{"c.yaml": "public_url: http://127.0.0.1:4180\nupstream: " + tt.upstream + "\n" +
				"oidc: {issuer: \"https://idp.example.com\", client_id: c}\nsession: {secret: " + testCookieSecret + "}\n" +
				"token: {issuer: shop.example.com, signing_keys: [{file: ca.pem}]}\n"})
			cfg, err := Load(filepath.Join(dir, "c.yaml"), func(string) string { return "" })
			if tt.problem != nil {
				for _, w := range tt.problem {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Fatalf("error %v, want it to contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc := cfg.Upstream.TLSConfig()
			if tt.noTLS {
				if tc != nil {
					t.Fatalf("TLSConfig = %+v, want nil (the system's roots)", tc)
				}
				return
			}
			if tc == nil || (tc.RootCAs != nil) != tt.roots || tc.RootCAs != cfg.Upstream.RootCAs || tc.InsecureSkipVerify != tt.skip {
				t.Fatalf("TLSConfig = %+v, want roots %v, insecure %v", tc, tt.roots, tt.skip)
			}
		})
	}
}

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
