package session

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// noise is n characters that do not compress, as a blob claim that is
// meant to make a session large must not (sessions are compressed).
func noise(n int) string {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	b := make([]byte, n)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// clock is a settable time source for a Store under test.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newTestStore(t testing.TB, opts CookieOptions, keys ...[]byte) (*CookieStore, *clock) {
	t.Helper()
	if len(keys) == 0 {
		keys = [][]byte{newKey(t)}
	}
	// The production values config provisions, unless the test sets its own.
	if opts.Name == "" {
		opts.Name = "_lcw"
	}
	if opts.Path == "" {
		opts.Path = "/"
	}
	if opts.Lifetime == 0 {
		opts.Lifetime = 12 * time.Hour
	}
	s := NewCookieStore(newCodec(t, keys...), opts)
	clk := &clock{now: t0}
	s.now = clk.Now
	return s, clk
}

// typicalSession has what a real IdP login leaves: about ten claims and an
// ID token.
func typicalSession() *Session {
	return &Session{
		Subject: "248289761001",
		Claims: map[string]any{
			"sub": "248289761001", "email": "jane.doe@example.com", "email_verified": true,
			"name": "Jane Doe", "given_name": "Jane", "family_name": "Doe",
			"preferred_username": "jdoe", "locale": "en-GB",
			"groups": []any{"customers", "vip"}, "tier": "gold",
		},
		IDToken: "eyJhbGciOiJSUzI1NiIsImtpZCI6IjFlOWdkazcifQ." +
			strings.Repeat("eyJpc3MiOiJodHRwOi8vc2VydmVyLmV4YW1wbGUuY29tIiwic3ViIjoiMjQ4Mjg5NzYxMDAxIn0", 6) +
			"." + strings.Repeat("rHQjEmBqn9Jre0OLykYNnspA10Qql2rvx4FsD00jwlB0Sym4NzpgvPKsDjn", 6),
		RefreshToken: "8xLOxBtZp8",
		RefreshAt:    t0.Add(5 * time.Minute),
		Expiry:       t0.Add(12 * time.Hour),
		CreatedAt:    t0,
	}
}

// save runs Store.Save for a request carrying reqCookies and returns the
// response's Set-Cookie cookies.
func save(t testing.TB, s *CookieStore, sess *Session, reqCookies ...*http.Cookie) []*http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := s.Save(rec, requestWith(reqCookies...), sess); err != nil {
		t.Fatalf("Save: %v", err)
	}
	return rec.Result().Cookies()
}

// requestWith builds a request carrying the cookies a browser would keep
// from Set-Cookie: those not being deleted.
func requestWith(cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://shop.example.com/", nil)
	for _, c := range cookies {
		if c.MaxAge >= 0 {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	return r
}

func requestWithHeader(header string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://shop.example.com/", nil)
	r.Header.Set("Cookie", header)
	return r
}

func cookieNames(cs []*http.Cookie) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func TestStoreRoundTrip(t *testing.T) {
	s, _ := newTestStore(t, CookieOptions{Name: "_lcw"})
	want := typicalSession()
	set := save(t, s, want)
	if got := cookieNames(set); !reflect.DeepEqual(got, []string{"_lcw"}) {
		t.Fatalf("a typical session set cookies %v, want just _lcw", got)
	}
	got, err := s.Load(requestWith(set...))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := withoutIDToken(want); !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v\nwant   %+v", got, want)
	}
}

// withoutIDToken is sess as the session cookie holds it: the ID token is
// only in the logout cookie.
func withoutIDToken(sess *Session) *Session {
	cp := *sess
	cp.IDToken = ""
	return &cp
}

func TestStoreSaveFillsDefaults(t *testing.T) {
	s, _ := newTestStore(t, CookieOptions{Lifetime: time.Hour})
	sess := &Session{Subject: "alice"}
	set := save(t, s, sess)
	if !sess.Expiry.Equal(t0.Add(time.Hour)) || !sess.CreatedAt.Equal(t0) {
		t.Fatalf("Save set Expiry %v, CreatedAt %v; want now+Lifetime, now", sess.Expiry, sess.CreatedAt)
	}
	got, err := s.Load(requestWith(set...))
	if err != nil || !got.Expiry.Equal(sess.Expiry) || got.Subject != "alice" {
		t.Fatalf("Load = %+v, %v", got, err)
	}
}

func TestStoreSaveRefuses(t *testing.T) {
	s, _ := newTestStore(t, CookieOptions{})
	badName, _ := newTestStore(t, CookieOptions{Name: "bad name;"})
	huge := &Session{Subject: "alice", Claims: map[string]any{"blob": noise(maxChunks * chunkSize)}}
	tests := []struct {
		name  string
		store *CookieStore
		sess  *Session
	}{
		{"nil session", s, nil},
		{"no subject", s, &Session{Expiry: t0.Add(time.Hour)}},
		{"already expired", s, &Session{Subject: "alice", Expiry: t0.Add(-time.Second)}},
		{"expiring now", s, &Session{Subject: "alice", Expiry: t0}},
		{"larger than every chunk together", s, huge},
		{"invalid cookie name", badName, typicalSession()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := tc.store.Save(rec, requestWith(), tc.sess); err == nil {
				t.Fatal("Save succeeded")
			}
			if h := rec.Header().Values("Set-Cookie"); len(h) != 0 {
				t.Fatalf("a failed Save set cookies: %q", h)
			}
		})
	}
	if err := s.Save(httptest.NewRecorder(), requestWith(), huge); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized session error = %v, want ErrTooLarge", err)
	}
}

func TestStoreCookieAttributes(t *testing.T) {
	tests := []struct {
		name       string
		opts       CookieOptions
		wantSecure bool
		wantPath   string
		wantDomain string
	}{
		{"defaults", CookieOptions{}, false, "/", ""},
		{"secure with domain and path", CookieOptions{Name: "_x", Domain: "shop.example.com", Path: "/app", Secure: true}, true, "/app", "shop.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newTestStore(t, tc.opts)
			sess := typicalSession()
			sess.Expiry = clk.now.Add(90*time.Minute + 500*time.Millisecond)
			sess.Claims["blob"] = noise(8000) // three chunks once sealed
			set := save(t, s, sess)
			if len(set) != 3 {
				t.Fatalf("got cookies %v, want three", cookieNames(set))
			}
			for _, c := range set {
				if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tc.wantSecure ||
					c.Path != tc.wantPath || c.Domain != tc.wantDomain {
					t.Errorf("%s: HttpOnly=%v SameSite=%v Secure=%v Path=%q Domain=%q", c.Name,
						c.HttpOnly, c.SameSite, c.Secure, c.Path, c.Domain)
				}
				if c.MaxAge != 90*60 { // time left, whole seconds of the sealed expiry
					t.Errorf("%s: Max-Age=%d, want %d", c.Name, c.MaxAge, 90*60)
				}
				if n := len(c.Name) + 1 + len(c.Value); n > 4096 {
					t.Errorf("%s: name=value is %d bytes, over browsers' per-cookie limit", c.Name, n)
				}
			}
		})
	}
}

func TestStoreChunks(t *testing.T) {
	s, _ := newTestStore(t, CookieOptions{Name: "_lcw"})
	big := typicalSession()
	big.Claims["blob"] = noise(3 * chunkSize) // four or five chunks
	bigSet := save(t, s, big)
	if len(bigSet) < 4 {
		t.Fatalf("a big session set only %v", cookieNames(bigSet))
	}
	for i, c := range bigSet[1:] {
		if want := fmt.Sprintf("_lcw_%d", i+1); c.Name != want {
			t.Fatalf("chunk %d is named %q, want %q", i+1, c.Name, want)
		}
	}

	t.Run("chunked round trip", func(t *testing.T) {
		got, err := s.Load(requestWith(bigSet...))
		if err != nil || !reflect.DeepEqual(got, withoutIDToken(big)) {
			t.Fatalf("Load = %v; want the big session back", err)
		}
	})

	t.Run("shrinking expires the leftover chunks", func(t *testing.T) {
		other := &http.Cookie{Name: "_lcw_login", Value: "flow"}
		set := save(t, s, typicalSession(), append(bigSet, other)...)
		var live, deleted []string
		for _, c := range set {
			if c.MaxAge < 0 {
				deleted = append(deleted, c.Name)
			} else {
				live = append(live, c.Name)
			}
		}
		var want []string
		for _, c := range bigSet[1:] {
			want = append(want, c.Name)
		}
		if !reflect.DeepEqual(live, []string{"_lcw"}) || !reflect.DeepEqual(deleted, want) {
			t.Fatalf("live %v, deleted %v; want [_lcw] and %v", live, deleted, want)
		}
		// What the browser keeps afterwards still loads.
		if _, err := s.Load(requestWith(set...)); err != nil {
			t.Fatalf("Load after shrinking: %v", err)
		}
	})

	t.Run("stale chunk beyond the new count is ignored by Load", func(t *testing.T) {
		small := save(t, s, typicalSession())
		stale := append(small, bigSet[1:]...)
		if _, err := s.Load(requestWith(stale...)); err != nil {
			t.Fatalf("Load with stale chunks present: %v", err)
		}
	})
}

func TestStoreClear(t *testing.T) {
	s, _ := newTestStore(t, CookieOptions{Name: "_lcw", Domain: "example.com", Path: "/", Secure: true})
	req := requestWithHeader("_lcw=1.x; _lcw_1=a; _lcw_2=b; _lcw_7=c; _lcw_63=d; _lcw_64=e; _lcw_login=f; other=g")
	rec := httptest.NewRecorder()
	s.Clear(rec, req)
	got := rec.Result().Cookies()
	want := []string{"_lcw", "_lcw_1", "_lcw_2", "_lcw_7", "_lcw_63"}
	if !reflect.DeepEqual(cookieNames(got), want) {
		t.Fatalf("Clear expired %v, want %v", cookieNames(got), want)
	}
	for _, c := range got {
		if c.MaxAge >= 0 || c.Value != "" || c.Domain != "example.com" || c.Path != "/" || !c.Secure || !c.HttpOnly {
			t.Errorf("%s: not a deletion matching the session cookie's scope: %+v", c.Name, c)
		}
	}
}

// TestStoreLoadRejects covers every way a request's cookies can fail to
// be a session: each must be an anonymous visitor, never a panic.
func TestStoreLoadRejects(t *testing.T) {
	key := newKey(t)
	s, _ := newTestStore(t, CookieOptions{Name: "_lcw"}, key)
	small := save(t, s, typicalSession())
	big := typicalSession()
	big.Claims["blob"] = noise(8000)
	bigSet := save(t, s, big) // _lcw, _lcw_1, _lcw_2
	if len(bigSet) != 3 {
		t.Fatalf("big session set %v, want three cookies", cookieNames(bigSet))
	}
	value := small[0].Value // "1.<sealed>"

	elsewhere, _ := newTestStore(t, CookieOptions{Name: "_lcw_2"}, key)
	moved := save(t, elsewhere, typicalSession())[0]
	otherKey, _ := newTestStore(t, CookieOptions{Name: "_lcw"})
	foreign := save(t, otherKey, typicalSession())[0]

	flip := func(v string, i int) string {
		b := []byte(v)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	c := func(name, value string) *http.Cookie { return &http.Cookie{Name: name, Value: value} }
	many := make([]string, 5000)
	for i := range many {
		many[i] = fmt.Sprintf("_lcw_%d=%s", i, strings.Repeat("A", 50))
	}

	tests := []struct {
		name string
		req  *http.Request
		want error
	}{
		{"no cookies", requestWith(), ErrNoSession},
		{"only other cookies", requestWith(c("session", value), c("_lcwx", value)), ErrNoSession},
		{"empty value", requestWithHeader("_lcw="), ErrNoSession},
		{"chunks without the head cookie", requestWith(bigSet[1:]...), ErrNoSession},
		{"garbage base64", requestWith(c("_lcw", "1.%%%garbage%%%")), ErrInvalid},
		{"no count", requestWith(c("_lcw", value[2:])), ErrInvalid},
		{"count zero", requestWith(c("_lcw", "0"+value[1:])), ErrInvalid},
		{"count beyond the limit", requestWith(c("_lcw", "9"+value[1:])), ErrInvalid},
		{"count without part", requestWith(c("_lcw", "1.")), ErrInvalid},
		{"tampered byte", requestWith(c("_lcw", flip(value, len(value)/2))), ErrInvalid},
		{"tampered last byte", requestWith(c("_lcw", flip(value, len(value)-1))), ErrInvalid},
		{"truncated", requestWith(c("_lcw", value[:len(value)-10])), ErrInvalid},
		{"sealed with an unknown key", requestWith(c("_lcw", foreign.Value)), ErrInvalid},
		{"value moved from another cookie name", requestWith(c("_lcw", moved.Value)), ErrInvalid},
		{"missing chunk", requestWith(bigSet[0], bigSet[2]), ErrInvalid},
		{"missing last chunk", requestWith(bigSet[0], bigSet[1]), ErrInvalid},
		{"swapped chunk order", requestWith(bigSet[0], c("_lcw_1", bigSet[2].Value), c("_lcw_2", bigSet[1].Value)), ErrInvalid},
		{"chunk from another session", requestWith(bigSet[0], c("_lcw_1", foreign.Value[2:]), bigSet[2]), ErrInvalid},
		{"head claims more chunks than sent", requestWith(c("_lcw", "3"+value[1:])), ErrInvalid},
		{"absurdly large cookie", requestWith(c("_lcw", "8."+strings.Repeat("A", 1<<20))), ErrInvalid},
		{"absurdly large chunks", requestWith(c("_lcw", "8.A"), c("_lcw_1", strings.Repeat("A", 1<<20)),
			c("_lcw_2", "A"), c("_lcw_3", "A"), c("_lcw_4", "A"), c("_lcw_5", "A"), c("_lcw_6", "A"), c("_lcw_7", "A")), ErrInvalid},
		{"numerous cookies", requestWithHeader("_lcw=8.AAAA; " + strings.Join(many, "; ")), ErrInvalid},
		{"quoted garbage", requestWithHeader(`_lcw="1.AAAA"`), ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sess, err := s.Load(tc.req)
			if sess != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Load = %v, %v; want nil, %v", sess, err, tc.want)
			}
		})
	}
}

func TestStoreLoadExpiry(t *testing.T) {
	s, clk := newTestStore(t, CookieOptions{})
	sess := typicalSession()
	sess.Expiry = t0.Add(time.Hour)
	req := requestWith(save(t, s, sess)...)
	if _, err := s.Load(req); err != nil { // now remembered by the cache
		t.Fatalf("fresh Load: %v", err)
	}
	clk.now = t0.Add(time.Hour)
	if got, err := s.Load(req); !errors.Is(err, ErrExpired) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Load at expiry = %v, %v; want ErrExpired (an ErrInvalid)", got, err)
	}
	uncached, _ := newTestStore(t, CookieOptions{})
	uncached.codec = s.codec
	uncached.now = clk.Now
	if _, err := uncached.Load(req); !errors.Is(err, ErrExpired) {
		t.Fatalf("uncached Load at expiry = %v, want ErrExpired", err)
	}
}

func TestStoreLoadReturnsACopy(t *testing.T) {
	s, _ := newTestStore(t, CookieOptions{})
	req := requestWith(save(t, s, typicalSession())...)
	first, err := s.Load(req)
	if err != nil {
		t.Fatal(err)
	}
	first.Subject = "mallory"
	first.RefreshToken = "changed"
	second, err := s.Load(req)
	if err != nil || second.Subject != "248289761001" || second.RefreshToken != "8xLOxBtZp8" {
		t.Fatalf("a caller's change leaked into a later Load: %+v, %v", second, err)
	}
}

// Cookie tossing: a sibling subdomain plants its own valid session cookie
// (with a longer Path, so browsers send it first, or a parent Domain). Two
// session cookies of our name are nobody's session.
func TestStoreDuplicateCookieIsNoSession(t *testing.T) {
	s, _ := newTestStore(t, CookieOptions{})
	victim := save(t, s, typicalSession())[0]
	other := typicalSession()
	other.Subject = "attacker"
	attacker := save(t, s, other)[0]
	for _, header := range []string{
		"_lcw=" + attacker.Value + "; _lcw=" + victim.Value,
		"_lcw=" + victim.Value + "; _lcw=" + attacker.Value,
		"_lcw=" + victim.Value + "; _lcw=" + victim.Value,
		"_lcw=" + victim.Value + "; x=1; _lcw=1.garbage",
	} {
		req := requestWithHeader(header)
		if sess, err := s.Load(req); !errors.Is(err, ErrDuplicate) || !errors.Is(err, ErrInvalid) || sess != nil {
			t.Errorf("Load(%.60q…) = %v, %v; want ErrDuplicate", header, sess, err)
		}
		if !s.Twice(req) {
			t.Errorf("Twice(%.60q…) = false", header)
		}
	}
	// A chunk planted twice is as ambiguous.
	big := typicalSession()
	big.Claims["blob"] = noise(5000)
	cs := save(t, s, big)
	if len(cs) < 2 {
		t.Fatalf("want a chunked session, got %d cookies", len(cs))
	}
	header := "_lcw=" + cs[0].Value + "; _lcw_1=" + cs[1].Value + "; _lcw_1=" + cs[1].Value
	if _, err := s.Load(requestWithHeader(header)); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate chunk: %v, want ErrDuplicate", err)
	}
	if _, err := s.Load(requestWithHeader("_lcw=" + victim.Value)); err != nil || s.Twice(requestWithHeader("_lcw="+victim.Value)) {
		t.Errorf("a single cookie: %v", err)
	}
}

func TestCacheIsBounded(t *testing.T) {
	c := newCache(10 * (100 + entryOverhead))
	for i := range 100 {
		c.put(fmt.Sprintf("%0100d", i), &Session{Subject: "x", Expiry: t0.Add(time.Hour)})
	}
	if len(c.entries) > 10 || c.bytes > c.limit {
		t.Fatalf("cache holds %d entries, %d bytes; limit %d bytes", len(c.entries), c.bytes, c.limit)
	}
	if _, ok := c.get(fmt.Sprintf("%0100d", 99), t0); !ok {
		t.Fatal("the newest entry was evicted")
	}
	c.put(strings.Repeat("x", c.limit), &Session{Subject: "x", Expiry: t0.Add(time.Hour)})
	if c.bytes > c.limit {
		t.Fatalf("an entry larger than the cache was stored: %d > %d bytes", c.bytes, c.limit)
	}
}

func FuzzLoad(f *testing.F) {
	other, _ := newTestStore(f, CookieOptions{Name: "_lcw"})
	small := save(f, other, typicalSession())
	big := typicalSession()
	big.Claims["blob"] = noise(2000) // two chunks; small seeds keep minimising fast
	bigSet := save(f, other, big)
	for _, set := range [][]*http.Cookie{small, bigSet} {
		f.Add(requestWith(set...).Header.Get("Cookie"))
	}
	f.Add("_lcw=1.AAAA; _lcw_1=x")
	f.Add(`_lcw="2.AA"; _lcw_1=""; _lcw_01=A; _lcw_63=; _lcw_999=`)
	f.Add("_lcw=;;;=;_lcw")
	s, _ := newTestStore(f, CookieOptions{Name: "_lcw"})
	f.Fuzz(func(t *testing.T, header string) {
		req := requestWithHeader(header)
		sess, err := s.Load(req)
		if err == nil || sess != nil {
			t.Fatalf("Load(%q) = %+v, %v: a session without the key", header, sess, err)
		}
		if !errors.Is(err, ErrNoSession) && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Load(%q) error %v is neither ErrNoSession nor ErrInvalid", header, err)
		}
		rec := httptest.NewRecorder()
		s.Clear(rec, req) // must not panic either
		if len(rec.Result().Cookies()) == 0 {
			t.Fatal("Clear set no cookie")
		}
	})
}

func BenchmarkLoad(b *testing.B) {
	run := func(b *testing.B, s *CookieStore, req *http.Request, wantErr error) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Load(req); !errors.Is(err, wantErr) {
				b.Fatal(err)
			}
		}
	}
	s, _ := newTestStore(b, CookieOptions{Name: "_lcw"})
	set := save(b, s, typicalSession())
	req := requestWith(set...)
	req.Header.Set("Cookie", "_ga=GA1.2.1234567890.1234567890; consent=yes; "+req.Header.Get("Cookie")+"; theme=dark")
	b.Logf("typical session: %d-byte cookie", len(set[0].Value))

	b.Run("cached", func(b *testing.B) { run(b, s, req, nil) })
	b.Run("uncached", func(b *testing.B) {
		u := *s
		u.cache = newCache(0)
		run(b, &u, req, nil)
	})
	b.Run("anonymous", func(b *testing.B) {
		run(b, s, requestWithHeader("_ga=GA1.2.1234567890.1234567890; consent=yes; theme=dark"), ErrNoSession)
	})
}

// TestStoreConcurrentLoad runs Load from many goroutines (under -race in
// make test) on a cache small enough to evict constantly.
func TestStoreConcurrentLoad(t *testing.T) {
	s, _ := newTestStore(t, CookieOptions{})
	s.cache = newCache(3 * (2500 + entryOverhead))
	var reqs []*http.Request
	for i := range 8 {
		sess := typicalSession()
		sess.Subject = fmt.Sprint("user-", i)
		reqs = append(reqs, requestWith(save(t, s, sess)...))
	}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			var err error
			for range 200 {
				var sess *Session
				if sess, err = s.Load(reqs[i]); err == nil && sess.Subject != fmt.Sprint("user-", i) {
					err = fmt.Errorf("request %d loaded %q", i, sess.Subject)
				}
				if err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
