package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/access"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/login"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/token"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/bootstrap"
)

// dashboardRoutes are the route labels of the request metrics and the
// names of the server spans for the proxy's own endpoints, as dashboards
// and alerts know them. Besides them there are only "own_other" and
// "upstream".
var dashboardRoutes = []string{"login", "callback", "logout", "token", "session", "auth", "silent", "backchannel-logout", "frontchannel-logout",
	"public-key.pem", "public-keys", "jwks.json", "bootstrap.js", "client-events", "healthz", "readyz"}

// serverStore stands in for a server-side store: it is ready, and the
// requests these tests send never reach its other methods.
type serverStore struct {
	session.Store
	login.BackchannelStore
}

func (serverStore) Ping(context.Context) error { return nil }

// newTestDeps builds every part the way cmd/internal/app does, from a
// minimal configuration, with a server-side store so that every route is
// registered. The IdP is never discovered: the sign-in routes answer, but
// cannot sign anyone in.
func newTestDeps(t *testing.T) Deps {
	t.Helper()
	dir := t.TempDir()
	yaml := `public_url: https://shop.example.com
upstream: {url: "http://127.0.0.1:9"}
oidc: {issuer: "http://127.0.0.1:1", client_id: c}
session: {secret: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
token: {issuer: shop.example.com, signing_keys: [{file: ` + testenv.SigningKeyFile(t) + `}]}
`
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	codec, err := session.NewCodec(cfg.Session.Keys)
	if err != nil {
		t.Fatal(err)
	}
	cookies := session.NewCookieStore(codec, session.CookieOptions{Name: cfg.Session.Name, Path: "/", Secure: true, Lifetime: cfg.Session.Lifetime.D(), LogoutPath: cfg.Paths.Logout})
	origin := cfg.Public.String()
	rp, err := login.New(login.Options{OIDC: cfg.OIDC, Session: cfg.Session, Store: cookies, Codec: codec, Paths: cfg.Paths,
		PublicOrigin: origin, Logger: quietLog, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.Load(cfg.Token.SigningKeys, keys.Options{Logger: quietLog, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return Deps{
		Paths:              cfg.Paths,
		Logger:             quietLog,
		Metrics:            m,
		RP:                 rp,
		Store:              serverStore{},
		BackchannelLogout:  true,
		FrontchannelLogout: true,
		Minter:             token.NewMinter(token.MinterOptions{Token: cfg.Token, Keys: ks, Metrics: m, Logger: quietLog}),
		Token:              token.HandlerOptions{PublicOrigin: origin, SessionPath: cfg.Paths.Session, Metrics: m, Logger: quietLog},
		Keys:               ks,
		Bootstrap: bootstrap.New(bootstrap.Options{Paths: cfg.Paths, SessionHeader: token.SessionHeader,
			ClientFunction: cfg.Inject.ClientFunction, OnUnauthenticated: cfg.Inject.OnUnauthenticated, PublicOrigin: origin, Metrics: m}),
		Policy: access.NewPolicy(cfg.Access, cfg.Paths),
		Upstream: UpstreamOptions{URL: cfg.UpstreamURL, Upstream: cfg.Upstream, Public: cfg.Public,
			CookieName: cfg.Session.CookieName, Headers: cfg.Headers, Logger: quietLog},
	}
}

// Every route has its name, taken from its path, and the names are the
// ones dashboards know: a route cannot be added without one, and a path
// cannot be renamed without this test noticing.
func TestEveryRouteHasItsName(t *testing.T) {
	d := newTestDeps(t)
	routes := d.routes()
	names := newRouteNames(d.Paths.Prefix, routes)
	if got, want := slices.Sorted(slices.Values(names.names)), slices.Sorted(slices.Values(dashboardRoutes)); !slices.Equal(got, want) {
		t.Errorf("route names %q, want %q", got, want)
	}
	for _, rt := range routes {
		name := names.of(rt.path)
		if name == "" || strings.Contains(name, "/") || !slices.Contains(dashboardRoutes, name) {
			t.Errorf("%s %s is named %q", rt.method, rt.path, name)
		}
		if got := names.of(rt.path + "/"); got != name {
			t.Errorf("%s/ is named %q, want %q", rt.path, got, name)
		}
		if got := names.of(rt.path + "/x"); got != "own_other" {
			t.Errorf("%s/x is named %q, want own_other", rt.path, got)
		}
	}
	for p, want := range map[string]string{
		"/_lcw": "own_other", "/_lcw/": "own_other", "/_lcw/nope": "own_other", "/_lcw//token": "token", "/x/../_lcw/token": "token",
		"/": "upstream", "/shop": "upstream", "/_lcwx/token": "upstream", "/token": "upstream",
	} {
		if got := names.of(p); got != want {
			t.Errorf("%s is named %q, want %q", p, got, want)
		}
	}
	// The request counters exist for every name from the start, and for
	// nothing else.
	rm := newRequestMetrics(metrics.New(), names)
	var labels []string
	for route := range rm.byRoute {
		labels = append(labels, route)
	}
	if want := append(slices.Clone(dashboardRoutes), "own_other", "upstream"); !slices.Equal(slices.Sorted(slices.Values(labels)), slices.Sorted(slices.Values(want))) {
		t.Errorf("request counters for %q, want %q", labels, want)
	}
}

// Naming a request's route is on every request's path: it allocates
// nothing, whatever the path names.
func TestRouteNamesDoNotAllocate(t *testing.T) {
	d := newTestDeps(t)
	names := newRouteNames(d.Paths.Prefix, d.routes())
	for _, p := range []string{d.Paths.Token, d.Paths.Token + "/", "/_lcw/nope", "/shop/item/42"} {
		if n := testing.AllocsPerRun(100, func() { names.of(p) }); n != 0 {
			t.Errorf("naming %s: %v allocations", p, n)
		}
	}
}

// With every part present, every route in the table answers: none is the
// prefix's catch-all 404. Its server span and its request counter carry its
// name.
func TestEveryRouteAnswers(t *testing.T) {
	d := newTestDeps(t)
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())
	d.Tracer = tp
	h, err := NewHandler(d)
	if err != nil {
		t.Fatal(err)
	}
	names := newRouteNames(d.Paths.Prefix, d.routes())
	for _, rt := range d.routes() {
		if rt.h == nil {
			t.Errorf("%s %s: no handler with every part present", rt.method, rt.path)
			continue
		}
		targets := []string{rt.path}
		if rt.subtree {
			targets = append(targets, rt.path+"/ext-authz/original")
		}
		for _, target := range targets {
			method := rt.method
			if method == "" {
				method = http.MethodGet
			}
			spans.Reset()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(method, "https://shop.example.com"+target, nil))
			if w.Code == http.StatusNotFound {
				t.Errorf("%s %s: 404", method, target)
			}
			route := names.of(target)
			// The semantic conventions' "{method} {http.route}", or
			// "{method}" where the route is not the proxy's to know.
			want := method + " " + rt.path
			if route == "own_other" {
				want = method
			}
			got := spans.GetSpans()
			if len(got) != 1 || got[0].Name != want {
				t.Errorf("%s %s: spans %v, want one named %q", method, target, got, want)
				continue
			}
			if !slices.Contains(got[0].Attributes, attribute.String("lcw.route", route)) {
				t.Errorf("%s %s: span attributes %v, want lcw.route %q", method, target, got[0].Attributes, route)
			}
			if route != "own_other" && !slices.Contains(got[0].Attributes, semconv.HTTPRoute(rt.path)) {
				t.Errorf("%s %s: span attributes %v, want %v", method, target, got[0].Attributes, attribute.KeyValue(semconv.HTTPRoute(rt.path)))
			}
		}
	}
	for _, name := range dashboardRoutes {
		if n := counted(d.Metrics, name); n == 0 {
			t.Errorf("no request counted for %q", name)
		}
	}
}

// A method a route does not take never reaches its handler. The handlers
// registered without a method answer 405 with the methods they take; for
// the routes registered with theirs (GET takes HEAD too), the prefix's
// catch-all matches every other method first, so the mux answers 404, not
// 405. Nothing of either is cacheable.
func TestRouteMethods(t *testing.T) {
	d := newTestDeps(t)
	h, err := NewHandler(d)
	if err != nil {
		t.Fatal(err)
	}
	p := d.Paths
	allow := map[string]string{p.Token: "GET, HEAD", p.BackchannelLogout: "POST", p.FrontchannelLogout: "GET", p.ClientEvents: "POST"}
	for _, rt := range d.routes() {
		wantAllow, checked := allow[rt.path]
		if checked != (rt.method == "") {
			t.Errorf("%s %s: registered without a method: %v, want %v", rt.method, rt.path, rt.method == "", checked)
		}
		wantStatus := http.StatusNotFound
		if checked {
			wantStatus = http.StatusMethodNotAllowed
		}
		for _, method := range []string{http.MethodPut, http.MethodDelete} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(method, "https://shop.example.com"+rt.path, nil))
			if w.Code != wantStatus || w.Header().Get("Allow") != wantAllow {
				t.Errorf("%s %s: %d (Allow %q), want %d (Allow %q)", method, rt.path, w.Code, w.Header().Get("Allow"), wantStatus, wantAllow)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "" && cc != "no-store" {
				t.Errorf("%s %s: Cache-Control %q", method, rt.path, cc)
			}
		}
	}
}

// counted is how many requests route's counters hold, over all classes.
func counted(m *metrics.Metrics, route string) float64 {
	var n float64
	for _, code := range []string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"} {
		n += testutil.ToFloat64(m.Requests.WithLabelValues(route, code))
	}
	return n
}

// The optional routes are left out without their part: the back-channel
// logout without a server-side store or with session.backchannel_logout
// off. A missing required part is an error, not a silent 404.
func TestOptionalRoutes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mod    func(*Deps)
		status int
	}{
		{"server-side store", func(*Deps) {}, http.StatusMethodNotAllowed},
		{"cookie store", func(d *Deps) { d.Store = nil }, http.StatusNotFound},
		{"backchannel_logout off", func(d *Deps) { d.BackchannelLogout = false }, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDeps(t)
			tc.mod(&d)
			h, err := NewHandler(d)
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://shop.example.com"+d.Paths.BackchannelLogout, nil))
			if w.Code != tc.status {
				t.Errorf("GET %s: %d, want %d", d.Paths.BackchannelLogout, w.Code, tc.status)
			}
		})
	}
	d := newTestDeps(t)
	d.Minter = nil
	if _, err := NewHandler(d); err == nil || !strings.Contains(err.Error(), "Minter") {
		t.Errorf("without a minter: %v, want an error naming it", err)
	}
}

// unclean decides which paths are cleaned before the prefix check: it must
// find every "/." and "//" there is.
func FuzzUnclean(f *testing.F) {
	for _, p := range []string{"", "/", "//", "/.", "/a/b", "/a/./b", "/a//b", "a/", "/_lcw/../x", "/x/", "/.well-known"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got, want := unclean(p), strings.Contains(p, "/.") || strings.Contains(p, "//"); got != want {
			t.Fatalf("unclean(%q) = %v, want %v", p, got, want)
		}
	})
}
