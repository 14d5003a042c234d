package access

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

var trustedIngress = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}

func forwardAuthFor(p *Policy, sess *session.Session, err error) http.Handler {
	return p.Identify(func(http.ResponseWriter, *http.Request) (*session.Session, error) { return sess, err })(p.ForwardAuth(ForwardAuthOptions{
		Path: "/_lcw/auth", TrustedProxies: trustedIngress, Logger: slog.New(slog.DiscardHandler),
		IdentityHeaders: IdentityHeaders(config.Headers{Pass: true, User: "X-Forwarded-User"}, "groups"),
	}))
}

// The second review's bypass: nginx builds X-Original-URL from the client's
// Host, which need not parse, and passes the client's X-Forwarded-Uri on.
// Once a trusted ingress sent X-Original-URL, nothing else is read: a value
// that does not parse is a protected path, never the other header's.
func TestForwardAuthNeverFallsBackFromOriginalURL(t *testing.T) {
	p := NewPolicy(config.Access{Mode: "required", PublicPaths: []string{"/public/"}}, lcwPaths)
	h := forwardAuthFor(p, nil, nil)
	ask := func(hdr http.Header) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "http://10.0.0.5/_lcw/auth", nil)
		r.RemoteAddr = "10.0.0.2:1"
		r.Header = hdr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, host := range []string{"shop.example.com:b", "%zz", "[::1", "a:1:2", "a?", "x#", "a b", "", "user@:x"} {
		for _, spoof := range []string{"/public/x", "http://shop.example.com/public/x"} {
			t.Run(host+" "+spoof, func(t *testing.T) {
				w := ask(http.Header{"X-Original-Url": {"http://" + host + "/admin"}, "X-Forwarded-Uri": {spoof}})
				if w.Code != http.StatusUnauthorized {
					t.Fatalf("X-Original-URL http://%s/admin with X-Forwarded-Uri %s: %d, want 401", host, spoof, w.Code)
				}
				if rd := w.Header().Get("X-Auth-Request-Redirect"); strings.Contains(rd, "public") {
					t.Errorf("rd %q comes from the client's X-Forwarded-Uri", rd)
				}
			})
		}
	}
	// The authority is skipped unread: a Host that does not parse still
	// yields the real path for the rd.
	if w := ask(http.Header{"X-Original-Url": {"http://shop.example.com:b/orders?id=7"}}); w.Header().Get("X-Auth-Request-Redirect") != "/_lcw/login?rd=%2Forders%3Fid%3D7" {
		t.Errorf("rd for a Host that does not parse: %q", w.Header().Get("X-Auth-Request-Redirect"))
	}
	// A public path named by X-Original-URL with a bad Host is still public.
	if w := ask(http.Header{"X-Original-Url": {"http://%zz/public/logo.png"}}); w.Code != http.StatusOK {
		t.Errorf("public path behind a Host that does not parse: %d", w.Code)
	}
	for name, hdr := range map[string]http.Header{
		"X-Original-URL sent twice":    {"X-Original-Url": {"http://a/public/x", "http://a/admin"}},
		"X-Forwarded-Uri sent twice":   {"X-Forwarded-Uri": {"/public/x", "/admin"}},
		"empty X-Original-URL":         {"X-Original-Url": {""}, "X-Forwarded-Uri": {"/public/x"}},
		"X-Original-URL without path":  {"X-Original-Url": {"http://a"}, "X-Forwarded-Uri": {"/public/x"}},
		"X-Original-URL path-relative": {"X-Original-Url": {"public/x"}},
		"a host cut short by '?'":      {"X-Original-Url": {"http://a?/public/x"}},
		"a fragment in the path":       {"X-Original-Url": {"http://a/public/x#/../../admin"}},
		"nothing named at all":         {},
	} {
		if w := ask(hdr); w.Code != http.StatusUnauthorized || w.Header().Get("X-Auth-Request-Redirect") != "/_lcw/login?rd=%2F" {
			t.Errorf("%s: %d rd %q, want 401 with rd /", name, w.Code, w.Header().Get("X-Auth-Request-Redirect"))
		}
	}
}

// Protect and ForwardAuth render one decision: for every verdict, path kind
// and mode they agree on pass / 401 / 403 / 503 (ForwardAuth's 200 is
// Protect's pass; Protect's sign-in is a 302 for page loads, a 401 else).
func TestProtectAndForwardAuthAgree(t *testing.T) {
	member := &session.Session{Subject: "u1", Claims: map[string]any{"groups": []any{"vip"}}}
	outsider := &session.Session{Subject: "u2", Claims: map[string]any{"groups": []any{"staff"}}}
	down := fmt.Errorf("redis: %w", errors.New("connection refused"))
	verdicts := []struct {
		name string
		sess *session.Session
		err  error
	}{
		{"anonymous", nil, nil},
		{"authorized user", member, nil},
		{"refused user", outsider, nil},
		{"store unavailable", nil, down},
	}
	// want[mode][path kind][verdict] is the status both must answer.
	want := map[string]map[string]map[string]int{
		"required": {
			"public":    {"anonymous": 200, "authorized user": 200, "refused user": 200, "store unavailable": 200},
			"protected": {"anonymous": 401, "authorized user": 200, "refused user": 403, "store unavailable": 503},
		},
		"optional": {
			"public":    {"anonymous": 200, "authorized user": 200, "refused user": 200, "store unavailable": 200},
			"protected": {"anonymous": 200, "authorized user": 200, "refused user": 200, "store unavailable": 503},
		},
	}
	paths := map[string]string{"public": "/public/logo.png", "protected": "/admin"}
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := VisitorFrom(r.Context()).User(); ok {
			w.Header().Set("X-Forwarded-User", "as user")
		}
		w.WriteHeader(http.StatusOK)
	})
	for mode, byKind := range want {
		for kind, byVerdict := range byKind {
			for _, v := range verdicts {
				t.Run(mode+"/"+kind+"/"+v.name, func(t *testing.T) {
					p := NewPolicy(config.Access{Mode: mode, PublicPaths: []string{"/public/"}, RequiredGroups: []string{"vip"}, GroupsClaim: "groups"}, lcwPaths)
					load := func(http.ResponseWriter, *http.Request) (*session.Session, error) { return v.sess, v.err }

					pw := httptest.NewRecorder()
					p.Identify(load)(p.Protect(slog.New(slog.DiscardHandler), upstream)).ServeHTTP(pw, newRequest(paths[kind], map[string]string{"Accept": "application/json"}))

					fr := newRequest("/_lcw/auth", map[string]string{"X-Original-URL": "https://shop.example.com" + paths[kind], "Accept": "application/json"})
					fr.RemoteAddr = "10.0.0.2:1"
					fw := httptest.NewRecorder()
					forwardAuthFor(p, v.sess, v.err).ServeHTTP(fw, fr)

					w := byVerdict[v.name]
					if pw.Code != w || fw.Code != w {
						t.Fatalf("Protect %d, ForwardAuth %d, want both %d", pw.Code, fw.Code, w)
					}
					// Only an authorized user passes as themselves.
					asUser := v.name == "authorized user"
					if (pw.Header().Get("X-Forwarded-User") != "") != asUser || (fw.Header().Get("X-Forwarded-User") != "") != asUser {
						t.Errorf("identity: Protect %q, ForwardAuth %q; want set only for the authorized user",
							pw.Header().Get("X-Forwarded-User"), fw.Header().Get("X-Forwarded-User"))
					}
				})
			}
		}
	}
}

// Whatever a trusted ingress sends, the reconstruction never panics, a
// present X-Original-URL alone decides the path, and a path it calls public
// is one the X-Original-URL really holds.
func FuzzOriginalURL(f *testing.F) {
	for _, s := range [][2]string{
		{"http://shop.example.com:b/admin", "/public/x"},
		{"https://shop.example.com/public/x?y=1", ""},
		{"http://[::1/admin", "/public/"},
		{"/public/%2e%2e/admin", "/public/x"},
		{"http://a?/public/x", "/public/x"},
		{"", "/public/x"},
	} {
		f.Add(s[0], s[1])
	}
	p := NewPolicy(config.Access{Mode: "required", PublicPaths: []string{"/public/"}}, lcwPaths)
	o := ForwardAuthOptions{Path: "/_lcw/auth", TrustedProxies: trustedIngress}
	f.Fuzz(func(t *testing.T, original, forwarded string) {
		r := httptest.NewRequest(http.MethodGet, "http://10.0.0.5/_lcw/auth", nil)
		r.RemoteAddr = "10.0.0.2:1"
		r.Header = http.Header{"X-Original-Url": {original}, "X-Forwarded-Uri": {forwarded}}
		u, known := originalURL(r, o)
		r.Header.Del("X-Forwarded-Uri")
		alone, aloneKnown := originalURL(r, o)
		if known != aloneKnown || u.String() != alone.String() {
			t.Fatalf("X-Forwarded-Uri %q changed the answer for X-Original-URL %q: %v %v vs %v %v", forwarded, original, u, known, alone, aloneKnown)
		}
		if known && p.Public(&http.Request{URL: u}) && !strings.Contains(original, "/public") {
			t.Fatalf("X-Original-URL %q counted as the public path %q", original, u)
		}
		_ = u.RequestURI()
	})
}
