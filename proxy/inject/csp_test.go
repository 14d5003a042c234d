package inject

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

func TestParseAndFormatCSP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"default-src 'self'", "default-src 'self'"},
		{"  DEFAULT-SRC   'self'  https://a ;;  img-src * ; ", "default-src 'self' https://a; img-src *"},
		{"upgrade-insecure-requests; script-src 'none'", "upgrade-insecure-requests; script-src 'none'"},
		{"script-src a; script-src b", "script-src a; script-src b"}, // duplicates kept, only the first counts
		{"", ""},
		{"default-src 'self', script-src 'none'", "default-src 'self', script-src 'none'"},
		{" , default-src a", "default-src a"},
		{"script-src\t'self'\n", "script-src 'self'"},
	}
	for _, tc := range tests {
		if got := formatCSPList(parseCSPList(tc.in)); got != tc.want {
			t.Errorf("round trip %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCSPAllow(t *testing.T) {
	base := cspAllowance{nonce: "N"}
	withOrigin := cspAllowance{nonce: "N", bootstrapSource: "https://s.example/_lcw/bootstrap.js", ownConnect: "https://s.example/_lcw/"}
	widget := cspAllowance{nonce: "N", scriptHosts: []string{"https://cdn.example"}, connectHosts: []string{"https://*.hub.example"}}
	tests := []struct {
		name string
		in   string
		a    cspAllowance
		want string
	}{
		{"nonce added to script-src", "script-src 'self' https://x; img-src *", base,
			"script-src 'self' https://x 'nonce-N'; img-src *"},
		{"nonce added to default-src when no script-src", "default-src 'self'; img-src *", base,
			"default-src 'self' 'nonce-N'; img-src *"},
		{"default-src untouched when script-src exists", "default-src 'none'; script-src 'self'", base,
			"default-src 'none'; script-src 'self' 'nonce-N'"},
		{"script-src-elem and script-src both get it", "script-src-elem 'self'; script-src 'self'", base,
			"script-src-elem 'self' 'nonce-N'; script-src 'self' 'nonce-N'"},
		{"script-src-elem alone", "default-src 'none'; script-src-elem https://a", base,
			"default-src 'none'; script-src-elem https://a 'nonce-N'"},
		{"'none' replaced by the nonce only", "script-src 'none'; object-src 'none'", base,
			"script-src 'nonce-N'; object-src 'none'"},
		{"'NONE' keyword case", "script-src 'NONE'", base, "script-src 'nonce-N'"},
		{"strict-dynamic: nonce is enough", "script-src 'strict-dynamic' 'nonce-old'", widget,
			"script-src 'strict-dynamic' 'nonce-old' 'nonce-N'"},
		{"unsafe-inline without nonce: no nonce, exact source instead", "script-src https://x 'unsafe-inline'", withOrigin,
			"script-src https://x 'unsafe-inline' https://s.example/_lcw/bootstrap.js"},
		{"unsafe-inline with self: already allowed", "script-src 'self' 'UNSAFE-INLINE'", withOrigin,
			"script-src 'self' 'UNSAFE-INLINE'"},
		{"unsafe-inline already neutralized by a hash", "script-src 'unsafe-inline' 'sha256-abc'", base,
			"script-src 'unsafe-inline' 'sha256-abc' 'nonce-N'"},
		{"no script policy at all", "img-src 'self'; frame-ancestors 'none'", base,
			"img-src 'self'; frame-ancestors 'none'"},
		{"widget host and connect hosts", "script-src 'self'; connect-src 'self'", widget,
			"script-src 'self' 'nonce-N' https://cdn.example; connect-src 'self' https://*.hub.example"},
		{"widget via default-src: script-src and connect-src copied, default-src untouched", "default-src 'self'", widget,
			"default-src 'self'; script-src 'self' 'nonce-N' https://cdn.example; connect-src 'self' https://*.hub.example"},
		{"connect-src 'none' replaced", "connect-src 'none'", widget, "connect-src https://*.hub.example"},
		{"connect-src * already allows", "connect-src *; script-src *", widget, "connect-src *; script-src * 'nonce-N' https://cdn.example"},
		{"own endpoint in connect-src when self missing", "default-src 'none'", withOrigin,
			"default-src 'nonce-N'; connect-src https://s.example/_lcw/"},
		{"own endpoint not needed with self", "connect-src 'self'; script-src 'self'", withOrigin,
			"connect-src 'self'; script-src 'self' 'nonce-N'"},
		{"only the first duplicate directive changes", "script-src 'self'; script-src 'none'", base,
			"script-src 'self' 'nonce-N'; script-src 'none'"},
		{"never adds unsafe-inline or unsafe-eval", "default-src 'self'; script-src 'self' 'unsafe-eval'", widget,
			"default-src 'self'; script-src 'self' 'unsafe-eval' 'nonce-N' https://cdn.example; connect-src 'self' https://*.hub.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := parseCSP(tc.in)
			got := in.allow(tc.a).String()
			if got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
			if strings.Count(strings.ToLower(got), "'unsafe-inline'") != strings.Count(strings.ToLower(tc.in), "'unsafe-inline'") {
				t.Errorf("'unsafe-inline' count changed")
			}
			if in.String() != formatCSPList(parseCSPList(tc.in)) {
				t.Errorf("allow modified its input")
			}
		})
	}
}

var nonceRE = regexp.MustCompile(`nonce="([A-Za-z0-9_-]{22})"`)

func TestCSPHeadersAndTags(t *testing.T) {
	w := config.Widget{Src: "https://cdn.example/lcw/LiveChatBootstrapper.js", AppID: "a", OrgID: "o", OrgURL: "https://o.omnichannelengagementhub.com", LCWVersion: "prod"}
	inj, _ := testInjector(t, func(o *Options) { o.Widget = w; o.AllowWidgetCSP = true })
	h := http.Header{"Content-Type": {"text/html"}}
	h.Add("Content-Security-Policy", "script-src 'self'")
	h.Add("Content-Security-Policy", "default-src 'none', script-src 'strict-dynamic' 'nonce-x'")
	h.Add("Content-Security-Policy-Report-Only", "script-src 'none'; report-uri /r")
	resp, out := run(t, inj, response{header: h, body: []byte("<head></head>")})

	m := nonceRE.FindAllSubmatch(out, -1)
	if len(m) != 2 || !bytes.Equal(m[0][1], m[1][1]) {
		t.Fatalf("want both tags with one nonce, got %s", out)
	}
	n := string(m[0][1])
	csp := resp.Header.Values("Content-Security-Policy")
	want := []string{
		"script-src 'self' 'nonce-" + n + "' https://cdn.example",
		"default-src 'none'; script-src 'nonce-" + n + "' https://cdn.example; connect-src https://cdn.example " + strings.Join(omnichannelConnectHosts, " ") +
			", script-src 'strict-dynamic' 'nonce-x' 'nonce-" + n + "'",
	}
	if strings.Join(csp, "\n") != strings.Join(want, "\n") {
		t.Errorf("CSP\n got %q\nwant %q", csp, want)
	}
	if got, want := resp.Header.Get("Content-Security-Policy-Report-Only"), "script-src 'nonce-"+n+"' https://cdn.example; report-uri /r"; got != want {
		t.Errorf("report-only\n got %q\nwant %q", got, want)
	}

	// A second response gets a fresh nonce.
	h2 := http.Header{"Content-Type": {"text/html"}, "Content-Security-Policy": {"script-src 'self'"}}
	_, out2 := run(t, inj, response{header: h2, body: []byte("<head></head>")})
	if m2 := nonceRE.FindSubmatch(out2); m2 == nil || string(m2[1]) == n {
		t.Errorf("nonce reused or missing across responses: %s", out2)
	}
}

func TestNoNonceWithoutPolicy(t *testing.T) {
	inj, _ := testInjector(t, nil)
	_, out := run(t, inj, response{body: []byte("<head></head>")})
	if bytes.Contains(out, []byte("nonce")) {
		t.Errorf("nonce without a policy: %s", out)
	}
}

func TestMetaCSPRewritten(t *testing.T) {
	inj, _ := testInjector(t, nil)
	page := `<head><meta charset="utf-8"><META HTTP-EQUIV="Content-Security-Policy" CONTENT="script-src 'self'; img-src &apos;self&apos;"><meta http-equiv="refresh" content="5"></head><body>`
	_, out := run(t, inj, response{body: []byte(page)})
	m := nonceRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("tag without nonce: %s", out)
	}
	want := `<head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="script-src &#39;self&#39; &#39;nonce-` + string(m[1]) +
		`&#39;; img-src &#39;self&#39;"><meta http-equiv="refresh" content="5"><script src="/_lcw/bootstrap.js?v=abc" defer nonce="` + string(m[1]) + `"></script></head><body>`
	if string(out) != want {
		t.Errorf("\n got %s\nwant %s", out, want)
	}
}

func TestMetaCSPAfterInsertionPointIgnored(t *testing.T) {
	inj, _ := testInjector(t, nil)
	page := `<head></head><body><meta http-equiv="content-security-policy" content="script-src 'none'">`
	_, out := run(t, inj, response{body: []byte(page)})
	if want := `<head>` + testTag + `</head><body><meta http-equiv="content-security-policy" content="script-src 'none'">`; string(out) != want {
		t.Errorf("got %s", out)
	}
}
