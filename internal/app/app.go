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

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/access"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/login"
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
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
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
// the background once Run starts. The request path itself is laid out in
// proxy/routes.go.
func New(cfg *config.Config, log *slog.Logger) (*App, error) {
	m := metrics.New()
	origin := cfg.Public.String()
	rp, err := login.New(login.Options{
		OIDC: cfg.OIDC, Session: cfg.Session, Prefix: cfg.Prefix, PublicOrigin: origin,
		Logger: log, Metrics: m,
	})
	if err != nil {
		return nil, fmt.Errorf("set up sign-in: %w", err)
	}
	ks, err := keys.Load(cfg.Token.SigningKeys, keys.Options{Grace: cfg.Token.RetiredKeyGrace.D(), Logger: log, Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("token.signing_keys: %w", err)
	}
	minter := token.NewMinter(token.MinterOptions{
		Token: cfg.Token, Keys: ks, Enricher: token.EnricherFromConfig(cfg.Token), Metrics: m, Logger: log,
	})
	policy := access.NewPolicy(cfg.Access, cfg.Prefix)
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
		opts := inject.Options{
			Prefix:           cfg.Prefix,
			BootstrapVersion: boot.Version(),
			Widget:           cfg.Inject.Widget,
			AllowWidgetCSP:   cfg.Inject.CSP.AllowWidget,
			PublicOrigin:     origin,
			ExcludePaths:     cfg.Inject.ExcludePaths,
			Metrics:          m,
			Logger:           log,
		}
		if cfg.Inject.SignedInOnly {
			opts.SignedIn = access.Authorized
		}
		inj = inject.New(opts)
	}
	tokenOpts := token.HandlerOptions{PublicOrigin: origin, Metrics: m, Logger: log}
	h, err := proxy.NewHandler(proxy.Deps{
		Prefix:          cfg.Prefix,
		Logger:          log,
		Metrics:         m,
		AccessLog:       cfg.Log.AccessLog,
		Login:           rp.LoginHandler(),
		Callback:        rp.CallbackHandler(),
		Logout:          rp.LogoutHandler(),
		Token:           token.TokenHandler(minter, identity, tokenOpts),
		Session:         token.SessionHandler(minter, identity, tokenOpts),
		PublicKeyPEM:    token.PublicKeyPEMHandler(ks),
		PublicKeys:      token.PublicKeysHandler(ks),
		JWKS:            token.JWKSHandler(ks),
		Bootstrap:       boot.ScriptHandler(),
		ClientEvents:    boot.ClientEventsHandler(),
		Identify:        policy.Identify(rp.Session),
		Policy:          policy,
		IdentityHeaders: access.IdentityHeaders(cfg.Headers, cfg.Access.GroupsClaim),
		Injector:        inj,
		Upstream: proxy.UpstreamOptions{
			URL: cfg.UpstreamURL, Upstream: cfg.Upstream, Public: cfg.Public,
			TrustedProxies: cfg.TrustedProxyNets, CookieName: cfg.Session.CookieName,
			Headers: cfg.Headers, Logger: log,
		},
		Ready: []proxy.Check{
			{Name: "oidc_discovery", Check: rp.Ready},
			{Name: "signing_keys", Check: func() error {
				if _, k := ks.Signer(); k == nil {
					return errors.New("no signing key loaded")
				}
				return nil
			}},
		},
	})
	if err != nil {
		return nil, err
	}
	return &App{cfg: cfg, log: log, metrics: m, rp: rp, keys: ks, handler: h}, nil
}

// identity is what the chat token may carry: the verified claims of an
// authorized visitor, never anything the browser sent.
func identity(r *http.Request) (token.Identity, bool) {
	s, ok := access.VisitorFrom(r.Context()).User()
	if !ok {
		return token.Identity{}, false
	}
	return token.Identity{Claims: s.Claims, SessionExpiry: s.Expiry}, true
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
	return proxy.Serve(ctx, proxy.ServeOptions{Server: a.cfg.Server, ShutdownTimeout: a.cfg.ShutdownTimeout.D(), Logger: a.log}, ls...)
}

func (a *App) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	return mux
}
