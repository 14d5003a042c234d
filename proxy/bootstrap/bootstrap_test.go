package bootstrap

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

func newTest(t *testing.T, mod func(*Options)) (*Bootstrap, *metrics.Metrics) {
	t.Helper()
	m := metrics.New()
	o := Options{Paths: config.NewPaths("/_lcw"), SessionHeader: "X-Lcw-Session", ClientFunction: "lcwAuth.getAuthenticationToken", OnUnauthenticated: "empty",
		PublicOrigin: "https://shop.example", Metrics: m}
	if mod != nil {
		mod(&o)
	}
	return New(o), m
}

func TestScriptHandler(t *testing.T) {
	b, _ := newTest(t, nil)
	// Mounted for GET, as proxy/routes.go mounts it: the router refuses the
	// other methods, here with 405 (in the proxy, where the prefix's
	// catch-all matches them, with 404).
	mux := http.NewServeMux()
	mux.Handle("GET /_lcw/bootstrap.js", b.ScriptHandler())
	tests := []struct {
		name        string
		method      string
		target      string
		ifNoneMatch string
		wantStatus  int
		wantCache   string
		wantBody    bool
	}{
		{"fresh GET", "GET", "/_lcw/bootstrap.js", "", 200, "public, max-age=300", true},
		{"versioned GET is immutable", "GET", "/_lcw/bootstrap.js?v=" + b.Version(), "", 200, "public, max-age=31536000, immutable", true},
		{"stale version gets short cache", "GET", "/_lcw/bootstrap.js?v=old", "", 200, "public, max-age=300", true},
		{"If-None-Match current", "GET", "/_lcw/bootstrap.js", `"` + b.Version() + `"`, 304, "public, max-age=300", false},
		{"If-None-Match list", "GET", "/_lcw/bootstrap.js", `"x", "` + b.Version() + `"`, 304, "public, max-age=300", false},
		{"If-None-Match old", "GET", "/_lcw/bootstrap.js", `"old"`, 200, "public, max-age=300", true},
		{"HEAD", "HEAD", "/_lcw/bootstrap.js", "", 200, "public, max-age=300", false},
		{"POST refused", "POST", "/_lcw/bootstrap.js", "", 405, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.ifNoneMatch != "" {
				r.Header.Set("If-None-Match", tc.ifNoneMatch)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tc.wantStatus)
			}
			if got := w.Header().Get("Cache-Control"); got != tc.wantCache {
				t.Errorf("Cache-Control = %q, want %q", got, tc.wantCache)
			}
			if tc.wantStatus == 405 {
				return
			}
			if got := w.Header().Get("Etag"); got != `"`+b.Version()+`"` {
				t.Errorf("ETag = %q", got)
			}
			if tc.wantStatus == 200 {
				if got := w.Header().Get("Content-Type"); got != "text/javascript; charset=utf-8" {
					t.Errorf("Content-Type = %q", got)
				}
				if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("X-Content-Type-Options = %q", got)
				}
			}
			if got := w.Body.Len() > 0; got != tc.wantBody {
				t.Errorf("body present = %v, want %v", got, tc.wantBody)
			}
		})
	}
}

func TestVersionIsContentHash(t *testing.T) {
	a, _ := newTest(t, nil)
	same, _ := newTest(t, nil)
	other, _ := newTest(t, func(o *Options) { o.OnUnauthenticated = "login" })
	if a.Version() != same.Version() {
		t.Error("same config, different versions")
	}
	if a.Version() == other.Version() {
		t.Error("different script, same version")
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{16}$`).MatchString(a.Version()) {
		t.Errorf("version %q is not URL- and ETag-safe", a.Version())
	}
}

func TestScriptEmbedsConfigSafely(t *testing.T) {
	b, _ := newTest(t, func(o *Options) {
		o.Paths = config.NewPaths(`/x"</script><script>alert(1)</script>'` + "\u2028")
		o.ClientFunction = "a.b.c"
	})
	w := httptest.NewRecorder()
	b.ScriptHandler().ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	body := w.Body.String()
	for _, bad := range []string{"</script>", "<script>", `x"<`, "\u2028"} {
		if strings.Contains(body, bad) {
			t.Errorf("script contains %q unescaped", bad)
		}
	}
	if !strings.Contains(body, `"fn":["a","b","c"]`) {
		t.Errorf("client function path not embedded: %s", body[:300])
	}
	if !strings.Contains(body, `\u003c/script\u003e`) {
		t.Error("prefix not JSON-escaped with HTML escaping")
	}
	if strings.Contains(body, "{{") {
		t.Error("unrendered template action")
	}
}
