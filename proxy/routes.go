package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"path"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/access"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/login"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/token"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/health"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/bootstrap"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/inject"
)

// Deps are what the handler tree is made from: the parts cmd/internal/app
// builds, each once, and the settings the routes read. The endpoints' handlers
// are made from them here, in routes. RP, Minter, Keys, Bootstrap and Policy
// are required; the optional parts leave their routes or steps out.
type Deps struct {
	// Paths are the endpoints, provisioned from the prefix.
	Paths     config.Paths
	Logger    *slog.Logger
	Metrics   *metrics.Metrics // request counters; nil disables them
	AccessLog bool
	// Tracer, when set, traces every request (a server span, continued from
	// a trusted proxy's traceparent) and the upstream round trip (a client
	// span, traceparent sent on). Nil, tracing is off and neither the
	// middleware nor the transport wrapper exists.
	Tracer trace.TracerProvider

	// Health, when set, is the shared dependencies' monitor that
	// {prefix}/readyz?verbose shows (the caller runs it).
	Health *health.Monitor

	// RP is the OIDC relying party: sign-in, callback, silent sign-in,
	// logout, the back-channel logout, and the session Identify starts
	// from.
	RP *login.RP
	// Store keeps the sessions. A server-side store, with BackchannelLogout set, ends sessions when the IdP
	// calls {prefix}/backchannel-logout (login.BackchannelStore); the
	// cookie store has nothing to end, so that route then stays
	// unregistered (404).
	Store             session.Store
	BackchannelLogout bool
	// FrontchannelLogout serves {prefix}/frontchannel-logout, which the
	// IdP loads in an iframe: with either store (login.FrontchannelStore
	// or the cookie the browser sends).
	FrontchannelLogout bool
	// Minter mints the chat token at {prefix}/token and shows what it would
	// carry at {prefix}/session, both with Token's options.
	Minter *token.Minter
	Token  token.HandlerOptions
	// Keys are the signing keys: the key documents publish them, readiness
	// wants one loaded.
	Keys *keys.Set
	// Bootstrap is the script and its client-events endpoint, served even
	// with injection off, for sites that add the script tag themselves.
	Bootstrap *bootstrap.Bootstrap
	// Policy decides each request's verdict (Identify, in front of the
	// token, session and forward-auth endpoints and the upstream), guards
	// the upstream (Protect) and answers forward auth.
	Policy *access.Policy
	// IdentityHeaders sets the identity headers for an authorized visitor,
	// on the upstream request and on forward auth's answer; nil when
	// headers.pass is off.
	IdentityHeaders func(dst http.Header, s *session.Session)
	// Injector adds the bootstrap to pages; nil when inject.enabled is off.
	Injector *inject.Injector
	// Upstream is the reverse proxy's configuration; its hooks are set here.
	// Without a URL (upstream.disabled) there is no upstream: everything
	// outside the prefix is 404. Its TrustedProxies are also the ingresses
	// forward auth believes and the proxies whose traceparent is continued.
	Upstream UpstreamOptions
}

// route is one endpoint the proxy serves itself.
type route struct {
	// method goes into the mux pattern (GET also takes HEAD): no other
	// method reaches the handler, and the prefix's catch-all answers it
	// 404. Empty: every method reaches the handler, which answers 405
	// itself.
	method string
	path   string // from config.Paths
	// h is nil when its part is off: the route is left unregistered (404),
	// but keeps its name in metrics.
	h http.Handler
	// identify puts the handler behind Identify: it reads the verdict.
	identify bool
	// subtree also routes path + "/…" here.
	subtree bool
}

// routes is every endpoint the proxy serves itself, one line each: its
// method and path, the handler made from the parts, and whether the verdict
// comes first. A route's name in metrics (and lcw.route in spans) is its
// path after the prefix (routeNames), its span name "{method} {path}", so a
// new endpoint is a handler in its package and one line here.
func (d Deps) routes() []route {
	p, rp, ks := d.Paths, d.RP, d.Keys
	return []route{
		{method: "GET", path: p.Healthz, h: healthz()},
		{method: "GET", path: p.Readyz, h: readyz(d.readyChecks(), d.Health)},

		{method: "GET", path: p.Login, h: rp.LoginHandler()},
		{method: "GET", path: p.Callback, h: rp.CallbackHandler()},
		{method: "GET", path: p.Silent, h: rp.SilentHandler()},
		{method: "GET", path: p.Logout, h: rp.LogoutHandler()},
		{method: "POST", path: p.Logout, h: rp.LogoutHandler()},
		// Server to server: no Identify (no cookies), POST only, checked by
		// the handler; the signed logout token is its only authority.
		{path: p.BackchannelLogout, h: d.backchannelLogout()},
		// In the IdP's iframe: no Identify (the handler reads the store
		// itself), GET only, checked by the handler (a HEAD ends nothing).
		{path: p.FrontchannelLogout, h: d.frontchannelLogout()},

		// Any method reaches the token handler, which answers 405 itself.
		{path: p.Token, h: token.TokenHandler(d.Minter, tokenIdentity, d.Token), identify: true},
		{method: "GET", path: p.Session, h: token.SessionHandler(d.Minter, tokenIdentity, d.Token), identify: true},
		{method: "GET", path: p.PublicKeyPEM, h: token.PublicKeyPEMHandler(ks)},
		{method: "GET", path: p.PublicKeys, h: token.PublicKeysHandler(ks)},
		{method: "GET", path: p.JWKS, h: token.JWKSHandler(ks)},

		// Envoy's ext_authz appends the original path: the subtree.
		{method: "GET", path: p.Auth, h: d.forwardAuth(), identify: true, subtree: true},

		{method: "GET", path: p.Bootstrap, h: d.Bootstrap.ScriptHandler()},
		{path: p.ClientEvents, h: d.Bootstrap.ClientEventsHandler()}, // POST only, checked by the handler
	}
}

// backchannelLogout is the IdP's back-channel logout, when there are
// server-side sessions to end and session.backchannel_logout is on.
func (d Deps) backchannelLogout() http.Handler {
	srv, ok := d.Store.(login.BackchannelStore)
	if !ok || !d.BackchannelLogout {
		return nil
	}
	return d.RP.BackchannelLogoutHandler(srv)
}

// frontchannelLogout is the IdP's front-channel logout, unless
// session.frontchannel_logout.enabled is off.
func (d Deps) frontchannelLogout() http.Handler {
	if !d.FrontchannelLogout {
		return nil
	}
	return d.RP.FrontchannelLogoutHandler()
}

// forwardAuth answers an ingress's auth subrequests from the verdict.
func (d Deps) forwardAuth() http.Handler {
	return d.Policy.ForwardAuth(access.ForwardAuthOptions{
		Path: d.Paths.Auth, TrustedProxies: d.Upstream.TrustedProxies, IdentityHeaders: d.IdentityHeaders, Logger: d.Logger,
	})
}

// readyChecks are what {prefix}/readyz decides on: what this process
// needs to serve. The configuration is loaded and the listener answers, or
// readyz could not be asked; a signing key must be loaded. Never a shared
// dependency (the IdP, Redis): those are Health's.
func (d Deps) readyChecks() []Check {
	return []Check{
		{Name: "signing_keys", Check: func() error {
			if _, k := d.Keys.Signer(); k == nil {
				return errors.New("no signing key loaded")
			}
			return nil
		}},
	}
}

// check reports a missing required part: its routes could not answer.
func (d Deps) check() error {
	var missing []string
	for _, part := range []struct {
		name   string
		absent bool
	}{
		{"Paths", d.Paths.Prefix == ""}, {"Logger", d.Logger == nil}, {"RP", d.RP == nil}, {"Minter", d.Minter == nil},
		{"Keys", d.Keys == nil}, {"Bootstrap", d.Bootstrap == nil}, {"Policy", d.Policy == nil},
	} {
		if part.absent {
			missing = append(missing, part.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("proxy: parts missing: %s", strings.Join(missing, ", "))
	}
	return nil
}

// NewHandler builds the handler tree. Every endpoint the proxy serves itself
// is listed in routes, and the chain every other request takes to the
// upstream is here:
//
//	traceRequests (server span; only when tracing is on)
//	└ observe (access log, metrics)
//	  └ split by prefix ── own endpoints (routes; token, session and auth behind Identify)
//	    └ Identify (session → verdict) → Protect (policy) → ReverseProxy
//	                          Rewrite: hygiene, identity headers, injector's request
//	                          Transport: client span (tracing on), direct or standard
//	                          ModifyResponse: redirects, injector
func NewHandler(d Deps) (http.Handler, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	identify := d.Policy.Identify(d.RP.Session)
	routes := d.routes()
	names := newRouteNames(d.Paths.Prefix, routes)
	own := http.NewServeMux()
	for _, rt := range routes {
		if rt.h == nil {
			continue
		}
		h := rt.h
		if rt.identify {
			h = identify(h)
		}
		pattern := strings.TrimSpace(rt.method + " " + rt.path)
		own.Handle(pattern, h)
		if rt.subtree {
			own.Handle(pattern+"/", h)
		}
	}
	own.Handle(d.Paths.Prefix+"/", http.NotFoundHandler()) // the prefix never reaches the upstream

	if d.Upstream.URL == nil {
		return d.outermost(names, splitByPrefix(d.Paths.Prefix, own, http.NotFoundHandler())), nil
	}
	up := d.Upstream
	up.Tracer = d.Tracer
	up.Rewrite = func(pr *httputil.ProxyRequest) {
		if d.IdentityHeaders != nil {
			if s, ok := access.VisitorFrom(pr.In.Context()).User(); ok {
				d.IdentityHeaders(pr.Out.Header, s)
			}
		}
		if d.Injector != nil {
			d.Injector.PrepareRequest(pr.Out)
		}
	}
	if d.Injector != nil {
		up.ModifyResponse = d.Injector.ModifyResponse
	}
	rev, err := NewReverseProxy(up)
	if err != nil {
		return nil, fmt.Errorf("build reverse proxy: %w", err)
	}
	upstream := identify(d.Policy.Protect(d.Logger, rev))
	return d.outermost(names, splitByPrefix(d.Paths.Prefix, own, upstream)), nil
}

// outermost wraps the whole tree in what sees every request: the access
// log and metrics, and outside them the server span, so that it covers
// everything the proxy does. The trusted proxies are upstream's, which are
// the config's trusted_proxies whether or not there is an upstream.
func (d Deps) outermost(names *routeNames, h http.Handler) http.Handler {
	h = observe(observeOptions{
		Log: d.Logger, Metrics: newRequestMetrics(d.Metrics, names), Names: names, AccessLog: d.AccessLog,
		TrustedProxies: d.Upstream.TrustedProxies, Tracing: d.Tracer != nil,
	}, h)
	if d.Tracer != nil {
		h = traceRequests(d.Tracer, names, d.Upstream.TrustedProxies, h)
	}
	return h
}

// routeNames names a request's route for metrics and spans: an endpoint's
// path after the prefix ("token", "public-key.pem"), "own_other" for
// anything else under the prefix, "upstream" for the rest. The set is
// fixed when the tree is built, so label cardinality stays fixed.
type routeNames struct {
	prefix string
	byPath map[string]string // the endpoint's path → its name
	names  []string          // every name, in the routes' order, once
	paths  map[string]string // name → path, for the span's http.route
}

func newRouteNames(prefix string, routes []route) *routeNames {
	n := &routeNames{prefix: prefix, byPath: map[string]string{}, paths: map[string]string{}}
	for _, rt := range routes {
		if _, seen := n.byPath[rt.path]; seen {
			continue
		}
		name := strings.TrimPrefix(rt.path, prefix+"/")
		n.byPath[rt.path] = name
		n.paths[name] = rt.path
		n.names = append(n.names, name)
	}
	return n
}

// of names the route of path p. Only a path that needs cleaning is
// copied; the lookups do not allocate.
func (n *routeNames) of(p string) string {
	if !underPrefix(p, n.prefix) {
		return "upstream"
	}
	if name, ok := n.byPath[path.Clean(p)]; ok {
		return name
	}
	return "own_other"
}

// splitByPrefix sends requests for the proxy's own endpoints to own and the
// rest to upstream. The decision uses the cleaned path so that /x/../_lcw/…
// cannot slip past it in either direction.
func splitByPrefix(prefix string, own, upstream http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if underPrefix(r.URL.Path, prefix) {
			own.ServeHTTP(w, r)
			return
		}
		upstream.ServeHTTP(w, r)
	})
}

func underPrefix(p, prefix string) bool {
	// Only unclean paths need cleaning; nearly all traffic skips it.
	if unclean(p) {
		p = path.Clean(p)
	}
	return strings.HasPrefix(p, prefix) && (len(p) == len(prefix) || p[len(prefix)] == '/')
}

// unclean reports whether p has "/." or "//" (a path path.Clean may
// change), looking at each slash once.
func unclean(p string) bool {
	for {
		i := strings.IndexByte(p, '/')
		if i < 0 || i+1 >= len(p) {
			return false
		}
		if c := p[i+1]; c == '.' || c == '/' {
			return true
		}
		p = p[i+1:]
	}
}
