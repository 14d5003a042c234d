package config

import (
	"path/filepath"
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
		{"https://user:p#w@host", "https://REDACTED@host"},            // does not parse; the password is in the text
		{"https://user:pw@host:bad/x", "https://REDACTED@host:bad/x"}, // nor does a bad port
		{`parse "https://u:pw@h:x": invalid port`, `parse "https://REDACTED@h:x": invalid port`},
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

// Every key that takes a URL, given one with credentials that validation
// refuses (or that does not parse at all), is named in the error with its
// value, never with the password: check-config and serve print the error,
// and start-up logs end up in log stores. From the file or the environment,
// and also when the YAML around the value does not parse.
func TestProblemsNeverPrintCredentials(t *testing.T) {
	const secret = "s3cretPW"
	bad := []string{
		"ftp://user:" + secret + "@host.example",                // wrong scheme
		"https://user:" + secret + "@host.example:bad",          // does not parse: port
		"https://user:" + secret + "#x@host.example",            // does not parse: '#' in the password
		"https://user:" + secret + "@host.example/p?q=1#f",      // a query or fragment (refused where it matters)
		"user:" + secret + "@host.example",                      // no scheme: read as the scheme "user"
		"https://" + secret + "@host.example:bad",               // a token as the user name
		"http://user:" + secret + "@host.example/a b\x7f",       // control character
		"https://user:" + secret + "@host.example/path?x=%zz%x", // bad escapes
	}
	keys := map[string]map[string]string{
		"public_url":            {"LCW_PUBLIC_URL": "{}"},
		"upstream.url":          {"LCW_UPSTREAM_URL": "{}"},
		"oidc.issuer":           {"LCW_OIDC_ISSUER": "{}"},
		"token.context_url":     {"LCW_TOKEN_CONTEXT_URL": "{}"},
		"inject.widget.src":     {"LCW_INJECT_WIDGET_SRC": "{}", "LCW_INJECT_WIDGET_ORG_URL": "https://org.example", "LCW_INJECT_WIDGET_APP_ID": "a", "LCW_INJECT_WIDGET_ORG_ID": "o"},
		"inject.widget.org_url": {"LCW_INJECT_WIDGET_ORG_URL": "{}", "LCW_INJECT_WIDGET_SRC": "https://src.example/x.js", "LCW_INJECT_WIDGET_APP_ID": "a", "LCW_INJECT_WIDGET_ORG_ID": "o"},
		"session.redis.url":     {"LCW_SESSION_REDIS_URL": "{}", "LCW_SESSION_STORE": "redis"},
		"tracing.endpoint":      {"LCW_TRACING_ENDPOINT": "{}", "OTEL_TRACES_EXPORTER": "otlp"},
		"OTEL endpoint":         {"OTEL_EXPORTER_OTLP_ENDPOINT": "{}"},
		"OTEL traces endpoint":  {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{}"},
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"key.pem": "placeholder",
		"c.yaml": "public_url: http://127.0.0.1:4180\nupstream: {url: \"http://127.0.0.1:8080\"}\n" +
			"oidc: {issuer: \"https://idp.example.com\", client_id: c}\nsession: {secret: " + testCookieSecret + "}\n" +
			"token: {issuer: shop.example.com, signing_keys: [{file: key.pem}]}\n",
	})
	refused := 0
	for key, env := range keys {
		for _, v := range bad {
			vars := map[string]string{}
			for k, tmpl := range env {
				vars[k] = strings.ReplaceAll(tmpl, "{}", v)
			}
			_, err := Load(filepath.Join(dir, "c.yaml"), func(k string) string { return vars[k] })
			if err == nil {
				continue // a value this key takes: nothing printed
			}
			refused++
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s = %q: the error shows the password:\n%v", key, v, err)
			}
		}
	}
	if refused < len(keys)*len(bad)/2 {
		t.Fatalf("only %d of %d values were refused: the test no longer exercises the messages", refused, len(keys)*len(bad))
	}

	// In the file: the problem quotes the value; a syntax error quotes
	// the line.
	for name, yaml := range map[string]string{
		"refused":      "upstream: {url: \"ftp://user:" + secret + "@host.example\"}\n",
		"syntax error": "upstream:\n  timeout: 5s\n url: https://user:" + secret + "@host.example\n",
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		writeFiles(t, filepath.Dir(path), map[string]string{"c.yaml": yaml})
		_, err := Load(path, nil)
		if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "host.example") {
			t.Errorf("%s: error %v, want one naming the value without its password", name, err)
		}
	}
}
