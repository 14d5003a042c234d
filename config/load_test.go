package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes name → content into dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

const testCookieSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// A config and its secrets live together: relative paths in the file are
// the file's neighbours, wherever the proxy is started from.
func TestRelativePathsResolveAgainstTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"secrets/client-secret":   "client-secret-value\n",
		"secrets/cookie-secret":   testCookieSecret + "\n",
		"secrets/previous-cookie": testCookieSecret + "\n",
		"keys/signing.pem":        "placeholder: parsed by auth/keys",
		"tls/ca.pem":              "placeholder: parsed by the proxy",
		"config.yaml": `public_url: http://127.0.0.1:4180
upstream: {url: "https://127.0.0.1:8443", ca_file: tls/ca.pem}
oidc: {issuer: "https://idp.example.com", client_id: c, client_secret_file: secrets/client-secret}
session:
  secret_file: ./secrets/cookie-secret
  previous_secret_files: [secrets/previous-cookie]
token: {issuer: shop.example.com, signing_keys: [{file: keys/signing.pem}]}
`,
	})
	// The current directory (this package's) holds none of these files.
	cfg, err := Load(filepath.Join(dir, "config.yaml"), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for key, got := range map[string]string{
		"oidc.client_secret_file":          cfg.OIDC.ClientSecretFile,
		"session.secret_file":              cfg.Session.SecretFile,
		"session.previous_secret_files[0]": cfg.Session.PreviousSecretFiles[0],
		"token.signing_keys[0].file":       cfg.Token.SigningKeys[0].File,
		"upstream.ca_file":                 cfg.Upstream.CAFile,
	} {
		if !filepath.IsAbs(got) || !strings.HasPrefix(got, dir+string(filepath.Separator)) {
			t.Errorf("%s = %q, want an absolute path in %s", key, got, dir)
		}
	}
	if cfg.OIDC.ClientSecret != "client-secret-value" || len(cfg.Session.Keys) != 2 {
		t.Errorf("secrets not read from the resolved files: client secret %q, %d session keys", cfg.OIDC.ClientSecret, len(cfg.Session.Keys))
	}
}

// A relative path from an LCW_* variable was typed where the proxy starts:
// it resolves against the current directory, not the config file's.
func TestRelativePathsFromTheEnvironmentResolveAgainstTheCurrentDirectory(t *testing.T) {
	cfgDir, cwd := t.TempDir(), t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"key.pem": "placeholder",
		"config.yaml": `public_url: http://127.0.0.1:4180
upstream: {url: "http://127.0.0.1:8080"}
oidc: {issuer: "https://idp.example.com", client_id: c}
token: {issuer: shop.example.com, signing_keys: [{file: key.pem}]}
`,
	})
	writeFiles(t, cwd, map[string]string{"here/cookie-secret": testCookieSecret})
	t.Chdir(cwd)
	env := map[string]string{"LCW_SESSION_SECRET_FILE": "here/cookie-secret"}
	cfg, err := Load(filepath.Join(cfgDir, "config.yaml"), func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := filepath.Join(cwd, "here", "cookie-secret"); cfg.Session.SecretFile != want {
		t.Errorf("session.secret_file = %q, want %q", cfg.Session.SecretFile, want)
	}
	if want := filepath.Join(cfgDir, "key.pem"); cfg.Token.SigningKeys[0].File != want {
		t.Errorf("token.signing_keys[0].file = %q, want %q", cfg.Token.SigningKeys[0].File, want)
	}
}
