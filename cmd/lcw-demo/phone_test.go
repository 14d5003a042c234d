package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
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
	t.Parallel()
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

// narrowPhone is the narrowest common phone's CSS width (iPhone SE, 6–8).
const narrowPhone = 375

// jsMidWordBreaks lists the table cells of the page and of the widget's
// panel that wrap inside a word: a line that starts after a character that
// offers no break (a space, "/" or "-"), found by the line each character
// lands on, and cells whose content is wider than they are.
const jsMidWordBreaks = `(() => {
  const out = [];
  for (const cell of document.querySelectorAll('.lcwdemo-panel td, table.pages td')) {
    const label = (cell.closest('tr') && cell.closest('tr').dataset.key || '') + ' ' + cell.textContent.trim().slice(0, 60);
    if (cell.scrollWidth > cell.clientWidth + 1) out.push('wider than its cell: ' + label);
    const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    let top = null, prev = '';
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      for (let i = 0; i < n.data.length; i++) {
        const ch = n.data[i];
        const r = document.createRange();
        r.setStart(n, i);
        r.setEnd(n, i + 1);
        const rect = Array.from(r.getClientRects()).find(x => x.width > 0);
        if (!rect) { if (/\s/.test(ch)) prev = ' '; continue; } // collapsed or hanging space
        if (top !== null && rect.top > top + 2 && !/[\s\/\-]/.test(prev) && !/\s/.test(ch)) {
          out.push('breaks inside a word before "' + n.data.slice(i, i + 12) + '": ' + label);
        }
        top = rect.top;
        prev = ch;
      }
    }
  }
  return out;
})()`

// jsButtonOverHeadings scrolls each heading of the page to where the
// floating chat button sits and lists those the button then covers.
const jsButtonOverHeadings = `(() => {
  const out = [];
  const button = document.getElementById('lcw-demo-chat-button');
  if (!button) return ['no chat button'];
  for (const h of document.querySelectorAll('h1, h2, h3')) {
    if (h.closest('.lcwdemo-panel')) continue;
    const b = button.getBoundingClientRect();
    window.scrollTo(0, h.getBoundingClientRect().top + window.scrollY - b.top);
    const r = h.getBoundingClientRect(), c = button.getBoundingClientRect();
    if (r.left < c.right && c.left < r.right && r.top < c.bottom && c.top < r.bottom) {
      out.push(h.textContent.trim() + ': ' + [r.left, r.top, r.right, r.bottom].map(Math.round) + ' under the button at ' + [c.left, c.top, c.right, c.bottom].map(Math.round));
    }
  }
  window.scrollTo(0, 0);
  return out;
})()`

// On a 375 px phone (and on a desktop) the chat widget's value cells (and
// the page's tables) wrap only between words, at spaces, slashes or
// hyphens, never inside an email address, a name or a type; and the
// floating chat button covers no heading, wherever the page is scrolled.
func TestBrowserNarrowPhoneLayout(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	d := startDemo(t)
	for _, width := range []int64{narrowPhone, 1200} {
		t.Run(fmt.Sprintf("%dpx", width), func(t *testing.T) { checkLayout(t, ctx, d, width) })
	}
}

func checkLayout(t *testing.T, ctx context.Context, d *demo, width int64) {
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 667)); err != nil {
		t.Fatalf("set the viewport: %v", err)
	}
	for _, user := range []struct{ name, password string }{{devidp.VIPUsername, devidp.VIPPassword}, {devidp.CustomerUsername, devidp.CustomerPassword}} {
		if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
			t.Fatal(err)
		}
		if loc := testenv.BrowserLogin(t, ctx, d.URL+prefix+"/login?rd=/", user.name, user.password); loc != d.URL+"/" {
			t.Fatalf("sign-in as %s ended at %s", user.name, loc)
		}
		for _, path := range []string{"/", "/public/", "/strict-csp.html", "/compressed.html"} {
			if err := chromedp.Do(ctx, chromedp.Navigate(d.URL+path), chromedp.WaitVisible(chromedp.ID("lcw-demo-chat-button"))); err != nil {
				t.Fatalf("open %s: %v", path, err)
			}
			covered, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](jsButtonOverHeadings))
			if err != nil {
				t.Fatalf("measure %s: %v", path, err)
			}
			if len(covered) > 0 {
				t.Errorf("%s at %d px: the chat button covers %s", path, width, strings.Join(covered, "; "))
			}
			if status := startChat(t, ctx); !strings.Contains(status, "Signature verified") {
				t.Fatalf("%s as %s: status %q", path, user.name, status)
			}
			if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.lcwdemo-panel td.v').length`)); err != nil || n < 5 {
				t.Fatalf("%s: %d value cells (%v), want the token's", path, n, err)
			}
			broken, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](jsMidWordBreaks))
			if err != nil {
				t.Fatalf("measure %s: %v", path, err)
			}
			if len(broken) > 0 {
				t.Errorf("%s as %s at %d px:\n%s", path, user.name, width, strings.Join(broken, "\n"))
			}
		}
	}
}
