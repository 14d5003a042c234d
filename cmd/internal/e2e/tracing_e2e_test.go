package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// The whole way to a real receiver: tracing turned on by the standard
// OTEL_* variables only (no tracer handed in), spans exported by the
// proxy's own exporter over OTLP/HTTP and OTLP/gRPC to a real OTLP
// receiver on loopback (testenv.StartOTLPReceiver), and the trace looked
// up there by the id the upstream saw. The batch delay is a minute, so
// only the flush at shutdown (App.Close, which Run calls once the servers
// have drained) can have delivered it in time.
func TestTracingEndToEnd(t *testing.T) {
	recv := testenv.StartOTLPReceiver(t)
	for _, tc := range []struct{ protocol, endpoint string }{
		{"http/protobuf", recv.HTTP},
		{"grpc", recv.GRPC},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			b := make([]byte, 4)
			_, _ = rand.Read(b)
			service := "lcw-e2e-" + hex.EncodeToString(b)
			var mu sync.Mutex
			var traceparent string
			e := startEnv(t, envOptions{
				Env: map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT": tc.endpoint,
					"OTEL_EXPORTER_OTLP_PROTOCOL": tc.protocol,
					"OTEL_SERVICE_NAME":           service,
					"OTEL_BSP_SCHEDULE_DELAY":     "60000",
				},
				Upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					traceparent = r.Header.Get("Traceparent")
					mu.Unlock()
					io.WriteString(w, "ok")
				}),
			})
			if !e.Config.Tracing.Export.On {
				t.Fatal("OTEL_EXPORTER_OTLP_ENDPOINT did not turn tracing on")
			}
			resp := testenv.Do(t, &http.Client{}, "GET", e.URL+"/public/e2e?q=1", nil)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			mu.Lock()
			tp := traceparent
			mu.Unlock()
			parts := strings.Split(tp, "-")
			if len(parts) != 4 {
				t.Fatalf("upstream traceparent %q", tp)
			}
			time.Sleep(100 * time.Millisecond) // the server span ends just after the response
			e.App.Close()
			spans := recv.Trace(t, service, parts[1], 20*time.Second)
			var server, client testenv.OTLPSpan
			for _, s := range spans {
				if s.Protocol != tc.protocol {
					t.Errorf("span %s arrived over %s, want %s", s.SpanID, s.Protocol, tc.protocol)
				}
				switch s.Kind {
				case "server":
					server = s
				case "client":
					client = s
				}
			}
			if server.SpanID == "" || client.SpanID == "" {
				t.Fatalf("trace %s holds %d spans without a server and a client span: %+v", parts[1], len(spans), spans)
			}
			if server.ParentSpanID != "" {
				t.Errorf("server span has parent %s, want none: the request carried no traceparent", server.ParentSpanID)
			}
			if client.ParentSpanID != server.SpanID {
				t.Errorf("client span's parent %q, want the server span (%s)", client.ParentSpanID, server.SpanID)
			}
			if parts[2] != client.SpanID {
				t.Errorf("upstream traceparent names span %s, want the client span %s", parts[2], client.SpanID)
			}
			// The semantic conventions (semconv v1.43.0) as the receiver
			// got them: "{method}" names where the route is the upstream's,
			// the required attributes, the query's values redacted.
			proxyHost, proxyPort, _ := strings.Cut(strings.TrimPrefix(e.URL, "http://"), ":")
			upHost, upPort, _ := strings.Cut(strings.TrimPrefix(e.Upstream.URL, "http://"), ":")
			for _, c := range []struct {
				span      testenv.OTLPSpan
				name      string
				attrs     map[string]string
				forbidden []string
			}{
				{server, "GET", map[string]string{
					"http.request.method": "GET", "url.scheme": "http", "url.path": "/public/e2e", "server.address": proxyHost,
					"server.port": proxyPort, "http.response.status_code": "200", "client.address": "127.0.0.1", "lcw.route": "upstream",
				}, []string{"http.route", "url.query", "url.full"}},
				{client, "GET", map[string]string{
					"http.request.method": "GET", "url.full": e.Upstream.URL + "/public/e2e?q=REDACTED", "server.address": upHost,
					"server.port": upPort, "http.response.status_code": "200",
				}, nil},
			} {
				if c.span.Name != c.name {
					t.Errorf("span %s named %q, want %q", c.span.SpanID, c.span.Name, c.name)
				}
				for k, v := range c.attrs {
					if got := c.span.Attr(k); got != v {
						t.Errorf("%s span: %s = %q, want %q", c.span.Kind, k, got, v)
					}
				}
				for _, k := range c.forbidden {
					if _, ok := c.span.Attributes[k]; ok {
						t.Errorf("%s span: %s = %q, want it absent", c.span.Kind, k, c.span.Attr(k))
					}
				}
			}
		})
	}
}
