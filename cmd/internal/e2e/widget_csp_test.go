package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// siteNonce is the strict site's own nonce for its own scripts.
const siteNonce = "c2l0ZS1ub25jZQ"

// strictPolicies are the pages of the strict site: the strictest policy
// we support (nothing but the site's nonce-carrying scripts, no framing)
// as a header, as a <meta> tag, and as two policies in one header whose
// second restricts connections and images on its own.
var strictPolicies = []struct {
	path, header, meta string
}{
	{"/header", "default-src 'none'; script-src 'nonce-" + siteNonce + "'; base-uri 'none'; frame-ancestors 'none'", ""},
	{"/meta", "", "default-src 'none'; script-src 'nonce-" + siteNonce + "'; base-uri 'none'"},
	{"/two", "default-src 'none'; script-src 'nonce-" + siteNonce + "'; frame-ancestors 'none', " +
		"script-src 'nonce-" + siteNonce + "' 'strict-dynamic'; connect-src 'self'; img-src 'self'", ""},
}

// violationsJS is the site's first script: it records every
// securitypolicyviolation of the page from the start.
const violationsJS = `window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.disposition + ' ' + e.effectiveDirective + ' blocked ' + (e.blockedURI || '(inline)') +
    ' from ' + (e.sourceFile || '?') + ':' + e.lineNumber + ' ' + (e.sample || ''));
});`

// strictSite serves the pages of strictPolicies. Each carries no chat code
// of its own: the proxy injects bootstrap.js and the widget's loader tag.
func strictSite() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oss/violations.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		fmt.Fprint(w, violationsJS)
	})
	for _, p := range strictPolicies {
		mux.HandleFunc("GET "+p.path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if p.header != "" {
				w.Header().Set("Content-Security-Policy", p.header)
			}
			meta := ""
			if p.meta != "" {
				meta = `<meta http-equiv="Content-Security-Policy" content="` + p.meta + `">`
			}
			fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8">%s<title>Strict</title>
<script nonce="%s" src="/oss/violations.js"></script></head><body><p id="content">strict page</p></body></html>`, meta, siteNonce)
		})
	}
	return mux
}

// isGlobalProbe reports whether violation v is the one Microsoft's widget
// code causes under every policy without 'unsafe-eval': the ACS signaling
// client (@azure/communication-signaling, pre-built with webpack, bundled by
// the widget's Web Chat adapter) finds the global object with
// Function("return this")() inside a try/catch and falls back to window when
// the policy refuses it. It blocks nothing the chat needs, so the proxy does
// not add 'unsafe-eval' for it (README says so).
func isGlobalProbe(v string, widgetOrigins ...string) bool {
	rest, ok := strings.CutPrefix(v, "enforce script-src blocked eval from ")
	if !ok {
		return false
	}
	for _, o := range widgetOrigins {
		if strings.HasPrefix(rest, o+"/livechatwidget/") {
			return true
		}
	}
	return false
}

// widgetCDN stands in for the widget's CDN and its regional storage
// fallback: its loader is Microsoft's chat code (the interop bundle) and
// the harness that drives it as the hosted loader would. down makes the
// CDN copy fail, so only the fallback serves it.
func widgetCDN(t *testing.T, loader []byte) (cdn, storage *httptest.Server, down *atomic.Bool) {
	down = new(atomic.Bool)
	serve := func(fail *atomic.Bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/livechatwidget/scripts/LiveChatBootstrapper.js" || (fail != nil && fail.Load()) {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Write(loader)
		})
	}
	cdn, storage = httptest.NewServer(serve(down)), httptest.NewServer(serve(nil))
	t.Cleanup(cdn.Close)
	t.Cleanup(storage.Close)
	return cdn, storage, down
}

// TestWidgetUnderStrictCSP runs Microsoft's chat code (the interop bundle,
// loaded as the widget from its CDN host through the loader tag the proxy
// injects) on pages whose upstream sends the strictest policies we
// support, with inject.csp.allow_widget: from load to a started chat whose
// token Omnichannel's stand-in accepted, the page must see no
// securitypolicyviolation but the widget's harmless global-object probe
// (isGlobalProbe); with the CDN down, the tag's onerror
// fallback (allowed by its hash) loads the widget from storage.
func TestWidgetUnderStrictCSP(t *testing.T) {
	bundle, harness := interopScripts(t)
	cdn, storage, cdnDown := widgetCDN(t, append(append(bundle, '\n'), harness...))
	ctx := testenv.Browser(t)
	blocked := testenv.LoopbackOnly(t, ctx)

	// The stand-in fetches the proxy's keys, and the proxy's policy names
	// the stand-in: the proxy's address is taken first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyURL := "http://" + ln.Addr().String()
	oc := testenv.StartOmnichannel(t, testenv.OmnichannelOptions{
		KeyURL: proxyURL + "/_lcw/public-keys", ClientFunction: "lcwAuth.getAuthenticationToken", PageOrigin: proxyURL})
	e := startEnv(t, envOptions{Listener: ln, Upstream: strictSite(), Extra: fmt.Sprintf(`access:
  mode: optional
token:
  issuer: shop.example.com
  signing_keys:
    - file: {keyfile}
`+testenv.LWIContexts+`inject:
  enabled: true
  client_function: lcwAuth.getAuthenticationToken
  widget:
    src: %[1]s/livechatwidget/scripts/LiveChatBootstrapper.js
    fallback_src: %[2]s/livechatwidget/scripts/LiveChatBootstrapper.js
    app_id: %[3]s
    org_id: %[4]s
    org_url: %[5]s
  csp:
    allow_widget: true
    widget_sources:
      # The stand-in plays *.omnichannelengagementhub.com; the CDN's
      # origin stays, as in the derived list.
      connect-src: [%[1]s, %[5]s]
`, cdn.URL, storage.URL, oc.WidgetID, oc.OrgID, oc.URL)})

	if final := testenv.BrowserLogin(t, ctx, e.URL+"/_lcw/login?rd=/header", testenv.VIPUsername, testenv.VIPPassword); !strings.HasSuffix(final, "/header") {
		t.Fatalf("login ended at %s", final)
	}

	chat := func(t *testing.T, path string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+path)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!(window.interop && window.lcwAuth && window.lcwAuth.getAuthenticationToken)")); err != nil {
			t.Fatalf("the widget or the bootstrap did not run under the page's policy: %v; violations %s", err,
				evalJS[string](t, ctx, "JSON.stringify(window.__violations || null)"))
		}
		before := len(oc.Log().Accepted)
		out := evalJS[string](t, ctx, `interop.start(`+startOptions(oc, "loader")+`).then(function (r) {
			return new Promise(function (resolve) { setTimeout(function () { resolve(JSON.stringify(r)); }, 200); }); })`)
		var r interopResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if l := oc.Log(); !r.OK || len(l.Accepted) != before+1 || l.Accepted[len(l.Accepted)-1].Token != r.WidgetToken {
			t.Errorf("chat start: %+v; Omnichannel accepted %d new, rejected %q", r, len(l.Accepted)-before, l.Rejected)
		}
		var all []string
		if err := json.Unmarshal([]byte(evalJS[string](t, ctx, "JSON.stringify(window.__violations)")), &all); err != nil {
			t.Fatal(err)
		}
		var violations []string
		evalProbes := 0
		for _, v := range all {
			if isGlobalProbe(v, cdn.URL, storage.URL) {
				evalProbes++
				continue
			}
			violations = append(violations, v)
		}
		if len(violations) > 0 {
			t.Errorf("%d Content-Security-Policy violations from load to a started chat:\n  %s", len(violations), strings.Join(violations, "\n  "))
		}
		if evalProbes == 0 {
			// If Microsoft's code stops probing, README's note on it is stale.
			t.Errorf("no eval probe from the widget's ACS signaling code; update README's CSP section")
		}
	}

	for _, p := range strictPolicies {
		t.Run(strings.TrimPrefix(p.path, "/")+": no violation from load to a started chat", func(t *testing.T) {
			cdnDown.Store(false)
			chat(t, p.path)
			if from := evalJS[string](t, ctx, `document.getElementById('Microsoft_Omnichannel_LCWidget').src`); !strings.HasPrefix(from, cdn.URL) {
				t.Errorf("the widget came from %s, want the CDN %s", from, cdn.URL)
			}
		})
	}
	t.Run("CDN down: the onerror fallback loads the widget from storage, no violation", func(t *testing.T) {
		cdnDown.Store(true)
		t.Cleanup(func() { cdnDown.Store(false) })
		chat(t, "/header")
		if from := evalJS[string](t, ctx, `document.getElementById('Microsoft_Omnichannel_LCWidget').src`); !strings.HasPrefix(from, storage.URL) {
			t.Errorf("the widget came from %s, want the fallback %s", from, storage.URL)
		}
	})

	if b := blocked.URLs(); len(b) > 0 {
		t.Errorf("the page tried to reach beyond loopback: %q", b)
	}
}
