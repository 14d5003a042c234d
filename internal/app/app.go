// Package app wires the proxy's parts together from a validated config. Both
// the production binary and the demo run the proxy through it, so they share
// every code path.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/access"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/login"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/token"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/bootstrap"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/inject"
)

// NewLogger builds the structured logger the config asks for.
func NewLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	if cfg.AccessLog {
		// Access-log lines go to w through a buffer of their own.
		h = proxy.WithAccessLog(h, w, cfg.Format)
	}
	return slog.New(h)
}

// App is a configured proxy ready to serve.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	metrics *metrics.Metrics
	rp      *login.RP
	keys    *keys.Set
	handler http.Handler
}

// New builds every part of the proxy. It fails only on problems waiting
// cannot fix (bad keys, unreadable files); an unreachable IdP is retried in
// the background once Run starts.
func New(cfg *config.Config, log *slog.Logger) (*App, error) {
	m := metrics.New()
	rp, err := login.New(cfg, log, m)
	if err != nil {
		return nil, fmt.Errorf("set up sign-in: %w", err)
	}
	ks, err := keys.Load(cfg.Token.SigningKeys, keys.Options{Grace: cfg.Token.RetiredKeyGrace.D(), Logger: log, Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	minter := token.NewMinter(cfg.Token, ks, claims.NewMapper(cfg.Token.LWIContexts), token.EnricherFromConfig(cfg.Token), m, log)
	policy := access.NewPolicy(cfg.Access, cfg.Prefix)
	// signedIn is the user as everything downstream of the access check sees
	// them: a session that also passes the authorization rules.
	signedIn := func(r *http.Request) (*session.Session, bool) {
		s, ok := login.FromContext(r.Context())
		if !ok || policy.Authorize(s) != nil {
			return nil, false
		}
		return s, true
	}
	// Chat tokens take claims from the verified session only; nothing the
	// browser sends reaches them.
	who := func(r *http.Request) (token.Identity, bool) {
		s, ok := signedIn(r)
		if !ok {
			return token.Identity{}, false
		}
		return token.Identity{Claims: s.Claims, SessionExpiry: s.Expiry}, true
	}
	identity := access.IdentityHeaders(cfg.Headers)
	origin := cfg.Public.String()
	// bootstrap.js is served even with injection off, for sites that add
	// the script tag themselves.
	boot := bootstrap.New(bootstrap.Options{
		Prefix:            cfg.Prefix,
		ClientFunction:    cfg.Inject.ClientFunction,
		OnUnauthenticated: cfg.Inject.OnUnauthenticated,
		PublicOrigin:      origin,
		Metrics:           m,
	})
	var inj *inject.Injector
	if cfg.Inject.Enabled {
		inj = inject.New(inject.Options{
			Prefix:           cfg.Prefix,
			BootstrapVersion: boot.Version(),
			Widget:           cfg.Inject.Widget,
			AllowWidgetCSP:   cfg.Inject.CSP.AllowWidget,
			PublicOrigin:     origin,
			ExcludePaths:     cfg.Inject.ExcludePaths,
			SignedInOnly:     cfg.Inject.SignedInOnly,
			Metrics:          m,
			Logger:           log,
		})
	}
	opts := proxy.ReverseProxyOptions{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if identity != nil {
				if s, ok := signedIn(pr.In); ok {
					identity(pr.Out, s)
				}
			}
			if inj != nil {
				inj.PrepareRequest(pr.Out)
			}
		},
	}
	if inj != nil {
		opts.ModifyResponse = inj.ModifyResponse
	}
	rev, err := proxy.NewReverseProxy(cfg, log, opts)
	if err != nil {
		return nil, fmt.Errorf("build reverse proxy: %w", err)
	}
	deps := proxy.Deps{
		Config:       cfg,
		Logger:       log,
		Metrics:      m,
		Login:        rp.LoginHandler(),
		Callback:     rp.CallbackHandler(),
		Logout:       rp.LogoutHandler(),
		Token:        token.TokenHandler(minter, who, origin),
		Session:      token.SessionHandler(minter, who),
		PublicKeyPEM: token.PublicKeyPEMHandler(ks),
		PublicKeys:   token.PublicKeysHandler(ks),
		JWKS:         token.JWKSHandler(ks),
		WithSession:  rp.WithSession,
		Protect: func(next http.Handler) http.Handler {
			return policy.Protect(func(r *http.Request) (*session.Session, bool) { return login.FromContext(r.Context()) }, log, next)
		},
		Bootstrap:    boot.ScriptHandler(),
		ClientEvents: boot.ClientEventsHandler(),
		Upstream:     rev,
		Ready: []proxy.Check{
			{Name: "oidc_discovery", Check: rp.Ready},
			{Name: "signing_keys", Check: func() error {
				if _, k := ks.Signer(); k == nil {
					return errors.New("no signing key loaded")
				}
				return nil
			}},
			// The upstream is part of the validated config; the proxy does
			// not probe it, so a slow upstream never takes the pod out.
			{Name: "upstream_configured", Check: func() error { return nil }},
		},
	}
	if cfg.Inject.Enabled && cfg.Inject.SignedInOnly {
		deps.Upstream = markSignedIn(signedIn, rev)
	}
	h := proxy.NewHandler(deps)
	return &App{cfg: cfg, log: log, metrics: m, rp: rp, keys: ks, handler: h}, nil
}

// markSignedIn tells the injector whether the visitor is signed in (for
// inject.signed_in_only).
func markSignedIn(signedIn func(*http.Request) (*session.Session, bool), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := signedIn(r); ok {
			r = r.WithContext(inject.WithSignedIn(r.Context(), true))
		}
		next.ServeHTTP(w, r)
	})
}

// Handler is the proxy's whole handler tree (for tests and the demo).
func (a *App) Handler() http.Handler { return a.handler }

// Start begins the background work (IdP discovery, key reloads) that Run
// also starts; tests that serve Handler themselves call it.
func (a *App) Start(ctx context.Context) {
	a.rp.Start(ctx)
	go a.keys.Run(ctx, a.cfg.Token.KeyCheckInterval.D())
}

// Run serves on the configured addresses until ctx is done and then shuts
// down gracefully.
func (a *App) Run(ctx context.Context) error { return a.RunOn(ctx, nil) }

// RunOn is Run with the proxy's listener already open (nil: listen on
// cfg.Listen).
func (a *App) RunOn(ctx context.Context, ln net.Listener) error {
	a.Start(ctx)
	ls := []proxy.Listener{{Name: "proxy", Addr: a.cfg.Listen, Handler: a.handler, Ln: ln, TLS: a.cfg.Server.TLSCertFile != ""}}
	if a.cfg.MetricsListen != "" {
		ls = append(ls, proxy.Listener{Name: "metrics", Addr: a.cfg.MetricsListen, Handler: a.metricsHandler()})
	}
	return proxy.Serve(ctx, a.cfg, a.log, ls...)
}

func (a *App) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	return mux
}
