package e2e

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

const frontchannelPath = "/_lcw/frontchannel-logout"

// consoleLog collects the browser's log entries (where Chromium reports a
// frame it refused to show).
type consoleLog struct {
	mu      sync.Mutex
	entries []string
}

func recordConsole(t *testing.T, ctx context.Context) *consoleLog {
	t.Helper()
	c := &consoleLog{}
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*cdplog.EventEntryAdded); ok {
			c.mu.Lock()
			c.entries = append(c.entries, e.Entry.Text)
			c.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *consoleLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.entries, "\n")
}

// frontchannelCount is lcw_frontchannel_logouts_total{result} of e.
func frontchannelCount(e *env, result string) float64 {
	return testutil.ToFloat64(e.App.Metrics().FrontchannelLogouts.WithLabelValues(result))
}

// frameDocument opens page in the browser of ctx and waits until its one
// iframe holds a document; it returns that document's URL: the framed URL
// when the browser showed it, its error page's (chrome-error://…) when it
// refused to.
func frameDocument(t *testing.T, ctx context.Context, page string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("open %s: %v", page, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := chromedp.Call(ctx, cdppage.GetFrameTree, cdp.Empty{})
		if err != nil {
			t.Fatalf("frame tree of %s: %v", page, err)
		}
		doc := ""
		if ch := res.FrameTree.ChildFrames; len(ch) == 1 {
			doc = ch[0].Frame.URL
		}
		if doc != "" && doc != "about:blank" {
			return doc
		}
		if time.Now().After(deadline) {
			t.Fatalf("the frame of %s never loaded (%d frames, document %q)", page, len(res.FrameTree.ChildFrames), doc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// foreignFramer serves, from another loopback origin than the IdP's, a page
// that frames target as the IdP's page does.
func foreignFramer(t *testing.T, target string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>evil</title></head><body><iframe id="frontchannel" src="%s"></iframe></body></html>`, html.EscapeString(target))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// browserCookie is the Cookie header the browser of ctx sends to origin.
func browserCookie(t *testing.T, ctx context.Context, origin string) string {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{origin + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for _, c := range res.Cookies {
		pairs = append(pairs, c.Name+"="+c.Value)
	}
	return strings.Join(pairs, "; ")
}

// browserSID is the IdP session id of the session the browser holds on e.
func browserSID(t *testing.T, ctx context.Context, e *env) string {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, e.URL+"/", nil)
	r.Header.Set("Cookie", browserCookie(t, ctx, e.URL))
	sess, err := e.App.Store().Load(r)
	if err != nil || sess.SID == "" {
		t.Fatalf("the browser's session on %s: %v (sid %q)", e.URL, err, sess.SID)
	}
	return sess.SID
}

// atLogin reports whether opening page in the browser of ctx ends on the
// OP's login form: the visitor is signed out.
func atLogin(t *testing.T, ctx context.Context, e *env, page string) bool {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	return strings.HasPrefix(evalJS[string](t, ctx, `location.href`), e.OP.Issuer+devidp.LoginPath)
}

// frontchannelSteps runs the browser's part of both tests: signed in on
// at, a foreign page framing signOutOn's front-channel logout URL with a
// guessed sid is refused by the browser and ends nothing; the IdP's
// signed-out page, framing it with the real sid, is shown and ends the
// session. withIss: the IdP sends iss with the sid.
func frontchannelSteps(t *testing.T, at, signOutOn *env, withIss bool, waitSignedOut func(cookie string)) {
	ctx := testenv.Browser(t)
	console := recordConsole(t, ctx)
	if loc := testenv.BrowserLogin(t, ctx, at.URL+"/_lcw/login?rd=/page", testenv.VIPUsername, testenv.VIPPassword); loc != at.URL+"/page" {
		t.Fatalf("sign-in ended at %s", loc)
	}
	sid := browserSID(t, ctx, at)
	fc := signOutOn.URL + frontchannelPath

	guessed := fc + "?" + url.Values{"iss": {at.OP.Issuer}, "sid": {"00000000-0000-0000-0000-000000000000"}}.Encode()
	if doc := frameDocument(t, ctx, foreignFramer(t, guessed)); doc == guessed || !strings.HasPrefix(doc, "chrome-error:") {
		t.Errorf("a foreign origin's frame holds %q, want the browser's error page (frame-ancestors)", doc)
	}
	if log := console.String(); !strings.Contains(log, "frame-ancestors") {
		t.Errorf("the browser did not report a frame-ancestors refusal:\n%s", log)
	}
	if atLogin(t, ctx, at, at.URL+"/page") {
		t.Fatal("the foreign page's request ended the session")
	}

	doc := frameDocument(t, ctx, at.OP.Issuer+devidp.FrontchannelSignedOutPath+"?sid="+url.QueryEscape(sid))
	if !strings.HasPrefix(doc, fc+"?") || !strings.Contains(doc, "sid="+url.QueryEscape(sid)) {
		t.Fatalf("the IdP's page frames %q, want the front-channel logout answer", doc)
	}
	if strings.Contains(doc, "iss=") != withIss {
		t.Errorf("the IdP's page frames %q; want iss sent: %v", doc, withIss)
	}
	waitSignedOut(browserCookie(t, ctx, at.URL))
	if !atLogin(t, ctx, at, at.URL+"/page") {
		t.Error("after the IdP's signed-out page the page is still served: the session lives")
	}
}

// Redis store, two replicas, with an IdP that sends sid alone (Entra ID,
// whose example recommends this store): the browser signs in on B; the
// IdP's signed-out page frames A's front-channel logout URL; the session
// ends on both.
func TestBrowserFrontchannelLogoutRedis(t *testing.T) {
	t.Parallel()
	r := startReplicasWith(t, "", testenv.OPOptions{FrontchannelLogoutURI: frontchannelPath, FrontchannelSIDOnly: true})
	var cookie string
	frontchannelSteps(t, r.B, r.A, false, func(c string) {
		cookie = c
		if !signedOut(t, r.B, c, false) {
			t.Error("the session still works on replica B")
		}
	})
	if n := frontchannelCount(r.A, "ended"); n != 1 {
		t.Errorf("replica A counted %v ended, want 1", n)
	}
	if n := frontchannelCount(r.A, "no_session"); n != 1 {
		t.Errorf("replica A counted %v no_session (the guessed sid), want 1", n)
	}
	if !signedOut(t, r.A, cookie, true) {
		t.Error("the session still works on replica A")
	}
}

// Cookie store, with an IdP that sends iss and sid as the spec says: on
// loopback the IdP's page is on the same site, so the browser sends the
// Lax session cookie in the frame and the answer clears it (a real IdP is
// on another site: see the README's "Single logout").
func TestBrowserFrontchannelLogoutCookie(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{OP: testenv.OPOptions{FrontchannelLogoutURI: frontchannelPath}})
	frontchannelSteps(t, e, e, true, func(string) {})
	if n := frontchannelCount(e, "ended"); n != 1 {
		t.Errorf("counted %v ended, want 1", n)
	}
	if n := frontchannelCount(e, "other_session"); n != 1 {
		t.Errorf("counted %v other_session (the guessed sid), want 1", n)
	}
}
