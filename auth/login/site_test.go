package login

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// site is a relying party in front of the in-process OpenID provider
// (testenv.StartOP), with the real cookie store and codec, serving its
// handlers on a loopback server of its own: the decisions of the login
// package run against real answers, without the rest of the proxy. The
// page at / answers with the subject of the request's session ("" when
// anonymous).
type site struct {
	rp      *RP
	op      *testenv.OP
	cfg     *config.Config
	metrics *metrics.Metrics
	url     string       // the public origin, http://127.0.0.1:PORT
	browser *http.Client // a cookie jar that follows redirects
}

// siteOptions vary the site: the OP's options and extra YAML for the oidc
// and session sections (flow-style entries, each with a leading comma).
type siteOptions struct {
	op      testenv.OPOptions
	oidc    string
	session string
	token   string // extra token keys, as oidc and session
	// issuer, when set, gives the oidc section's issuer keys for op
	// (default: issuer: op.Issuer).
	issuer func(op *testenv.OP) string
	// redis keeps the sessions in a real Redis (session.RedisStore)
	// instead of cookies.
	redis bool
}

func startSite(t *testing.T, o siteOptions) *site {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	o.op.RedirectURIs = append(o.op.RedirectURIs, srv.URL+"/_lcw/callback")
	o.op.PostLogoutRedirectURIs = append(o.op.PostLogoutRedirectURIs, srv.URL+"/")
	if strings.HasPrefix(o.op.FrontchannelLogoutURI, "/") { // a path of the site
		o.op.FrontchannelLogoutURI = srv.URL + o.op.FrontchannelLogoutURI
	}
	op := testenv.StartOP(t, o.op)

	dir := t.TempDir()
	key := filepath.Join(dir, "k.pem")
	if err := os.WriteFile(key, []byte("unused: the login package signs no chat tokens"), 0o600); err != nil {
		t.Fatal(err)
	}
	issuerKeys := `issuer: "` + op.Issuer + `"`
	if o.issuer != nil {
		issuerKeys = o.issuer(op)
	}
	yaml := `public_url: ` + srv.URL + `
upstream: {url: "http://127.0.0.1:8080"}
oidc: {` + issuerKeys + `, client_id: ` + op.ClientID + `, client_secret: ` + op.ClientSecret +
		`, scopes: [openid, profile, email, offline_access]` + o.oidc + `}
session: {secret: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="` + o.session + `}
token: {issuer: shop.example.com, signing_keys: [{file: ` + strconv.Quote(key) + `}]` + o.token + `}
`
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	codec, err := session.NewCodec(cfg.Session.Keys)
	if err != nil {
		t.Fatal(err)
	}
	var store session.Store = session.NewCookieStore(codec, session.CookieOptions{Name: cfg.Session.Name, Path: cfg.Session.CookiePath, Secure: cfg.Session.Secure, Lifetime: cfg.Session.Lifetime.D(), LogoutPath: cfg.Paths.Logout})
	if o.redis {
		store = newRedisStore(t, cfg, codec)
	}
	m := metrics.New()
	rp, err := New(Options{OIDC: cfg.OIDC, Session: cfg.Session, Claims: claims.Needed(cfg), Store: store, Codec: codec, Paths: cfg.Paths, PublicOrigin: cfg.Public.String(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rp.Start(ctx)
	for deadline := time.Now().Add(10 * time.Second); rp.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no discovery: %v", rp.Ready())
		}
	}

	mux.Handle("/_lcw/login", rp.LoginHandler())
	mux.Handle("/_lcw/callback", rp.CallbackHandler())
	mux.Handle("/_lcw/logout", rp.LogoutHandler())
	mux.Handle("/_lcw/frontchannel-logout", rp.FrontchannelLogoutHandler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		sess, err := rp.Session(w, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if sess != nil {
			io.WriteString(w, sess.Subject)
		}
	})
	return &site{rp: rp, op: op, cfg: cfg, metrics: m, url: srv.URL, browser: testenv.NewBrowserClient(t)}
}

// login signs the browser in as the VIP user through the real flow and
// returns the session it got.
func (s *site) login(t *testing.T) *session.Session {
	t.Helper()
	resp := testenv.Login(t, s.browser, s.url+"/_lcw/login?rd=/", testenv.VIPUsername, testenv.VIPPassword)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != s.url+"/" {
		t.Fatalf("login ended at %s with %d", resp.Request.URL, resp.StatusCode)
	}
	sess := s.browserSession(t)
	if sess == nil {
		t.Fatal("no session after login")
	}
	return sess
}

// browserSession is the session the browser's cookies hold (nil: none).
func (s *site) browserSession(t *testing.T) *session.Session {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, s.url+"/", nil)
	u, _ := url.Parse(s.url)
	for _, c := range s.browser.Jar.Cookies(u) {
		r.AddCookie(c)
	}
	sess, err := s.rp.store.Load(r)
	if err != nil {
		return nil
	}
	return sess
}

// cookieOf seals sess as the store does and returns the Cookie header a
// browser would send with it.
func (s *site) cookieOf(t *testing.T, sess *session.Session) string {
	t.Helper()
	w := httptest.NewRecorder()
	if err := s.rp.store.Save(w, httptest.NewRequest(http.MethodGet, s.url+"/", nil), sess); err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for _, c := range w.Result().Cookies() {
		pairs = append(pairs, c.Name+"="+c.Value)
	}
	return strings.Join(pairs, "; ")
}

// request is a request to the site's page carrying cookie.
func (s *site) request(cookie string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, s.url+"/", nil)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	return r
}

// count is the logins_total counter of result.
func (s *site) count(result string) float64 {
	return testutil.ToFloat64(s.metrics.Logins.WithLabelValues(result))
}

// grants lists the grant types of the OP's token requests so far.
func (s *site) grants() []string {
	var out []string
	for _, r := range s.op.TokenRequests() {
		out = append(out, r.GrantType)
	}
	return out
}

// noRedirect is the browser without following redirects, to look at each
// answer.
func (s *site) noRedirect() *http.Client {
	c := *s.browser
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// home is what the site's home page answers the signed-in browser: the
// session's subject, or "" when it is not signed in.
func (s *site) home(t *testing.T) string {
	t.Helper()
	resp, err := s.browser.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
