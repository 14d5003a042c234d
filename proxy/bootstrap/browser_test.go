package bootstrap

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/token"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// standInSDK is the part of the widget the script talks to: the SDK object
// with setAuthTokenProvider (which throws for non-functions, like the real
// one) and the lcw:ready event.
const standInSDK = `<script>
window.__registered = 0;
window.Microsoft = {Omnichannel: {LiveChatWidget: {SDK: {setAuthTokenProvider: function (fn) {
  if (typeof fn !== 'function') { throw new Error('not a function'); }
  window.__registered++; window.__provider = fn;
}}}}};
window.dispatchEvent(new CustomEvent('lcw:ready'));
</script>`

// site serves the script, its endpoints, a stand-in token endpoint and
// pages. The token endpoint mints unsigned JWTs (the script only decodes
// iat and exp) with iat on a clock the test can move, names a session in
// token.SessionHeader as the real one does, and counts what it is asked.
type site struct {
	*httptest.Server
	anonymous atomic.Bool
	// serverLag is how far the token endpoint's clock runs behind the
	// browser's (seconds): its iat is now minus serverLag.
	serverLag atomic.Int64
	// minted is how old (seconds) every new token already is: iat and exp
	// move back by this much, as if it were issued that long ago.
	minted  atomic.Int64
	session atomic.Value // string
	gets    atomic.Int32
	heads   atomic.Int32
	// limited is how many of the next GETs get 429 with Retry-After
	// retryAfter; getTimes records when each GET arrived.
	limited    atomic.Int32
	retryAfter atomic.Value // string
	getTimes   chan time.Time
	events     chan string
	logins     chan string
}

// fakeJWT is header.payload.signature with the given claims; nothing here
// checks signatures.
func fakeJWT(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(claims)) + ".c2ln"
}

func startSite(t *testing.T, onUnauth string) *site {
	t.Helper()
	s := &site{events: make(chan string, 10), logins: make(chan string, 10), getTimes: make(chan time.Time, 100)}
	s.session.Store("session-1")
	s.retryAfter.Store("")
	mux := http.NewServeMux()
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	b := New(Options{Paths: config.NewPaths("/_lcw"), SessionHeader: token.SessionHeader, ClientFunction: "lcwAuth.getAuthenticationToken", OnUnauthenticated: onUnauth, PublicOrigin: s.URL})
	tag := `<script src="/_lcw/bootstrap.js?v=` + b.Version() + `" defer></script>`
	mux.Handle("GET /_lcw/bootstrap.js", b.ScriptHandler())
	events := b.ClientEventsHandler()
	mux.Handle("POST /_lcw/client-events", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		rec := httptest.NewRecorder()
		events.ServeHTTP(rec, r)
		s.events <- fmt.Sprintf("%d %s", rec.Code, body)
		w.WriteHeader(rec.Code)
	}))
	var serial atomic.Int32
	mux.HandleFunc("/_lcw/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			s.heads.Add(1)
		} else {
			s.gets.Add(1)
			s.getTimes <- time.Now()
			if s.limited.Add(-1) >= 0 {
				if ra := s.retryAfter.Load().(string); ra != "" {
					w.Header().Set("Retry-After", ra)
				}
				http.Error(w, "slow down", http.StatusTooManyRequests)
				return
			}
			s.limited.Store(0)
		}
		if s.anonymous.Load() {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Accept") != "application/json" {
			http.Error(w, "want JSON", http.StatusNotAcceptable)
			return
		}
		w.Header().Set(token.SessionHeader, s.session.Load().(string))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			return
		}
		iat := time.Now().Unix() - s.serverLag.Load() - s.minted.Load()
		tok := fakeJWT(fmt.Sprintf(`{"sub":"u","jti":"t%d","iat":%d,"exp":%d}`, serial.Add(1), iat, iat+600))
		fmt.Fprintf(w, `{"token":%q,"expires_at":%d}`, tok, iat+600)
	})
	mux.HandleFunc("GET /_lcw/login", func(w http.ResponseWriter, r *http.Request) {
		s.logins <- r.URL.Query().Get("rd")
		// A stand-in sign-in page that never creates a session.
		fmt.Fprint(w, `<!doctype html><p id="login-page">sign in</p>`)
	})
	page := func(head string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, "<!doctype html><html><head>%s</head><body>page</body></html>", strings.ReplaceAll(head, "TAG", tag))
		}
	}
	// The widget became ready before the script loaded.
	mux.Handle("GET /ready-first", page(standInSDK+"TAG"))
	// The script loads first; the widget becomes ready later.
	mux.Handle("GET /ready-later", page(`TAG<script>setTimeout(function () { document.head.insertAdjacentHTML('beforeend', '');
		var s = document.createElement('script'); s.textContent = `+"`"+strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(standInSDK, "<script>"), "</script>"), "`", "")+"`"+`;
		document.head.appendChild(s); window.dispatchEvent(new CustomEvent('lcw:ready')); }, 50);</script>`))
	// No widget at all, and a record of the script's console warnings.
	mux.Handle("GET /plain", page(`<script>window.__warnings = []; (function (warn) { console.warn = function () {
		window.__warnings.push(Array.prototype.join.call(arguments, " ")); warn.apply(console, arguments); }; })(console.warn);</script>TAG`))
	// The site already has an lcwAuth object of its own.
	mux.Handle("GET /existing", page(`<script>window.lcwAuth = {keep: 42};</script>TAG`))
	return s
}

func TestScriptInBrowser(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	s := startSite(t, "empty")
	callProvider := `new Promise(function (resolve) { window.lcwAuth.getAuthenticationToken(resolve); })`

	t.Run("widget ready before the script loaded", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/ready-first")); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.Poll[string](`window.__registered === 1 && window.__provider === window.lcwAuth.getAuthenticationToken ? "registered" : ""`))
		if err != nil || got != "registered" {
			t.Fatalf("provider not registered: %q %v", got, err)
		}
		tok, err := chromedp.Run(ctx, chromedp.Evaluate[string](callProvider, chromedp.EvalAwaitPromise))
		if err != nil || !strings.HasPrefix(tok, "eyJ") {
			t.Errorf("provider gave %q, %v", tok, err)
		}
	})

	t.Run("widget ready after the script loaded, registered once", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/ready-later")); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.__registered === 1`)); err != nil {
			t.Fatal(err)
		}
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.dispatchEvent(new CustomEvent('lcw:ready')); window.__registered`))
		if err != nil || n != 1 {
			t.Errorf("registrations after a second lcw:ready = %d, %v; want 1", n, err)
		}
	})

	t.Run("existing objects are kept", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/existing")); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.Poll[string](`typeof window.lcwAuth.getAuthenticationToken === 'function' ? String(window.lcwAuth.keep) : ""`))
		if err != nil || got != "42" {
			t.Errorf("lcwAuth.keep = %q, %v", got, err)
		}
	})

	t.Run("401 calls back with an empty token", func(t *testing.T) {
		s.anonymous.Store(true)
		defer s.anonymous.Store(false)
		if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/ready-first")); err != nil {
			t.Fatal(err)
		}
		tok, err := chromedp.Run(ctx, chromedp.Evaluate[string](`new Promise(function (resolve) {
			var calls = []; window.lcwAuth.getAuthenticationToken(function (t) { calls.push(t); resolve(JSON.stringify(calls)); }); })`, chromedp.EvalAwaitPromise))
		if err != nil || tok != `[""]` {
			t.Errorf("callbacks = %s, %v; want [\"\"]", tok, err)
		}
	})

	t.Run("lcw:error codes 2,3,4,8 are reported, others not", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/ready-first")); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.__registered === 1`)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[5, 2, 1, 8].forEach(function (c) {
			window.dispatchEvent(new CustomEvent('lcw:error', {detail: {errorCode: c}})); }); true`)); err != nil {
			t.Fatal(err)
		}
		// Each report is its own request, so they may arrive in either order.
		got := map[string]bool{}
		for range 2 {
			select {
			case e := <-s.events:
				got[e] = true
			case <-ctx.Done():
				t.Fatalf("only %d of 2 events arrived: %v", len(got), got)
			}
		}
		for _, want := range []string{`204 {"code":2}`, `204 {"code":8}`} {
			if !got[want] {
				t.Errorf("events = %v, want %q among them", got, want)
			}
		}
		select {
		case e := <-s.events:
			t.Errorf("unexpected extra event %q", e)
		case <-time.After(200 * time.Millisecond):
		}
	})
}

func TestScriptLoginOnceInBrowser(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	s := startSite(t, "login")
	s.anonymous.Store(true)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/ready-first?x=1")); err != nil {
		t.Fatal(err)
	}
	// The first 401 sends the user to sign in, with the page to come back to.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.lcwAuth.getAuthenticationToken(function () {}); true`)); err != nil {
		t.Fatal(err)
	}
	select {
	case rd := <-s.logins:
		if rd != "/ready-first?x=1" {
			t.Errorf("rd = %q", rd)
		}
	case <-ctx.Done():
		t.Fatal("no login redirect")
	}
	// Back on the page without a session: a second 401 must not bounce again.
	if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.ID("login-page")), chromedp.Navigate(s.URL+"/ready-first?x=1")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.__registered === 1`)); err != nil {
		t.Fatal(err)
	}
	tok, err := chromedp.Run(ctx, chromedp.Evaluate[string](`new Promise(function (resolve) { window.lcwAuth.getAuthenticationToken(resolve); })`, chromedp.EvalAwaitPromise))
	if err != nil || tok != "" {
		t.Fatalf("second call: %q, %v", tok, err)
	}
	select {
	case rd := <-s.logins:
		t.Errorf("redirected to login again (rd=%q): a sign-in loop", rd)
	default:
	}
}
