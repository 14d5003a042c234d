package main

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// jsClientToken asks the page's JavaScript client function for a token,
// as the Omnichannel widget does, and resolves with what it calls back.
const jsClientToken = `new Promise((resolve, reject) => {
  const fn = window.lcwAuth && window.lcwAuth.getAuthenticationToken;
  if (typeof fn !== 'function') { reject('no lcwAuth.getAuthenticationToken on the page'); return; }
  fn(token => resolve(token || ''));
})`

// From the demo to a real site: init against a real OpenID provider, then
// a person in a real browser signs in through the proxy running init's
// configuration, and the page's client function hands out a chat token.
func TestBrowserInitToSignedInChat(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	s := newInitSite(t)
	dir := filepath.Join(t.TempDir(), "site")
	if out, stderr, err := runCmd(t, nil, append([]string{"init", "--out", dir}, s.flags...)...); err != nil {
		t.Fatalf("init: %v\n%s%s", err, out, stderr)
	}
	p := startProxy(t, filepath.Join(dir, "config.yaml"), nil)
	// The proxy listens before discovery has answered; until it has, the
	// page is a 503 that reloads itself after 5 s. Waiting here keeps the
	// browser's form timeout for the sign-in itself on a slow machine.
	waitReady(t, p.URL)

	// access.mode is required in init's template: the page sends the
	// browser to the IdP's login form first.
	loc := testenv.BrowserLogin(t, ctx, p.URL+"/", testenv.VIPUsername, testenv.VIPPassword)
	if loc != p.URL+"/" {
		t.Fatalf("sign-in ended at %s, want %s/", loc, p.URL)
	}
	if err := chromedp.Do(ctx, chromedp.WaitReady("body")); err != nil {
		t.Fatal(err)
	}
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.textContent`))
	if err != nil || !strings.Contains(body, "the shop") {
		t.Fatalf("page after sign-in: %q (%v), want the upstream's page", body, err)
	}
	var tok string
	deadline := time.Now().Add(10 * time.Second)
	for tok == "" && time.Now().Before(deadline) { // bootstrap.js loads deferred
		tok, err = chromedp.Run(ctx, chromedp.Evaluate[string](jsClientToken, chromedp.EvalAwaitPromise))
		if err != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("the client function called back %q (%v), want a JWT", tok, err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["iss"] != strings.TrimPrefix(s.public, "http://") || claims["sub"] == "" {
		t.Errorf("token claims %v, want iss %s (init's default: the public URL's host) and a sub", claims, strings.TrimPrefix(s.public, "http://"))
	}
}
