package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy"
)

// BenchmarkSignedInSmall measures a signed-in request for a 100-byte
// response through the whole proxy (session check, access policy, header
// hygiene, reverse proxy) next to the same request made directly to the
// upstream, over real loopback connections. bench/run.sh measures the same
// with wrk and nginx side by side.
func BenchmarkSignedInSmall(b *testing.B) {
	e, ck := signedInSmall(b, false, nil)
	run := func(b *testing.B, url string) { loopback(b, url, "_lcw="+ck.Value) }
	b.Run("direct", func(b *testing.B) { run(b, e.Upstream.URL+"/small") })
	b.Run("proxy", func(b *testing.B) { run(b, e.URL+"/small") })
}

// signedInSmall starts the proxy in front of an upstream of 100-byte
// responses and returns it with a VIP's session cookie. With accessLog the
// proxy logs at info with the access log on, into a real file so that the
// cost of writing it (syscalls included) is part of what is measured. tp,
// when set, turns tracing on.
func signedInSmall(b *testing.B, accessLog bool, tp trace.TracerProvider) (*env, *http.Cookie) {
	small := strings.Repeat("x", 100)
	o := envOptions{
		Upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, small)
		}),
		Extra:  "log:\n  access_log: false\n  level: warn\n",
		Tracer: tp,
	}
	if accessLog {
		f, err := os.Create(filepath.Join(b.TempDir(), "proxy.log"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		o.LogOut = f
		o.Extra = "log:\n  access_log: true\n  level: info\n"
	}
	e := startEnv(b, o)
	c, _ := e.login(b, testenv.VIPUsername, testenv.VIPPassword, "/")
	ck, err := e.cookie(c, "_lcw")
	if err != nil {
		b.Fatal(err)
	}
	return e, ck
}

// BenchmarkHandlerSignedIn runs the proxy's handler tree in-process (no
// client connection) for a signed-in request, so allocs/op shows what the
// proxy itself allocates per request: session check, access policy, header
// hygiene, the reverse proxy and its upstream round trip. The accesslog=on
// variant adds the access log, written to a file. tracing=on records every
// request (a server span and the upstream's client span, traceparent sent
// on) into the SDK's batch processor with an exporter that discards: the
// cost of tracing in the proxy, without a receiver's network time. With
// tracing off (the other variants) nothing of it is installed.
func BenchmarkHandlerSignedIn(b *testing.B) {
	b.Run("floor", func(b *testing.B) {
		// The reverse proxy alone (bench/reverseproxy -lcw, row lcw-floor)
		// toward the same upstream: the difference is the product's work.
		e, ck := signedInSmall(b, false, nil)
		up, _ := url.Parse(e.Upstream.URL)
		cfg := config.Default()
		h, err := proxy.NewReverseProxy(proxy.UpstreamOptions{URL: up, Upstream: cfg.Upstream, Public: e.Config.Public, CookieName: cfg.Session.CookieName, Headers: cfg.Headers})
		if err != nil {
			b.Fatal(err)
		}
		serveLoop(b, h, e.URL+"/small", ck)
	})
	for _, v := range []struct {
		name      string
		accessLog bool
		tracing   bool
	}{
		{"accesslog=off", false, false},
		{"accesslog=on", true, false},
		{"tracing=on", false, true},
	} {
		b.Run(v.name, func(b *testing.B) {
			var tp trace.TracerProvider
			if v.tracing {
				sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				b.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
				tp = sdk
			}
			e, ck := signedInSmall(b, v.accessLog, tp)
			serveLoop(b, e.App.Handler(), e.URL+"/small", ck)
		})
	}
}

// serveLoop serves a signed-in GET of url through h in-process, failing on
// anything but 200.
func serveLoop(b *testing.B, h http.Handler, url string, ck *http.Cookie) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", url, nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Cookie", "_lcw="+ck.Value)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// loopback sends signed-in GETs to url over real connections from parallel
// clients, failing on anything but 200.
func loopback(b *testing.B, url, cookie string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Cookie", cookie)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
