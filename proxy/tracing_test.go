package proxy

import (
	"net/http"
	"net/url"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/httpspan"
)

// Tracing off costs nothing because nothing of it is there: the handler
// tree and the transport are exactly what they are without tracing. On,
// both are wrapped.
func TestTracingInstallsNothingWhenOff(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:9")
	cfg := config.Default()
	for _, tc := range []struct {
		name string
		tp   trace.TracerProvider
	}{{"off", nil}, {"on", sdktrace.NewTracerProvider()}} {
		t.Run(tc.name, func(t *testing.T) {
			rp, err := NewReverseProxy(UpstreamOptions{URL: u, Upstream: cfg.Upstream, CookieName: "_lcw", Headers: cfg.Headers, Logger: quietLog, Tracer: tc.tp})
			if err != nil {
				t.Fatal(err)
			}
			_, traced := rp.Transport.(*httpspan.Transport)
			if traced != (tc.tp != nil) {
				t.Errorf("transport %T with tracer %v", rp.Transport, tc.tp)
			}
			// Without metrics or access log observe adds nothing either,
			// so off, the tree is the inner handler itself.
			inner := &sentinel{}
			d := Deps{Paths: config.NewPaths("/_lcw"), Logger: quietLog, Tracer: tc.tp}
			if h := d.outermost(newRouteNames(d.Paths.Prefix, nil), inner); (h == http.Handler(inner)) != (tc.tp == nil) {
				t.Errorf("outermost handler is %T with tracer %v", h, tc.tp)
			}
		})
	}
}

type sentinel struct{}

func (*sentinel) ServeHTTP(http.ResponseWriter, *http.Request) {}
