package httpspan

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

func TestName(t *testing.T) {
	for _, tt := range []struct{ method, route, want string }{
		{"GET", "/_lcw/token", "GET /_lcw/token"},
		{"POST", "/_lcw/logout", "POST /_lcw/logout"},
		{"GET", "", "GET"},
		{"PROPFIND", "/_lcw/token", "HTTP"},
		{"get", "", "HTTP"},
		{"GET /admin HTTP/1.1\r\nX: y", "", "HTTP"},
	} {
		if got := Name(tt.method, tt.route); got != tt.want {
			t.Errorf("Name(%q, %q) = %q, want %q", tt.method, tt.route, got, tt.want)
		}
	}
	if Method("BREW") != semconv.HTTPRequestMethodKey.String("_OTHER") || Method("PATCH") != semconv.HTTPRequestMethodKey.String("PATCH") {
		t.Error("Method")
	}
}

// url.full keeps the query's keys but never a value, drops user info and
// fragment, and takes the redactor's path.
func TestFullURL(t *testing.T) {
	hideCode := func(p string) string { return strings.ReplaceAll(p, "SECRET", "REDACTED") }
	for _, tt := range []struct{ in, want string }{
		{"https://idp.example.com/token", "https://idp.example.com/token"},
		{"http://127.0.0.1:8080/cart?item=1&code=SECRET&flag", "http://127.0.0.1:8080/cart?item=REDACTED&code=REDACTED&flag"},
		{"https://user:SECRET@ctx.example.com:8443/ctx?sig=SECRET#SECRET", "https://ctx.example.com:8443/ctx?sig=REDACTED"},
		{"http://up/cb%3Fcode%3DSECRET", "http://up/cb%3Fcode=REDACTED"},
		{"http://up/a%20b", "http://up/a%20b"},
	} {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := FullURL(u, hideCode); got != tt.want {
			t.Errorf("FullURL(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestErrorStatus(t *testing.T) {
	for _, tt := range []struct {
		status int
		server bool
		want   bool
	}{{200, true, false}, {404, true, false}, {404, false, true}, {500, true, true}, {503, false, true}, {101, false, false}} {
		a, ok := ErrorStatus(tt.status, tt.server)
		if ok != tt.want || ok && a != semconv.ErrorTypeKey.String(strconv.Itoa(tt.status)) {
			t.Errorf("ErrorStatus(%d, server=%v) = %v %v", tt.status, tt.server, a, ok)
		}
	}
	if ErrorType(context.DeadlineExceeded) != semconv.ErrorTypeKey.String("timeout") || ErrorType(io.ErrUnexpectedEOF) != semconv.ErrorTypeOther {
		t.Error("ErrorType")
	}
}

// The client span: named by the method, the required attributes, the
// caller's traceparent replaced by the span's own, the caller's request
// left untouched, and the span open until the body is read.
func TestTransport(t *testing.T) {
	var gotParent string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotParent = r.Header.Get("Traceparent")
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusBadGateway)
			return
		}
		io.WriteString(w, "hello")
	}))
	defer srv.Close()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	c := &http.Client{Transport: NewTransport(nil, tp, Options{Scope: "test"})}

	ctx, parent := tp.Tracer("t").Start(context.Background(), "parent")
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/ctx?sub=SECRET", strings.NewReader("{}"))
	forged := "00-11111111111111111111111111111111-2222222222222222-01"
	req.Header.Set("Traceparent", forged)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(spans.GetSpans()); n != 0 {
		t.Fatalf("%d spans ended before the body was read", n)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	parent.End()
	got := spans.GetSpans()
	if len(got) != 2 {
		t.Fatalf("%d spans", len(got))
	}
	s := got[0]
	if s.Name != "POST" || s.SpanKind != trace.SpanKindClient || s.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("span %q kind %v parent %v", s.Name, s.SpanKind, s.Parent.SpanID())
	}
	u, _ := url.Parse(srv.URL)
	for _, want := range []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String("POST"), semconv.URLFull(srv.URL + "/ctx?sub=REDACTED"),
		semconv.ServerAddress(u.Hostname()), semconv.ServerPort(func() int { p := ServerAttrs(u)[1]; return int(p.Value.AsInt64()) }()),
		semconv.HTTPResponseStatusCode(200),
	} {
		if !slices.Contains(s.Attributes, want) {
			t.Errorf("attributes %v lack %v", s.Attributes, want)
		}
	}
	if !strings.Contains(gotParent, s.SpanContext.SpanID().String()) || strings.Contains(gotParent, "2222222222222222") {
		t.Errorf("traceparent sent %q, want the client span's", gotParent)
	}
	if req.Header.Get("Traceparent") != forged {
		t.Error("the caller's request was changed")
	}

	// An error status: error.type and status Error.
	spans.Reset()
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL+"/fail", nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s = spans.GetSpans()[0]
	if s.Status.Code != codes.Error || !slices.Contains(s.Attributes, semconv.ErrorTypeKey.String("502")) {
		t.Errorf("failed call: status %v attributes %v", s.Status, s.Attributes)
	}

	// No answer at all.
	spans.Reset()
	srv.Close()
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL+"/", nil)
	if _, err := c.Do(req); err == nil {
		t.Fatal("a closed server answered")
	}
	if s := spans.GetSpans()[0]; s.Status.Code != codes.Error || !slices.Contains(s.Attributes, semconv.ErrorTypeOther) {
		t.Errorf("refused call: status %v attributes %v", s.Status, s.Attributes)
	}
}

// WithinTraces leaves calls outside a trace (health probes, discovery)
// untraced, so they start no trace of their own.
func TestTransportWithinTraces(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Traceparent") != "" {
			t.Error("a background call sent a traceparent")
		}
	}))
	defer srv.Close()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	c := &http.Client{Transport: NewTransport(nil, tp, Options{Scope: "test", WithinTraces: true})}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := len(spans.GetSpans()); n != 0 {
		t.Fatalf("%d spans for a call outside any trace", n)
	}
}
