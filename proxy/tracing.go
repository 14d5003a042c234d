package proxy

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/httpspan"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/request"
)

// tracerName is this package's instrumentation scope.
const tracerName = "github.com/lcw-auth-proxy/lcw-auth-proxy/proxy"

// traceContext reads W3C traceparent/tracestate. It has no state: a
// value, not a registered global propagator.
var traceContext propagation.TraceContext

// traceRequests starts one server span per request, by the semantic
// conventions the httpspan package cites: named "{method} {http.route}"
// for the proxy's own endpoints ("GET /_lcw/token") and "{method}" for
// the upstream's paths, whose routes the proxy does not know; lcw.route
// is the route's name in metrics ("token", "upstream"). A traceparent is
// believed only from a trusted proxy; anyone else's starts a new trace, so
// a client cannot join its requests to a trace of its choosing, nor force
// sampling on. Recorded: the method, the path (never the query, and no
// secret-looking parameter in the path: loggedPath), the scheme, the
// route, the status, the Host, the peer's and the client's addresses, the
// protocol version and the User-Agent; no other header, no cookie, no
// query string, which may carry codes and tokens.
//
// It is installed only when tracing is on: off, the request path has no
// trace of it.
func traceRequests(tp trace.TracerProvider, names *routeNames, trusted []netip.Prefix, next http.Handler) http.Handler {
	tracer := tp.Tracer(tracerName)
	// http.route and the span names only for the proxy's own endpoints:
	// neither the upstream's routes nor an unknown path under the prefix
	// are known.
	type ownRoute struct {
		attr      attribute.KeyValue
		spanNames map[string]string // by method
	}
	own := make(map[string]ownRoute, len(names.paths))
	for name, p := range names.paths {
		r := ownRoute{attr: semconv.HTTPRoute(p), spanNames: map[string]string{}}
		for _, m := range knownMethods {
			r.spanNames[m] = httpspan.Name(m, p)
		}
		own[name] = r
	}
	lcwRoute := map[string]attribute.KeyValue{}
	for _, name := range append(slices.Clone(names.names), "own_other", "upstream") {
		lcwRoute[name] = attribute.String("lcw.route", name)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		trustedPeer := request.FromPeerIn(r, trusted)
		if trustedPeer {
			ctx = traceContext.Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		route := names.of(r.URL.Path)
		attrs := make([]attribute.KeyValue, 0, 13)
		attrs = append(attrs, httpspan.Method(r.Method), semconv.URLPath(loggedPath(r.URL.Path)), urlScheme(r, trustedPeer),
			lcwRoute[route], httpspan.ProtocolVersion(r.ProtoMajor, r.ProtoMinor))
		name := httpspan.Name(r.Method, "")
		if o, ok := own[route]; ok {
			attrs = append(attrs, o.attr)
			if n, known := o.spanNames[r.Method]; known {
				name = n
			}
		}
		if host, port := hostPort(r.Host); host != "" {
			attrs = append(attrs, semconv.ServerAddress(host))
			if port > 0 {
				attrs = append(attrs, semconv.ServerPort(port))
			}
		}
		if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			attrs = append(attrs, semconv.NetworkPeerAddress(ip))
		}
		attrs = append(attrs, semconv.ClientAddress(request.Client(r, trusted)))
		if ua := r.UserAgent(); ua != "" {
			attrs = append(attrs, semconv.UserAgentOriginal(clip(ua)))
		}
		ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
		sw := &statusWriter{ResponseWriter: w}
		// Deferred so the span ends even when the handler aborts the
		// response with a panic (ReverseProxy's http.ErrAbortHandler).
		defer func() {
			if sw.status != 0 {
				span.SetAttributes(semconv.HTTPResponseStatusCode(sw.status))
			}
			if a, isErr := httpspan.ErrorStatus(sw.status, true); isErr {
				span.SetAttributes(a)
				span.SetStatus(codes.Error, http.StatusText(sw.status))
			}
			span.End()
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// knownMethods are the methods the span names spell out (httpspan.Name).
var knownMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

var (
	schemeHTTP  = semconv.URLScheme("http")
	schemeHTTPS = semconv.URLScheme("https")
)

// urlScheme is the scheme the client used: https on a TLS listener, a
// trusted proxy's X-Forwarded-Proto, http otherwise.
func urlScheme(r *http.Request, trustedPeer bool) attribute.KeyValue {
	if r.TLS != nil {
		return schemeHTTPS
	}
	if trustedPeer && r.Header.Get("X-Forwarded-Proto") == "https" {
		return schemeHTTPS
	}
	return schemeHTTP
}

// hostPort splits a Host header into its host and port (0 when none).
func hostPort(hostport string) (string, int) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		port, _ := strconv.Atoi(p)
		return h, port
	}
	return hostport, 0
}

// statusWriter remembers the response status for the server span. Unwrap
// lets http.ResponseController (and recordOf) reach the writer beneath.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack records a protocol switch (101) before handing the connection
// over, as loggingWriter does.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return conn, brw, err
}

// newTracingTransport makes a client span of each upstream round trip
// (httpspan.Transport), with both the direct path and the standard
// Transport beneath it, and sends the trace on in traceparent/tracestate.
// Whatever the client sent in those headers is replaced: from a trusted
// proxy it was already taken into the server span's context (and so
// continues in what is injected); from anyone else it must not reach the
// upstream. The request is the reverse proxy's own outgoing copy, so the
// headers are set in place: cloning them again would cost every traced
// request a copy.
func newTracingTransport(next http.RoundTripper, tp trace.TracerProvider, upstream *url.URL) *httpspan.Transport {
	return httpspan.NewTransport(next, tp, httpspan.Options{
		Scope: tracerName, OwnsRequest: true, RedactPath: loggedPath, Server: httpspan.ServerAttrs(upstream),
	})
}
