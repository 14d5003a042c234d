package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// screenshotEnv names the variable that makes TestBrowserDemo write the
// README screenshot; tests never write into the tree otherwise.
const screenshotEnv = "LCW_UPDATE_SCREENSHOT"

// screenshotPath is docs/demo.png, relative to this package.
var screenshotPath = filepath.Join("..", "..", "docs", "demo.png")

// Page-side reads of the simulated widget.
const (
	jsStatus   = `(document.getElementById('lcw-demo-status') || {}).textContent || ''`
	jsContexts = `Object.fromEntries(Array.from(document.querySelectorAll('#lcw-demo-contexts tbody tr'), r => [r.dataset.key, r.cells[1].textContent]))`
	jsPayload  = `(document.getElementById('lcw-demo-payload') || {}).textContent || ''`
	// The widget's styles come from a constructed style sheet, which a
	// strict style-src must not block.
	jsButtonPosition = `getComputedStyle(document.getElementById('lcw-demo-chat-button')).position`
	// violationRecorder collects the page's CSP violations.
	violationRecorder = `window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`
)

// startChat clicks the simulated widget's chat button on the current page
// and waits until its status line has settled (anything but "waiting").
func startChat(t *testing.T, ctx context.Context) string {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("lcw-demo-chat-button")),
		chromedp.Click(chromedp.ID("lcw-demo-chat-button")),
	)
	if err != nil {
		t.Fatalf("click the chat button: %v", err)
	}
	settled := `(() => { const s = document.getElementById('lcw-demo-status'); return !!s && /^[\u2714\u2718]/.test(s.textContent); })()`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](settled, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](jsStatus))
		t.Fatalf("the widget never finished: %v (status %q)", err, status)
	}
	status, err := chromedp.Run(ctx, chromedp.Evaluate[string](jsStatus))
	if err != nil {
		t.Fatalf("read the widget status: %v", err)
	}
	return status
}

func TestBrowserDemo(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	var args []string
	if os.Getenv(screenshotEnv) == "1" {
		// The README tells people to open 127.0.0.1:4180: the screenshot
		// (the widget shows the public key URL) must show that address.
		args = []string{"--listen", "127.0.0.1:4180"}
	}
	d := startDemo(t, args...)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1200, 860)); err != nil {
		t.Fatalf("set the viewport: %v", err)
	}
	// Record CSP violations from the first moment of every page, before any
	// of its scripts run (the protocol's scripts are not subject to CSP).
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: violationRecorder}); err != nil {
		t.Fatalf("install the CSP violation recorder: %v", err)
	}

	t.Run("signed out, the chat offers sign-in", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(d.URL+"/")); err != nil {
			t.Fatal(err)
		}
		status := startChat(t, ctx)
		if !strings.Contains(status, "lcw:error 3") {
			t.Errorf("status = %q, want lcw:error 3 (no token)", status)
		}
		href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('lcw-demo-signin').getAttribute('href')`))
		if err != nil || href != prefix+"/login?rd=%2F" {
			t.Errorf("sign-in link = %q (%v), want %s/login?rd=%%2F", href, err, prefix)
		}
	})

	loc := testenv.BrowserLogin(t, ctx, d.URL+prefix+"/login?rd=/", devidp.VIPUsername, devidp.VIPPassword)
	if loc != d.URL+"/" {
		t.Fatalf("sign-in ended at %s, want %s/", loc, d.URL)
	}

	pages := []struct{ name, path string }{
		{name: "strict CSP page", path: "/strict-csp.html"},
		{name: "gzip page", path: "/compressed.html"},
		{name: "home page", path: "/"}, // last: the screenshot shows it
	}
	for _, p := range pages {
		t.Run("signed in as VIP, "+p.name, func(t *testing.T) {
			if err := chromedp.Do(ctx, chromedp.Navigate(d.URL+p.path)); err != nil {
				t.Fatal(err)
			}
			status := startChat(t, ctx)
			if !strings.Contains(status, "Signature verified with "+d.URL+prefix+"/public-key.pem") {
				t.Fatalf("status = %q, want the signature verified with the demo's public key URL", status)
			}
			got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](jsContexts))
			if err != nil {
				t.Fatalf("read the lwicontexts table: %v", err)
			}
			want := map[string]string{
				"msdyn_isvip":     "true",
				"msdyn_cartvalue": "10000",
				"contact_id":      `"87b4d06c-2f5e-4c1a-b7d3-9e0f6a1c2b45"`,
				"customer_email":  `"vip@example.com"`,
				"region":          `"EU"`,
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("lwicontexts table %s = %q, want %q (table: %v)", k, got[k], v, got)
				}
			}
			payload, err := chromedp.Run(ctx, chromedp.Evaluate[string](jsPayload))
			if err != nil || !strings.Contains(payload, `"sub": "3f1c9a52-7d6e-4b8f-9a01-5e2d4c6b8a73"`) {
				t.Errorf("decoded payload %q (%v) lacks the VIP's sub", payload, err)
			}
			if pos, err := chromedp.Run(ctx, chromedp.Evaluate[string](jsButtonPosition)); err != nil || pos != "fixed" {
				t.Errorf("chat button position = %q (%v), want fixed: the widget's styles did not apply", pos, err)
			}
			if v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__cspViolations`)); err != nil || len(v) != 0 {
				t.Errorf("CSP violations on %s: %v (%v)", p.path, v, err)
			}
		})
	}

	if os.Getenv(screenshotEnv) == "1" {
		// The viewport the person would see: the page with the widget open.
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(screenshotPath, png, 0o644); err != nil {
			t.Fatalf("write %s: %v", screenshotPath, err)
		}
		t.Logf("wrote %s (%d bytes)", screenshotPath, len(png))
	}

	// What the home page says of the token URL typed into a tab, signed in:
	// no token and no download, a 403 whose text names the session page.
	t.Run("the token URL typed into a tab explains itself", func(t *testing.T) {
		resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(d.URL+prefix+"/token"))
		if err != nil {
			t.Fatalf("open %s/token in the tab: %v (a download aborts the navigation)", prefix, err)
		}
		body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 403 || !strings.Contains(body, prefix+"/session") || strings.HasPrefix(body, "eyJ") {
			t.Errorf("%s/token in a tab: %d %q, want 403 and a note naming %s/session", prefix, resp.Status, body, prefix)
		}
		// And the home page says so.
		if err := chromedp.Do(ctx, chromedp.Navigate(d.URL+"/")); err != nil {
			t.Fatal(err)
		}
		home, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main').innerText`))
		if err != nil || !strings.Contains(home, "Typed into a tab it hands out no token but answers 403") || strings.Contains(home, "download") {
			t.Errorf("the home page's word on the token URL: %q (%v)", home, err)
		}
	})

	t.Run("signed out and in again with the login page's one-click button, as a regular customer", func(t *testing.T) {
		customer := chromedp.CSS(`section[data-username="` + devidp.CustomerUsername + `"] button`)
		err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`a[href="`+prefix+`/logout"]`)), // the site's own link: same-origin
			chromedp.WaitVisible(chromedp.ID("signin")),
			chromedp.Navigate(d.URL+prefix+"/login?rd=/"),
			chromedp.WaitVisible(chromedp.ID("username")),
		)
		if err != nil {
			t.Fatalf("sign out and open the login page: %v", err)
		}
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(customer)); err != nil {
			t.Fatalf("click sign in as customer: %v", err)
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("site-user"))); err != nil {
			t.Fatalf("home page after sign-in: %v", err)
		}
		if status := startChat(t, ctx); !strings.Contains(status, "Signature verified") {
			t.Fatalf("status = %q, want the signature verified", status)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](jsContexts))
		if err != nil {
			t.Fatal(err)
		}
		if got["msdyn_isvip"] != "false" || got["msdyn_cartvalue"] != "25.5" || got["customer_email"] != `"customer@example.com"` {
			t.Errorf("customer's lwicontexts table = %v, want isvip false, cart 25.5, customer@example.com", got)
		}
	})
}
