package session

import (
	"encoding/base64"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLogoutCookieName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure bool
		want   string
	}{
		{"_lcw", false, "_lcw_logout"},
		{"_lcw", true, "__Secure-_lcw_logout"},
		// __Host- requires Path=/, which the logout cookie is not.
		{"__Host-_lcw", true, "__Secure-_lcw_logout"},
		{"__Secure-shop", true, "__Secure-shop_logout"},
	} {
		if got := logoutCookieName(tc.name, tc.secure); got != tc.want {
			t.Errorf("logoutCookieName(%q, %v) = %q, want %q", tc.name, tc.secure, got, tc.want)
		}
	}
}

// logoutRequest is a request to path carrying cookies (those not being
// deleted).
func logoutRequest(path string, cookies ...*http.Cookie) *http.Request {
	r := requestWith(cookies...)
	r.URL.Path = path
	return r
}

func findCookie(cs []*http.Cookie, name string) *http.Cookie {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// The ID token leaves the session cookie for a logout cookie: Secure,
// HttpOnly, scoped to the logout path (so a __Secure- name, as __Host-
// needs Path=/), read only by a Load for that path, and only for the
// session it was written with.
func TestLogoutCookie(t *testing.T) {
	s, clk := newTestStore(t, CookieOptions{Name: "__Host-_lcw", Secure: true, LogoutPath: "/_lcw/logout"})
	sess := typicalSession()
	set := save(t, s, sess)
	out := findCookie(set, "__Secure-_lcw_logout")
	if out == nil {
		t.Fatalf("Save set %v, want a logout cookie", cookieNames(set))
	}
	if out.Path != "/_lcw/logout" || !out.Secure || !out.HttpOnly || out.MaxAge <= 0 {
		t.Errorf("logout cookie attributes: path %q secure %v httponly %v max-age %d", out.Path, out.Secure, out.HttpOnly, out.MaxAge)
	}
	if main := findCookie(set, "__Host-_lcw"); main == nil || main.Path != "/" {
		t.Fatalf("session cookie %+v", main)
	}

	page, err := s.Load(logoutRequest("/page", set...))
	if err != nil || page.IDToken != "" {
		t.Fatalf("Load for a page: %v, ID token %q; want the session without it", err, page.IDToken)
	}
	got, err := s.Load(logoutRequest("/_lcw/logout", set...))
	if err != nil || got.IDToken != sess.IDToken {
		t.Fatalf("Load for the logout path: %v, ID token %q; want the session's", err, got.IDToken)
	}
	// The cache serves the page's Load; the logout's copy did not change it.
	if again, _ := s.Load(logoutRequest("/page", set...)); again.IDToken != "" {
		t.Error("the ID token leaked into the cached session")
	}

	t.Run("bound to its session", func(t *testing.T) {
		other := typicalSession()
		other.Subject = "someone-else"
		otherSet := save(t, s, other)
		mixed := []*http.Cookie{findCookie(set, "__Host-_lcw"), findCookie(otherSet, "__Secure-_lcw_logout")}
		if got, err := s.Load(logoutRequest("/_lcw/logout", mixed...)); err != nil || got.IDToken != "" {
			t.Errorf("another session's logout cookie: %v, ID token %q; want none", err, got.IDToken)
		}
		later := typicalSession()
		later.CreatedAt = sess.CreatedAt.Add(1)
		laterSet := save(t, s, later)
		mixed = []*http.Cookie{findCookie(set, "__Host-_lcw"), findCookie(laterSet, "__Secure-_lcw_logout")}
		if got, _ := s.Load(logoutRequest("/_lcw/logout", mixed...)); got.IDToken != "" {
			t.Error("the same user's logout cookie of another sign-in was taken")
		}
		r := logoutRequest("/_lcw/logout", set...)
		r.Header.Add("Cookie", "__Secure-_lcw_logout="+findCookie(otherSet, "__Secure-_lcw_logout").Value)
		if got, _ := s.Load(r); got.IDToken != "" {
			t.Error("two logout cookies: one was taken")
		}
		tampered := *out
		tampered.Value = out.Value[:len(out.Value)-3] + "AAA"
		if got, _ := s.Load(logoutRequest("/_lcw/logout", findCookie(set, "__Host-_lcw"), &tampered)); got.IDToken != "" {
			t.Error("a tampered logout cookie was taken")
		}
	})

	t.Run("a refresh without an ID token keeps the logout cookie", func(t *testing.T) {
		refreshed := *sess
		refreshed.IDToken = ""
		refreshed.RefreshToken = "rotated"
		again := save(t, s, &refreshed, set...)
		if findCookie(again, "__Secure-_lcw_logout") != nil {
			t.Fatalf("Save without an ID token touched the logout cookie: %v", cookieNames(again))
		}
		next := []*http.Cookie{findCookie(again, "__Host-_lcw"), out}
		if got, _ := s.Load(logoutRequest("/_lcw/logout", next...)); got.IDToken != sess.IDToken {
			t.Error("after the refresh the logout cookie no longer names the session")
		}
	})

	t.Run("Clear expires it on its path", func(t *testing.T) {
		rec := httptest.NewRecorder()
		if err := s.Clear(rec, logoutRequest("/_lcw/logout", set...)); err != nil {
			t.Fatal(err)
		}
		c := findCookie(rec.Result().Cookies(), "__Secure-_lcw_logout")
		if c == nil || c.MaxAge >= 0 || c.Path != "/_lcw/logout" {
			t.Fatalf("Clear: logout cookie %+v, want it expired for /_lcw/logout", c)
		}
	})

	t.Run("expires with the session", func(t *testing.T) {
		saved := clk.now
		defer func() { clk.now = saved }()
		clk.now = sess.Expiry.Add(1)
		if _, err := s.Load(logoutRequest("/_lcw/logout", set...)); err == nil {
			t.Fatal("an expired session loaded")
		}
	})
}

// Without LogoutPath (a logout that sends no ID token) no logout cookie is
// written or read.
func TestNoLogoutCookie(t *testing.T) {
	s, _ := newTestStore(t, CookieOptions{Name: "_lcw"})
	set := save(t, s, typicalSession())
	if len(set) != 1 || set[0].Name != "_lcw" {
		t.Fatalf("Save set %v, want only _lcw", cookieNames(set))
	}
	if got, _ := s.Load(logoutRequest("/_lcw/logout", set...)); got.IDToken != "" {
		t.Error("an ID token without a logout cookie")
	}
}

// An ID token too big for one cookie even packed is not kept: logout then
// stays local instead of sending a broken hint.
func TestLogoutCookieTooLarge(t *testing.T) {
	s, _ := newTestStore(t, CookieOptions{Name: "_lcw", LogoutPath: "/_lcw/logout"})
	sess := typicalSession()
	sess.IDToken = "eyJhbGciOiJSUzI1NiJ9." + randomB64(6000) + "." + randomB64(256)
	set := save(t, s, sess)
	if c := findCookie(set, "_lcw_logout"); c == nil || c.MaxAge >= 0 {
		t.Fatalf("logout cookie %+v, want an expired one (a stale one must not stay)", c)
	}
	for _, c := range set {
		if len(c.Name)+1+len(c.Value) > 4096 {
			t.Errorf("cookie %s is %d bytes", c.Name, len(c.Name)+1+len(c.Value))
		}
	}
}

func randomB64(n int) string {
	rng := rand.New(rand.NewPCG(uint64(n), 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// packIDToken returns every token as it was, packed smaller when it is a
// compact JWS.
func TestPackIDToken(t *testing.T) {
	jws := "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + randomB64(900) + "." + randomB64(256)
	for _, tok := range []string{
		jws,
		"opaque-token",
		"a.b",
		"a.b.c.d.e",             // JWE-like: five parts
		"ab.c!d.ef",             // not base64url
		"eyJh.YQ==.c2ln",        // padded: not canonical base64url, kept as text
		"eyJhbGciOiJub25lIn0..", // empty signature
		"",
	} {
		p := packIDToken(tok)
		if got := unpackIDToken(p); got != tok {
			t.Errorf("packIDToken(%q) unpacks to %q", tok, got)
		}
	}
	if p := packIDToken(jws); len(p) >= len(jws)*4/5 {
		t.Errorf("a %d-byte JWS packs to %d bytes, want its decoded size", len(jws), len(p))
	}
	for _, bad := range [][]byte{nil, {plainRaw}, {plainRaw, 'x'}, {plainRaw, tokenJWS, 0xff}, {0x7f}} {
		if got := unpackIDToken(bad); got != "" {
			t.Errorf("unpackIDToken(%v) = %q, want empty", bad, got)
		}
	}
	if !strings.HasPrefix(unpackIDToken(packIDToken(jws)), "eyJ") {
		t.Error("JWS round trip lost its header")
	}
}
