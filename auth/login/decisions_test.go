package login

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// Silent sign-in goes through the provider with prompt=none only when the
// marker cookie came back (cookies stick) and the provider answers;
// otherwise the browser goes straight back to where it was.
func TestSilentHandler(t *testing.T) {
	t.Run("no marker cookie: back, and not again", func(t *testing.T) {
		s := startSite(t, siteOptions{})
		w := httptest.NewRecorder()
		s.rp.SilentHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, s.url+"/_lcw/silent?rd=/shop%3Fq%3D1", nil))
		if w.Code != http.StatusFound || w.Header().Get("Location") != "/shop?q=1&"+SkipSilentParam || s.count("silent_no_cookies") != 1 {
			t.Errorf("%d to %q", w.Code, w.Header().Get("Location"))
		}
	})
	t.Run("provider answers: prompt=none, the configured prompt dropped", func(t *testing.T) {
		s := startSite(t, siteOptions{oidc: `, auth_params: {prompt: login, ui_locales: de}`})
		r := httptest.NewRequest(http.MethodGet, s.url+"/_lcw/silent?rd=/shop", nil)
		r.AddCookie(&http.Cookie{Name: s.rp.SilentCookie(), Value: "1"})
		w := httptest.NewRecorder()
		s.rp.SilentHandler().ServeHTTP(w, r)
		loc, _ := url.Parse(w.Header().Get("Location"))
		if w.Code != http.StatusFound || !strings.HasPrefix(loc.String(), s.op.Issuer) {
			t.Fatalf("%d to %s", w.Code, loc)
		}
		if q := loc.Query(); !slices.Equal(q["prompt"], []string{"none"}) || q.Get("ui_locales") != "de" {
			t.Errorf("authorization request %v, want prompt=none and the other auth_params", q)
		}
		f := s.flowOf(t, w.Result().Cookies())
		if !f.Silent || f.RD != "/shop" || s.count("silent_started") != 1 {
			t.Errorf("flow %+v, silent_started %v", f, s.count("silent_started"))
		}
	})
	t.Run("provider down: back, anonymous", func(t *testing.T) {
		s := startSite(t, siteOptions{})
		s.op.Stop()
		r := httptest.NewRequest(http.MethodGet, s.url+"/_lcw/silent?rd=/shop", nil)
		r.AddCookie(&http.Cookie{Name: s.rp.SilentCookie(), Value: "1"})
		w := httptest.NewRecorder()
		s.rp.SilentHandler().ServeHTTP(w, r)
		if w.Code != http.StatusFound || w.Header().Get("Location") != "/shop" || s.count("silent_skipped") != 1 {
			t.Errorf("%d to %q", w.Code, w.Header().Get("Location"))
		}
	})
}

// flowOf opens the one flow cookie among cookies.
func (s *site) flowOf(t *testing.T, cookies []*http.Cookie) flow {
	t.Helper()
	for _, c := range cookies {
		if strings.HasPrefix(c.Name, s.rp.flowCookiePrefix()) && c.MaxAge > 0 {
			plain, err := s.rp.codec.Open(c.Name, c.Value, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var f flow
			if err := json.Unmarshal(plain, &f); err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no flow cookie in %v", cookies)
	return flow{}
}

// A new login keeps the newest maxFlows-1 flows of the browser (tabs
// still signing in) and expires the older ones, then cookies that do not
// open; never more than maxClearedFlows in one answer.
func TestFlowsToExpire(t *testing.T) {
	rp := newRP(t)
	now := time.Now()
	r := httptest.NewRequest(http.MethodGet, "https://shop.example.com/_lcw/login", nil)
	var valid []string
	for i := range 5 { // created i minutes ago; flow 0 the newest
		f := flow{State: strings.Repeat(string(rune('a'+i)), 20), Created: now.Add(-time.Duration(i) * time.Minute)}
		plain, _ := json.Marshal(f)
		name := rp.flowCookieName(f.State)
		sealed, err := rp.codec.Seal(name, plain, f.Created.Add(flowLifetime))
		if err != nil {
			t.Fatal(err)
		}
		r.AddCookie(&http.Cookie{Name: name, Value: sealed})
		valid = append(valid, name)
	}
	junk := []string{rp.flowCookiePrefix() + "junk1", rp.flowCookiePrefix() + "junk2"}
	for _, name := range junk {
		r.AddCookie(&http.Cookie{Name: name, Value: "forged"})
	}
	r.AddCookie(&http.Cookie{Name: "unrelated", Value: "x"})

	got := rp.flowsToExpire(r, now)
	// The two oldest valid flows go first (oldest first), then the junk,
	// cut at maxClearedFlows.
	want := append([]string{valid[4], valid[3]}, junk...)[:maxClearedFlows]
	if !slices.Equal(got, want) {
		t.Errorf("flowsToExpire = %v, want %v", got, want)
	}
	if later := rp.flowsToExpire(r, now.Add(flowLifetime+time.Minute)); len(later) != maxClearedFlows {
		t.Errorf("with every flow expired: %v, want %d of them", later, maxClearedFlows)
	}
}

// A session cookie that does not open is an anonymous visitor whose
// cookie is cleared, so the browser stops sending it.
func TestSessionWithBadCookie(t *testing.T) {
	rp := newRP(t)
	for _, cookie := range []string{"", "__Host-_lcw=1.forged"} {
		r := httptest.NewRequest(http.MethodGet, "https://shop.example.com/", nil)
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		sess, err := rp.Session(w, r)
		if sess != nil || err != nil {
			t.Errorf("%q: a session (%v), error %v", cookie, sess != nil, err)
		}
		if cleared := len(w.Result().Cookies()) > 0; cleared != (cookie != "") {
			t.Errorf("%q: cookies set %v", cookie, w.Result().Cookies())
		}
	}
}

// An email the provider has not verified is not in the session unless
// oidc.allow_unverified_email says every address is verified; the
// string "true" some providers send counts as verified.
func TestTrustedClaims(t *testing.T) {
	for _, tt := range []struct {
		name   string
		claims map[string]any
		allow  bool
		kept   bool
	}{
		{"verified", map[string]any{"email": "a@example.com", "email_verified": true}, false, true},
		{"verified as a string", map[string]any{"email": "a@example.com", "email_verified": "true"}, false, true},
		{"unverified", map[string]any{"email": "a@example.com", "email_verified": false}, false, false},
		{"no email_verified", map[string]any{"email": "a@example.com"}, false, false},
		{"no email_verified, allowed", map[string]any{"email": "a@example.com"}, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rp := &RP{opt: Options{OIDC: config.OIDC{AllowUnverifiedEmail: tt.allow}}}
			in := map[string]any{"sub": "s", "groups": []string{"g"}}
			for k, v := range tt.claims {
				in[k] = v
			}
			got := rp.trustedClaims(&session.Session{Claims: in})
			if _, kept := got["email"]; kept != tt.kept || got["sub"] != "s" || got["groups"] == nil {
				t.Errorf("claims %v, want email kept %v", got, tt.kept)
			}
			if _, still := in["email"]; !still {
				t.Error("the shared claims map was modified")
			}
		})
	}
}

// With oidc.userinfo, the claims a provider gives only at the userinfo
// endpoint reach the session; sub, iss and aud stay the ID token's.
func TestUserinfoMerged(t *testing.T) {
	s := startSite(t, siteOptions{op: testenv.OPOptions{ClaimsOnlyInUserinfo: true}, oidc: `, userinfo: true`,
		token: `, lwicontexts: {mail: {claim: email}, contact: {claim: contact_id}}`})
	sess := s.login(t)
	if sess.Claims["email"] != "vip@example.com" || sess.Claims["contact_id"] == nil {
		t.Errorf("session claims %v, want the userinfo claims", sess.Claims)
	}
	if sess.Subject != testenv.SubjectOf(t, s.op, testenv.VIPUsername) {
		t.Errorf("subject %q", sess.Subject)
	}

	plain := startSite(t, siteOptions{op: testenv.OPOptions{ClaimsOnlyInUserinfo: true}})
	if sess := plain.login(t); sess.Claims["email"] != nil {
		t.Errorf("without oidc.userinfo the session has %v", sess.Claims)
	}
}

// A logout while the session's refresh waits for the provider stays a
// logout: the refresh's result does not bring the session back, and
// requests that still carry the cookie are anonymous.
func TestLogoutDuringRefresh(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	s := startSite(t, siteOptions{op: testenv.OPOptions{BeforeToken: func(grant string) int {
		if grant == "refresh_token" {
			close(arrived)
			<-release
		}
		return 0
	}}})
	sess := s.login(t)
	sess.RefreshAt = time.Now().Add(-time.Second)
	cookie := s.cookieOf(t, sess)
	done := make(chan *session.Session)
	go func() {
		got, _ := s.rp.Session(httptest.NewRecorder(), s.request(cookie))
		done <- got
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh reached the provider")
	}
	logout := s.request(cookie)
	logout.URL.Path = "/_lcw/logout"
	w := httptest.NewRecorder()
	s.rp.LogoutHandler().ServeHTTP(w, logout)
	if w.Code != http.StatusFound {
		t.Fatalf("logout: %d", w.Code)
	}
	close(release)
	if got := <-done; got != nil {
		t.Errorf("the refresh in flight brought the session of %s back", got.Subject)
	}
	if got, _ := s.rp.Session(httptest.NewRecorder(), s.request(cookie)); got != nil {
		t.Errorf("the old cookie still has the session of %s", got.Subject)
	}
}
