package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

func TestLoggedPath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                         "/",
		"/shop/cart":                "/shop/cart",
		"/a=b/c":                    "/a=b/c", // '=' in a segment is no parameter
		"/cb?code=abc&state=xyz":    "/cb?code=REDACTED&state=REDACTED",
		"/p?item=1&access_token=t":  "/p?item=1&access_token=REDACTED",
		"/p?ID_TOKEN=t#frag":        "/p?ID_TOKEN=REDACTED#frag",
		"/p;jsessionid=abc/next":    "/p;jsessionid=REDACTED/next",
		"/p?x_refresh_token=a=b&y=": "/p?x_refresh_token=REDACTED&y=",
		"/p?code=":                  "/p?code=",
		"/p?page=2&q=shoes":         "/p?page=2&q=shoes",
	} {
		if got := loggedPath(in); got != want {
			t.Errorf("loggedPath(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { loggedPath("/shop/cart/item-42") }); n != 0 {
		t.Errorf("a path without parameters costs %v allocations", n)
	}
}

// secretRequests are request targets whose queries, and in the last ones
// paths, hold every kind of secret a URL carries in OAuth 2.0 and OpenID
// Connect (and a few session and key names); each secret's value contains
// "SECRET".
var secretRequests = func() []string {
	names := []string{"token", "code", "state", "access_token", "id_token", "refresh_token", "client_secret",
		"password", "session_state", "logout_token", "code_verifier", "api_key", "jsessionid"}
	var query []string
	for _, n := range names {
		query = append(query, n+"=SECRET-"+n)
	}
	q := strings.Join(query, "&")
	return []string{
		"/_lcw/callback?" + q,
		"/page?" + q,
		"/page%3F" + url.PathEscape(q), // an encoded '?': the "query" is in the path
		"/page;" + strings.Join(query, ";"),
	}
}()

// Neither the access log (its fast lines in both formats, or through slog)
// nor the upstream error log records a secret from a URL.
func TestAccessLogRecordsNoSecrets(t *testing.T) {
	down, _ := url.Parse("http://" + closedAddr(t)) // every request ends in the upstream error log
	for _, format := range []string{"json", "text", "slog"} {
		t.Run(format, func(t *testing.T) {
			out := &testenv.LogBuffer{}
			log := slog.New(slog.NewJSONHandler(out, nil))
			if format != "slog" {
				log = slog.New(WithAccessLog(slog.NewJSONHandler(out, nil), out, format))
			}
			rp, err := NewReverseProxy(UpstreamOptions{URL: down, Upstream: config.Default().Upstream, CookieName: "_lcw", Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			h := observe(logOnly(log), rp)
			for _, target := range secretRequests {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, target, nil))
			}
			if err := closeAccessLog(log); err != nil {
				t.Fatal(err)
			}
			logs := out.String()
			if strings.Count(logs, "/page") < 2*3 || !strings.Contains(logs, "upstream error") {
				t.Fatalf("the requests were not logged:\n%s", logs)
			}
			if strings.Contains(logs, "SECRET") {
				t.Errorf("a secret reached the log:\n%s", logs)
			}
		})
	}
}

// No span attribute (server span, upstream client span) records a secret
// from a URL.
func TestSpansRecordNoSecrets(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())
	cfg := config.Default()
	u, _ := url.Parse(up.URL)
	rp, err := NewReverseProxy(UpstreamOptions{URL: u, Upstream: cfg.Upstream, CookieName: "_lcw", Logger: quietLog, Tracer: tp})
	if err != nil {
		t.Fatal(err)
	}
	h := traceRequests(tp, newRouteNames("/_lcw", nil), nil, rp)
	for _, target := range secretRequests {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		if w.Code != 200 {
			t.Fatalf("%s: %d", target, w.Code)
		}
	}
	got := spans.GetSpans()
	if len(got) != 2*len(secretRequests) {
		t.Fatalf("%d spans, want a server and a client span per request", len(got))
	}
	for _, s := range got {
		for _, a := range s.Attributes {
			if v := fmt.Sprint(a.Value.AsInterface()); strings.Contains(v, "SECRET") {
				t.Errorf("span %q attribute %s = %q", s.Name, a.Key, v)
			}
		}
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	return addr
}

// BenchmarkLoggedPath: what the access log and spans pay per request for
// it, on an ordinary path and on one holding secrets.
func BenchmarkLoggedPath(b *testing.B) {
	for name, p := range map[string]string{
		"plain":   "/shop/category/shoes/item-42",
		"secrets": "/cb;jsessionid=0123456789abcdef;code=abcdef",
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				loggedPath(p)
			}
		})
	}
}

// FuzzLoggedPath: whatever the path, a secret parameter's value never
// survives, a path without one comes back unchanged, and redacting twice
// changes nothing more.
func FuzzLoggedPath(f *testing.F) {
	for _, s := range []string{"/", "/cb?code=abc&state=x", "/p;jsessionid=1/q", "/a=b", "/p?access_token=&x=1", "/%3F=?=&=;"} {
		f.Add(s, "SECRETVALUE")
	}
	f.Fuzz(func(t *testing.T, p, v string) {
		got := loggedPath(p)
		if !strings.Contains(p, "=") && got != p {
			t.Fatalf("loggedPath(%q) = %q, want it unchanged", p, got)
		}
		if again := loggedPath(got); again != got {
			t.Fatalf("loggedPath(%q) = %q, then %q", p, got, again)
		}
		if v == "" || strings.ContainsAny(v, "&;/#=") || strings.Contains(redactedValue, v) {
			return
		}
		// The secret adds no occurrence of itself to what p shows.
		got = loggedPath(p + "?refresh_token=" + v)
		if strings.Count(got, v) > strings.Count(loggedPath(p)+"?refresh_token=", v) {
			t.Fatalf("the secret %q survived in %q", v, got)
		}
	})
}
