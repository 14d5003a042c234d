package bootstrap

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// fn is the client function as the page sees it.
const fn = "window.lcwAuth.getAuthenticationToken"

// openPlain loads a fresh page (so the script starts with nothing cached)
// after putting the stand-in token endpoint back to a signed-in session
// with clocks in step.
func openPlain(t *testing.T, ctx context.Context, s *site) {
	t.Helper()
	s.anonymous.Store(false)
	s.serverLag.Store(0)
	s.minted.Store(0)
	s.session.Store("session-1")
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/plain")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("typeof "+fn+" === 'function'")); err != nil {
		t.Fatal(err)
	}
	s.gets.Store(0)
	s.heads.Store(0)
	s.limited.Store(0)
	s.retryAfter.Store("")
	for len(s.events) > 0 {
		<-s.events
	}
	for len(s.getTimes) > 0 {
		<-s.getTimes
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// wantRequests checks how often the page asked the token endpoint.
func wantRequests(t *testing.T, s *site, gets, heads int32) {
	t.Helper()
	if g, h := s.gets.Load(), s.heads.Load(); g != gets || h != heads {
		t.Errorf("token endpoint saw %d GET and %d HEAD, want %d and %d", g, h, gets, heads)
	}
}

// Microsoft's chat SDK awaits fn() without a callback; the hosted widget
// calls fn(callback). One function serves both.
func TestProviderCallbackAndPromiseInBrowser(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	s := startSite(t, "empty")

	t.Run("callback exactly once and a Promise of the same token", func(t *testing.T) {
		openPlain(t, ctx, s)
		got := eval[string](t, ctx, `new Promise(function (resolve) {
			var calls = [];
			var p = `+fn+`(function (t) { calls.push(t); });
			p.then(function (t) { setTimeout(function () {
				resolve(JSON.stringify({promise: t, calls: calls, isPromise: p instanceof Promise})); }, 100); }); })`)
		var r struct {
			Promise   string
			Calls     []string
			IsPromise bool
		}
		if err := json.Unmarshal([]byte(got), &r); err != nil {
			t.Fatal(err)
		}
		if !r.IsPromise || !strings.HasPrefix(r.Promise, "eyJ") || len(r.Calls) != 1 || r.Calls[0] != r.Promise {
			t.Errorf("Promise %v resolved to %q, callback calls %q; want one call with the Promise's token", r.IsPromise, r.Promise, r.Calls)
		}
	})

	t.Run("without a callback, as the SDK calls it", func(t *testing.T) {
		openPlain(t, ctx, s)
		if tok := eval[string](t, ctx, fn+"()"); !strings.HasPrefix(tok, "eyJ") {
			t.Errorf("await fn() = %q", tok)
		}
		wantRequests(t, s, 1, 0)
	})

	t.Run("signed out: the Promise and the callback both get an empty token", func(t *testing.T) {
		openPlain(t, ctx, s)
		s.anonymous.Store(true)
		got := eval[string](t, ctx, `new Promise(function (resolve) {
			var calls = []; `+fn+`(function (t) { calls.push(t); }).then(function (t) {
				setTimeout(function () { resolve(JSON.stringify([t].concat(calls))); }, 100); }); })`)
		if got != `["",""]` {
			t.Errorf("promise and callbacks = %s, want [\"\",\"\"]", got)
		}
	})
}

// The SDK asks when it initialises and the widget again when the chat
// starts: one signature must serve both, but only for the same session and
// while most of the token's life is left.
func TestProviderReuseInBrowser(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	s := startSite(t, "empty")
	twoCalls := fn + `().then(function (a) { return ` + fn + `().then(function (b) { return a === b; }); })`

	t.Run("concurrent calls share one request", func(t *testing.T) {
		openPlain(t, ctx, s)
		n := eval[int](t, ctx, `Promise.all([`+fn+`(), `+fn+`(), `+fn+`(function () {}), `+fn+`()]).then(function (l) {
			return l[0].indexOf("eyJ") === 0 ? new Set(l).size : -1; })`)
		if n != 1 {
			t.Errorf("4 concurrent calls got %d different tokens, want 1", n)
		}
		wantRequests(t, s, 1, 0)
	})

	tests := []struct {
		name      string
		serverLag int64 // the browser's clock is ahead by this much
		minted    int64 // the token was issued this long ago (600 s life)
		reused    bool
	}{
		{name: "a fresh token is reused after a HEAD names the same session", reused: true},
		{name: "more than half of its life left: reused", minted: 290, reused: true},
		{name: "less than half of its life left: a new one", minted: 310},
		{name: "less than half left by the browser's clock, which the widget checks: a new one", serverLag: 310},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			openPlain(t, ctx, s)
			s.serverLag.Store(tc.serverLag)
			s.minted.Store(tc.minted)
			if same := eval[bool](t, ctx, twoCalls); same != tc.reused {
				t.Errorf("second call got the same token: %v, want %v", same, tc.reused)
			}
			if tc.reused {
				wantRequests(t, s, 1, 1)
			} else {
				wantRequests(t, s, 2, 0)
			}
		})
	}

	t.Run("another session never gets the old token", func(t *testing.T) {
		openPlain(t, ctx, s)
		first := eval[string](t, ctx, fn+"()")
		s.session.Store("session-2") // signed out and in again, perhaps in another tab
		if second := eval[string](t, ctx, fn+"()"); second == first || !strings.HasPrefix(second, "eyJ") {
			t.Errorf("after a new sign-in the provider gave %q (first token %q)", second, first)
		}
		wantRequests(t, s, 2, 1)
	})

	t.Run("signed out between calls: empty, then a new token after signing in", func(t *testing.T) {
		openPlain(t, ctx, s)
		first := eval[string](t, ctx, fn+"()")
		s.anonymous.Store(true)
		if got := eval[string](t, ctx, fn+"()"); got != "" {
			t.Errorf("signed out, the provider gave %q", got)
		}
		s.anonymous.Store(false) // same session tag, yet the old token is gone
		if third := eval[string](t, ctx, fn+"()"); third == first || !strings.HasPrefix(third, "eyJ") {
			t.Errorf("after signing in again the provider gave %q (first token %q)", third, first)
		}
		wantRequests(t, s, 2, 1)
	})
}

// A browser clock that runs ahead makes the widget reject valid tokens as
// already expired: the script says so once per page, in the console and to
// client-events.
func TestClockSkewReportInBrowser(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	s := startSite(t, "empty")

	t.Run("two minutes ahead: warned and reported once", func(t *testing.T) {
		openPlain(t, ctx, s)
		s.serverLag.Store(120)
		eval[string](t, ctx, fn+"()")
		s.session.Store("session-2") // a second token, so the check runs again
		eval[string](t, ctx, fn+"()")
		select {
		case e := <-s.events:
			var ev struct {
				Event   string
				Seconds float64
			}
			if !strings.HasPrefix(e, "204 ") || json.Unmarshal([]byte(e[4:]), &ev) != nil || ev.Event != "clock_skew" || ev.Seconds < 119 || ev.Seconds > 122 {
				t.Errorf("event %q, want 204 {\"event\":\"clock_skew\",\"seconds\":120}", e)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no clock_skew event")
		}
		select {
		case e := <-s.events:
			t.Errorf("a second report %q; want one per page", e)
		case <-time.After(300 * time.Millisecond):
		}
		if w := eval[[]string](t, ctx, "window.__warnings"); len(w) != 1 || !regexp.MustCompile(`clock is 12[012] s ahead of the server`).MatchString(w[0]) {
			t.Errorf("console warnings %q, want one about the clock", w)
		}
	})

	t.Run("less than a minute ahead: nothing to say", func(t *testing.T) {
		openPlain(t, ctx, s)
		s.serverLag.Store(50)
		eval[string](t, ctx, fn+"()")
		select {
		case e := <-s.events:
			t.Errorf("reported %q for a clock 50 s ahead", e)
		case <-time.After(300 * time.Millisecond):
		}
		if w := eval[[]string](t, ctx, "window.__warnings"); len(w) != 0 {
			t.Errorf("console warnings %q", w)
		}
	})
}

// A 429 from the token endpoint (the proxy's rate limit) comes with
// Retry-After: the script waits that long before it asks again, when the
// wait fits in its time budget, and otherwise answers "" without asking.
func TestProviderHonoursRetryAfterInBrowser(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	s := startSite(t, "empty")

	for _, ra := range []string{"1", time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat), ""} {
		t.Run("Retry-After "+strconv.Quote(ra)+": one wait, then the token", func(t *testing.T) {
			openPlain(t, ctx, s)
			s.limited.Store(1)
			s.retryAfter.Store(ra)
			if tok := eval[string](t, ctx, fn+"()"); !strings.HasPrefix(tok, "eyJ") {
				t.Fatalf("token after a 429 = %q", tok)
			}
			wantRequests(t, s, 2, 0)
			first, second := <-s.getTimes, <-s.getTimes
			// HTTP dates have whole seconds: the second may come up to 1 s
			// before the named time. An empty Retry-After waits a second.
			want := time.Second
			if gap := second.Sub(first); gap < want-50*time.Millisecond {
				t.Errorf("asked again %v after the 429, before Retry-After %q allowed", gap, ra)
			}
		})
	}

	t.Run("Retry-After past the budget: \"\" at once, and no request until it passes", func(t *testing.T) {
		openPlain(t, ctx, s)
		s.limited.Store(1)
		s.retryAfter.Store("120")
		if tok := eval[string](t, ctx, fn+"()"); tok != "" {
			t.Errorf("token = %q, want \"\"", tok)
		}
		if tok := eval[string](t, ctx, fn+"()"); tok != "" {
			t.Errorf("second call = %q, want \"\"", tok)
		}
		wantRequests(t, s, 1, 0)
	})
}
