package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// phoneWidth is a common phone's CSS width (iPhone 12 to 15).
const phoneWidth = 390

// jsOverflow lists what sticks out of the viewport: the page as a whole
// (horizontal scrolling) and each header link, by its text.
const jsOverflow = `(() => {
  const out = [];
  const w = window.innerWidth;
  if (document.documentElement.scrollWidth > w) out.push('page: scrollWidth ' + document.documentElement.scrollWidth + ' > ' + w);
  for (const a of document.querySelectorAll('header.site a, header.site .brand')) {
    const r = a.getBoundingClientRect();
    if (r.left < 0 || r.right > w) out.push(a.textContent.trim() + ': ' + Math.round(r.left) + '..' + Math.round(r.right));
  }
  return out;
})()`

// At phone width every page of the demo site fits: nothing in the header
// (the navigation, "Sign in") is cut off and nothing scrolls sideways.
func TestBrowserPhoneWidth(t *testing.T) {
	ctx := testenv.Browser(t)
	d := startDemo(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phoneWidth, 844)); err != nil {
		t.Fatalf("set the viewport: %v", err)
	}
	for _, path := range []string{"/", "/public/", "/strict-csp.html", "/no-such-page"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(d.URL+path), chromedp.WaitVisible(chromedp.ID("signin"))); err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](jsOverflow))
		if err != nil {
			t.Fatalf("measure %s: %v", path, err)
		}
		if len(out) > 0 {
			t.Errorf("%s at %d px: %s", path, phoneWidth, strings.Join(out, "; "))
		}
	}
}
