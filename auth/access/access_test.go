package access

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// lcwPaths are the endpoints under the default prefix.
var lcwPaths = config.NewPaths("/_lcw")

func newRequest(rawPath string, hdr map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://shop.example.com"+rawPath, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func TestPublicPaths(t *testing.T) {
	p := NewPolicy(config.Access{Mode: "required", PublicPaths: []string{"/public/", "/favicon.ico", "/health"}}, lcwPaths)
	tests := []struct {
		path   string
		public bool
	}{
		{"/public/", true},
		{"/public/a/b.css", true},
		{"/public", true}, // the directory itself
		{"/favicon.ico", true},
		{"/health", true},
		{"/health/", false}, // exact entries match exactly
		{"/healthz", false},
		{"/publicity", false},
		{"/favicon.ico.bak", false},
		{"/public/../admin", false},
		{"/public/./x", false},
		{"/public//x", false},
		{"/public/..;/admin", false},
		{"/public;x=1/a", false},
		{"/public%2F..%2Fadmin", false},
		{"/public/%2e%2e/admin", false},
		{"/public/%5c..%5cadmin", false},
		{"/public/\\..\\admin", false},
		// An upstream that decodes twice, or decodes overlong UTF-8 leniently,
		// or folds look-alike characters, would resolve these to /secret.
		{"/public/%252e%252e/secret", false},
		{"/public/%252E%252E%252Fsecret", false},
		{"/public/%25", false},
		{"/public/%c0%ae%c0%ae/secret", false},
		{"/public/%C0%AE%C0%AE/secret", false},
		{"/public/%e0%80%ae%e0%80%ae/secret", false},
		{"/public/%c0%af..%c0%afsecret", false},
		{"/public/%ef%bc%8e%ef%bc%8e/secret", false}, // U+FF0E FULLWIDTH FULL STOP, '.' after NFKC
		{"/public/caf%C3%A9.png", false},             // valid UTF-8 too: when in doubt, not public
		{"/public/..%3b/admin", false},
		{"/public/..%3f/admin", false},
		{"/public/..%00/secret", false}, // a C upstream stops at the NUL: /public/..
		{"/public/a%20b.css", true},     // escapes of harmless ASCII stay public
		{"/public/%41.css", true},
		{"/admin", false},
		{"/", false},
	}
	for _, tt := range tests {
		r := newRequest("/", nil)
		u, err := url.Parse(tt.path) // not ResolveReference: it would remove dot segments
		if err != nil {
			// Paths net/url refuses never reach the proxy as such.
			continue
		}
		r.URL = u
		if got := p.Public(r); got != tt.public {
			t.Errorf("Public(%q) = %v, want %v", tt.path, got, tt.public)
		}
	}
}

func TestAuthorize(t *testing.T) {
	sess := func(claims map[string]any) *session.Session { return &session.Session{Subject: "u1", Claims: claims} }
	tests := []struct {
		name   string
		access config.Access
		claims map[string]any
		ok     bool
	}{
		{"no rules", config.Access{}, nil, true},
		{"allowed domain", config.Access{EmailDomains: []string{"example.com"}}, map[string]any{"email": "a@Example.COM", "email_verified": true}, true},
		{"other domain", config.Access{EmailDomains: []string{"example.com"}}, map[string]any{"email": "a@example.com.evil.io"}, false},
		{"subdomain is another domain", config.Access{EmailDomains: []string{"example.com"}}, map[string]any{"email": "a@mail.example.com"}, false},
		{"unverified email", config.Access{EmailDomains: []string{"example.com"}}, map[string]any{"email": "a@example.com", "email_verified": false}, false},
		{"email missing", config.Access{EmailDomains: []string{"example.com"}}, map[string]any{}, false},
		{"email not a string", config.Access{EmailDomains: []string{"example.com"}}, map[string]any{"email": []any{"a@example.com"}}, false},
		{"in a required group", config.Access{RequiredGroups: []string{"staff", "vip"}, GroupsClaim: "groups"}, map[string]any{"groups": []any{"customers", "vip"}}, true},
		{"group as a string", config.Access{RequiredGroups: []string{"vip"}, GroupsClaim: "groups"}, map[string]any{"groups": "vip"}, true},
		{"in no required group", config.Access{RequiredGroups: []string{"staff"}, GroupsClaim: "groups"}, map[string]any{"groups": []any{"vip"}}, false},
		{"custom groups claim", config.Access{RequiredGroups: []string{"admin"}, GroupsClaim: "roles"}, map[string]any{"groups": []any{"admin"}, "roles": []any{"user"}}, false},
		{"required claim value", config.Access{RequiredClaims: map[string][]string{"tier": {"gold", "silver"}}}, map[string]any{"tier": "gold"}, true},
		{"required claim other value", config.Access{RequiredClaims: map[string][]string{"tier": {"gold"}}}, map[string]any{"tier": "bronze"}, false},
		{"required boolean claim", config.Access{RequiredClaims: map[string][]string{"active": {"true"}}}, map[string]any{"active": true}, true},
		{"required claim that is an object", config.Access{RequiredClaims: map[string][]string{"tier": {"gold"}}}, map[string]any{"tier": map[string]any{"gold": true}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewPolicy(tt.access, lcwPaths).authorize(sess(tt.claims))
			if (err == nil) != tt.ok {
				t.Fatalf("Authorize = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestProtect(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	vip := &session.Session{Subject: "u1", Claims: map[string]any{"groups": []any{"vip"}}}
	tests := []struct {
		name    string
		mode    string
		sess    *session.Session
		path    string
		hdr     map[string]string
		status  int
		locates string
	}{
		{"required, anonymous page load", "required", nil, "/shop?a=1&b=2", map[string]string{"Sec-Fetch-Mode": "navigate"}, http.StatusFound, "/_lcw/login?rd=%2Fshop%3Fa%3D1%26b%3D2"},
		{"required, anonymous API call", "required", nil, "/api", map[string]string{"Accept": "application/json"}, http.StatusUnauthorized, ""},
		{"required, anonymous public path", "required", nil, "/public/x", nil, http.StatusTeapot, ""},
		{"required, authorized", "required", vip, "/shop", nil, http.StatusTeapot, ""},
		{"optional, anonymous", "optional", nil, "/shop", nil, http.StatusTeapot, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPolicy(config.Access{Mode: tt.mode, PublicPaths: []string{"/public/"}, GroupsClaim: "groups"}, lcwPaths)
			h := p.Identify(func(http.ResponseWriter, *http.Request) (*session.Session, error) { return tt.sess, nil })(p.Protect(slog.New(slog.DiscardHandler), next))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, newRequest(tt.path, tt.hdr))
			if w.Code != tt.status || w.Header().Get("Location") != tt.locates {
				t.Fatalf("status %d Location %q, want %d %q", w.Code, w.Header().Get("Location"), tt.status, tt.locates)
			}
			if tt.status == http.StatusUnauthorized && !strings.Contains(w.Body.String(), `"status":401`) {
				t.Errorf("401 body %s", w.Body)
			}
		})
	}
}

func TestIdentityHeadersCannotSplit(t *testing.T) {
	set := IdentityHeaders(config.Headers{Pass: true, User: "X-Forwarded-User", Email: "X-Forwarded-Email", Groups: "X-Forwarded-Groups"}, "groups")
	out := httptest.NewRequest("GET", "http://up/", nil)
	set(out.Header, &session.Session{Subject: "u1\r\nX-Admin: yes", Claims: map[string]any{"email": "a@b\nc", "groups": []any{"a", "b\r"}}})
	for k, vs := range out.Header {
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				t.Errorf("%s carries a line break: %q", k, v)
			}
		}
	}
	if out.Header.Get("X-Forwarded-User") != "u1X-Admin: yes" || out.Header.Get("X-Forwarded-Groups") != "a,b" {
		t.Errorf("headers %v", out.Header)
	}
	if IdentityHeaders(config.Headers{Pass: false}, "groups") != nil {
		t.Errorf("headers set although headers.pass is off")
	}
}

// The groups header reads the claim the group rules read (access.groups_claim),
// not a fixed "groups".
func TestIdentityHeadersUseGroupsClaim(t *testing.T) {
	set := IdentityHeaders(config.Headers{Pass: true, Groups: "X-Forwarded-Groups"}, "roles")
	out := httptest.NewRequest("GET", "http://up/", nil)
	set(out.Header, &session.Session{Subject: "u1", Claims: map[string]any{"roles": []any{"agent", "vip"}, "groups": []any{"other"}}})
	if got := out.Header.Get("X-Forwarded-Groups"); got != "agent,vip" {
		t.Errorf("X-Forwarded-Groups = %q, want the roles claim agent,vip", got)
	}
}

// A signed-in visitor the rules refuse is no user in optional mode: the
// request passes, but as anonymous, so nothing downstream sees the session.
func TestRefusedVisitorIsAnonymousInOptionalMode(t *testing.T) {
	p := NewPolicy(config.Access{Mode: "optional", RequiredGroups: []string{"vip"}, GroupsClaim: "groups"}, lcwPaths)
	refused := &session.Session{Subject: "u2", Claims: map[string]any{"groups": []any{"staff"}}}
	var seen *Visitor
	h := p.Identify(func(http.ResponseWriter, *http.Request) (*session.Session, error) { return refused, nil })(
		p.Protect(slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = VisitorFrom(r.Context())
			w.WriteHeader(http.StatusTeapot)
		})))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, newRequest("/shop", nil))
	if w.Code != http.StatusTeapot {
		t.Fatalf("status %d, want the request to pass", w.Code)
	}
	if seen == nil || seen.Refused == nil {
		t.Fatalf("verdict %+v, want the refusal recorded", seen)
	}
	if s, ok := seen.User(); ok || s != nil {
		t.Errorf("User() = %v, %v for a refused visitor", s, ok)
	}
}

func TestForwardAuth(t *testing.T) {
	user := &session.Session{Subject: "u1", Claims: map[string]any{"email": "a@example.com", "groups": []any{"vip"}}}
	outsider := &session.Session{Subject: "u2", Claims: map[string]any{"groups": []any{"staff"}}}
	ingress := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name     string
		mode     string
		sess     *session.Session
		peer     string
		path     string
		hdr      map[string]string
		status   int
		redirect string // X-Auth-Request-Redirect
		identity string // X-Forwarded-User
	}{
		{"authorized user gets identity", "required", user, "10.0.0.2:1", "/_lcw/auth", nil, 200, "", "u1"},
		{"refused user is 403", "required", outsider, "10.0.0.2:1", "/_lcw/auth", nil, 403, "", ""},
		{"anonymous is 401 with the original URL as rd", "required", nil, "10.0.0.2:1", "/_lcw/auth",
			map[string]string{"X-Original-URL": "https://shop.example.com/cart?x=1"}, 401, "/_lcw/login?rd=%2Fcart%3Fx%3D1", ""},
		{"Traefik's X-Forwarded-Uri", "required", nil, "10.0.0.2:1", "/_lcw/auth",
			map[string]string{"X-Forwarded-Uri": "/orders/7", "X-Forwarded-Host": "shop.example.com"}, 401, "/_lcw/login?rd=%2Forders%2F7", ""},
		{"Envoy appends the path", "required", nil, "10.0.0.2:1", "/_lcw/auth/orders/7", nil, 401, "/_lcw/login?rd=%2Forders%2F7", ""},
		{"public path from a trusted ingress passes", "required", nil, "10.0.0.2:1", "/_lcw/auth",
			map[string]string{"X-Original-URL": "https://shop.example.com/public/logo.png"}, 200, "", ""},
		{"public path claimed by an untrusted caller does not", "required", nil, "203.0.113.9:1", "/_lcw/auth",
			map[string]string{"X-Original-URL": "https://shop.example.com/public/logo.png"}, 401, "/_lcw/login?rd=%2F", ""},
		{"untrusted caller cannot name the rd", "required", nil, "203.0.113.9:1", "/_lcw/auth",
			map[string]string{"X-Forwarded-Uri": "/account"}, 401, "/_lcw/login?rd=%2F", ""},
		{"untrusted caller cannot use the Envoy form", "required", nil, "203.0.113.9:1", "/_lcw/auth/public/x", nil, 401, "/_lcw/login?rd=%2F", ""},
		{"a scheme-relative original URL is no redirect target", "required", nil, "10.0.0.2:1", "/_lcw/auth",
			map[string]string{"X-Forwarded-Uri": "//evil.example/x"}, 401, "/_lcw/login?rd=%2F", ""},
		{"rd is validated like the login's", "required", nil, "10.0.0.2:1", "/_lcw/auth",
			map[string]string{"X-Original-URL": "/\\evil.example"}, 401, "/_lcw/login?rd=%2F", ""},
		{"traversal does not borrow a public prefix", "required", nil, "10.0.0.2:1", "/_lcw/auth",
			map[string]string{"X-Forwarded-Uri": "/public/../admin"}, 401, "", ""},
		{"optional mode lets anonymous through", "optional", nil, "10.0.0.2:1", "/_lcw/auth", nil, 200, "", ""},
		{"optional mode: a refused user passes anonymously", "optional", outsider, "10.0.0.2:1", "/_lcw/auth", nil, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPolicy(config.Access{Mode: tt.mode, PublicPaths: []string{"/public/"}, RequiredGroups: []string{"vip"}, GroupsClaim: "groups"}, lcwPaths)
			h := p.Identify(func(http.ResponseWriter, *http.Request) (*session.Session, error) { return tt.sess, nil })(p.ForwardAuth(ForwardAuthOptions{
				Path: "/_lcw/auth", TrustedProxies: ingress, Logger: slog.New(slog.DiscardHandler),
				IdentityHeaders: IdentityHeaders(config.Headers{Pass: true, User: "X-Forwarded-User"}, "groups"),
			}))
			r := newRequest(tt.path, tt.hdr)
			r.RemoteAddr = tt.peer
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.redirect != "" && w.Header().Get("X-Auth-Request-Redirect") != tt.redirect {
				t.Errorf("X-Auth-Request-Redirect = %q, want %q", w.Header().Get("X-Auth-Request-Redirect"), tt.redirect)
			}
			if got := w.Header().Get("X-Forwarded-User"); got != tt.identity {
				t.Errorf("X-Forwarded-User = %q, want %q", got, tt.identity)
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", w.Header().Get("Cache-Control"))
			}
		})
	}
	// A browser page load (Traefik hands the answer to it) is sent on.
	p := NewPolicy(config.Access{Mode: "required"}, lcwPaths)
	h := p.Identify(func(http.ResponseWriter, *http.Request) (*session.Session, error) { return nil, nil })(p.ForwardAuth(ForwardAuthOptions{Path: "/_lcw/auth", Logger: slog.New(slog.DiscardHandler)}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, newRequest("/_lcw/auth", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}))
	if w.Code != 401 || !strings.Contains(w.Body.String(), `http-equiv="refresh" content="0;url=/_lcw/login?rd=%2F"`) {
		t.Errorf("page load: %d %s", w.Code, w.Body)
	}
}
