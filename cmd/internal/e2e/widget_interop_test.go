package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// interopDir holds the pinned npm packages of Microsoft's open-source chat
// code (package.json, package-lock.json), the bundle's entry and build
// script, and the harness that drives it.
const interopDir = "testdata/widget-interop"

// interopScripts builds (once per npm cache) the bundle of Microsoft's chat
// code and reads it with the harness that drives it.
func interopScripts(t *testing.T) (bundle, harness []byte) {
	return npmScripts(t, "harness.js", "build.mjs", "microsoft.mjs")
}

// widgetUIScripts builds (once per npm cache) the bundle of Microsoft's
// live chat widget UI (LiveChatWidget, React, Web Chat, the chat SDK) and
// reads it with the harness that renders it.
func widgetUIScripts(t *testing.T) (bundle, harness []byte) {
	return npmScripts(t, "ui-harness.js", "build-ui.mjs", "widget-ui.mjs")
}

// npmScripts reads the bundle that build makes of interopDir's packages
// and the harness script beside it.
func npmScripts(t *testing.T, harnessFile string, build ...string) (bundle, harness []byte) {
	t.Helper()
	bundle, err := os.ReadFile(testenv.NPMBundle(t, interopDir, build...))
	if err != nil {
		t.Fatal(err)
	}
	harness, err = os.ReadFile(filepath.Join(interopDir, harnessFile))
	if err != nil {
		t.Fatal(err)
	}
	return bundle, harness
}

// interopSite is the upstream site: a chat page that loads Microsoft's chat
// code and the harness; the proxy injects bootstrap.js into it.
func interopSite(bundle, harness []byte) http.Handler {
	mux := http.NewServeMux()
	script := func(b []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Write(b)
		}
	}
	mux.Handle("GET /oss/microsoft.js", script(bundle))
	mux.Handle("GET /oss/harness.js", script(harness))
	mux.HandleFunc("GET /chat", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><head><meta charset="utf-8"><title>Chat</title></head>
<body><p id="content">chat page</p><script src="/oss/microsoft.js"></script><script src="/oss/harness.js"></script></body></html>`)
	})
	return mux
}

// interopResult is what harness.js reports about one step.
type interopResult struct {
	OK            bool     `json:"ok"`
	Error         string   `json:"error"`
	ChatID        string   `json:"chatId"`
	WidgetToken   string   `json:"widgetToken"`
	SDKToken      string   `json:"sdkToken"`
	WidgetErrors  []string `json:"widgetErrors"`
	ConsoleErrors []string `json:"consoleErrors"`
	Ms            int      `json:"ms"`
}

// startOptions is the JavaScript object for interop.start.
func startOptions(oc *testenv.Omnichannel, host string) string {
	b, _ := json.Marshal(map[string]string{
		"host": host, "orgUrl": oc.URL, "orgId": oc.OrgID, "widgetId": oc.WidgetID,
		"clientFunction": "lcwAuth.getAuthenticationToken",
	})
	return string(b)
}

// TestWidgetInterop runs Microsoft's own chat SDK and widget code (the
// pinned npm packages) in Chromium against the real proxy after a real
// sign-in: the SDK's initialisation and auth provider calls, the widget's
// token check (FacadeChatSDK decodes exp and compares it with the page's
// clock), and the SDK's chat token request, which carries the token to a
// stand-in for Omnichannel that verifies it as Omnichannel does. Nothing
// may leave the machine.
func TestWidgetInterop(t *testing.T) {
	t.Parallel()
	bundle, harness := interopScripts(t)
	ctx := testenv.Browser(t)
	blocked := testenv.LoopbackOnly(t, ctx)
	e := startEnv(t, envOptions{Upstream: interopSite(bundle, harness), Extra: `access:
  mode: optional
token:
  issuer: shop.example.com
  lifetime: 1m
  key_check_interval: 1s
  signing_keys:
    - file: {keyfile}
` + testenv.LWIContexts + `inject:
  enabled: true
  client_function: lcwAuth.getAuthenticationToken
`})
	multiKey := testenv.StartOmnichannel(t, testenv.OmnichannelOptions{
		KeyURL: e.URL + "/_lcw/public-keys", ClientFunction: "lcwAuth.getAuthenticationToken", PageOrigin: e.URL})
	singlePEM := testenv.StartOmnichannel(t, testenv.OmnichannelOptions{
		KeyURL: e.URL + "/_lcw/public-key.pem", ClientFunction: "lcwAuth.getAuthenticationToken", PageOrigin: e.URL})
	issued := func() float64 { return testutil.ToFloat64(e.App.Metrics().Tokens.WithLabelValues("issued")) }
	signer := func() string { kid, _ := e.App.Keys().Signer(); return kid }

	open := func(t *testing.T) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/chat")); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!(window.interop && window.lcwAuth && window.lcwAuth.getAuthenticationToken)")); err != nil {
			t.Fatalf("the page did not get the harness and the bootstrap: %v", err)
		}
	}
	run := func(t *testing.T, js string) interopResult {
		t.Helper()
		var r interopResult
		out := evalJS[string](t, ctx, `Promise.resolve(`+js+`).then(function (r) { return JSON.stringify(r); })`)
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		return r
	}
	// notAuthenticated checks the widget's answer to a visitor without a
	// token: FacadeChatSDK gives up at once with its (misleading) message,
	// and the SDK never asks Omnichannel.
	notAuthenticated := func(t *testing.T, r interopResult, oc *testenv.Omnichannel, before testenv.OmnichannelLog) {
		t.Helper()
		const want = "Authentication Setup Error: Token validation failed - GetAuthToken function is not present"
		if r.OK || r.Error != want {
			t.Errorf("chat start: ok %v, error %q; want the widget's %q", r.OK, r.Error, want)
		}
		if len(r.WidgetErrors) != 1 || r.WidgetErrors[0] != want {
			t.Errorf("OnWidgetError broadcasts %q, want one %q", r.WidgetErrors, want)
		}
		if r.Ms > 10000 {
			t.Errorf("the widget took %d ms to give up, past its 10 s limit", r.Ms)
		}
		if after := oc.Log(); after.ConfigRequests != before.ConfigRequests || len(after.Accepted)+len(after.Rejected) != len(before.Accepted)+len(before.Rejected) {
			t.Errorf("Omnichannel was asked without a token: %+v, before %+v", after, before)
		}
	}
	// accepted checks a chat start that Omnichannel accepted with the
	// token the widget and the SDK hold.
	accepted := func(t *testing.T, r interopResult, oc *testenv.Omnichannel, wantKid string) testenv.AcceptedToken {
		t.Helper()
		l := oc.Log()
		if !r.OK || len(l.Accepted) == 0 {
			t.Fatalf("chat start failed: %+v; Omnichannel accepted %d, rejected %q", r, len(l.Accepted), l.Rejected)
		}
		last := l.Accepted[len(l.Accepted)-1]
		if r.ChatID != fmt.Sprintf("19:chat-%d@thread.v2", len(l.Accepted)) || last.Token != r.WidgetToken || last.Token != r.SDKToken {
			t.Errorf("chat %q with widget token …%s and SDK token …%s; Omnichannel accepted …%s",
				r.ChatID, tail(r.WidgetToken), tail(r.SDKToken), tail(last.Token))
		}
		if last.Kid != wantKid || last.Subject != "3f1c9a52-7d6e-4b8f-9a01-5e2d4c6b8a73" {
			t.Errorf("accepted with kid %q for sub %q, want kid %q and the VIP's contact", last.Kid, last.Subject, wantKid)
		}
		if len(l.Rejected) > 0 {
			t.Errorf("Omnichannel rejected tokens: %q", l.Rejected)
		}
		return last
	}

	for _, host := range []string{"sdk", "loader"} {
		t.Run("signed out, "+host+": the widget's not-authenticated path, no hang", func(t *testing.T) {
			open(t)
			before := multiKey.Log()
			notAuthenticated(t, run(t, "interop.start("+startOptions(multiKey, host)+")"), multiKey, before)
		})
	}

	if final := testenv.BrowserLogin(t, ctx, e.URL+"/_lcw/login?rd=/chat", testenv.VIPUsername, testenv.VIPPassword); !strings.HasSuffix(final, "/chat") {
		t.Fatalf("login ended at %s", final)
	}

	t.Run("signed in, multi-key URL, the SDK's setAuthTokenProvider: accepted with one signature", func(t *testing.T) {
		open(t)
		before := issued()
		accepted(t, run(t, "interop.start("+startOptions(multiKey, "sdk")+")"), multiKey, signer())
		// The SDK called the provider at registration and at initialise,
		// the widget before initialise: one token for all three.
		if n := issued() - before; n != 1 {
			t.Errorf("%v tokens signed for one chat start, want 1", n)
		}
	})

	t.Run("signed in, single PEM URL, the loader's callback: accepted", func(t *testing.T) {
		open(t)
		before := issued()
		accepted(t, run(t, "interop.start("+startOptions(singlePEM, "loader")+")"), singlePEM, "")
		if n := issued() - before; n != 1 {
			t.Errorf("%v tokens signed for one chat start, want 1", n)
		}
	})

	t.Run("concurrent calls share one token fetch", func(t *testing.T) {
		open(t)
		before := issued()
		out := evalJS[string](t, ctx, `Promise.all([interop.start(`+startOptions(multiKey, "sdk")+`),
			lcwAuth.getAuthenticationToken(), lcwAuth.getAuthenticationToken(function () {}), lcwAuth.getAuthenticationToken()])
			.then(function (l) { return JSON.stringify(l); })`)
		var all []json.RawMessage
		if err := json.Unmarshal([]byte(out), &all); err != nil || len(all) != 4 {
			t.Fatalf("%s: %v", out, err)
		}
		var r interopResult
		if err := json.Unmarshal(all[0], &r); err != nil {
			t.Fatal(err)
		}
		last := accepted(t, r, multiKey, signer())
		for i, raw := range all[1:] {
			var tok string
			if err := json.Unmarshal(raw, &tok); err != nil || tok != last.Token {
				t.Errorf("concurrent call %d got …%s, want the chat's token …%s", i+1, tail(tok), tail(last.Token))
			}
		}
		if n := issued() - before; n != 1 {
			t.Errorf("%v tokens signed for a chat start and three concurrent calls, want 1", n)
		}
	})

	t.Run("key rotation during a chat: Omnichannel fetches the keys again for the new kid", func(t *testing.T) {
		open(t)
		first := accepted(t, run(t, "interop.start("+startOptions(multiKey, "loader")+")"), multiKey, signer())
		fetches := multiKey.Log().KeyFetches
		rotateSigningKey(t, e.KeyFile)
		deadline := time.Now().Add(10 * time.Second)
		for signer() == first.Kid {
			if time.Now().After(deadline) {
				t.Fatal("the proxy did not pick up the new signing key")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// 58 s of the chat pass on the page's clock (less than the minute
		// of skew the bootstrap tolerates): the 1-minute token expires for
		// the widget within 2 s, and its own check then asks for a new one
		// before the next SDK call.
		evalJS[bool](t, ctx, "interop.advanceClock(58), true")
		if !evalJS[bool](t, ctx, `new Promise(function (resolve) { var n = 0; (function poll() {
			if (interop.expired()) { resolve(true); } else if (++n > 150) { resolve(false); } else { setTimeout(poll, 100); } })(); })`) {
			t.Fatal("the widget's token did not expire on the page's clock")
		}
		r := run(t, "interop.more()")
		second := accepted(t, r, multiKey, signer())
		if second.Kid == first.Kid || second.Token == first.Token {
			t.Errorf("after the rotation the widget sent kid %q (before %q)", second.Kid, first.Kid)
		}
		if n := multiKey.Log().KeyFetches - fetches; n != 1 {
			t.Errorf("Omnichannel fetched the keys %d times for the new kid, want 1", n)
		}
		if n := testutil.ToFloat64(e.App.Metrics().ClientClockSkew); n != 0 {
			t.Errorf("a clock 58 s ahead was reported as skew (%v times)", n)
		}
	})

	t.Run("browser clock 90 s ahead: the widget takes a valid token for expired, the page reports it", func(t *testing.T) {
		open(t)
		skewBefore := testutil.ToFloat64(e.App.Metrics().ClientClockSkew)
		evalJS[bool](t, ctx, "interop.advanceClock(90), true")
		r := run(t, "interop.start("+startOptions(multiKey, "loader")+")")
		// FacadeChatSDK.setToken throws "New authentication token is
		// already expired"; tokenRing turns that into its usual message.
		if r.OK || !strings.Contains(r.Error, "Token validation failed") || !strings.Contains(strings.Join(r.ConsoleErrors, "\n"), "New authentication token is already expired") {
			t.Errorf("chat start with the clock ahead: ok %v, error %q, console %q; want the widget to refuse the token as already expired", r.OK, r.Error, r.ConsoleErrors)
		}
		deadline := time.Now().Add(5 * time.Second)
		for testutil.ToFloat64(e.App.Metrics().ClientClockSkew) == skewBefore {
			if time.Now().After(deadline) {
				t.Fatal("the page did not report its clock (lcw_client_clock_skew_total unchanged)")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("after logout: no token from the page, the widget's not-authenticated path", func(t *testing.T) {
		open(t)
		accepted(t, run(t, "interop.start("+startOptions(multiKey, "sdk")+")"), multiKey, signer())
		// The site's own sign-out link, fetched from the page: the token
		// the script holds is less than a second old.
		if got := evalJS[int](t, ctx, `fetch("/_lcw/logout", {method: "POST", redirect: "manual", credentials: "same-origin"})
			.then(function () { return fetch("/_lcw/session"); }).then(function (r) { return r.status; })`); got != http.StatusUnauthorized {
			t.Fatalf("session after logout: %d, want 401", got)
		}
		if tok := evalJS[string](t, ctx, "lcwAuth.getAuthenticationToken()"); tok != "" {
			t.Errorf("after logout the page's client function gave …%s", tail(tok))
		}
		open(t)
		before := multiKey.Log()
		notAuthenticated(t, run(t, "interop.start("+startOptions(multiKey, "sdk")+")"), multiKey, before)
	})

	if b := blocked.URLs(); len(b) > 0 {
		t.Errorf("the page tried to reach beyond loopback: %q", b)
	}
}

// rotateSigningKey replaces the key file with a new key, as a Secret
// update does; the old key stays published for token.retired_key_grace.
func rotateSigningKey(t *testing.T, path string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tail is the end of a token, enough to tell tokens apart in messages.
func tail(tok string) string {
	if len(tok) > 12 {
		return tok[len(tok)-12:]
	}
	return tok
}
