package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// Listener is one address to serve with its handler.
type Listener struct {
	Name    string // "proxy", "metrics"
	Addr    string
	Handler http.Handler
	// Ln, when set, is an already open listener used instead of Addr (the
	// demo opens its port first to learn the address).
	Ln net.Listener
	// TLS, when set, serves HTTPS (and HTTP/2) with server.tls_cert_file.
	TLS bool
}

// ServeOptions are the listeners' limits and the shutdown grace.
type ServeOptions struct {
	// Server is the validated server section (timeouts, limits, TLS files).
	// Every listener gets the same limits: the metrics listener is no less
	// exposed to slow or numerous clients than the proxy's.
	Server          config.Server
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// Serve runs every listener until ctx is done, then shuts them down
// gracefully: in-flight requests, and connections switched to another
// protocol (websockets), get up to o.ShutdownTimeout to finish.
func Serve(ctx context.Context, o ServeOptions, listeners ...Listener) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log, cfg := o.Logger, o.Server
	hj := newHijacks()
	base := withHijacks(context.WithoutCancel(ctx), hj)
	servers := make([]*http.Server, 0, len(listeners))
	errc := make(chan error, len(listeners))
	abort := func(err error) error {
		for _, s := range servers {
			_ = s.Close()
		}
		return err
	}
	for _, l := range listeners {
		ln, err := l.Ln, error(nil)
		if ln == nil {
			ln, err = net.Listen("tcp", l.Addr)
		}
		if err != nil {
			return abort(fmt.Errorf("listen %s on %s: %w", l.Name, l.Addr, err))
		}
		if cfg.MaxConnections > 0 {
			// Beyond the cap, Accept waits for a connection to close: new
			// clients queue in the kernel instead of costing a goroutine,
			// buffers and a file descriptor each.
			ln = netutil.LimitListener(ln, cfg.MaxConnections)
		}
		srv := &http.Server{
			Handler:           l.Handler,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout.D(),
			// The whole request, body included, from its first byte. The
			// server clears it once the body is read, so slow responses
			// (downloads, long polls) are not cut; a handler that expects
			// tiny bodies shortens it (bootstrap's client events).
			ReadTimeout:    cfg.ReadTimeout.D(),
			IdleTimeout:    cfg.IdleTimeout.D(),
			MaxHeaderBytes: cfg.MaxHeaderBytes,
			ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
			BaseContext:    func(net.Listener) context.Context { return base },
		}
		if l.TLS {
			certs, err := newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, log)
			if err != nil {
				_ = ln.Close()
				return abort(err)
			}
			srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}
		}
		servers = append(servers, srv)
		log.Info("listening", slog.String("listener", l.Name), slog.String("addr", ln.Addr().String()), slog.Bool("tls", l.TLS))
		useTLS := l.TLS
		go func() {
			var err error
			if useTLS {
				err = srv.ServeTLS(ln, "", "") // with TLSConfig's certificate; adds HTTP/2
			} else {
				err = srv.Serve(ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", l.Name, err)
			}
		}()
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	log.Info("shutting down", slog.Duration("timeout", o.ShutdownTimeout))
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutCtx); err != nil {
			serveErr = errors.Join(serveErr, fmt.Errorf("graceful shutdown: %w", err))
			_ = s.Close()
		}
	}
	// Shutdown does not wait for hijacked connections (websockets): they
	// get what is left of the same drain timeout.
	if n := hj.wait(shutCtx); n > 0 {
		log.Warn("upgraded connections closed at the drain timeout", slog.Int("connections", n), slog.Duration("timeout", o.ShutdownTimeout))
	}
	// Every drained request has written its access-log line; write out
	// the buffer (WithAccessLog).
	if err := closeAccessLog(log); err != nil {
		log.Warn("access log lines lost", slog.String("error", err.Error()))
	}
	return serveErr
}
