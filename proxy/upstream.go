package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/errorpage"
)

// maxResponseHeaderBytes is http.Transport's default limit, kept for the
// direct path.
const maxResponseHeaderBytes = 10 << 20

// newTransport returns the upstream transport, tuned for a sidecar: a large
// idle pool to one host, no transparent compression (the injector decides
// what to do with encodings) and bounded waits. Plain-http requests without
// a body take the direct path; the rest the standard Transport.
func newTransport(upstream *url.URL, u config.Upstream) (http.RoundTripper, error) {
	dialer := &net.Dialer{Timeout: u.DialTimeout.D(), KeepAlive: 30 * time.Second}
	std, err := newStdTransport(dialer, u)
	if err != nil || upstream.Scheme != "http" || !canPeek {
		return std, err
	}
	return &directTransport{
		host:           upstream.Host,
		addr:           dialAddr(upstream),
		dial:           dialer.DialContext,
		next:           std,
		headerTimeout:  u.Timeout.D(),
		idleTimeout:    u.IdleConnTimeout.D(),
		maxIdle:        u.MaxIdleConnsPerHost,
		maxHeaderBytes: maxResponseHeaderBytes,
	}, nil
}

func dialAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func newStdTransport(dialer *net.Dialer, u config.Upstream) (*http.Transport, error) {
	t := &http.Transport{
		Proxy:                 nil, // a sidecar talks to its upstream directly, never via HTTP_PROXY
		DialContext:           dialer.DialContext,
		MaxIdleConns:          u.MaxIdleConnsPerHost * 2,
		MaxIdleConnsPerHost:   u.MaxIdleConnsPerHost,
		IdleConnTimeout:       u.IdleConnTimeout.D(),
		ResponseHeaderTimeout: u.Timeout.D(),
		TLSHandshakeTimeout:   u.DialTimeout.D(),
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
	if u.CAFile != "" || u.InsecureSkipVerify {
		tc := &tls.Config{InsecureSkipVerify: u.InsecureSkipVerify} //nolint:gosec // explicit opt-in for self-signed upstreams
		if u.CAFile != "" {
			pem, err := os.ReadFile(u.CAFile)
			if err != nil {
				return nil, fmt.Errorf("read upstream.ca_file %s: %w", u.CAFile, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("upstream.ca_file %s holds no PEM certificate", u.CAFile)
			}
			tc.RootCAs = pool
		}
		t.TLSClientConfig = tc
	}
	return t, nil
}

// bufferPool lends ReverseProxy its copy buffers so a busy proxy does not
// allocate 32 KiB per response. It pools array pointers: putting a slice
// back would allocate a new pointer to it each time.
type bufferPool struct{ p sync.Pool }

const copyBufferSize = 32 << 10

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[copyBufferSize]byte)[:] }

func (b *bufferPool) Put(v []byte) {
	if cap(v) >= copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(v[:copyBufferSize]))
	}
}

// ReverseProxyOptions are what the reverse proxy needs beyond the config.
type ReverseProxyOptions struct {
	// ModifyResponse, when set, runs on every upstream response (the injector).
	ModifyResponse func(*http.Response) error
	// Rewrite, when set, runs after the proxy's own rewriting (identity
	// headers, the injector's request preparation).
	Rewrite func(*httputil.ProxyRequest)
}

// ReverseProxy is the httputil.ReverseProxy toward the upstream. Its
// ServeHTTP starts the access log's upstream clock on the request's record,
// which it finds through the ResponseWriter.
type ReverseProxy struct{ *httputil.ReverseProxy }

func (p *ReverseProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rec := recordOf(w); rec != nil {
		rec.upstreamStarts()
	}
	p.ReverseProxy.ServeHTTP(w, r)
}

// NewReverseProxy builds the reverse proxy toward cfg.Upstream with header
// hygiene applied in Rewrite.
func NewReverseProxy(cfg *config.Config, log *slog.Logger, opts ReverseProxyOptions) (*ReverseProxy, error) {
	tr, err := newTransport(cfg.UpstreamURL, cfg.Upstream)
	if err != nil {
		return nil, err
	}
	strip := newHeaderStripper(cfg)
	target := cfg.UpstreamURL
	trusted := cfg.TrustedProxyNets
	preserveHost := cfg.Upstream.PreserveHost
	modify := opts.ModifyResponse
	if cfg.Upstream.RewriteRedirects && cfg.Public != nil {
		rw := newRedirectRewriter(target, cfg.Public)
		modify = func(resp *http.Response) error {
			rw.rewrite(resp.Header)
			if opts.ModifyResponse != nil {
				return opts.ModifyResponse(resp)
			}
			return nil
		}
	}
	return &ReverseProxy{&httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			if preserveHost {
				pr.Out.Host = pr.In.Host
			}
			setForwarded(pr, trusted)
			strip.clean(pr.Out.Header)
			if opts.Rewrite != nil {
				opts.Rewrite(pr)
			}
		},
		Transport:      tr,
		FlushInterval:  0, // ReverseProxy already flushes at once for SSE and unknown-length bodies
		BufferPool:     newBufferPool(),
		ModifyResponse: modify,
		ErrorHandler:   upstreamErrorHandler(log),
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}, nil
}

// setForwarded sets X-Forwarded-For/-Host/-Proto. Incoming values are kept
// only when the direct peer is a trusted proxy; otherwise a client could claim
// any address or scheme.
func setForwarded(pr *httputil.ProxyRequest, trusted []netip.Prefix) {
	if len(trusted) > 0 && peerTrusted(pr.In.RemoteAddr, trusted) {
		if v := pr.In.Header["X-Forwarded-For"]; len(v) > 0 {
			pr.Out.Header["X-Forwarded-For"] = append([]string(nil), v...)
		}
		pr.SetXForwarded() // appends the peer to the kept chain
		if v := pr.In.Header.Get("X-Forwarded-Host"); v != "" {
			pr.Out.Header.Set("X-Forwarded-Host", v)
		}
		if v := pr.In.Header.Get("X-Forwarded-Proto"); v == "http" || v == "https" {
			pr.Out.Header.Set("X-Forwarded-Proto", v)
		}
		return
	}
	pr.SetXForwarded()
}

func peerTrusted(remoteAddr string, trusted []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// upstreamErrorHandler answers 504 for an upstream that timed out and 502 for
// anything else, without revealing addresses or error text to the client.
func upstreamErrorHandler(log *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		rec := recordOf(w)
		if rec != nil {
			rec.upstreamAnswered()
		}
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			// The client went away; nobody is left to answer.
			if rec != nil {
				rec.clientGone = true
			}
			return
		}
		status := http.StatusBadGateway
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			status = http.StatusGatewayTimeout
		}
		log.LogAttrs(r.Context(), slog.LevelWarn, "upstream error",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.String("error", err.Error()))
		errorpage.Status(w, r, status)
	}
}
