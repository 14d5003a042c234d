package e2e

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/cmd/internal/doctor"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// doctorSite is the upstream for doctor tests: a shop page, with a
// Content-Security-Policy when csp is set.
func doctorSite(csp string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if csp != "" {
			w.Header().Set("Content-Security-Policy", csp)
		}
		fmt.Fprint(w, `<!doctype html><html><head><title>Shop</title></head><body><h1>Shop</h1></body></html>`)
	})
}

// widgetInject injects the bootstrap and Microsoft's widget loader.
const widgetInject = `inject:
  enabled: true
  widget:
    src: https://oc-cdn-ocprod.azureedge.net/livechatwidget/scripts/LiveChatBootstrapper.js
    app_id: 00000000-0000-0000-0000-000000000001
    org_id: 00000000-0000-0000-0000-000000000002
    org_url: https://example.omnichannelengagementhub.com
`

// vipCookieHeader signs the VIP in and returns the Cookie header a browser
// would send to the site.
func vipCookieHeader(t *testing.T, e *env) string {
	t.Helper()
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	u, _ := url.Parse(e.URL + "/")
	var parts []string
	for _, ck := range c.Jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

func runDoctor(t *testing.T, o doctor.Options) *doctor.Report {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	rep, err := doctor.Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_ = rep.Write(&out)
	t.Logf("doctor %s:\n%s", o.URL, out.String())
	return rep
}

// wantFinding fails unless rep has a finding of level l whose text
// contains every part.
func wantFinding(t *testing.T, rep *doctor.Report, l doctor.Level, parts ...string) {
	t.Helper()
	for _, f := range rep.Findings {
		if f.Level != l {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(f.Text, p)
		}
		if all {
			return
		}
	}
	t.Errorf("no %s finding with %q", l, parts)
}

func wantCounts(t *testing.T, rep *doctor.Report, errors, warnings int) {
	t.Helper()
	if e, w := rep.Count(doctor.Error), rep.Count(doctor.Warn); e != errors || w != warnings {
		t.Errorf("%d errors and %d warnings, want %d and %d", e, w, errors, warnings)
	}
}

// frontOf is a misconfigured layer in front of the proxy: an ingress or
// CDN whose rule edits requests on their way.
func frontOf(t *testing.T, e *env, edit func(w http.ResponseWriter, r *http.Request) bool) *httptest.Server {
	t.Helper()
	target, _ := url.Parse(e.URL)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if edit(w, r) {
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(front.Close)
	return front
}

func TestDoctorHealthySite(t *testing.T) {
	e := startEnv(t, envOptions{Upstream: doctorSite(""), Extra: widgetInject})
	cookie := vipCookieHeader(t, e)

	t.Run("signed in: every check passes", func(t *testing.T) {
		rep := runDoctor(t, doctor.Options{URL: e.URL + "/", Widget: true, Cookie: cookie})
		wantCounts(t, rep, 0, 0)
		if n := rep.Count(doctor.Skip); n != 0 {
			t.Errorf("%d checks skipped", n)
		}
		wantFinding(t, rep, doctor.OK, "/_lcw/public-key.pem: RSA 2048-bit public key")
		wantFinding(t, rep, doctor.OK, "/_lcw/public-keys: 1 key(s) in Omnichannel's multi-key format")
		wantFinding(t, rep, doctor.OK, "/_lcw/jwks.json: 1 key(s) in JWKS")
		wantFinding(t, rep, doctor.OK, "public-keys and jwks.json agree")
		wantFinding(t, rep, doctor.OK, "public-key.pem is one of the keys in public-keys")
		wantFinding(t, rep, doctor.OK, "defines lcwAuth.getAuthenticationToken")
		wantFinding(t, rep, doctor.OK, "widget loader https://oc-cdn-ocprod.azureedge.net/")
		wantFinding(t, rep, doctor.OK, "refuses requests from other sites (403)")
		wantFinding(t, rep, doctor.OK, "verifies as Omnichannel verifies it, with public-keys (kid ")
		wantFinding(t, rep, doctor.OK, "verifies as Omnichannel verifies it, with public-key.pem (its one key)")
		if rep.Failed(true) {
			t.Error("a healthy site fails under --strict")
		}
	})

	t.Run("signed out: the page and the token need a session, nothing is wrong", func(t *testing.T) {
		rep := runDoctor(t, doctor.Options{URL: e.URL + "/", Widget: true})
		wantCounts(t, rep, 0, 0)
		wantFinding(t, rep, doctor.Skip, "needs a sign-in")
		wantFinding(t, rep, doctor.Skip, "no signed-in session")
	})

	t.Run("checked under another origin than public_url", func(t *testing.T) {
		rep := runDoctor(t, doctor.Options{URL: strings.Replace(e.URL, "127.0.0.1", "localhost", 1) + "/", Cookie: cookie})
		wantFinding(t, rep, doctor.Error, "refuses a request from its own page", "public_url is another origin")
	})

	t.Run("a cookie that is not a session", func(t *testing.T) {
		rep := runDoctor(t, doctor.Options{URL: e.URL + "/", Cookie: "_lcw=forged"})
		wantFinding(t, rep, doctor.Error, "answers 401 with the cookie given")
		if !rep.Failed(false) {
			t.Error("a run with errors does not fail")
		}
	})
}

func TestDoctorKeysBehindLogin(t *testing.T) {
	e := startEnv(t, envOptions{Upstream: doctorSite(""), Extra: widgetInject})
	// An ingress that sends every request without a session to sign-in,
	// the key documents included.
	front := frontOf(t, e, func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/_lcw/public-key") || r.URL.Path == "/_lcw/jwks.json" {
			http.Redirect(w, r, "/_lcw/login?rd="+url.QueryEscape(r.URL.Path), http.StatusFound)
			return false
		}
		return true
	})
	rep := runDoctor(t, doctor.Options{URL: front.URL + "/"})
	for _, doc := range []string{"public-key.pem", "public-keys", "jwks.json"} {
		wantFinding(t, rep, doctor.Error, "/_lcw/"+doc+" redirects to /_lcw/login", "behind a sign-in")
	}
	if !rep.Failed(false) {
		t.Error("keys behind a sign-in do not fail the run")
	}
}

func TestDoctorPageWithoutBootstrap(t *testing.T) {
	e := startEnv(t, envOptions{Upstream: doctorSite(""), Extra: "access:\n  mode: optional\n"})
	rep := runDoctor(t, doctor.Options{URL: e.URL + "/shop"})
	wantFinding(t, rep, doctor.Error, "/shop carries no bootstrap tag")
	wantCounts(t, rep, 1, 0)

	rep = runDoctor(t, doctor.Options{URL: e.URL + "/shop", Widget: true})
	wantFinding(t, rep, doctor.Error, "carries no widget loader tag")
}

// policySite serves a page with the given enforced header value, report-only
// header value and <meta> policy (each optional).
func policySite(header, reportOnly, meta string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if header != "" {
			w.Header().Set("Content-Security-Policy", header)
		}
		if reportOnly != "" {
			w.Header().Set("Content-Security-Policy-Report-Only", reportOnly)
		}
		m := ""
		if meta != "" {
			m = `<meta http-equiv="Content-Security-Policy" content="` + html.EscapeString(meta) + `">`
		}
		fmt.Fprint(w, `<!doctype html><html><head>`+m+`<title>Shop</title></head><body><h1>Shop</h1></body></html>`)
	})
}

func TestDoctorCSP(t *testing.T) {
	const strict = "default-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'"
	const allow = "  csp:\n    allow_widget: true\n"
	// Each case names what doctor must report; the style warning is there
	// whenever a policy lacks 'unsafe-inline' for styles.
	tests := []struct {
		name                 string
		site                 http.Handler
		extra                string
		wantErrors, wantWarn int
		want                 []string // in the error, or else the warning
	}{
		{"the site's policy blocks the widget: every directive named", policySite(strict, "", ""), widgetInject, 1, 1,
			[]string{"blocks the widget", "script-src https://oc-cdn-ocprod.azureedge.net (header policy 1)",
				"connect-src https://*.omnichannelengagementhub.com (header policy 1)", "connect-src wss://*.trouter.teams.microsoft.com",
				"frame-src https://oc-cdn-ocprod.azureedge.net", "img-src data:", "media-src data:", "font-src https://res-1.cdn.office.net"}},
		{"allow_widget opens the policy for it", policySite(strict, "", ""), widgetInject + allow, 0, 1,
			[]string{"style-src needs 'unsafe-inline'", "header policy 1"}},
		{"fallback_src: the proxy lets the onerror handler run", policySite(strict+"; style-src 'self' 'unsafe-inline'", "", ""),
			widgetInject + "    fallback_src: https://ocprodpublicnamgs.blob.core.windows.net/livechatwidget/scripts/LiveChatBootstrapper.js\n" + allow, 0, 0, nil},
		{"allow_widget, styles allowed: nothing to report", policySite(strict+"; style-src 'self' 'unsafe-inline'", "", ""), widgetInject + allow, 0, 0, nil},
		{"two policies in one header: the second blocks frames", policySite("script-src 'self', frame-src 'self'", "", ""), widgetInject, 1, 0,
			[]string{"frame-src https://oc-cdn-ocprod.azureedge.net (header policy 2)"}},
		{"two policies in one header, opened by allow_widget", policySite("script-src 'self', frame-src 'self'", "", ""), widgetInject + allow, 0, 0, nil},
		{"a <meta> policy blocks images", policySite("", "", "img-src 'self'"), widgetInject, 1, 0,
			[]string{"img-src data: (<meta> policy 1)", "img-src https://oc-cdn-ocprod.azureedge.net (<meta> policy 1)"}},
		{"a <meta> policy, opened by allow_widget", policySite("", "", "img-src 'self'"), widgetInject + allow, 0, 0, nil},
		{"report-only blocks nothing but will report", policySite("", "default-src 'self'; style-src 'unsafe-inline'", ""), widgetInject, 0, 1,
			[]string{"Content-Security-Policy-Report-Only will report the widget", "connect-src https://*.communication.azure.com (report-only policy 1)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startEnv(t, envOptions{Upstream: tc.site, Extra: "access:\n  mode: optional\n" + tc.extra})
			rep := runDoctor(t, doctor.Options{URL: e.URL + "/"})
			wantCounts(t, rep, tc.wantErrors, tc.wantWarn)
			switch {
			case tc.wantErrors > 0:
				wantFinding(t, rep, doctor.Error, tc.want...)
			case tc.wantWarn > 0:
				wantFinding(t, rep, doctor.Warn, tc.want...)
			}
			if tc.wantErrors == 0 && !strings.Contains(tc.name, "report-only") {
				wantFinding(t, rep, doctor.OK, "allows the widget loader and every source it needs")
			}
		})
	}
}

func TestDoctorTokenEndpointAnswersCrossSite(t *testing.T) {
	e := startEnv(t, envOptions{Upstream: doctorSite(""), Extra: widgetInject})
	cookie := vipCookieHeader(t, e)
	// A layer in front that drops the browser's Origin and Fetch metadata,
	// so the proxy cannot tell another site's request from the page's.
	front := frontOf(t, e, func(w http.ResponseWriter, r *http.Request) bool {
		for _, h := range []string{"Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest"} {
			r.Header.Del(h)
		}
		return true
	})
	rep := runDoctor(t, doctor.Options{URL: front.URL + "/", Cookie: cookie})
	wantFinding(t, rep, doctor.Error, "hands a chat token to a request from another site")
}

func TestDoctorFragileToken(t *testing.T) {
	var contexts strings.Builder
	for i := range 79 {
		fmt.Fprintf(&contexts, "    ctx_%02d: { value: x }\n", i)
	}
	fmt.Fprintf(&contexts, "    long_note: { value: %s }\n", strings.Repeat("n", 3600))
	e := startEnv(t, envOptions{Upstream: doctorSite(""), Extra: widgetInject + `token:
  issuer: shop.example.com
  subject_claim: preferred_username
  lifetime: 2m
  signing_keys:
    - file: {keyfile}
  lwicontexts:
` + contexts.String()})
	rep := runDoctor(t, doctor.Options{URL: e.URL + "/", Widget: true, Cookie: vipCookieHeader(t, e)})
	wantFinding(t, rep, doctor.Warn, `sub "vip" is not a GUID`)
	wantFinding(t, rep, doctor.Warn, "lwicontexts has 80 keys, close to Omnichannel's limit of 100")
	wantFinding(t, rep, doctor.Warn, `lwicontexts key "long_note" holds 3600 characters`)
	wantFinding(t, rep, doctor.Warn, "the token lives 2m0s")
	wantCounts(t, rep, 0, 4)
	if rep.Failed(false) || !rep.Failed(true) {
		t.Errorf("warnings alone: failed %v, under --strict %v; want false, true", rep.Failed(false), rep.Failed(true))
	}
}
