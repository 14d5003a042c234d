// Package httpspan names and describes HTTP spans by the OpenTelemetry
// semantic conventions of go.opentelemetry.io/otel/semconv/v1.43.0 (the
// HTTP conventions, stable since 1.23), and traces the proxy's outgoing
// HTTP calls (the upstream, the IdP, context_url) as client spans that send
// the trace on in traceparent.
//
// What a span records is chosen for a proxy that handles sign-in: a query
// string keeps its keys but never a value (url.full), since codes, states
// and tokens travel there; no header but the User-Agent is recorded.
package httpspan

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// SemconvVersion is the semantic conventions version the spans follow.
const SemconvVersion = "1.43.0"

// Redacted replaces every query value in url.full.
const Redacted = "REDACTED"

// knownMethods are recorded as they are; anything else is "_OTHER", as the
// conventions ask, so a client cannot fill the backend with made-up
// method names.
var knownMethods = func() map[string]attribute.KeyValue {
	m := map[string]attribute.KeyValue{}
	for _, name := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"} {
		m[name] = semconv.HTTPRequestMethodKey.String(name)
	}
	return m
}()

// Method is http.request.method: the method, or "_OTHER".
func Method(m string) attribute.KeyValue {
	if a, ok := knownMethods[m]; ok {
		return a
	}
	return semconv.HTTPRequestMethodKey.String("_OTHER")
}

// Name is a span's name: "{method} {route}" (a server span whose
// http.route is known), "{method}" without a route (every client span, a
// server span of unknown route), "HTTP" for a method outside the known set.
func Name(method, route string) string {
	if _, ok := knownMethods[method]; !ok {
		method = "HTTP"
	}
	if route == "" || method == "HTTP" {
		return method
	}
	return method + " " + route
}

// ProtocolVersion is network.protocol.version ("1.1", "2"), the empty
// attribute for anything unusual.
func ProtocolVersion(major, minor int) attribute.KeyValue {
	switch {
	case major == 1 && minor == 1:
		return semconv.NetworkProtocolVersion("1.1")
	case major == 2:
		return semconv.NetworkProtocolVersion("2")
	case major == 1 && minor == 0:
		return semconv.NetworkProtocolVersion("1.0")
	}
	return semconv.NetworkProtocolVersion(strconv.Itoa(major) + "." + strconv.Itoa(minor))
}

// ErrorStatus is error.type for a response status: its code when the
// status counts as an error (from 400 on for a client span, from 500 on for
// a server span, as the conventions say), ok false otherwise.
func ErrorStatus(status int, server bool) (a attribute.KeyValue, ok bool) {
	if status >= 500 || !server && status >= 400 {
		return semconv.ErrorTypeKey.String(strconv.Itoa(status)), true
	}
	return attribute.KeyValue{}, false
}

// ErrorType is error.type for a call that got no response: "timeout",
// "canceled", or "_OTHER" (the conventions' fallback; the error's text,
// which can quote addresses, stays in the log).
func ErrorType(err error) attribute.KeyValue {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return semconv.ErrorTypeKey.String("timeout")
	case errors.Is(err, context.Canceled):
		return semconv.ErrorTypeKey.String("canceled")
	}
	return semconv.ErrorTypeOther
}

// FullURL is url.full for u: scheme, host and the path (through
// redactPath when set), each query key with the value REDACTED; never the
// user info or the fragment.
func FullURL(u *url.URL, redactPath func(string) string) string {
	p := u.EscapedPath()
	if redactPath != nil {
		// On the decoded path: an encoded "?" is one there.
		if r := redactPath(u.Path); r != u.Path {
			p = (&url.URL{Path: r}).EscapedPath()
		}
	}
	var b strings.Builder
	b.Grow(len(u.Scheme) + 3 + len(u.Host) + len(p) + len(u.RawQuery))
	b.WriteString(u.Scheme)
	b.WriteString("://")
	b.WriteString(u.Host)
	b.WriteString(p)
	if u.RawQuery != "" {
		b.WriteString(RedactQuery(u.RawQuery))
	}
	return b.String()
}

// RedactQuery is "?" and raw's keys, each with the value REDACTED (a key
// without '=' stays bare).
func RedactQuery(raw string) string {
	var b strings.Builder
	b.WriteByte('?')
	for i, part := range strings.Split(raw, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		if k, _, ok := strings.Cut(part, "="); ok {
			b.WriteString(k)
			b.WriteString("=" + Redacted)
		} else {
			b.WriteString(part)
		}
	}
	return b.String()
}

// ServerAttrs are server.address and server.port of u (the port implied by
// the scheme when u has none).
func ServerAttrs(u *url.URL) []attribute.KeyValue {
	port, _ := strconv.Atoi(u.Port())
	if port == 0 {
		port = 80
		if u.Scheme == "https" {
			port = 443
		}
	}
	return []attribute.KeyValue{semconv.ServerAddress(u.Hostname()), semconv.ServerPort(port)}
}

// traceContext reads and writes W3C traceparent/tracestate. It has no
// state: a value, not a registered global propagator.
var traceContext propagation.TraceContext

// Options shape a Transport.
type Options struct {
	// Scope is the instrumentation scope (the calling package's path).
	Scope string
	// OwnsRequest says the requests are the caller's own copies
	// (ReverseProxy's outgoing request, its headers cloned from the
	// client's): traceparent is set on them in place. Otherwise, as the
	// RoundTripper contract asks, on a clone.
	OwnsRequest bool
	// RedactPath, when set, rewrites the path recorded in url.full.
	RedactPath func(string) string
	// Server, when set, are the server.address and server.port of every
	// request (one fixed upstream): computed once instead of per request.
	Server []attribute.KeyValue
	// WithinTraces traces only calls made inside a trace (a span in the
	// request's context): background calls (discovery, health probes, key
	// refreshes) would otherwise each start a trace of their own.
	WithinTraces bool
}

// Transport makes a client span of each round trip, named by the method,
// and sends the trace on in traceparent/tracestate. Whatever the request
// carried in those headers is replaced: the span is the parent the
// receiver must see. The span lasts until the response body is read to
// its end or closed, so it covers the whole answer; a protocol switch
// (101) ends it at once, since the body is then the connection.
type Transport struct {
	next   http.RoundTripper
	tracer trace.Tracer
	o      Options
}

// NewTransport wraps next (http.DefaultTransport when nil).
func NewTransport(next http.RoundTripper, tp trace.TracerProvider, o Options) *Transport {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Transport{next: next, tracer: tp.Tracer(o.Scope), o: o}
}

func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.o.WithinTraces && !trace.SpanContextFromContext(req.Context()).IsValid() {
		return t.next.RoundTrip(req)
	}
	server := t.o.Server
	if server == nil {
		server = ServerAttrs(req.URL)
	}
	ctx, span := t.tracer.Start(req.Context(), Name(req.Method, ""), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(server...),
		trace.WithAttributes(Method(req.Method), semconv.URLFull(FullURL(req.URL, t.o.RedactPath))))
	if t.o.OwnsRequest {
		req = req.WithContext(ctx)
	} else {
		req = req.Clone(ctx)
	}
	h := req.Header
	delete(h, "Traceparent")
	delete(h, "Tracestate")
	traceContext.Inject(ctx, propagation.HeaderCarrier(h))
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		span.SetAttributes(ErrorType(err))
		span.SetStatus(codes.Error, "round trip failed")
		span.End()
		return nil, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if a, isErr := ErrorStatus(resp.StatusCode, false); isErr {
		span.SetAttributes(a)
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil || resp.Body == http.NoBody {
		span.End()
		return resp, nil
	}
	resp.Body = &spanBody{ReadCloser: resp.Body, span: span}
	return resp, nil
}

// CloseIdleConnections reaches the pools beneath (shutdown, tests).
func (t *Transport) CloseIdleConnections() {
	if ci, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// spanBody ends the client span when the body has been read to its end,
// failed, or was closed.
type spanBody struct {
	io.ReadCloser
	span  trace.Span
	ended bool
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		if err != io.EOF {
			b.span.SetAttributes(ErrorType(err))
			b.span.SetStatus(codes.Error, "reading the body failed")
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
