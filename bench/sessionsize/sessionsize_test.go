package sessionsize

import (
	"bytes"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// entraConfig reads what deploy/examples/entra-id.yaml reads, plus the
// groups (identity headers on), so the 60 group ids stay in the session:
// the largest session an Entra sign-in leaves.
func entraConfig() *config.Config {
	c := config.Default()
	c.Headers.Pass = true
	c.Token.LWIContexts = map[string]config.ContextRule{
		"customer_login": {Claim: "preferred_username"}, "customer_email": {Claim: "email"},
		"customer_name": {Claim: "name"}, "entra_object_id": {Claim: "oid"}, "msdyn_isvip": {Claim: "roles"},
	}
	return &c
}

// typical is a sign-in with a subject, email, name and a few groups, at an
// IdP that sends an 1 KB ID token and a short refresh token.
func typical(expiry time.Time) *session.Session {
	s := entraLike(2, expiry)
	s.Claims = map[string]any{"sub": s.Subject, "iss": "https://idp.example.com", "email": "jane.doe@example.com",
		"name": "Jane Doe", "preferred_username": "jane", "groups": []any{"customers", "vip", "newsletter"}}
	s.IDToken = s.IDToken[:1024]
	s.RefreshToken = s.RefreshToken[:64]
	return s
}

// keep is what sign-in stores: the claims cfg reads.
func keep(cfg *config.Config, s *session.Session) *session.Session {
	set := claims.Needed(cfg)
	cp := *s
	cp.Claims, cp.Needs = set.Keep(s.Claims), set.Names()
	return &cp
}

func newStore(tb testing.TB) *session.CookieStore {
	codec, err := session.NewCodec([][]byte{bytes.Repeat([]byte{7}, session.KeySize)})
	if err != nil {
		tb.Fatal(err)
	}
	return session.NewCookieStore(codec, session.CookieOptions{Name: "__Host-lcw", Path: "/", Secure: true,
		Lifetime: 12 * time.Hour, LogoutPath: "/_lcw/logout"})
}

// cookieHeader saves s and returns the Cookie header the browser then
// sends with every request (cookies of Path /), its cookie count, and the
// logout cookie's size (sent to the logout endpoint only).
func cookieHeader(tb testing.TB, store *session.CookieStore, s *session.Session) (header string, n, logout int) {
	rec := httptest.NewRecorder()
	if err := store.Save(rec, httptest.NewRequest("GET", "https://shop.example.com/", nil), s); err != nil {
		tb.Fatal(err)
	}
	var parts []string
	for _, c := range rec.Result().Cookies() {
		switch {
		case c.MaxAge < 0:
		case c.Path == "/":
			parts = append(parts, c.Name+"="+c.Value)
		default:
			logout += len(c.Name) + 1 + len(c.Value)
		}
	}
	return strings.Join(parts, "; "), len(parts), logout
}

// Sizes (the targets, as metrics): an Entra-sized session's Cookie
// header at most 4 KB in one cookie, a typical one at most 1 KB. Read the
// numbers with -bench; the test below only checks that each case is a
// session the store reads back.
func BenchmarkCookieHeader(b *testing.B) {
	expiry := time.Now().Add(12 * time.Hour)
	for _, tc := range []struct {
		name string
		s    *session.Session
	}{
		{"entra-60-groups", keep(entraConfig(), entraLike(1, expiry))},
		{"typical", keep(entraConfig(), typical(expiry))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			store := newStore(b)
			header, n, logout := cookieHeader(b, store, tc.s)
			req := httptest.NewRequest("GET", "https://shop.example.com/page", nil)
			req.Header.Set("Cookie", header)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := store.Load(req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len("Cookie: ")+len(header)), "cookie-B")
			b.ReportMetric(float64(n), "cookies")
			b.ReportMetric(float64(logout), "logout-cookie-B")
		})
	}
}

// The size targets hold (sizes are deterministic: the fixtures are
// seeded): the Entra-sized session is one cookie of at most 4 KB, with the
// longest cookie name allowed, and a typical one at most 1 KB.
func TestSizeTargets(t *testing.T) {
	expiry := time.Now().Add(12 * time.Hour)
	codec, err := session.NewCodec([][]byte{bytes.Repeat([]byte{7}, session.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	longest := session.NewCookieStore(codec, session.CookieOptions{Name: "__Host-" + strings.Repeat("n", config.MaxCookieNameLen),
		Path: "/", Secure: true, Lifetime: 12 * time.Hour, LogoutPath: "/_lcw/logout"})
	if h, n, _ := cookieHeader(t, longest, keep(entraConfig(), entraLike(1, expiry))); n != 1 || len(h) > 4096 {
		t.Errorf("Entra-sized session: %d cookies, %d bytes of name=value; want one of at most 4096", n, len(h))
	}
	if h, n, _ := cookieHeader(t, newStore(t), keep(entraConfig(), typical(expiry))); n != 1 || len("Cookie: ")+len(h) > 1024 {
		t.Errorf("typical session: %d cookies, Cookie header %d bytes; want one of at most 1024", n, len("Cookie: ")+len(h))
	}
}

// The session cookies of both cases load as the session saved, without the
// ID token (the logout cookie holds it).
func TestCasesRoundTrip(t *testing.T) {
	expiry := time.Now().Add(12 * time.Hour)
	for _, s := range []*session.Session{keep(entraConfig(), entraLike(1, expiry)), keep(entraConfig(), typical(expiry))} {
		store := newStore(t)
		header, _, _ := cookieHeader(t, store, s)
		req := httptest.NewRequest("GET", "https://shop.example.com/page", nil)
		req.Header.Set("Cookie", header)
		got, err := store.Load(req)
		if err != nil || got.Subject != s.Subject || got.IDToken != "" || len(got.Claims) != len(s.Claims) {
			t.Fatalf("load: %v, %+v", err, got)
		}
	}
}

// Nothing on the request path is paid per claim the configuration does not
// read: 50 more claims at the IdP leave the cookie, and the allocations of
// reading it on a request, exactly as they were.
func TestUnusedClaimsCostNothingPerRequest(t *testing.T) {
	expiry := time.Now().Add(12 * time.Hour)
	base := entraLike(1, expiry)
	more := *base
	more.Claims = maps.Clone(base.Claims)
	for i := range 50 {
		more.Claims["extension_unused_"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26))] = strings.Repeat("v", 40)
	}
	cfg := entraConfig()
	allocs := func(s *session.Session) (float64, int) {
		store := newStore(t)
		header, _, _ := cookieHeader(t, store, keep(cfg, s))
		req := httptest.NewRequest(http.MethodGet, "https://shop.example.com/page", nil)
		req.Header.Set("Cookie", header)
		return testing.AllocsPerRun(200, func() {
			if _, err := store.Load(req); err != nil {
				t.Fatal(err)
			}
		}), len(header)
	}
	a1, n1 := allocs(base)
	a2, n2 := allocs(&more)
	if a1 != a2 || n1 != n2 {
		t.Errorf("50 unused claims changed the request path: %v allocs and %d B of cookie, then %v allocs and %d B", a1, n1, a2, n2)
	}
}
