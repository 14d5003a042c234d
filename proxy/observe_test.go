package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// jsonLines parses every line of out.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// The request id: a trusted proxy's valid X-Request-Id is kept; anyone
// else's, or an invalid one, is replaced by a new id. The upstream gets
// the id, the client gets it back (never the upstream's own), and the
// access line carries it with the client address (after trusted_proxies),
// the User-Agent, the Host and the route.
func TestRequestIDAndAccessLineFields(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "upstream-made-this")
		fmt.Fprintf(w, "%q", r.Header.Values("X-Request-Id"))
	}))
	defer up.Close()
	rp := reverseProxyTo(t, up.URL)
	const proxyNet = "192.0.2.0/24" // httptest.NewRequest's peer is 192.0.2.1
	huge := strings.Repeat("a", 10000)
	for _, tt := range []struct {
		name    string
		trusted bool
		ids     []string
		xff     string
		keep    bool   // the id sent is the id used
		client  string // the logged client address
	}{
		{"none sent: generated", false, nil, "", false, "192.0.2.1"},
		{"trusted proxy's kept", true, []string{"f81d4fae-7dec-11d0-a765-00a0c91e6bf6"}, "198.51.100.9", true, "198.51.100.9"},
		{"trusted proxy's base64 kept", true, []string{"YWJj+/=="}, "", true, "192.0.2.1"},
		{"untrusted client's replaced", false, []string{"f81d4fae-7dec-11d0-a765-00a0c91e6bf6"}, "198.51.100.9", false, "192.0.2.1"},
		{"untrusted huge replaced", false, []string{huge}, "", false, "192.0.2.1"},
		{"untrusted forged line replaced", false, []string{"x\n{\"msg\":\"request\"}"}, "", false, "192.0.2.1"},
		{"trusted but huge replaced", true, []string{huge}, "", false, "192.0.2.1"},
		{"trusted but control characters replaced", true, []string{"abc\x1b[31m"}, "", false, "192.0.2.1"},
		{"trusted but a space replaced", true, []string{"a b"}, "", false, "192.0.2.1"},
		{"trusted but two replaced", true, []string{"a", "b"}, "", false, "192.0.2.1"},
		{"trusted but empty replaced", true, []string{""}, "", false, "192.0.2.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := &testenv.LogBuffer{}
			log := slog.New(NewLogHandler(config.Log{Format: "json", Level: "info", AccessLog: true}, out))
			o := logOnly(log)
			if tt.trusted {
				o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix(proxyNet)}
			}
			h := observe(o, rp)
			req := httptest.NewRequest("GET", "http://shop.example.com/cart", nil)
			req.Header["X-Request-Id"] = tt.ids
			req.Header.Set("User-Agent", "Mozilla/5.0 \"quoted\"\t"+huge)
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if err := closeAccessLog(log); err != nil {
				t.Fatal(err)
			}
			echoed := w.Result().Header.Values("X-Request-Id")
			if len(echoed) != 1 {
				t.Fatalf("response X-Request-Id %q, want exactly one", echoed)
			}
			id := echoed[0]
			if tt.keep && id != tt.ids[0] {
				t.Errorf("id %q, want the trusted proxy's %q", id, tt.ids[0])
			}
			if !tt.keep && !generatedID.MatchString(id) {
				t.Errorf("id %q, want a generated one", id)
			}
			if got := w.Body.String(); got != fmt.Sprintf("[%q]", id) {
				t.Errorf("upstream saw X-Request-Id %s, want [%q]", got, id)
			}
			lines := jsonLines(t, out.String())
			l := lines[len(lines)-1]
			ua, _ := l["user_agent"].(string)
			if l["request_id"] != id || l["client"] != tt.client || l["host"] != "shop.example.com" || l["route"] != "upstream" ||
				!strings.HasPrefix(ua, "Mozilla/5.0 \"quoted\"\t") || len(ua) != maxLoggedHeader {
				t.Errorf("access line %v", l)
			}
		})
	}
	// Generated ids do not repeat.
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		if seen[id] || !generatedID.MatchString(id) {
			t.Fatalf("id %q repeated or malformed", id)
		}
		seen[id] = true
	}
}

// The handler tree puts the server span's ids in the access line when it
// has a tracer, and none without one.
func TestAccessLineTraceIDsFollowTheTracer(t *testing.T) {
	for _, tracing := range []bool{true, false} {
		t.Run(fmt.Sprintf("tracing=%v", tracing), func(t *testing.T) {
			d := newTestDeps(t)
			spans := tracetest.NewInMemoryExporter()
			if tracing {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
				defer tp.Shutdown(context.Background())
				d.Tracer = tp
			}
			out := &testenv.LogBuffer{}
			d.Logger = slog.New(NewLogHandler(config.Log{Format: "json", Level: "info", AccessLog: true}, out))
			d.AccessLog = true
			h, err := NewHandler(d)
			if err != nil {
				t.Fatal(err)
			}
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "https://shop.example.com"+d.Paths.Healthz, nil))
			if err := closeAccessLog(d.Logger); err != nil {
				t.Fatal(err)
			}
			var line map[string]any
			for _, l := range jsonLines(t, out.String()) {
				if l["msg"] == "request" {
					line = l
				}
			}
			if line == nil {
				t.Fatalf("no access line in %s", out)
			}
			want := ""
			if tracing {
				got := spans.GetSpans()
				if len(got) != 1 {
					t.Fatalf("%d spans", len(got))
				}
				want = got[0].SpanContext.TraceID().String()
			}
			if got, _ := line["trace_id"].(string); got != want {
				t.Errorf("access line trace_id %q, want %q: %v", got, want, line)
			}
		})
	}
}

// With tracing on, the access line and every line logged with the
// request's context carry the server span's trace and span ids.
func TestLogLinesCarryTraceIDs(t *testing.T) {
	for _, format := range []string{"json", "gcp"} {
		t.Run(format, func(t *testing.T) {
			spans := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
			out := &testenv.LogBuffer{}
			log := slog.New(NewLogHandler(config.Log{Format: format, Level: "info", AccessLog: true}, out))
			inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				log.WarnContext(r.Context(), "inside", slog.Duration("took", 1500*time.Millisecond))
				log.Warn("no context")
			})
			names := newRouteNames("/_lcw", nil)
			h := traceRequests(tp, names, nil, observe(observeOptions{Log: log, Names: names, AccessLog: true, Tracing: true}, inner))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/page", nil))
			if err := closeAccessLog(log); err != nil {
				t.Fatal(err)
			}
			got := spans.GetSpans()
			if len(got) != 1 {
				t.Fatalf("%d spans", len(got))
			}
			tid, sid := got[0].SpanContext.TraceID().String(), got[0].SpanContext.SpanID().String()
			msgKey, levelKey := "msg", "level"
			if format == "gcp" {
				msgKey, levelKey = "message", "severity"
			}
			byMsg := map[string]map[string]any{}
			for _, l := range jsonLines(t, out.String()) {
				byMsg[l[msgKey].(string)] = l
			}
			for _, msg := range []string{"inside", "request"} {
				if l := byMsg[msg]; l["trace_id"] != tid || l["span_id"] != sid {
					t.Errorf("%s line %v, want trace_id %s span_id %s", msg, l, tid, sid)
				}
			}
			if l := byMsg["no context"]; l["trace_id"] != nil {
				t.Errorf("a line logged without the context has trace ids: %v", l)
			}
			if l := byMsg["inside"]; l["took"] != "1.5s" || l[levelKey] != map[string]string{"json": "WARN", "gcp": "WARNING"}[format] {
				t.Errorf("inside line %v: want took 1.5s and the %s level", l, format)
			}
		})
	}
}

func TestGCPSeverity(t *testing.T) {
	for l, want := range map[slog.Level]string{
		slog.LevelDebug: "DEBUG", slog.LevelDebug + 2: "DEBUG", slog.LevelInfo: "INFO", slog.LevelInfo + 1: "INFO",
		slog.LevelWarn: "WARNING", slog.LevelError: "ERROR", slog.LevelError + 4: "ERROR",
	} {
		if got := gcpSeverity(l); got != want {
			t.Errorf("%v: %s, want %s", l, got, want)
		}
	}
}

// A websocket is logged as 101, and a graceful shutdown waits for it
// (http.Server.Shutdown alone forgets hijacked connections): a tunnel that
// ends within the drain timeout ends normally; one that outlives it is
// closed at the timeout. Either way its access line is written.
func TestUpgradedConnectionsAtShutdown(t *testing.T) {
	for _, tt := range []struct {
		name      string
		drain     time.Duration
		clientEnd bool
	}{
		{"ends within the drain", 20 * time.Second, true},
		{"outlives the drain", 300 * time.Millisecond, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := newLenientUpstream(t)
			out := &testenv.LogBuffer{}
			log := slog.New(NewLogHandler(config.Log{Format: "json", Level: "info", AccessLog: true}, out))
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- Serve(ctx, ServeOptions{Server: config.Default().Server, ShutdownTimeout: tt.drain, Logger: log},
					Listener{Name: "proxy", Ln: ln, Handler: observe(logOnly(log), reverseProxyTo(t, up.URL.String()))})
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			fmt.Fprint(c, "GET /ws HTTP/1.1\r\nHost: shop.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("upgrade: %v %v", resp, err)
			}
			cancel() // shutdown begins with the tunnel open
			select {
			case err := <-done:
				t.Fatalf("Serve returned with a tunnel open: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
			if tt.clientEnd {
				// The tunnel still works during the drain, then the
				// client closes it.
				fmt.Fprint(c, "GET /in-tunnel HTTP/1.1\r\nHost: x\r\n\r\n")
				r, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("request in the tunnel during the drain: %v", err)
				}
				b, _ := io.ReadAll(r.Body)
				if string(b) != "tunnel served /in-tunnel" {
					t.Fatalf("tunnel answered %q", b)
				}
				c.Close()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return")
			}
			if !tt.clientEnd {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := br.ReadByte(); err == nil {
					t.Error("the tunnel is still open after the drain timeout")
				}
				if !strings.Contains(out.String(), "upgraded connections closed at the drain timeout") {
					t.Errorf("no warning about the closed tunnel:\n%s", out)
				}
			}
			var line map[string]any
			for _, l := range jsonLines(t, out.String()) {
				if l["msg"] == "request" && l["path"] == "/ws" {
					line = l
				}
			}
			if line == nil || line["status"] != float64(101) {
				t.Fatalf("access line of the websocket %v, want status 101; log:\n%s", line, out)
			}
		})
	}
}
