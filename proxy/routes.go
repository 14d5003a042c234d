package proxy

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"path"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/access"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/inject"
)

// Deps are the handler tree's dependencies. A nil handler leaves its route
// unregistered (404).
type Deps struct {
	Prefix    string
	Logger    *slog.Logger
	Metrics   *metrics.Metrics // request counters; nil disables them
	AccessLog bool

	// Sign-in (auth/login); Silent is the prompt=none round trip.
	Login, Callback, Logout, Silent http.Handler
	// BackchannelLogout is called by the IdP (auth/login); nil unless the
	// session store is server-side.
	BackchannelLogout http.Handler
	// Chat token and keys (auth/token).
	Token, PublicKeyPEM, PublicKeys, JWKS, Session http.Handler
	// Bootstrap script and its error reports (proxy/bootstrap).
	Bootstrap, ClientEvents http.Handler
	// ForwardAuth answers an ingress's auth subrequests (access.ForwardAuth).
	ForwardAuth http.Handler

	// Identify loads the visitor's session and puts the access verdict in
	// the request context (access.Policy.Identify).
	Identify func(http.Handler) http.Handler
	// Policy guards upstream traffic; it reads the verdict.
	Policy *access.Policy
	// IdentityHeaders sets the identity headers for an authorized visitor
	// on the upstream request; nil when headers.pass is off.
	IdentityHeaders func(dst http.Header, s *session.Session)
	// Injector adds the bootstrap to pages; nil when inject.enabled is off.
	Injector *inject.Injector
	// Upstream is the reverse proxy's configuration; its hooks are set here.
	// Without a URL (upstream.disabled) there is no upstream: everything
	// outside the prefix is 404.
	Upstream UpstreamOptions
	// Ready lists the readiness checks reported by {prefix}/readyz.
	Ready []Check
	// Tracer, when set, traces every request (a server span, continued from
	// a trusted proxy's traceparent) and the upstream round trip (a client
	// span, traceparent sent on). Nil, tracing is off and neither the
	// middleware nor the transport wrapper exists.
	Tracer trace.TracerProvider
}

// NewHandler builds the handler tree. Every endpoint the proxy serves itself
// is listed here, and so is the chain every other request takes to the
// upstream:
//
//	traceRequests (server span; only when tracing is on)
//	└ observe (access log, metrics)
//	  └ split by prefix ── own endpoints (token and session behind Identify)
//	    └ Identify (session → verdict) → Protect (policy) → ReverseProxy
//	                          Rewrite: hygiene, identity headers, injector's request
//	                          Transport: client span (tracing on), direct or standard
//	                          ModifyResponse: redirects, injector
func NewHandler(d Deps) (http.Handler, error) {
	p := d.Prefix
	identify := orIdentity(d.Identify)
	own := http.NewServeMux()
	handle := func(pattern string, h http.Handler) {
		if h != nil {
			own.Handle(pattern, h)
		}
	}
	handle("GET "+p+"/healthz", healthz())
	handle("GET "+p+"/readyz", readyz(d.Ready))

	handle("GET "+p+"/login", d.Login)
	handle("GET "+p+"/callback", d.Callback)
	handle("GET "+p+"/silent", d.Silent)
	handle("GET "+p+"/logout", d.Logout)
	handle("POST "+p+"/logout", d.Logout)
	// Server to server: no Identify (no cookies), POST only, checked by
	// the handler; the signed logout token is its only authority.
	handle(p+"/backchannel-logout", d.BackchannelLogout)

	if d.Token != nil {
		handle(p+"/token", identify(d.Token)) // the handler answers 405 for other methods
	}
	if d.Session != nil {
		handle("GET "+p+"/session", identify(d.Session))
	}
	handle("GET "+p+"/public-key.pem", d.PublicKeyPEM)
	handle("GET "+p+"/public-keys", d.PublicKeys)
	handle("GET "+p+"/jwks.json", d.JWKS)

	if d.ForwardAuth != nil {
		handle("GET "+p+"/auth", identify(d.ForwardAuth))
		handle("GET "+p+"/auth/", identify(d.ForwardAuth)) // Envoy ext_authz appends the original path
	}

	handle("GET "+p+"/bootstrap.js", d.Bootstrap)
	handle(p+"/client-events", d.ClientEvents) // POST only, checked by the handler

	own.Handle(p+"/", http.NotFoundHandler()) // the prefix never reaches the upstream

	if d.Upstream.URL == nil {
		return d.outermost(splitByPrefix(p, own, http.NotFoundHandler())), nil
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
	var upstream http.Handler = rev
	if d.Policy != nil {
		upstream = d.Policy.Protect(d.Logger, upstream)
	}
	upstream = identify(upstream)
	return d.outermost(splitByPrefix(p, own, upstream)), nil
}

// outermost wraps the whole tree in what sees every request: the access
// log and metrics, and outside them the server span, so that it covers
// everything the proxy does. The trusted proxies are upstream's, which are
// the config's trusted_proxies whether or not there is an upstream.
func (d Deps) outermost(h http.Handler) http.Handler {
	h = observe(d.Logger, newRequestMetrics(d.Metrics, d.Prefix), d.AccessLog, h)
	if d.Tracer != nil {
		h = traceRequests(d.Tracer, d.Prefix, d.Upstream.TrustedProxies, h)
	}
	return h
}

func orIdentity(mw func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	if mw == nil {
		return func(h http.Handler) http.Handler { return h }
	}
	return mw
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
	if strings.Contains(p, "/.") || strings.Contains(p, "//") {
		p = path.Clean(p)
	}
	return strings.HasPrefix(p, prefix) && (len(p) == len(prefix) || p[len(prefix)] == '/')
}
