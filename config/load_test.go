package config

import (
	"os"
	"path/filepath"
	"reflect"
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
		"tls/ca.pem":              testCAPEM(t),
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

// Every problem with a value names the line it is written on, or the
// variable it came from, as the README promises.
func TestProblemsNameTheirLine(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"key.pem": "placeholder"})
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{
			name: "a duration the decoder cannot read",
			yaml: "session:\n  secret: " + testCookieSecret + "\n  lifetime: 10x\n",
			want: []string{`line 8: key "session.lifetime": "10x" is not a duration`},
		},
		{
			name: "values that validation refuses",
			yaml: "session:\n  secret: " + testCookieSecret + "\n  lifetime: 10s\naccess:\n  mode: sometimes\n  public_paths: [/a/, b]\n",
			want: []string{
				"line 8: session.lifetime: must be at least 1m",
				`line 10: access.mode: "sometimes" is not a mode`,
				`line 11: access.public_paths[1]: "b" must start with /`,
			},
		},
		{
			name: "a missing key is placed at its section",
			yaml: "session:\n  lifetime: 1h\n",
			want: []string{"line 6: session.secret: is required"},
		},
		{
			name: "a value from the environment names its variable",
			yaml: "session:\n  secret: " + testCookieSecret + "\n",
			env:  map[string]string{"LCW_ACCESS_MODE": "sometimes"},
			want: []string{`environment LCW_ACCESS_MODE: access.mode: "sometimes" is not a mode`},
		},
		{
			name: "an unknown token endpoint auth method names the key and the choices",
			yaml: "session:\n  secret: " + testCookieSecret + "\n",
			env:  map[string]string{"LCW_OIDC_TOKEN_AUTH_METHOD": "private_key_jwt"},
			want: []string{`environment LCW_OIDC_TOKEN_AUTH_METHOD: oidc.token_auth_method: "private_key_jwt" is not supported: use client_secret_basic or client_secret_post`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			// Five lines of base, so the case's first line is line 6.
			base := "public_url: http://127.0.0.1:4180\n" +
				"upstream: {url: \"http://127.0.0.1:8080\"}\n" +
				"oidc: {issuer: \"https://idp.example.com\", client_id: c}\n" +
				"token: {issuer: shop.example.com, signing_keys: [{file: " + filepath.Join(dir, "key.pem") + "}]}\n" +
				"listen: 127.0.0.1:4180\n"
			writeFiles(t, filepath.Dir(path), map[string]string{"c.yaml": base + tt.yaml})
			_, err := Load(path, func(k string) string { return tt.env[k] })
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// A key indented less than its neighbours is reported at its own line; the
// YAML parser alone names the line before it.
func TestSyntaxErrorsNameTheLineAtFault(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"key indented less than its section", "oidc:\n  issuer: https://idp.example.com\n  client_id: c\n client_secret: s\nsession:\n  lifetime: 1h\n", "line 4: did not find expected key"},
		{"key indented more than its section", "oidc:\n  issuer: https://idp.example.com\n  client_id: c\n    client_secret: s\n", "line 4: mapping values are not allowed in this context"},
		{"unclosed flow list: the line that opened it", "listen: 127.0.0.1:4180\nscopes: [openid,\n", "line 2: did not find expected node content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			writeFiles(t, filepath.Dir(path), map[string]string{"c.yaml": tt.yaml})
			_, err := Load(path, nil)
			if err == nil || !strings.Contains(err.Error(), "YAML syntax: "+tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, "YAML syntax: "+tt.want)
			}
		})
	}
}

// A misspelt LCW_* variable stops start-up with the name it was probably
// meant to be, instead of being ignored.
func TestLoadEnvironRefusesUnknownNames(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"key.pem": "placeholder",
		"c.yaml": `public_url: http://127.0.0.1:4180
upstream: {url: "http://127.0.0.1:8080"}
oidc: {issuer: "https://idp.example.com", client_id: c}
session: {secret: ` + testCookieSecret + `}
token: {issuer: shop.example.com, signing_keys: [{file: key.pem}]}
`,
	})
	path := filepath.Join(dir, "c.yaml")

	_, err := LoadEnviron(path, []string{"HOME=/root", "LCW_UPSTREAM_ULR=http://127.0.0.1:9999", "LCW_OIDC_CLIENT_SECRT_FILE=/x"})
	if err == nil {
		t.Fatal("LoadEnviron accepted misspelt LCW_* variables")
	}
	for _, want := range []string{
		"environment LCW_UPSTREAM_ULR is not a setting; did you mean LCW_UPSTREAM_URL?",
		"environment LCW_OIDC_CLIENT_SECRT_FILE is not a setting; did you mean LCW_OIDC_CLIENT_SECRET_FILE?",
		"Correct the name or unset it",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	// Settings, the config file variable, other programs' variables and
	// Kubernetes' service links of a Service named lcw… are all fine.
	cfg, err := LoadEnviron(path, []string{
		"LCW_UPSTREAM_URL=http://127.0.0.1:9999", "LCW_CONFIG=" + path, "PATH=/bin", "LCW_UPSTREAM_URL=http://ignored:1",
		"LCW_SERVICE_HOST=10.0.0.1", "LCW_PORT=tcp://10.0.0.1:80", "LCW_AUTH_PROXY_SERVICE_PORT_HTTP=80",
		"LCW_AUTH_PROXY_PORT_4180_TCP_ADDR=10.0.0.2",
	})
	if err != nil {
		t.Fatalf("LoadEnviron: %v", err)
	}
	if cfg.Upstream.URL != "http://127.0.0.1:9999" {
		t.Errorf("upstream.url = %q, want the first LCW_UPSTREAM_URL, as os.Getenv reads it", cfg.Upstream.URL)
	}
}

// The service-link exemption must never swallow a real setting.
func TestNoSettingLooksLikeAServiceLink(t *testing.T) {
	for _, name := range EnvNames() {
		if serviceLinkRE.MatchString(name) {
			t.Errorf("%s looks like a Kubernetes service-link variable, so a typo of it would go unnoticed", name)
		}
	}
	if len(EnvNames()) < 50 {
		t.Errorf("EnvNames lists %d names; want every key", len(EnvNames()))
	}
}

// Every key that names a file resolves against the config file's
// directory, which only the path tag arranges: a new *_file key without
// it would silently resolve against wherever the proxy is started.
func TestEveryFileKeyIsTaggedAsAPath(t *testing.T) {
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeOf(Duration(0)) {
			return
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			key := joinPath(path, name)
			isFile := name == "file" || strings.HasSuffix(name, "_file") || strings.HasSuffix(name, "_files")
			if isFile != (f.Tag.Get("path") == "true") {
				t.Errorf("%s: a file key must carry path:\"true\" (and only a file key)", key)
			}
			walk(f.Type, key)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
}

// A key written in the wrong section (a top-level required_groups, as
// people copy it from a flat list) is pointed to where it belongs.
func TestUnknownKeyInTheWrongSection(t *testing.T) {
	_, err := loadYAML(t, "required_groups: [staff]\nsession:\n  public_paths: [/x]\n")
	if err == nil {
		t.Fatal("keys in the wrong section were accepted")
	}
	for _, want := range []string{
		`unknown key "required_groups"; did you mean "access.required_groups"?`,
		`unknown key "session.public_paths"; did you mean "access.public_paths"?`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
