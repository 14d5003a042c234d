package login

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

// loadConfig loads a minimal configuration with oidc as its oidc section
// (YAML flow style).
func loadConfig(t *testing.T, oidc string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "k.pem")
	_ = os.WriteFile(key, []byte("unused"), 0o600)
	yaml := `public_url: https://shop.example.com
upstream: {url: "http://127.0.0.1:8080"}
oidc: ` + oidc + `
session: {secret: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
token: {issuer: shop.example.com, signing_keys: [{file: ` + key + `}]}
`
	path := filepath.Join(dir, "c.yaml")
	_ = os.WriteFile(path, []byte(yaml), 0o600)
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newRP builds a relying party whose provider was never discovered, as
// while the IdP is down; the end-to-end tests in cmd/internal/e2e cover the
// flows against a real provider.
func newRP(t *testing.T) *RP {
	t.Helper()
	cfg := loadConfig(t, `{issuer: "http://127.0.0.1:1", client_id: c}`)
	codec, err := session.NewCodec(cfg.Session.Keys)
	if err != nil {
		t.Fatal(err)
	}
	store := session.NewCookieStore(codec, session.CookieOptions{Name: cfg.Session.Name, Path: "/", Secure: true, Lifetime: cfg.Session.Lifetime.D(), LogoutPath: cfg.Paths.Logout})
	rp, err := New(Options{OIDC: cfg.OIDC, Session: cfg.Session, Store: store, Codec: codec, Paths: cfg.Paths, PublicOrigin: cfg.Public.String(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New()})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

func TestWithoutProvider(t *testing.T) {
	rp := newRP(t)
	if rp.Ready() == nil {
		t.Fatal("ready before discovery")
	}
	// An https public_url: every cookie is __Host- prefixed, flow cookies
	// included (so they use Path=/).
	tests := []struct {
		name    string
		h       http.Handler
		target  string
		cookie  string
		status  int
		body    string
		setsFor string // a cookie name the response must expire
	}{
		{"login says the IdP is unreachable", rp.LoginHandler(), "/_lcw/login?rd=/x", "", http.StatusServiceUnavailable, "identity provider cannot be reached", ""},
		{"callback without state", rp.CallbackHandler(), "/_lcw/callback?code=abc", "", http.StatusBadRequest, "try again", ""},
		{"callback without flow cookie", rp.CallbackHandler(), "/_lcw/callback?code=abc&state=0123456789abcdefXYZ", "", http.StatusBadRequest, "started in another browser", "__Host-_lcw_flow_0123456789abcdef"},
		{"callback with a forged flow cookie", rp.CallbackHandler(), "/_lcw/callback?code=abc&state=0123456789abcdefXYZ", "__Host-_lcw_flow_0123456789abcdef=forged", http.StatusBadRequest, "try again", "__Host-_lcw_flow_0123456789abcdef"},
		{"callback with a provider error shows only the code", rp.CallbackHandler(), "/_lcw/callback?error=access_denied%3Cb%3E&error_description=%3Cscript%3E", "", http.StatusForbidden, "(access_deniedb)", ""},
		{"logout without provider stays local", rp.LogoutHandler(), "/_lcw/logout", "__Host-_lcw=x; __Host-_lcw_1=y; __Host-_lcw_flow_abc=z", http.StatusFound, "", "__Host-_lcw_flow_abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "https://shop.example.com"+tt.target, nil)
			if tt.cookie != "" {
				r.Header.Set("Cookie", tt.cookie)
			}
			w := httptest.NewRecorder()
			tt.h.ServeHTTP(w, r)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.body) {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), "<script>") {
				t.Errorf("provider text reflected: %s", w.Body)
			}
			if tt.setsFor != "" && !strings.Contains(strings.Join(w.Header().Values("Set-Cookie"), "\n"), tt.setsFor+"=; Path=/; Max-Age=0") {
				t.Errorf("%s not expired: %v", tt.setsFor, w.Header().Values("Set-Cookie"))
			}
		})
	}
}

func TestCallbackIgnoresHEAD(t *testing.T) {
	rp := newRP(t)
	r := httptest.NewRequest("HEAD", "https://shop.example.com/_lcw/callback?code=a&state=0123456789abcdefX", nil)
	r.Header.Set("Cookie", "__Host-_lcw_flow_0123456789abcdef=sealed")
	w := httptest.NewRecorder()
	rp.CallbackHandler().ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed || len(w.Header().Values("Set-Cookie")) != 0 {
		t.Fatalf("HEAD callback: %d, cookies %v", w.Code, w.Header().Values("Set-Cookie"))
	}
}

func TestSanitizeCode(t *testing.T) {
	for in, want := range map[string]string{
		"access_denied":              "access_denied",
		"<script>alert(1)</script>":  "scriptalert1script",
		"login_required\r\nX: y":     "login_requiredXy",
		strings.Repeat("a", 200):     strings.Repeat("a", 64),
		"interaction-required\u202e": "interaction-required",
	} {
		if got := sanitizeCode(in); got != want {
			t.Errorf("sanitizeCode(%q) = %q, want %q", in, got, want)
		}
	}
}
