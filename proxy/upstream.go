package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/bufpool"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/errorpage"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/request"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/h1transport"
)

// maxResponseHeaderBytes is http.Transport's default limit, kept for the
// direct path.
const maxResponseHeaderBytes = 10 << 20

// newTransport returns the upstream transport, tuned for a sidecar: a large
// idle pool to one host, no transparent compression (the injector decides
// what to do with encodings) and bounded waits. Plain-http requests without
// a body take the direct path (h1transport); the rest the standard Transport.
func newTransport(upstream *url.URL, u config.Upstream) http.RoundTripper {
	dialer := &net.Dialer{Timeout: u.DialTimeout.D(), KeepAlive: 30 * time.Second}
	std := newStdTransport(dialer, u)
	if upstream.Scheme != "http" || !h1transport.Supported {
		return std
	}
	return &h1transport.Transport{
		Host:                   upstream.Host,
		Addr:                   dialAddr(upstream),
		DialContext:            dialer.DialContext,
		Next:                   std,
		ResponseHeaderTimeout:  u.Timeout.D(),
		IdleConnTimeout:        u.IdleConnTimeout.D(),
		MaxIdleConns:           u.MaxIdleConnsPerHost,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		ReadBufferSize:         copyBufferSize,
	}
}

func dialAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func newStdTransport(dialer *net.Dialer, u config.Upstream) *http.Transport {
	return &http.Transport{
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
		TLSClientConfig:       u.TLSConfig(),
	}
}

// copyBufferSize is twice ReverseProxy's default: with the direct
// transport's read buffer of the same size, a page of up to 64 KiB is read
// from the upstream once and written to the client in two writes (the
// second because net/http's 4 KiB writer holds the header), where 32 KiB
// takes two reads and three writes (bench/run.sh's page rows measure it). A
// stream (SSE) holds one buffer for its lifetime.
const copyBufferSize = 64 << 10

// newBufferPool lends ReverseProxy its copy buffers so a busy proxy does
// not allocate one per response.
func newBufferPool() *bufpool.Pool { return bufpool.New(copyBufferSize) }

// UpstreamOptions configure the reverse proxy toward the upstream.
type UpstreamOptions struct {
	// URL is the upstream's parsed address; Upstream its validated section
	// (timeouts, pool, TLS, preserve_host, rewrite_redirects).
	URL      *url.URL
	Upstream config.Upstream
	// Public is public_url: redirects to the upstream's own address map there.
	Public *url.URL
	// TrustedProxies may set X-Forwarded-* for the clients behind them.
	TrustedProxies []netip.Prefix
	// CookieName is the session cookie's name: it and NAME_* never reach
	// the upstream.
	CookieName string
	// Headers names the identity headers stripped from every request.
	Headers config.Headers
	Logger  *slog.Logger

	// Rewrite, when set, runs after the proxy's own rewriting (identity
	// headers, the injector's request preparation).
	Rewrite func(*httputil.ProxyRequest)
	// ModifyResponse, when set, runs on every upstream response (the
	// injector), after redirects were mapped.
	ModifyResponse func(*http.Response) error
	// Tracer, when set, wraps the transport in a client span per round
	// trip that sends traceparent on (NewHandler sets it from Deps.Tracer).
	Tracer trace.TracerProvider
}

// ReverseProxy is the httputil.ReverseProxy toward the upstream. Its
// ServeHTTP starts the access log's upstream clock on the request's record,
// which it finds through the ResponseWriter, and guards the informational
// responses the upstream sends before its answer (interimWriter).
type ReverseProxy struct {
	*httputil.ReverseProxy
	strip *headerStripper
}

func (p *ReverseProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rec := recordOf(w); rec != nil {
		rec.upstreamStarts()
	}
	iw := newInterimWriter(w, r, p.strip)
	defer iw.release()
	p.ReverseProxy.ServeHTTP(iw, r)
}

// NewReverseProxy builds the reverse proxy toward o.URL with header
// hygiene applied in Rewrite and, for the upstream's Set-Cookie lines, in
// ModifyResponse.
func NewReverseProxy(o UpstreamOptions) (*ReverseProxy, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	tr := newTransport(o.URL, o.Upstream)
	if o.Tracer != nil {
		tr = newTracingTransport(tr, o.Tracer, o.URL)
	}
	strip := newHeaderStripper(o.CookieName, o.Headers)
	fwd := newForwardedValues(o.Public)
	target, trusted, preserveHost, upgrades := o.URL, o.TrustedProxies, o.Upstream.PreserveHost, o.Upstream.AllowedUpgrades
	var rw *redirectRewriter
	if o.Upstream.RewriteRedirects && o.Public != nil {
		rw = newRedirectRewriter(target, o.Public)
	}
	modify := func(resp *http.Response) error {
		strip.dropOwnSetCookies(resp.Header)
		if rw != nil {
			rw.rewrite(resp.Header)
		}
		if o.ModifyResponse != nil {
			return o.ModifyResponse(resp)
		}
		return nil
	}
	return &ReverseProxy{strip: strip, ReverseProxy: &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			watchBody(pr.Out)
			if preserveHost {
				pr.Out.Host = pr.In.Host
			}
			limitUpgrade(pr.Out.Header, upgrades)
			trustedPeer := request.FromPeerIn(pr.In, trusted)
			strip.clean(pr.Out.Header, trustedPeer)
			setForwarded(pr, trustedPeer, fwd)
			if o.Rewrite != nil {
				o.Rewrite(pr)
			}
		},
		Transport:      tr,
		FlushInterval:  0, // ReverseProxy already flushes at once for SSE and unknown-length bodies
		BufferPool:     newBufferPool(),
		ModifyResponse: modify,
		ErrorHandler:   upstreamErrorHandler(o.Logger),
		ErrorLog:       slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}}, nil
}

// limitUpgrade removes a protocol upgrade the configuration does not allow
// (upstream.allowed_upgrades), so the request reaches the upstream as an
// ordinary one, as nginx and Caddy forward an h2c upgrade. After a 101 the
// connection is a tunnel the proxy no longer checks: an upstream that
// took h2c would serve every request on it, to any path, past the access
// rules and the header hygiene. ReverseProxy has reduced the client's
// hop-by-hop headers to "Connection: Upgrade" and the first Upgrade
// value, and it refuses a 101 for an upgrade it did not send.
func limitUpgrade(h http.Header, allowed []string) {
	up := h.Get("Upgrade")
	if up == "" {
		return
	}
	for _, a := range allowed {
		if strings.EqualFold(up, a) {
			return
		}
	}
	delete(h, "Upgrade")
	delete(h, "Connection")
}

// forwardedValues are the X-Forwarded-* values for requests from untrusted
// peers, computed once from public_url (shared, never modified).
type forwardedValues struct {
	host, proto, port []string
}

func newForwardedValues(public *url.URL) forwardedValues {
	if public == nil {
		return forwardedValues{}
	}
	port := public.Port()
	if port == "" {
		port = "80"
		if public.Scheme == "https" {
			port = "443"
		}
	}
	return forwardedValues{host: []string{public.Host}, proto: []string{public.Scheme}, port: []string{port}}
}

// setForwarded sets the forwarding headers. From a trusted proxy the
// incoming chain is kept and extended. From anyone else nothing the client
// sent survives (clean already removed the routing headers): the address is
// the peer's and host, scheme and port are public_url's, so an upstream that
// builds absolute links from them (password-reset mails) cannot be poisoned
// through the Host header.
func setForwarded(pr *httputil.ProxyRequest, trustedPeer bool, fwd forwardedValues) {
	if trustedPeer {
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
	if fwd.host == nil {
		pr.SetXForwarded()
		return
	}
	// SetXForwarded's work by hand, sharing slices: three header values
	// fewer to allocate on every request.
	h := pr.Out.Header
	h["X-Forwarded-Host"], h["X-Forwarded-Proto"], h["X-Forwarded-Port"] = fwd.host, fwd.proto, fwd.port
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		peer := []string{ip}
		h["X-Forwarded-For"], h["X-Real-Ip"] = peer, peer
	}
}

// upstreamErrorHandler answers 408 for a request body that did not arrive
// within server.read_timeout, 504 for an upstream that timed out and 502 for
// anything else, without revealing addresses or error text to the client.
func upstreamErrorHandler(log *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		rec := recordOf(w)
		if rec != nil {
			rec.upstreamAnswered()
		}
		if bodyTimedOut(r) {
			// Checked first: the server cancelled the context too, but the
			// client is still there, and without an answer it would get
			// the server's implicit 200.
			w.Header().Set("Connection", "close")
			errorpage.Write(w, errorpage.FormatFor(r), http.StatusRequestTimeout, "The request took too long to arrive. Please try again.")
			return
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
			slog.String("method", r.Method), slog.String("path", loggedPath(r.URL.Path)),
			slog.Int("status", status), slog.String("error", err.Error()))
		errorpage.Status(w, errorpage.FormatFor(r), status)
	}
}
