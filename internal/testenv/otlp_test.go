package testenv_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// The receiver takes what the SDK's own exporters send, gzip included,
// over both protocols, and keeps parent links, kinds and typed attributes.
func TestOTLPReceiverTakesTheSDKExporters(t *testing.T) {
	recv := testenv.StartOTLPReceiver(t)
	ctx := context.Background()
	for _, tc := range []struct {
		protocol string
		exporter func() (sdktrace.SpanExporter, error)
	}{
		{"http/protobuf", func() (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(recv.HTTP+"/v1/traces"),
				otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		}},
		{"grpc", func() (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(recv.GRPC), otlptracegrpc.WithCompressor("gzip"))
		}},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			exp, err := tc.exporter()
			if err != nil {
				t.Fatal(err)
			}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
				sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "svc-"+tc.protocol))))
			tr := tp.Tracer("test")
			pctx, parent := tr.Start(ctx, "parent", trace.WithSpanKind(trace.SpanKindServer))
			_, child := tr.Start(pctx, "child", trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(attribute.Int("n", 42), attribute.Bool("ok", true), attribute.String("s", "x")))
			child.End()
			parent.End()
			if err := tp.Shutdown(ctx); err != nil {
				t.Fatalf("export: %v", err)
			}
			spans := recv.Trace(t, "svc-"+tc.protocol, parent.SpanContext().TraceID().String(), 10*time.Second)
			if len(spans) != 2 {
				t.Fatalf("%d spans, want 2: %+v", len(spans), spans)
			}
			got := map[string]testenv.OTLPSpan{}
			for _, s := range spans {
				got[s.Name] = s
				if s.Protocol != tc.protocol {
					t.Errorf("span %s arrived over %s", s.Name, s.Protocol)
				}
			}
			p, c := got["parent"], got["child"]
			if p.Kind != "server" || c.Kind != "client" {
				t.Errorf("kinds %q, %q, want server, client", p.Kind, c.Kind)
			}
			if p.SpanID != parent.SpanContext().SpanID().String() || p.ParentSpanID != "" || c.ParentSpanID != p.SpanID {
				t.Errorf("parent %+v, child %+v: want the child under the root parent", p, c)
			}
			if c.Attr("n") != "42" || c.Attr("ok") != "true" || c.Attr("s") != "x" {
				t.Errorf("child attributes %v", c.Attributes)
			}
		})
	}
}

// OTLP/HTTP's JSON encoding and unknown encodings are refused with 415,
// a body that is not a request with 400, as the specification says.
func TestOTLPReceiverRefusals(t *testing.T) {
	recv := testenv.StartOTLPReceiver(t)
	for _, tc := range []struct {
		name, contentType, encoding string
		body                        []byte
		want                        int
	}{
		{"json", "application/json", "", []byte(`{}`), http.StatusUnsupportedMediaType},
		{"brotli", "application/x-protobuf", "br", nil, http.StatusUnsupportedMediaType},
		{"not gzip", "application/x-protobuf", "gzip", []byte("plain"), http.StatusBadRequest},
		{"not protobuf", "application/x-protobuf", "", []byte{0xff, 0xff, 0xff}, http.StatusBadRequest},
		{"empty request", "application/x-protobuf", "", nil, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", recv.HTTP+"/v1/traces", bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tc.contentType)
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-protobuf" {
				t.Errorf("Content-Type %q, want application/x-protobuf", ct)
			}
		})
	}
}
