package testenv

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds everything one Browser does, so a hung page fails
// the test instead of eating the whole go test timeout. The strict-CSP test
// holds one browser for four whole chats: 68 s on an idle 2-core machine,
// past 2 minutes when it shares the cores with other test binaries.
const browserTimeout = 4 * time.Minute

// BrowserOption changes how Browser starts Chromium.
type BrowserOption func(*browserOptions)

type browserOptions struct {
	blockCookies bool
	trusted      []string
}

// TrustCertificates makes the browser accept TLS servers that present one
// of certs (such as an httptest TLS server's), and no other untrusted
// certificate: Chromium's --ignore-certificate-errors-spki-list, which
// names each certificate by the SHA-256 of its public key.
func TrustCertificates(certs ...*x509.Certificate) BrowserOption {
	return func(o *browserOptions) {
		for _, c := range certs {
			sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
			o.trusted = append(o.trusted, base64.StdEncoding.EncodeToString(sum[:]))
		}
	}
}

// BlockCookies starts the browser with every cookie blocked, as a user who
// turned cookies off has it.
func BlockCookies() BrowserOption { return func(o *browserOptions) { o.blockCookies = true } }

// Browser starts a headless Chromium with a fresh profile and returns a
// chromedp context for it, valid until the test ends or browserTimeout
// passes (less if the test's deadline is nearer). Under Main, a call
// without options gets a tab in a new browser context of the binary's one
// Chromium instead, just as fresh. Without a browser it skips the test,
// except when CI=true, where a missing browser is a broken environment and
// fails it.
//
// The browser is Chromium's headless shell ($CHROMIUM_HEADLESS_SHELL, else
// Debian's chromium-headless-shell): the same Blink and V8 as the full
// browser without its user interface layer, which on 2 cores halves the
// time of the browser tests (107 s to 64 s for the five packages that have
// them). A test that needs what only the full browser has (BlockCookies:
// the user's content settings) gets the full browser ($CHROMIUM, else
// Debian's chromium), and so does every test when $CHROMIUM is set and
// $CHROMIUM_HEADLESS_SHELL is not, or when the shell is not installed.
//
// Use it with chromedp.Run / chromedp.Do; the browser is already running.
func Browser(t testing.TB, opts ...BrowserOption) context.Context {
	t.Helper()
	var o browserOptions
	for _, opt := range opts {
		opt(&o)
	}
	full := []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "chromium"}
	candidates := full
	if !o.blockCookies {
		candidates = append([]string{os.Getenv("CHROMIUM_HEADLESS_SHELL"), os.Getenv("CHROMIUM"),
			"/usr/bin/chromium-headless-shell", "chromium-headless-shell"}, full...)
	}
	path := Tool(t, "Chromium ($CHROMIUM_HEADLESS_SHELL or $CHROMIUM, Debian's chromium-headless-shell or chromium)",
		"Debian's chromium and chromium-headless-shell; make browser installs them", candidates...)

	timeout := browserTimeout
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok && time.Until(dl) < timeout {
			timeout = time.Until(dl)
		}
	}
	if len(opts) == 0 {
		if ctx, ok := sharedBrowserTab(t, path, timeout); ok {
			return ctx
		}
	}
	// Registered before our cleanup, so it is removed after the browser quit.
	profile := t.TempDir()
	if o.blockCookies {
		// The content setting a user sets with "Block all cookies".
		prefs := `{"profile":{"default_content_setting_values":{"cookies":2}}}`
		if err := os.MkdirAll(filepath.Join(profile, "Default"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(profile, "Default", "Preferences"), []byte(prefs), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	flags := chromiumFlags(path, profile)
	if len(o.trusted) > 0 {
		flags = append(flags, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(o.trusted, ",")))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, flags...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser() // waits for the tab and the browser process to end
		cancelAlloc()
		cancelTimeout()
	})
	// Start the browser now, so a broken install fails here, clearly.
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("testenv.Browser: start %s: %v", path, err)
	}
	return browserCtx
}

// chromiumFlags are the command line of every Chromium the tests start.
func chromiumFlags(path, profile string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-quic", true),
		// Containers have a small /dev/shm; Chromium crashes when it fills.
		chromedp.Flag("disable-dev-shm-usage", true),
		// Keep Chromium away from any desktop keyring.
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(profile),
	}
}

// BrowserLogin signs in through the OP's real login form in the browser of
// ctx (from Browser): it opens start (the URL that begins the flow, such as
// the proxy's /_lcw/login?rd=/x), fills in username and password, submits,
// and waits until the page the redirects end on has loaded. It returns that
// page's URL; with wrong credentials that is the OP's login form again.
// The browser keeps the cookies the flow set.
func BrowserLogin(t testing.TB, ctx context.Context, start, username, password string) string {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(start),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), password),
	)
	if err != nil {
		t.Fatalf("testenv.BrowserLogin: open the login form from %s: %v", start, err)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Submit(chromedp.ID("password"))); err != nil {
		t.Fatalf("testenv.BrowserLogin: submit the login form: %v", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("testenv.BrowserLogin: read location: %v", err)
	}
	return loc
}

// Blocked records the requests LoopbackOnly refused.
type Blocked struct {
	mu   sync.Mutex
	urls []string
}

// URLs lists the refused requests so far.
func (b *Blocked) URLs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.urls...)
}

// LoopbackOnly makes the browser of ctx (from Browser) fail every request
// whose host is not a loopback address, and records it: a test that runs
// third-party code (Microsoft's chat SDK) proves it contacted nothing
// outside the machine by finding Blocked empty. Chromium already runs with
// background networking off; this covers what pages do.
func LoopbackOnly(t testing.TB, ctx context.Context) *Blocked {
	t.Helper()
	b := &Blocked{}
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{}); err != nil {
		t.Fatalf("testenv.LoopbackOnly: %v", err)
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			if isLoopbackURL(ev.Request.URL) {
				_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			b.mu.Lock()
			b.urls = append(b.urls, ev.Request.URL)
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		}
	}()
	return b
}

func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if u.Scheme == "data" || u.Scheme == "blob" {
		return true // never leaves the browser
	}
	if h := u.Hostname(); h == "localhost" {
		return true
	} else if ip, err := netip.ParseAddr(h); err == nil {
		return ip.IsLoopback()
	}
	return false
}
