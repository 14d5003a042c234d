// Package app wires the proxy's parts together from a validated config. Both
// the production binary and the demo run the proxy through it, so they share
// every code path.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/access"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/contact"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/login"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/token"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/cmd/internal/tracing"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/health"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/ratelimit"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/bootstrap"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/inject"
)

// NewLogger builds the structured logger the config asks for
// (proxy.NewLogHandler).
func NewLogger(cfg config.Log, w io.Writer) *slog.Logger {
	return slog.New(proxy.NewLogHandler(cfg, w))
}

// App is a configured proxy ready to serve.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	metrics *metrics.Metrics
	rp      *login.RP
	keys    *keys.Set
	handler http.Handler
	store   session.Store
	// closeStore releases the session store's connection, if any.
	closeStore func()
	// tracing is the tracer provider New built from the config, flushed and
	// shut down after the servers drained; nil when tracing is off or the
	// caller brought its own (Options.Tracer).
	tracing *sdktrace.TracerProvider
	// health probes the shared dependencies (Start runs it).
	health *health.Monitor
}

// Options are what New takes besides the configuration.
type Options struct {
	// Version is the service.version of spans.
	Version string
	// Tracer replaces the tracer provider that tracing.* and the OTEL_*
	// environment would build (tests bring one with an in-memory
	// exporter); its owner shuts it down. Nil: built from the config when
	// tracing is on; none at all when it is off.
	Tracer trace.TracerProvider
	// ProbeInterval is how often the shared dependencies are probed
	// (health.DefaultInterval when zero; tests shorten it).
	ProbeInterval time.Duration
}

// New builds every part of the proxy with default Options.
func New(cfg *config.Config, log *slog.Logger) (*App, error) {
	return NewWithOptions(cfg, log, Options{})
}

// NewWithOptions builds every part of the proxy. It fails only on problems
// waiting cannot fix (bad keys, unreadable files); an unreachable IdP is
// retried in the background once Run starts. The request path itself is
// laid out in proxy/routes.go.
func NewWithOptions(cfg *config.Config, log *slog.Logger, o Options) (_ *App, err error) {
	// tp stays a nil interface when tracing is off: every part then skips
	// its spans with one comparison, and the handler tree has no tracing
	// middleware or transport wrapper at all. A no-op provider would still
	// cost a context per span.
	tp := o.Tracer
	var owned *sdktrace.TracerProvider
	if tp == nil && cfg.Tracing.Export.On {
		if owned, err = tracing.New(context.Background(), cfg.Tracing.Export, o.Version, log); err != nil {
			return nil, err
		}
		tp = owned
		defer func() {
			if err != nil {
				_ = owned.Shutdown(context.Background()) // nothing was traced yet
			}
		}()
	}
	m := metrics.New()
	m.RecordBuild(o.Version)
	origin := cfg.Public.String()
	codec, err := session.NewCodec(cfg.Session.Keys)
	if err != nil {
		return nil, fmt.Errorf("session keys: %w", err)
	}
	store, closeStore, err := session.New(cfg.Session, codec, session.Options{
		Observe: m.ObserveStore, Tracer: tp, Logger: log, CacheRefused: m.StoreCacheRefused.Inc, LogoutPath: cfg.Paths.Logout,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			closeStore()
		}
	}()
	loginOpts := login.Options{
		OIDC: cfg.OIDC, Session: cfg.Session, Claims: claims.Needed(cfg), Store: store, Codec: codec, Paths: cfg.Paths, PublicOrigin: origin,
		Logger: log, LogEmail: cfg.Log.Email, Metrics: m, Tracer: tp,
	}
	if cfg.Token.Contact.Enabled() {
		linker, err := contact.New(contact.Options{
			Contact: cfg.Token.Contact, AllowUnverifiedEmail: cfg.OIDC.AllowUnverifiedEmail,
			Tracer: tp, Logger: log, Metrics: m,
		})
		if err != nil {
			return nil, fmt.Errorf("token.contact: %w", err)
		}
		loginOpts.Contact = linker
	}
	rp, err := login.New(loginOpts)
	if err != nil {
		return nil, fmt.Errorf("set up sign-in: %w", err)
	}
	deps := health.New(health.Options{
		Dependencies: dependencies(rp, store), Interval: o.ProbeInterval, Report: m.SetDependency, Logger: log,
	})
	ks, err := keys.Load(cfg.Token.SigningKeys, keys.Options{Grace: cfg.Token.RetiredKeyGrace.D(), Logger: log, Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("token.signing_keys: %w", err)
	}
	minter := token.NewMinter(token.MinterOptions{
		Token: cfg.Token, Keys: ks, Enricher: token.EnricherFromConfig(cfg.Token, tp), Metrics: m, Logger: log, Tracer: tp,
	})
	tokenOpts := token.HandlerOptions{PublicOrigin: origin, SessionPath: cfg.Paths.Session, Metrics: m, Logger: log}
	if cfg.Token.RateLimit > 0 {
		tokenOpts.Limit = ratelimit.New(ratelimit.Options{PerMinute: cfg.Token.RateLimit, Burst: cfg.Token.RateBurst})
		if rs, ok := store.(budgets); ok {
			// One budget per user for all replicas.
			tokenOpts.Shared = rs.Budget(cfg.Token.RateLimit, cfg.Token.RateBurst)
		}
	}
	policy := access.NewPolicy(cfg.Access, cfg.Paths)
	if cfg.Access.SilentSignIn {
		policy.WithSilentSignIn(access.Silent{
			Path: cfg.Paths.Silent, Cookie: rp.SilentCookie(), SkipParam: login.SkipSilentParam, Secure: cfg.Session.Secure,
		})
	}
	boot := bootstrap.New(bootstrap.Options{
		Paths:             cfg.Paths,
		SessionHeader:     token.SessionHeader,
		ClientFunction:    cfg.Inject.ClientFunction,
		OnUnauthenticated: cfg.Inject.OnUnauthenticated,
		PublicOrigin:      origin,
		Metrics:           m,
	})
	var inj *inject.Injector
	if cfg.Inject.Enabled {
		opts := inject.Options{
			Paths:            cfg.Paths,
			BootstrapVersion: boot.Version(),
			Widget:           cfg.Inject.Widget,
			AllowWidgetCSP:   cfg.Inject.CSP.AllowWidget,
			WidgetSources:    cfg.Inject.CSP.Widget,
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
	h, err := proxy.NewHandler(proxy.Deps{
		Paths:              cfg.Paths,
		Logger:             log,
		Metrics:            m,
		AccessLog:          cfg.Log.AccessLog,
		Tracer:             tp,
		Health:             deps,
		RP:                 rp,
		Store:              store,
		BackchannelLogout:  cfg.Session.BackchannelLogout == nil || *cfg.Session.BackchannelLogout,
		FrontchannelLogout: !cfg.Session.FrontchannelLogout.Off(),
		Minter:             minter,
		Token:              tokenOpts,
		Keys:               ks,
		Bootstrap:          boot,
		Policy:             policy,
		IdentityHeaders:    access.IdentityHeaders(cfg.Headers, cfg.Access.GroupsClaim),
		Injector:           inj,
		Upstream: proxy.UpstreamOptions{
			URL: cfg.UpstreamURL, Upstream: cfg.Upstream, Public: cfg.Public,
			TrustedProxies: cfg.TrustedProxyNets, CookieName: cfg.Session.CookieName,
			Headers: cfg.Headers, Logger: log,
		},
	})
	if err != nil {
		return nil, err
	}
	return &App{cfg: cfg, log: log, metrics: m, rp: rp, keys: ks, handler: h, store: store, closeStore: closeStore, tracing: owned, health: deps}, nil
}

// dependencies are the shared services whose state lcw_dependency_up and
// {prefix}/readyz?verbose report: the IdP, and Redis with a server-side
// store. None of them is part of readiness.
func dependencies(rp *login.RP, store session.Store) []health.Dependency {
	deps := []health.Dependency{{Name: "idp", Probe: rp.Probe}}
	if p, ok := store.(pinger); ok {
		deps = append(deps, health.Dependency{Name: "redis", Probe: p.Ping})
	}
	return deps
}

// pinger is a session store with a server to reach (the Redis store).
type pinger interface {
	Ping(ctx context.Context) error
}

// budgets is a session store that keeps token budgets every replica
// shares (the Redis store).
type budgets interface {
	Budget(perMinute, burst int) *session.RedisBudget
}

// Close releases the session store's connection, if any, and flushes and
// stops the tracer provider New built.
func (a *App) Close() {
	a.closeStore()
	a.flushTraces()
}

// flushTraces sends the spans still queued and stops the exporter. It runs
// once the servers have drained, so the last requests' spans are in the
// queue; the receiver gets a bounded time, as shutdown itself does.
func (a *App) flushTraces() {
	if a.tracing == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout.D())
	defer cancel()
	if err := a.tracing.Shutdown(ctx); err != nil {
		a.log.Warn("tracing: spans not flushed at shutdown", slog.String("error", err.Error()))
	}
}

// Handler is the proxy's whole handler tree (for tests and the demo).
func (a *App) Handler() http.Handler { return a.handler }

// Metrics are the collectors the parts count into (for tests).
func (a *App) Metrics() *metrics.Metrics { return a.metrics }

// Store is the session store session.store names (for tests).
func (a *App) Store() session.Store { return a.store }

// Keys is the signing key set (for tests).
func (a *App) Keys() *keys.Set { return a.keys }

// Ready is nil once the IdP's discovery document and keys are loaded
// (sign-in can work); it is not the proxy's readiness, which no shared
// dependency decides.
func (a *App) Ready() error { return a.rp.Ready() }

// Start begins the background work (IdP discovery, key reloads) that Run
// also starts; tests that serve Handler themselves call it.
func (a *App) Start(ctx context.Context) {
	a.rp.Start(ctx)
	go a.health.Run(ctx)
	go a.keys.Run(ctx, a.cfg.Token.KeyCheckInterval.D())
}

// Run serves on the configured addresses until ctx is done and then shuts
// down gracefully.
func (a *App) Run(ctx context.Context) error { return a.RunOn(ctx, nil) }

// RunOn is Run with the proxy's listener already open (nil: listen on
// cfg.Listen).
func (a *App) RunOn(ctx context.Context, ln net.Listener) error {
	a.Start(ctx)
	defer a.Close()
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
