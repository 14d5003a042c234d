package doctor

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"testing"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The evaluator answers as a browser would for the doctor's two questions;
// each case is one CSP3 rule.
func TestCSPScript(t *testing.T) {
	page := "https://shop.example/cart"
	tests := []struct {
		name, policy, src, nonce string
		want                     bool
	}{
		{"no script directive allows all", "img-src 'none'", "https://cdn.example/a.js", "", true},
		{"default-src applies", "default-src 'self'", "https://cdn.example/a.js", "", false},
		{"'self' allows the page's origin", "script-src 'self'", "https://shop.example/_lcw/bootstrap.js", "", true},
		{"script-src-elem wins over script-src", "script-src *; script-src-elem 'self'", "https://cdn.example/a.js", "", false},
		{"a matching nonce allows", "script-src 'nonce-abc'", "https://cdn.example/a.js", "abc", true},
		{"nonces are case-sensitive", "script-src 'nonce-abc'", "https://cdn.example/a.js", "ABC", false},
		{"strict-dynamic ignores hosts", "script-src 'strict-dynamic' https://cdn.example 'nonce-abc'", "https://cdn.example/a.js", "", false},
		{"strict-dynamic with the nonce", "script-src 'strict-dynamic' 'nonce-abc'", "https://cdn.example/a.js", "abc", true},
		{"host wildcard matches a subdomain", "script-src https://*.example", "https://cdn.example/a.js", "", true},
		{"host wildcard does not match the bare domain", "script-src https://*.cdn.example", "https://cdn.example/a.js", "", false},
		{"scheme source", "script-src https:", "https://cdn.example/a.js", "", true},
		{"http source allows the https upgrade", "script-src http://cdn.example", "https://cdn.example/a.js", "", true},
		{"https source does not allow http", "script-src https://cdn.example", "http://cdn.example/a.js", "", false},
		{"no port means the default one", "script-src https://cdn.example", "https://cdn.example:8443/a.js", "", false},
		{"port wildcard", "script-src https://cdn.example:*", "https://cdn.example:8443/a.js", "", true},
		{"a path ending in / is a prefix", "script-src https://cdn.example/lib/", "https://cdn.example/lib/a.js", "", true},
		{"a path without / is exact", "script-src https://cdn.example/lib/a.js", "https://cdn.example/lib/b.js", "", false},
		{"'none' allows nothing", "script-src 'none'", "https://shop.example/a.js", "", false},
		{"host without scheme takes the page's", "script-src cdn.example", "https://cdn.example/a.js", "", true},
		{"directive names are case-insensitive", "SCRIPT-SRC 'self'", "https://cdn.example/a.js", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := parseCSP([]string{tc.policy})
			if len(p) != 1 {
				t.Fatalf("%d policies", len(p))
			}
			if got := p[0].allowsScript(mustURL(t, tc.src), tc.nonce, mustURL(t, page)); got != tc.want {
				t.Errorf("allowsScript = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCSPConnect(t *testing.T) {
	page := "https://shop.example/"
	tests := []struct {
		name, policy, target string
		want                 bool
	}{
		{"connect-src 'self'", "connect-src 'self'", "https://shop.example/_lcw/token", true},
		{"'self' covers a same-host socket", "connect-src 'self'", "wss://shop.example/live", true},
		{"default-src when no connect-src", "default-src 'self'", "https://org.omnichannelengagementhub.com/x", false},
		{"wss source", "connect-src wss://*.trouter.teams.microsoft.com", "wss://a.trouter.teams.microsoft.com", true},
		{"an https source does not cover wss", "connect-src https://*.trouter.teams.microsoft.com", "wss://a.trouter.teams.microsoft.com", false},
		{"* covers sockets", "connect-src *", "wss://a.communication.azure.com", true},
		{"script-src does not govern connections", "script-src 'none'", "https://cdn.botframework.com/", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := parseCSP([]string{tc.policy})
			if got := p[0].allowsConnect(mustURL(t, tc.target), mustURL(t, page)); got != tc.want {
				t.Errorf("allowsConnect = %v, want %v", got, tc.want)
			}
		})
	}
}

// A header value may carry several policies; each is enforced on its own.
func TestCSPSeveralPolicies(t *testing.T) {
	p := parseCSP([]string{"script-src *, script-src 'self'", "connect-src 'none'"})
	if len(p) != 3 {
		t.Fatalf("%d policies, want 3", len(p))
	}
	page, cdn := mustURL(t, "https://shop.example/"), mustURL(t, "https://cdn.example/a.js")
	if !p[0].allowsScript(cdn, "", page) || p[1].allowsScript(cdn, "", page) {
		t.Error("policies were merged")
	}
}

// Scripts a trusted script adds: trust passes on only under strict-dynamic.
func TestCSPInserted(t *testing.T) {
	page, more := mustURL(t, "https://shop.example/"), mustURL(t, "https://cdn.example/more.js")
	tests := []struct {
		policy      string
		inserterOK  bool
		wantAllowed bool
		name        string
	}{
		{"script-src 'strict-dynamic' 'nonce-a'", true, true, "strict-dynamic passes trust on"},
		{"script-src 'strict-dynamic' 'nonce-a'", false, false, "an untrusted loader passes nothing on"},
		{"script-src 'self' 'nonce-a'", true, false, "without strict-dynamic the URL itself must be allowed"},
		{"script-src 'self' https://cdn.example", true, true, "host allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseCSP([]string{tc.policy})[0].allowsInserted(more, page, tc.inserterOK); got != tc.wantAllowed {
				t.Errorf("allowsInserted = %v, want %v", got, tc.wantAllowed)
			}
		})
	}
}

// Each kind of request the widget makes falls back as browsers do.
func TestCSPFetch(t *testing.T) {
	page := mustURL(t, "https://shop.example/")
	tests := []struct {
		name, policy, directive, u string
		want                       bool
	}{
		{"frame-src wins", "frame-src https://cdn.example; child-src 'none'", "frame-src", "https://cdn.example/ams/iframe.html", true},
		{"frames fall back to child-src", "child-src 'self'; default-src *", "frame-src", "https://cdn.example/x", false},
		{"then to default-src", "default-src https://cdn.example", "frame-src", "https://cdn.example/x", true},
		{"* does not match data:", "img-src *", "img-src", "data:probe", false},
		{"data: by name", "img-src 'self' data:", "img-src", "data:probe", true},
		{"media falls back to default-src", "default-src 'self'", "media-src", "data:probe", false},
		{"fonts by host", "font-src https://res-1.cdn.office.net", "font-src", "https://res-1.cdn.office.net/f.woff", true},
		{"no directive: allowed", "script-src 'self'", "font-src", "https://res-1.cdn.office.net/f.woff", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseCSP([]string{tc.policy})[0].allowsFetch(tc.directive, mustURL(t, tc.u), page); got != tc.want {
				t.Errorf("allowsFetch(%s, %s) = %v, want %v", tc.directive, tc.u, got, tc.want)
			}
		})
	}
	for policy, want := range map[string]bool{
		"script-src 'self'": true, "default-src 'self'": false, "style-src 'unsafe-inline'": true,
		"style-src 'unsafe-inline' 'nonce-x'": false, "default-src 'unsafe-inline'; style-src-elem 'self'": false,
	} {
		if got := parseCSP([]string{policy})[0].allowsInlineStyle(); got != want {
			t.Errorf("allowsInlineStyle(%q) = %v, want %v", policy, got, want)
		}
	}
	if got := probeURL("https://*.omnichannelengagementhub.com", "org-crm4.omnichannelengagementhub.com"); got != "https://org-crm4.omnichannelengagementhub.com" {
		t.Errorf("probe for the org's domain: %s", got)
	}
	if got := probeURL("https://*.omnichannelengagementhub.us", "org-crm4.omnichannelengagementhub.com"); got != "https://probe.omnichannelengagementhub.us" {
		t.Errorf("probe for another domain: %s", got)
	}
}

func TestCSPHandler(t *testing.T) {
	const js = "this.remove()"
	sum := sha256.Sum256([]byte(js))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	for policy, want := range map[string]bool{
		"img-src 'none'":                                                  true,
		"script-src 'self'":                                               false,
		"script-src 'unsafe-inline'":                                      true,
		"script-src 'unsafe-inline' 'nonce-x'":                            false,
		"script-src 'nonce-x' " + hash:                                    false, // a hash without 'unsafe-hashes' is for <script> only
		"script-src 'nonce-x' 'unsafe-hashes' " + hash:                    true,
		"script-src 'unsafe-hashes' " + hash + "; script-src-attr 'none'": false,
		"default-src 'unsafe-hashes' " + hash:                             true,
	} {
		if got := parseCSP([]string{policy})[0].allowsHandler(js); got != want {
			t.Errorf("allowsHandler under %q = %v, want %v", policy, got, want)
		}
	}
}
