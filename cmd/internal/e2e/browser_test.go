package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// widgetStandIn plays Omnichannel's loader: like the real one it loads
// asynchronously, defines the SDK and only then fires lcw:ready. It records
// every provider it is given. A page that already defined the SDK keeps it.
const widgetStandIn = `(function () {
  var rec = window.__lcw = window.__lcw || { providers: [] };
  function ready() {
    window.Microsoft = window.Microsoft || {};
    window.Microsoft.Omnichannel = { LiveChatWidget: { SDK: {
      setAuthTokenProvider: function (fn) {
        if (typeof fn !== "function") { throw new Error("authTokenProvider is not a function"); }
        rec.providers.push(fn);
      } } } };
    window.dispatchEvent(new CustomEvent("lcw:ready"));
  }
  if (window.Microsoft && window.Microsoft.Omnichannel) { return; }
  if (document.readyState === "complete") { setTimeout(ready, 0); } else { window.addEventListener("load", function () { setTimeout(ready, 0); }); }
})();`

// earlySDK defines the SDK and fires lcw:ready while the page is still being
// parsed: bootstrap.js (deferred) arrives after the event.
const earlySDK = `<script nonce="page-nonce">
  window.__lcw = { providers: [] };
  window.Microsoft = { Omnichannel: { LiveChatWidget: { SDK: { setAuthTokenProvider: function (fn) { window.__lcw.providers.push(fn); } } } } };
  window.dispatchEvent(new CustomEvent("lcw:ready"));
</script>`

const violationRecorder = `<script nonce="page-nonce">
  window.__violations = [];
  document.addEventListener("securitypolicyviolation", function (e) { window.__violations.push(e.violatedDirective + " " + e.blockedURI); });
</script>`

func browserSite() http.Handler {
	page := func(head, body string) string {
		return "<!doctype html><html><head><meta charset=utf-8><title>Shop</title>" + violationRecorder + head + "</head><body><h1>Shop</h1>" + body + "</body></html>"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/public/widget.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, widgetStandIn)
	})
	mux.HandleFunc("/chat", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page("", "<p id=content>chat page</p>"))
	})
	mux.HandleFunc("/own-widget", func(w http.ResponseWriter, r *http.Request) {
		// The site embeds the widget itself, at the end of a body longer
		// than the injector's look-ahead.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page("", "<p id=content>own widget</p>"+strings.Repeat("<p>filler</p>", 8000)+
			`<script id="Microsoft_Omnichannel_LCWidget" src="/public/widget.js"></script>`))
	})
	mux.HandleFunc("/early", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page(earlySDK, "<p id=content>early page</p>"))
	})
	mux.HandleFunc("/strict", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-page-nonce' 'strict-dynamic'; base-uri 'none'; object-src 'none'")
		fmt.Fprint(w, page("", "<p id=content>strict page</p>"))
	})
	mux.HandleFunc("/zipped", func(w http.ResponseWriter, r *http.Request) {
		// Always gzip, whatever the proxy asked for: the injector must
		// decode and re-encode.
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		fmt.Fprint(zw, page("", "<p id=content>zipped page</p>"+strings.Repeat("<!-- padding -->", 500)))
		zw.Close()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(buf.Bytes())
	})
	return mux
}

func evalJS[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return out
}

// waitJS polls a condition in the page.
func waitJS(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	js := `new Promise(function (resolve) { var n = 0; (function poll() { if (` + cond + `) { resolve(true); } else if (++n > 200) { resolve(false); } else { setTimeout(poll, 25); } })(); })`
	if !evalJS[bool](t, ctx, js) {
		t.Fatalf("condition never held: %s", cond)
	}
}

func TestBrowserChatTokenFlow(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	e := startEnv(t, envOptions{Upstream: browserSite(), Extra: `access:
  mode: optional
inject:
  enabled: true
  client_function: lcwAuth.getAuthenticationToken
  widget:
    src: {public}/public/widget.js
    app_id: 00000000-0000-0000-0000-000000000001
    org_id: 00000000-0000-0000-0000-000000000002
    org_url: https://example.omnichannelengagementhub.com
`})
	checkToken := func(t *testing.T, tok string) {
		t.Helper()
		claims := verifyWithPublishedKey(t, e, tok)
		var lwi map[string]any
		if err := json.Unmarshal([]byte(claims["lwicontexts"].(string)), &lwi); err != nil {
			t.Fatal(err)
		}
		if lwi["customer_email"] != "vip@example.com" || lwi["msdyn_isvip"] != true {
			t.Fatalf("lwicontexts %v", lwi)
		}
	}
	callProvider := `new Promise(function (resolve) { window.__lcw.providers[0](resolve); })`
	callGlobal := `new Promise(function (resolve) { window.lcwAuth.getAuthenticationToken(resolve); })`

	t.Run("signed out, the provider calls back with an empty token", func(t *testing.T) {
		if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(e.URL+"/chat")); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "window.__lcw && window.__lcw.providers.length > 0")
		if got := evalJS[string](t, ctx, callProvider); got != "" {
			t.Fatalf("signed-out provider gave %q", got)
		}
	})

	t.Run("the widget loader is on every page once, ours at the end of <body>", func(t *testing.T) {
		for path, wantOurs := range map[string]bool{"/chat": true, "/own-widget": false} {
			if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(e.URL+path)); err != nil {
				t.Fatal(err)
			}
			waitJS(t, ctx, "window.__lcw && window.__lcw.providers.length > 0")
			got := evalJS[string](t, ctx, `(function () {
				var all = document.querySelectorAll("#Microsoft_Omnichannel_LCWidget");
				return all.length + " " + (document.body.lastElementChild === all[0]) + " " + all[0].getAttribute("data-app-id"); })()`)
			want := "1 true null"
			if wantOurs {
				want = "1 true 00000000-0000-0000-0000-000000000001"
			}
			if got != want {
				t.Errorf("%s: widget loaders, last in body, app id = %q, want %q", path, got, want)
			}
		}
	})

	t.Run("HTML fetched by a script is not injected", func(t *testing.T) {
		// htmx, Turbo frames and jQuery .load swap fetched HTML into a page
		// that already has our tags, and some run the scripts they swap in.
		if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(e.URL+"/chat")); err != nil {
			t.Fatal(err)
		}
		got := evalJS[string](t, ctx, `fetch("/chat").then(function (r) { return r.text(); }).then(function (t) {
			return (t.indexOf("bootstrap.js") >= 0) + " " + (t.indexOf("Microsoft_Omnichannel_LCWidget") >= 0) + " " + (t.indexOf("chat page") >= 0); })`)
		if got != "false false true" {
			t.Errorf("fetched page: has bootstrap, has widget, is the page = %s, want false false true", got)
		}
		if n := evalJS[int](t, ctx, `document.querySelectorAll("script[src*='bootstrap.js']").length`); n != 1 {
			t.Errorf("the navigated page has %d bootstrap tags, want 1", n)
		}
	})

	final := testenv.BrowserLogin(t, ctx, e.URL+"/_lcw/login?rd=/chat", testenv.VIPUsername, testenv.VIPPassword)
	if !strings.HasSuffix(final, "/chat") {
		t.Fatalf("login ended at %s", final)
	}

	pages := []struct{ name, path string }{
		{"provider registered after lcw:ready", "/chat"},
		{"lcw:ready fired before bootstrap.js loaded", "/early"},
		{"strict CSP page", "/strict"},
		{"gzip page", "/zipped"},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(e.URL+p.path)); err != nil {
				t.Fatal(err)
			}
			if got := evalJS[string](t, ctx, `document.getElementById("content").textContent`); !strings.HasSuffix(got, "page") {
				t.Fatalf("page did not render: %q", got)
			}
			waitJS(t, ctx, "window.__lcw && window.__lcw.providers.length > 0")
			if n := evalJS[int](t, ctx, "window.__lcw.providers.length"); n != 1 {
				t.Errorf("setAuthTokenProvider called %d times", n)
			}
			checkToken(t, evalJS[string](t, ctx, callProvider))
			checkToken(t, evalJS[string](t, ctx, callGlobal))
			if v := evalJS[[]string](t, ctx, "window.__violations"); len(v) != 0 {
				t.Errorf("CSP violations: %v", v)
			}
			if n := evalJS[int](t, ctx, `document.querySelectorAll('script[src*="/_lcw/bootstrap.js"]').length`); n != 1 {
				t.Errorf("%d bootstrap tags", n)
			}
		})
	}
}
