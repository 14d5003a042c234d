package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/request"
)

// tracerName is this package's instrumentation scope.
const tracerName = "github.com/lcw-auth-proxy/lcw-auth-proxy/proxy"

// traceContext reads and writes W3C traceparent/tracestate. It has no
// state: a value, not a registered global propagator.
var traceContext propagation.TraceContext

// traceRequests starts one server span per request, named by its route
// (an endpoint of the proxy's own, or "upstream"). A traceparent is
// believed only from a trusted proxy; anyone else's starts a new trace, so
// a client cannot join its requests to a trace of its choosing, nor force
// sampling on. Only the method, the path (never the query, and no
// secret-looking parameter in the path: loggedPath), the route, the
// status, the Host and the peer's address are recorded: no header, cookie
// or query string, which may carry codes and tokens.
//
// It is installed only when tracing is on: off, the request path has no
// trace of it.
func traceRequests(tp trace.TracerProvider, names *routeNames, trusted []netip.Prefix, next http.Handler) http.Handler {
	tracer := tp.Tracer(tracerName)
	// http.route only for the proxy's own endpoints: neither the
	// upstream's routes nor an unknown path under the prefix are known.
	routes := make(map[string]attribute.KeyValue, len(names.paths))
	for name, p := range names.paths {
		routes[name] = semconv.HTTPRoute(p)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if request.FromPeerIn(r, trusted) {
			ctx = traceContext.Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		route := names.of(r.URL.Path)
		attrs := make([]attribute.KeyValue, 0, 6)
		attrs = append(attrs, methodAttr(r.Method), semconv.URLPath(loggedPath(r.URL.Path)))
		if a, own := routes[route]; own {
			attrs = append(attrs, a)
		}
		if host := hostOnly(r.Host); host != "" {
			attrs = append(attrs, semconv.ServerAddress(host))
		}
		if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			attrs = append(attrs, semconv.NetworkPeerAddress(ip))
		}
		ctx, span := tracer.Start(ctx, route, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
		sw := &statusWriter{ResponseWriter: w}
		// Deferred so the span ends even when the handler aborts the
		// response with a panic (ReverseProxy's http.ErrAbortHandler).
		defer func() {
			if sw.status != 0 {
				span.SetAttributes(semconv.HTTPResponseStatusCode(sw.status))
			}
			if sw.status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(sw.status))
			}
			span.End()
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// knownMethods are recorded as they are; anything else is "_OTHER", as the
// semantic conventions ask, so a client cannot fill the backend with
// made-up method names.
var knownMethods = func() map[string]attribute.KeyValue {
	m := map[string]attribute.KeyValue{}
	for _, name := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"} {
		m[name] = semconv.HTTPRequestMethodKey.String(name)
	}
	return m
}()

func methodAttr(m string) attribute.KeyValue {
	if a, ok := knownMethods[m]; ok {
		return a
	}
	return semconv.HTTPRequestMethodKey.String("_OTHER")
}

// hostOnly is the host of a Host header without its port.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
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

// tracingTransport makes a client span of each upstream round trip, with
// both the direct path and the standard Transport beneath it, and sends
// the trace on in traceparent/tracestate. Whatever the client sent in
// those headers is removed first: from a trusted proxy it was already
// taken into the server span's context (and so continues in what is
// injected); from anyone else it must not reach the upstream.
//
// The request is the reverse proxy's own outgoing copy (its headers
// cloned from the client's), so setting headers on it, which the
// RoundTripper contract otherwise forbids, touches nobody else's: cloning
// it again would cost every traced request a copy of its headers.
type tracingTransport struct {
	next   http.RoundTripper
	tracer trace.Tracer
	server []attribute.KeyValue // the upstream's address and port
}

func newTracingTransport(next http.RoundTripper, tp trace.TracerProvider, upstream *url.URL) *tracingTransport {
	port, _ := strconv.Atoi(upstream.Port())
	if port == 0 {
		port = 80
		if upstream.Scheme == "https" {
			port = 443
		}
	}
	return &tracingTransport{
		next:   next,
		tracer: tp.Tracer(tracerName),
		server: []attribute.KeyValue{semconv.ServerAddress(upstream.Hostname()), semconv.ServerPort(port)},
	}
}

func (t *tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := t.tracer.Start(req.Context(), "upstream.request", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(t.server...),
		trace.WithAttributes(methodAttr(req.Method), semconv.URLPath(loggedPath(req.URL.Path))))
	h := req.Header
	delete(h, "Traceparent")
	delete(h, "Tracestate")
	traceContext.Inject(ctx, propagation.HeaderCarrier(h))
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "upstream round trip failed")
		span.End()
		return nil, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	// The span lasts until the body is read or closed, so it covers the
	// upstream's whole answer. Not for a protocol switch: ReverseProxy needs
	// the body's own io.ReadWriteCloser for the upgraded connection.
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil || resp.Body == http.NoBody {
		span.End()
		return resp, nil
	}
	resp.Body = &spanBody{ReadCloser: resp.Body, span: span}
	return resp, nil
}

// CloseIdleConnections reaches the pools beneath (shutdown, tests).
func (t *tracingTransport) CloseIdleConnections() {
	if ci, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// spanBody ends the client span when the upstream's body has been read to
// its end, failed, or was closed.
type spanBody struct {
	io.ReadCloser
	span  trace.Span
	ended bool
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		if err != io.EOF {
			b.span.RecordError(err)
			b.span.SetStatus(codes.Error, "reading the upstream's body failed")
		}
		b.end()
	}
	return n, err
}

func (b *spanBody) Close() error {
	b.end()
	return b.ReadCloser.Close()
}

func (b *spanBody) end() {
	if !b.ended {
		b.ended = true
		b.span.End()
	}
}
