package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func loadYAML(t *testing.T, yaml string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(key, []byte("placeholder: read by auth/keys"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := `upstream: {url: "http://127.0.0.1:8080"}
oidc: {issuer: "https://idp.example.com", client_id: c}
token: {issuer: shop.example.com, signing_keys: [{file: ` + key + `}]}
`
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(base+yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path, nil)
}

// The session cookie takes the __Host- prefix whenever browsers allow it,
// so a sibling subdomain cannot plant one of ours.
func TestSessionCookieHostPrefix(t *testing.T) {
	const secret = "session: {secret: \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\""
	tests := []struct {
		name, yaml string
		want       string
		host       bool
	}{
		{"https", "public_url: https://shop.example.com\n" + secret + "}\n", "__Host-_lcw", true},
		{"http has no Secure cookies", "public_url: http://127.0.0.1:4180\n" + secret + "}\n", "_lcw", false},
		{"cookie_domain", "public_url: https://shop.example.com\n" + secret + ", cookie_domain: example.com}\n", "_lcw", false},
		{"cookie_path", "public_url: https://shop.example.com\n" + secret + ", cookie_path: /shop}\n", "_lcw", false},
		{"cookie_secure false", "public_url: https://shop.example.com\n" + secret + ", cookie_secure: false}\n", "_lcw", false},
		{"turned off", "public_url: https://shop.example.com\n" + secret + ", cookie_host_prefix: false}\n", "_lcw", false},
		{"named with the prefix", "public_url: https://shop.example.com\n" + secret + ", cookie_name: __Host-chat}\n", "__Host-chat", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadYAML(t, tt.yaml)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Session.Name != tt.want || cfg.Session.HostPrefix != tt.host {
				t.Errorf("cookie %q (host prefix %v), want %q (%v)", cfg.Session.Name, cfg.Session.HostPrefix, tt.want, tt.host)
			}
		})
	}
	_, err := loadYAML(t, "public_url: https://shop.example.com\n"+secret+", cookie_name: __Host-chat, cookie_domain: example.com}\n")
	if err == nil || !strings.Contains(err.Error(), "session.cookie_name") || !strings.Contains(err.Error(), "cookie_domain") {
		t.Errorf("__Host- name with a domain: %v", err)
	}
}

func TestUpstreamDisabled(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(key, []byte("placeholder"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := `public_url: https://shop.example.com
oidc: {issuer: "https://idp.example.com", client_id: c}
session: {secret: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
token: {issuer: shop.example.com, signing_keys: [{file: ` + key + `}]}
`
	load := func(extra string) (*Config, error) {
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, []byte(base+extra), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(path, nil)
	}
	cfg, err := load("upstream: {disabled: true}\n")
	if err != nil || cfg.UpstreamURL != nil {
		t.Fatalf("forward-auth only: %v, upstream %v", err, cfg.UpstreamURL)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"upstream: {}\n", "upstream.disabled: true to run only forward-auth"},
		{"upstream: {disabled: true, url: \"http://127.0.0.1:8080\"}\n", "upstream.url: is set but upstream.disabled is true"},
		{"upstream: {disabled: true}\ninject: {enabled: true}\n", "inject.enabled: needs an upstream"},
	} {
		if _, err := load(tt.yaml); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

func TestSilentSignInNeedsOptionalMode(t *testing.T) {
	_, err := loadYAML(t, "public_url: https://shop.example.com\nsession: {secret: \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"}\naccess: {mode: required, silent_sign_in: true}\n")
	if err == nil || !strings.Contains(err.Error(), "access.silent_sign_in: needs access.mode: optional") {
		t.Fatalf("silent sign-in in required mode: %v", err)
	}
}

// Back-channel logout needs sessions the server can end: asking for it with
// cookie sessions stops start-up and says why; with Redis it is on unless
// turned off.
func TestBackchannelLogoutNeedsAServerSideStore(t *testing.T) {
	const secret = "public_url: https://shop.example.com\nsession:\n  secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"
	_, err := loadYAML(t, secret+"  backchannel_logout: true\n")
	if err == nil || !strings.Contains(err.Error(), "session.backchannel_logout") || !strings.Contains(err.Error(), "session.store: redis") {
		t.Errorf("backchannel_logout: true with the cookie store: %v, want an error naming the key and the fix", err)
	}
	for _, v := range []string{"", "  backchannel_logout: true\n", "  backchannel_logout: false\n"} {
		if _, err := loadYAML(t, secret+"  store: redis\n  redis: {url: \"redis://127.0.0.1:6379\"}\n"+v); err != nil {
			t.Errorf("redis store with %q: %v", strings.TrimSpace(v), err)
		}
	}
}

// Email domains are compared in one form, computed once.
func TestEmailDomainsProvisioned(t *testing.T) {
	cfg, err := loadYAML(t, "public_url: https://shop.example.com\nsession: {secret: \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"}\naccess: {allowed_email_domains: [Example.COM, shop.example.org]}\n")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Access.EmailDomains, []string{"example.com", "shop.example.org"}) {
		t.Errorf("EmailDomains = %v", cfg.Access.EmailDomains)
	}
}

// session.redis.tls_cert_file and tls_key_file are loaded once, at load,
// both or neither, and only with TLS on.
func TestRedisClientCertificate(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lcw"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	const base = "public_url: https://shop.example.com\nsession:\n  secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n  store: redis\n"
	cfg, err := loadYAML(t, base+"  redis: {url: \"rediss://redis:6380\", tls_cert_file: "+certFile+", tls_key_file: "+keyFile+"}\n")
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Session.Redis.ClientCert; c == nil || len(c.Certificate) != 1 {
		t.Fatalf("ClientCert = %v, want the loaded certificate", c)
	}
	for _, tc := range []struct{ redis, want string }{
		{"{url: \"rediss://redis:6380\", tls_cert_file: " + certFile + "}", "session.redis.tls_key_file: is required with session.redis.tls_cert_file"},
		{"{url: \"rediss://redis:6380\", tls_key_file: " + keyFile + "}", "session.redis.tls_cert_file: is required with session.redis.tls_key_file"},
		{"{url: \"rediss://redis:6380\", tls_cert_file: " + keyFile + ", tls_key_file: " + keyFile + "}", "session.redis.tls_cert_file: cannot load"},
		{"{url: \"redis://redis:6379\", tls_cert_file: " + certFile + ", tls_key_file: " + keyFile + "}", "session.redis.tls_cert_file: is set but TLS is off"},
	} {
		if _, err := loadYAML(t, base+"  redis: "+tc.redis+"\n"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("redis %s: %v, want %q", tc.redis, err, tc.want)
		}
	}
}

// A missing session secret file says how to make one.
func TestMissingSessionSecretFileSaysHowToCreateIt(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "cookie-secret")
	_, err := loadYAML(t, "session:\n  secret_file: "+missing+"\n")
	if err == nil || !strings.Contains(err.Error(), "create it with: (umask 077; openssl rand -base64 32 > "+missing+")") {
		t.Fatalf("error %v, want the command that creates the file", err)
	}
}
