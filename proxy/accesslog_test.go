package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// reverseProxyTo is the production reverse proxy toward rawURL.
func reverseProxyTo(t *testing.T, rawURL string) *ReverseProxy {
	t.Helper()
	cfg := config.Default()
	u, _ := url.Parse(rawURL)
	rp, err := NewReverseProxy(UpstreamOptions{URL: u, Upstream: cfg.Upstream, CookieName: cfg.Session.CookieName, Headers: cfg.Headers, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// A client that goes away while the upstream is still thinking is counted
// as 499 (class "4xx"), never as a success, whether or not the access log
// is on.
func TestClientGoneCountsAs499(t *testing.T) {
	for _, accessLog := range []bool{false, true} {
		t.Run(fmt.Sprintf("access_log=%v", accessLog), func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			release := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived <- struct{}{}
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}))
			defer up.Close()
			defer close(release)
			m := metrics.New()
			front := httptest.NewServer(observe(observeOptions{Log: quietLog, Metrics: newRequestMetrics(m, testNames), Names: testNames, AccessLog: accessLog}, reverseProxyTo(t, up.URL)))
			defer front.Close()

			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				<-arrived
				cancel()
			}()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+"/slow", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				t.Fatalf("request finished with %d, want the client to give up", resp.StatusCode)
			}
			// The proxy notices the closed connection on its own time.
			gone := m.Requests.WithLabelValues("upstream", "4xx")
			for deadline := time.Now().Add(5 * time.Second); testutil.ToFloat64(gone) == 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if n := testutil.ToFloat64(gone); n != 1 {
				t.Errorf("4xx count = %v, want 1", n)
			}
			if n := testutil.ToFloat64(m.Requests.WithLabelValues("upstream", "2xx")); n != 0 {
				t.Errorf("2xx count = %v, want 0: the abandoned request was counted as a success", n)
			}
		})
	}
}

// Access lines wait in a buffer for up to a second; a graceful shutdown
// (SIGTERM) must write them out once the servers have drained.
func TestServeWritesOutAccessLogAtShutdown(t *testing.T) {
	out := &testenv.LogBuffer{}
	log := slog.New(WithAccessLog(slog.NewJSONHandler(out, nil), out, "json"))
	cfg := config.Default()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	h := observe(logOnly(log), page)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{Server: cfg.Server, ShutdownTimeout: cfg.ShutdownTimeout.D(), Logger: log}, Listener{Name: "proxy", Ln: ln, Handler: h})
	}()
	resp, err := http.Get("http://" + ln.Addr().String() + "/page")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("access line %q: %v", l, err)
			}
		}
	}
	if line["path"] != "/page" || line["status"] != float64(200) || line["bytes"] != float64(5) {
		t.Fatalf("access line after shutdown = %v; log:\n%s", line, out)
	}
}

// testNames are the route names of a tree without own endpoints.
var testNames = newRouteNames("/_lcw", nil)

// logOnly observes with the access log and without metrics.
func logOnly(log *slog.Logger) observeOptions {
	return observeOptions{Log: log, Names: testNames, AccessLog: true}
}

// accessLines serves each path through h with the fast access log on and
// returns the lines it wrote, by path.
func accessLines(t *testing.T, h http.Handler, paths ...string) map[string]map[string]any {
	t.Helper()
	out := &testenv.LogBuffer{}
	log := slog.New(WithAccessLog(slog.NewJSONHandler(out, nil), out, "json"))
	h = observe(logOnly(log), h)
	for _, p := range paths {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	if err := closeAccessLog(log); err != nil {
		t.Fatal(err)
	}
	lines := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines[m["path"].(string)] = m
	}
	return lines
}

// upstream_duration covers the upstream's part of a proxied request, and
// is zero for the proxy's own endpoints.
func TestAccessLogTimesTheUpstream(t *testing.T) {
	const delay = 30 * time.Millisecond
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		io.WriteString(w, "slow")
	}))
	defer up.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // connection refused: a 502
	for _, c := range []struct {
		name    string
		handler http.Handler
		path    string
		status  float64
		timed   bool
	}{
		{"proxied", reverseProxyTo(t, up.URL), "/slow", 200, true},
		{"upstream down", reverseProxyTo(t, down.URL), "/down", 502, true},
		{"own endpoint", healthz(), "/_lcw/healthz", 200, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := accessLines(t, c.handler, c.path)[c.path]
			if l == nil || l["status"] != c.status {
				t.Fatalf("line %v, want status %v", l, c.status)
			}
			// Durations are Go duration strings, never nanoseconds.
			up, err := time.ParseDuration(l["upstream_duration"].(string))
			if err != nil {
				t.Fatal(err)
			}
			total, err := time.ParseDuration(l["duration"].(string))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case !c.timed && up != 0:
				t.Errorf("upstream_duration = %v, want 0", up)
			case c.timed && (up <= 0 || up > total):
				t.Errorf("upstream_duration = %v, want within (0, duration %v]", up, total)
			case c.path == "/slow" && up < delay:
				t.Errorf("upstream_duration = %v, shorter than the upstream's %v", up, delay)
			}
		})
	}
}

// BenchmarkAccessLog isolates what observe costs per request around a
// handler that does nothing: metrics and the request id only, the access
// log through slog (one write per line, as before the buffered log) and
// the buffered access log, both into a real file.
func BenchmarkAccessLog(b *testing.B) {
	open := func(b *testing.B) *os.File {
		f, err := os.Create(filepath.Join(b.TempDir(), "access.log"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		return f
	}
	for _, c := range []struct {
		name      string
		accessLog bool
		logger    func(*testing.B) *slog.Logger
	}{
		{"off", false, func(*testing.B) *slog.Logger { return quietLog }},
		{"slog", true, func(b *testing.B) *slog.Logger {
			return slog.New(NewLogHandler(config.Log{Format: "json", Level: "info"}, open(b)))
		}},
		{"buffered", true, func(b *testing.B) *slog.Logger {
			return slog.New(NewLogHandler(config.Log{Format: "json", Level: "info", AccessLog: true}, open(b)))
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			log := c.logger(b)
			h := observe(observeOptions{Log: log, Metrics: newRequestMetrics(metrics.New(), testNames), Names: testNames, AccessLog: c.accessLog},
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
			req := httptest.NewRequest(http.MethodGet, "/small", nil)
			req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36")
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
			b.StopTimer()
			closeAccessLog(log)
		})
	}
}
