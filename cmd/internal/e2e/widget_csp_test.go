package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

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

// knownProbe reports whether violation v is one of the two that
// Microsoft's widget code causes under every strict policy while probing
// for a feature it can do without; the proxy opens nothing for them
// (README says so):
//   - the ACS signaling client (@azure/communication-signaling, pre-built
//     with webpack, bundled by the widget's Web Chat adapter) finds the
//     global object with Function("return this")() inside a try/catch and
//     falls back to window when the policy refuses eval;
//   - Web Chat checks whether it can shrink image thumbnails in a worker
//     (downscaleImageToDataURLUsingWorker: a Worker from a blob: URL
//     inside a try/catch) and does it on the page when it cannot.
func knownProbe(v string, widgetOrigins ...string) (probe string, ok bool) {
	for _, p := range []struct{ name, prefix string }{
		{"eval", "enforce script-src blocked eval from "},
		{"worker", "enforce worker-src blocked blob from "},
	} {
		if rest, ok := strings.CutPrefix(v, p.prefix); ok && fromWidget(rest, widgetOrigins) {
			return p.name, true
		}
	}
	return "", false
}

// isWidgetStyle reports whether violation v is a <style> element the
// widget inserted: Fluent UI's and Web Chat's CSS-in-JS and the <style>
// elements LiveChatWidget renders itself, none with a nonce or a way to
// give one. The proxy does not add 'unsafe-inline' for them (README: what
// a strict site must decide); the chat works without them, unstyled.
func isWidgetStyle(v string, widgetOrigins ...string) bool {
	rest, ok := strings.CutPrefix(v, "enforce style-src-elem blocked inline from ")
	return ok && fromWidget(rest, widgetOrigins)
}

func fromWidget(source string, widgetOrigins []string) bool {
	for _, o := range widgetOrigins {
		if strings.HasPrefix(source, o+"/livechatwidget/") {
			return true
		}
	}
	return false
}

// widgetCDN stands in for the widget's CDN and its regional storage
// fallback: its loader is Microsoft's widget code (the UI bundle) and the
// harness that renders it as the hosted loader would. down makes the
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

// TestWidgetUnderStrictCSP runs Microsoft's live chat widget UI
// (LiveChatWidget with a real OmnichannelChatSDK, the UI bundle, loaded as
// the widget from its CDN host through the loader tag the proxy injects) on
// pages whose upstream sends the strictest policies we support, with
// inject.csp.allow_widget. Chromium opens the chat with the widget's
// button; the chat starts against the Omnichannel and ACS stand-ins, with a
// token Omnichannel's stand-in accepted; a message typed and sent in Web
// Chat's send box reaches ACS, and the agent's reply shows. From load to
// there the page must see no securitypolicyviolation but the widget's
// harmless feature probes (knownProbe) and its nonce-less <style> elements
// (isWidgetStyle), which the proxy leaves to the site; with the CDN down,
// the tag's onerror fallback (allowed by its hash) loads the widget from
// storage.
func TestWidgetUnderStrictCSP(t *testing.T) {
	t.Parallel()
	bundle, harness := widgetUIScripts(t)
	cdn, storage, cdnDown := widgetCDN(t, append(append(bundle, '\n'), harness...))

	// The stand-in fetches the proxy's keys, and the proxy's policy names
	// the stand-in: the proxy's address is taken first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyURL := "http://" + ln.Addr().String()
	oc := testenv.StartOmnichannel(t, testenv.OmnichannelOptions{
		KeyURL: proxyURL + "/_lcw/public-keys", ClientFunction: "lcwAuth.getAuthenticationToken", PageOrigin: proxyURL})
	ctx := testenv.Browser(t, testenv.TrustCertificates(oc.ACS.Certificate()))
	blocked := testenv.LoopbackOnly(t, ctx)
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
      # The stand-ins play *.omnichannelengagementhub.com and
      # *.communication.azure.com; the CDN's origin stays, as in the
      # derived list.
      connect-src: [%[1]s, %[5]s, %[6]s]
`, cdn.URL, storage.URL, oc.WidgetID, oc.OrgID, oc.URL, oc.ACS.URL)})

	if final := testenv.BrowserLogin(t, ctx, e.URL+"/_lcw/login?rd=/header", testenv.VIPUsername, testenv.VIPPassword); !strings.HasSuffix(final, "/header") {
		t.Fatalf("login ended at %s", final)
	}

	// report is what the page and the stand-ins saw, for failures.
	report := func() string {
		return fmt.Sprintf("violations %s\nOmnichannel %+v\nACS %+v\nblocked %q\nconsole errors %s\npage text %q",
			evalJS[string](t, ctx, "JSON.stringify(window.__violations || null)"), oc.Log(), oc.ACS.Log(), blocked.URLs(),
			evalJS[string](t, ctx, "JSON.stringify(window.lcwUI ? lcwUI.consoleErrors : null)"),
			evalJS[string](t, ctx, "document.body ? document.body.innerText.slice(0, 2000) + Array.prototype.map.call(document.querySelectorAll('input,textarea,button'), function (e) { return e.outerHTML.slice(0, 300); }).join('\\n') : ''"))
	}
	chat := func(t *testing.T, path, message string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+path)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!(window.lcwUI && window.lcwAuth && window.lcwAuth.getAuthenticationToken)")); err != nil {
			t.Fatalf("the widget or the bootstrap did not run under the page's policy: %v\n%s", err, report())
		}
		// Each page starts a chat of its own: no chat of an earlier page
		// for the widget to rejoin.
		evalJS[bool](t, ctx, "localStorage.clear(), sessionStorage.clear(), true")
		if msg := evalJS[string](t, ctx, `lcwUI.render(`+startOptions(oc, "loader")+`)`); msg != "" {
			t.Fatalf("render: %s\n%s", msg, report())
		}
		before, sentBefore := oc.Log(), oc.ACS.Log()
		// A visitor opens the chat with the widget's button and types.
		sendBox := chromedp.CSS(`textarea[data-id="webchat-sendbox-input"]`)
		steps := []struct {
			what string
			do   chromedp.Action[chromedp.Void]
		}{
			{"the chat button", chromedp.Click(chromedp.ID("oc-lcw-chat-button"))},
			{"Web Chat's send box", chromedp.WaitVisible(sendBox)},
			{"typing", chromedp.SendKeys(sendBox, message)},
			// Enter in the send box, not a click at the send button's
			// coordinates: the footer's buttons render late and shift
			// the layout, and a click measured before the shift opened
			// the transcript dialog instead.
			{"Enter in the send box", chromedp.SendKeys(sendBox, kb.Enter)},
		}
		for _, s := range steps {
			stepCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := chromedp.Do(stepCtx, s.do)
			cancel()
			if err != nil {
				t.Fatalf("%s: %v\n%s", s.what, err, report())
			}
		}
		deadline := time.Now().Add(15 * time.Second)
		for len(oc.ACS.Log().Sent) == len(sentBefore.Sent) {
			if time.Now().After(deadline) {
				t.Fatalf("the typed message never reached ACS\n%s", report())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if sent := oc.ACS.Log().Sent; sent[len(sent)-1] != message {
			t.Errorf("ACS got %q, want %q", sent[len(sent)-1], message)
		}
		if l := oc.Log(); len(l.Accepted) <= len(before.Accepted) || l.Conversations <= before.Conversations {
			t.Errorf("the chat started without Omnichannel accepting a token for a new conversation: rejected %q", l.Rejected)
		}
		// Typing shows the agent the visitor is typing, through both.
		if oc.Log().Typing <= before.Typing || oc.ACS.Log().Typing <= sentBefore.Typing {
			t.Errorf("typing indicators: Omnichannel %d, ACS %d, before %d and %d", oc.Log().Typing, oc.ACS.Log().Typing, before.Typing, sentBefore.Typing)
		}
		reply := "agent reply to " + message
		oc.ACS.PostAgentMessage(reply)
		pollCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := chromedp.Run(pollCtx, chromedp.Poll[bool](`document.body.innerText.indexOf(`+jsString(reply)+`) >= 0`)); err != nil {
			t.Errorf("the agent's reply did not show in Web Chat: %v\n%s", err, report())
		}

		var all []string
		if err := json.Unmarshal([]byte(evalJS[string](t, ctx, "JSON.stringify(window.__violations)")), &all); err != nil {
			t.Fatal(err)
		}
		var violations []string
		probes, styles := map[string]int{}, 0
		for _, v := range all {
			if p, ok := knownProbe(v, cdn.URL, storage.URL); ok {
				probes[p]++
				continue
			}
			if isWidgetStyle(v, cdn.URL, storage.URL) {
				styles++
				continue
			}
			violations = append(violations, v)
		}
		if len(violations) > 0 {
			t.Errorf("%d Content-Security-Policy violations from load to an open chat:\n  %s", len(violations), strings.Join(violations, "\n  "))
		}
		// If Microsoft's code stops probing or styles with a nonce,
		// README's notes on it are stale.
		if probes["eval"] == 0 || probes["worker"] == 0 {
			t.Errorf("probes seen: %v; want the ACS signaling eval probe and Web Chat's worker probe; update README's CSP section", probes)
		}
		if styles == 0 {
			t.Errorf("the widget's <style> elements were not blocked; update README's CSP section on style-src")
		}
	}

	for _, p := range strictPolicies {
		t.Run(strings.TrimPrefix(p.path, "/")+": no violation from load to an open chat with a message sent", func(t *testing.T) {
			cdnDown.Store(false)
			chat(t, p.path, "hello from "+p.path)
			if from := evalJS[string](t, ctx, `document.getElementById('Microsoft_Omnichannel_LCWidget').src`); !strings.HasPrefix(from, cdn.URL) {
				t.Errorf("the widget came from %s, want the CDN %s", from, cdn.URL)
			}
		})
	}
	t.Run("CDN down: the onerror fallback loads the widget from storage, no violation", func(t *testing.T) {
		cdnDown.Store(true)
		t.Cleanup(func() { cdnDown.Store(false) })
		chat(t, "/header", "hello from the fallback")
		if from := evalJS[string](t, ctx, `document.getElementById('Microsoft_Omnichannel_LCWidget').src`); !strings.HasPrefix(from, storage.URL) {
			t.Errorf("the widget came from %s, want the fallback %s", from, storage.URL)
		}
	})

	if u := oc.Log().Unknown; len(u) > 0 {
		t.Errorf("the widget called Omnichannel where the stand-in has no answer: %q", u)
	}
	if l := oc.ACS.Log(); len(l.Unknown) > 0 || l.Unauthorized > 0 {
		t.Errorf("the widget called ACS where the stand-in has no answer (%q) or without the chat's token (%d times)", l.Unknown, l.Unauthorized)
	}
	if b := blocked.URLs(); len(b) > 0 {
		t.Errorf("the page tried to reach beyond loopback: %q", b)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
