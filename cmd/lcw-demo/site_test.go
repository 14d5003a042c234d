package main

import (
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

func TestDemoSite(t *testing.T) {
	h := newSite(prefix, true, slog.New(slog.DiscardHandler)).Handler()
	tests := []struct {
		name        string
		path        string
		header      map[string]string
		wantStatus  int
		wantType    string
		wantHeaders map[string]string
		wantBody    []string
		notInBody   []string
	}{
		{
			name: "anonymous home offers sign-in back to the page", path: "/", wantStatus: 200, wantType: "text/html",
			wantBody:  []string{"lcw-auth-proxy demo", `href="/_lcw/login?rd=%2f"`, "Anonymous visitor", "SIMULATED"},
			notInBody: []string{`id="signout"`},
		},
		{
			name: "signed-in home shows the identity header", path: "/", header: map[string]string{"X-Forwarded-Email": "vip@example.com"},
			wantStatus: 200, wantBody: []string{`id="site-user">vip@example.com<`, `href="/_lcw/logout"`},
		},
		{
			name: "identity header is escaped", path: "/", header: map[string]string{"X-Forwarded-Email": `<script>alert(1)</script>`},
			wantStatus: 200, wantBody: []string{"&lt;script&gt;alert(1)&lt;/script&gt;"}, notInBody: []string{"<script>alert(1)"},
		},
		{
			name: "compressed page is always gzip", path: "/compressed.html", header: map[string]string{"Accept-Encoding": "identity"},
			wantStatus: 200, wantType: "text/html", wantHeaders: map[string]string{"Content-Encoding": "gzip"},
			wantBody: []string{"A gzip-compressed page"},
		},
		{
			name: "strict page sends its policy", path: "/strict-csp.html", wantStatus: 200,
			wantHeaders: map[string]string{"Content-Security-Policy": strictCSP}, wantBody: []string{"strict Content-Security-Policy"},
		},
		{name: "public page", path: "/public/", wantStatus: 200, wantBody: []string{"A public page"}},
		{name: "sign-in link returns to the page", path: "/public/", wantStatus: 200, wantBody: []string{`rd=%2fpublic%2f`}},
		{name: "static asset", path: "/static/site.css", wantStatus: 200, wantType: "text/css", wantBody: []string{"header.site"}},
		{
			name: "unknown page: a 404 in the site's style", path: "/nope.html", wantStatus: 404, wantType: "text/html",
			wantBody: []string{`<link rel="stylesheet" href="/static/site.css">`, "Page not found", "<code>/nope.html</code>", `href="/"`},
		},
		{
			// /token downloads a file when opened in a tab; /session shows it.
			name: "home links the session view, not the token", path: "/", wantStatus: 200,
			wantBody: []string{`href="/_lcw/session"`}, notInBody: []string{`href="/_lcw/token"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			resp := rec.Result()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("Content-Type = %q, want %s", ct, tt.wantType)
			}
			for k, v := range tt.wantHeaders {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			var body io.Reader = resp.Body
			if resp.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(resp.Body)
				if err != nil {
					t.Fatalf("gzip body: %v", err)
				}
				body = zr
			}
			b, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(string(b), want) {
					t.Errorf("body lacks %q", want)
				}
			}
			for _, bad := range tt.notInBody {
				if strings.Contains(string(b), bad) {
					t.Errorf("body contains %q", bad)
				}
			}
		})
	}
}

func TestWidgetHostServesTheLoader(t *testing.T) {
	rec := httptest.NewRecorder()
	widgetHost().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, widgetLoaderPath, nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{"setAuthTokenProvider", "lcw:ready", "crypto.subtle.verify", "RSASSA-PKCS1-v1_5", "SIMULATED"} {
		if !strings.Contains(body, want) {
			t.Errorf("loader lacks %q", want)
		}
	}
}

func TestWriteConfig(t *testing.T) {
	base := func(dir string) demoConfig {
		key, err := ensureSigningKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		secret, err := ensureCookieSecret(dir)
		if err != nil {
			t.Fatal(err)
		}
		return demoConfig{
			Listen: "127.0.0.1:4180", PublicURL: "http://127.0.0.1:4180", Upstream: "http://127.0.0.1:8080",
			Issuer: "http://127.0.0.1:5556", ClientID: "lcw-auth-proxy", ClientSecret: `s3cr3t: "#x`,
			SecretFile: secret, KeyFile: key,
		}
	}
	tests := []struct {
		name      string
		dirName   string
		simulated bool
		widget    config.Widget
		check     func(t *testing.T, cfg *config.Config)
	}{
		{
			name: "simulated widget", dirName: "state", simulated: true,
			widget: config.Widget{Src: "http://127.0.0.1:9999" + widgetLoaderPath, AppID: simulatedAppID, OrgID: simulatedOrgID, OrgURL: "http://127.0.0.1:9999"},
			check: func(t *testing.T, cfg *config.Config) {
				if got := cfg.Inject.Widget.Attributes["data-demo-public-key-url"]; got != "http://127.0.0.1:4180/_lcw/public-key.pem" {
					t.Errorf("data-demo-public-key-url = %q", got)
				}
			},
		},
		{
			name: "real widget", dirName: "state",
			widget: config.Widget{Src: defaultWidgetSrc, AppID: "app", OrgID: "org", OrgURL: "https://org.omnichannelengagementhub.com"},
			check: func(t *testing.T, cfg *config.Config) {
				if len(cfg.Inject.Widget.Attributes) != 0 {
					t.Errorf("real widget got demo attributes %v", cfg.Inject.Widget.Attributes)
				}
			},
		},
		{
			name: "state dir with YAML-special characters", dirName: `odd: dir #1 "q"`, simulated: true,
			widget: config.Widget{Src: "http://127.0.0.1:9999" + widgetLoaderPath, AppID: simulatedAppID, OrgID: simulatedOrgID, OrgURL: "http://127.0.0.1:9999"},
			check: func(t *testing.T, cfg *config.Config) {
				if !strings.Contains(cfg.Token.SigningKeys[0].File, `odd: dir #1 "q"`) {
					t.Errorf("key file path mangled: %q", cfg.Token.SigningKeys[0].File)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tt.dirName)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			c := base(dir)
			c.Widget, c.Simulated = tt.widget, tt.simulated
			cfg, path, err := writeConfig(dir, c)
			if err != nil {
				t.Fatalf("writeConfig: %v", err)
			}
			if filepath.Dir(path) != dir {
				t.Errorf("config written to %s, want in %s", path, dir)
			}
			if cfg.Access.Mode != "optional" || !cfg.Inject.Enabled || !cfg.Inject.CSP.AllowWidget {
				t.Errorf("access.mode %q, inject.enabled %v, csp.allow_widget %v; want optional, true, true",
					cfg.Access.Mode, cfg.Inject.Enabled, cfg.Inject.CSP.AllowWidget)
			}
			if cfg.OIDC.ClientSecret != c.ClientSecret {
				t.Errorf("client secret = %q, want %q", cfg.OIDC.ClientSecret, c.ClientSecret)
			}
			for _, k := range []string{"customer_email", "customer_name", "msdyn_isvip", "msdyn_cartvalue", "contact_id", "region"} {
				if _, ok := cfg.Token.LWIContexts[k]; !ok {
					t.Errorf("lwicontexts lacks %s", k)
				}
			}
			if cfg.Inject.Widget.Src != tt.widget.Src {
				t.Errorf("widget src = %q, want %q", cfg.Inject.Widget.Src, tt.widget.Src)
			}
			tt.check(t, cfg)
		})
	}
}
