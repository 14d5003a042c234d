package proxy

import (
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

// Deps are the handler tree's dependencies. A nil handler leaves its route
// unregistered (404).
type Deps struct {
	Config  *config.Config
	Logger  *slog.Logger
	Metrics *metrics.Metrics // request counters; nil disables them

	// Sign-in (auth/login).
	Login, Callback, Logout http.Handler
	// Chat token and keys (auth/token).
	Token, PublicKeyPEM, PublicKeys, JWKS, Session http.Handler
	// Bootstrap script and its error reports (proxy/bootstrap).
	Bootstrap, ClientEvents http.Handler

	// WithSession loads the visitor's session into the request context.
	WithSession func(http.Handler) http.Handler
	// Protect applies the access policy to upstream traffic.
	Protect func(http.Handler) http.Handler
	// Upstream serves every request that is not the proxy's own.
	Upstream http.Handler
	// Ready lists the readiness checks reported by {prefix}/readyz.
	Ready []Check
}

// NewHandler builds the handler tree. Every endpoint the proxy serves itself
// is listed here; everything outside the prefix goes to the upstream.
func NewHandler(d Deps) http.Handler {
	p := d.Config.Prefix
	withSession := orIdentity(d.WithSession)
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
	handle("GET "+p+"/logout", d.Logout)
	handle("POST "+p+"/logout", d.Logout)

	if d.Token != nil {
		handle(p+"/token", withSession(d.Token)) // the handler answers 405 for other methods
	}
	if d.Session != nil {
		handle("GET "+p+"/session", withSession(d.Session))
	}
	handle("GET "+p+"/public-key.pem", d.PublicKeyPEM)
	handle("GET "+p+"/public-keys", d.PublicKeys)
	handle("GET "+p+"/jwks.json", d.JWKS)

	handle("GET "+p+"/bootstrap.js", d.Bootstrap)
	handle(p+"/client-events", d.ClientEvents) // POST only, checked by the handler

	own.Handle(p+"/", http.NotFoundHandler()) // the prefix never reaches the upstream

	upstream := withSession(orIdentity(d.Protect)(d.Upstream))
	return observe(d.Logger, newRequestMetrics(d.Metrics, p), d.Config.Log.AccessLog, splitByPrefix(p, own, upstream))
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
