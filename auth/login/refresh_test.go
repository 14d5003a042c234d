package login

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// refreshAt decides when a new session's tokens are refreshed: never
// without a refresh token; with one, after session.refresh_interval when
// set, else when the access token expires, else after an hour.
func TestRefreshAt(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	expiry := now.Add(5 * time.Minute)
	tests := []struct {
		name     string
		interval time.Duration
		tok      *oauth2.Token
		refresh  string
		want     time.Time
	}{
		{"no refresh token: never", 0, &oauth2.Token{Expiry: expiry}, "", time.Time{}},
		{"no refresh token, an interval: never", 10 * time.Minute, &oauth2.Token{Expiry: expiry}, "", time.Time{}},
		{"when the access token expires", 0, &oauth2.Token{Expiry: expiry}, "rt", expiry},
		{"the interval wins over the expiry", 10 * time.Minute, &oauth2.Token{Expiry: expiry}, "rt", now.Add(10 * time.Minute)},
		{"no expiry announced: an hour", 0, &oauth2.Token{}, "rt", now.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := &RP{opt: Options{Session: config.Session{RefreshInterval: config.Duration(tt.interval)}}}
			if got := rp.refreshAt(now, tt.tok, &session.Session{RefreshToken: tt.refresh}); !got.Equal(tt.want) {
				t.Errorf("refreshAt = %v, want %v", got, tt.want)
			}
		})
	}
}

// Session refreshes the tokens only when the refresh is due and there is a
// refresh token to spend; a session refreshed at the provider keeps its
// subject, start and end, and gets the next refresh time.
func TestSessionRefreshesWhenDue(t *testing.T) {
	s := startSite(t, siteOptions{})
	sess := s.login(t)
	if sess.RefreshToken == "" || sess.RefreshAt.IsZero() {
		t.Fatalf("login with offline_access gave no refresh token or refresh time: %+v", sess)
	}
	logins := len(s.grants())

	due := func(mod func(*session.Session)) *session.Session {
		cp := *sess
		mod(&cp)
		return &cp
	}
	tests := []struct {
		name      string
		sess      *session.Session
		refreshed bool
	}{
		{"not due yet", sess, false},
		{"due", due(func(s *session.Session) { s.RefreshAt = time.Now().Add(-time.Second) }), true},
		{"due, but no refresh token", due(func(s *session.Session) { s.RefreshAt, s.RefreshToken = time.Now().Add(-time.Second), "" }), false},
		{"never due (no refresh time)", due(func(s *session.Session) { s.RefreshAt = time.Time{} }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.grants())
			w := httptest.NewRecorder()
			got, err := s.rp.Session(w, s.request(s.cookieOf(t, tt.sess)))
			if err != nil || got == nil {
				t.Fatalf("Session: signed in %v, error %v", got != nil, err)
			}
			refreshes := len(s.grants()) - before
			if tt.refreshed != (refreshes == 1) || refreshes > 1 {
				t.Fatalf("%d token requests, want refreshed %v", refreshes, tt.refreshed)
			}
			if !tt.refreshed {
				if got.RefreshToken != tt.sess.RefreshToken || !got.RefreshAt.Equal(tt.sess.RefreshAt) || len(w.Result().Cookies()) != 0 {
					t.Errorf("session changed without a refresh: refresh at %v, cookies %v", got.RefreshAt, w.Result().Cookies())
				}
				return
			}
			if s.grants()[len(s.grants())-1] != "refresh_token" {
				t.Errorf("token requests: %v", s.grants())
			}
			if got.Subject != sess.Subject || !got.CreatedAt.Equal(sess.CreatedAt) || !got.Expiry.Equal(sess.Expiry) {
				t.Errorf("refreshed session is another one: %s %v–%v, was %s %v–%v", got.Subject, got.CreatedAt, got.Expiry, sess.Subject, sess.CreatedAt, sess.Expiry)
			}
			if !got.RefreshAt.After(time.Now()) || got.RefreshedAt.IsZero() || got.RefreshToken == "" {
				t.Errorf("refreshed session: refresh at %v, refreshed at %v, refresh token %q", got.RefreshAt, got.RefreshedAt, got.RefreshToken)
			}
			if len(w.Result().Cookies()) == 0 {
				t.Error("the refreshed session was not saved in the cookie")
			}
		})
	}
	if got := s.grants()[:logins]; !slices.Equal(got, []string{"authorization_code"}) {
		t.Errorf("the login made token requests %v", got)
	}
	if n := s.count("refresh"); n != 1 {
		t.Errorf("refresh counted %v times, want 1", n)
	}
}

// A refresh the provider refuses ends the session (the cookie is
// cleared); one that gets no usable answer keeps it and tries again
// later. The refusals and failures come from the real provider: a revoked
// grant (invalid_grant), statuses a load balancer or the IdP answers, and
// an IdP that is gone.
func TestRefreshOutcome(t *testing.T) {
	tests := []struct {
		name   string
		status int // the OP's answer to the refresh request (0: its own)
		revoke bool
		stop   bool
		ended  bool
		label  string
	}{
		{name: "grant revoked: invalid_grant", revoke: true, ended: true, label: "refresh_invalid_grant"},
		{name: "401 without a code", status: http.StatusUnauthorized, ended: true, label: "refresh_invalid_grant"},
		{name: "400 without a code", status: http.StatusBadRequest, ended: true, label: "refresh_invalid_grant"},
		{name: "503 from a load balancer", status: http.StatusServiceUnavailable, label: "refresh_failed"},
		{name: "500", status: http.StatusInternalServerError, label: "refresh_failed"},
		{name: "429", status: http.StatusTooManyRequests, label: "refresh_failed"},
		{name: "408", status: http.StatusRequestTimeout, label: "refresh_failed"},
		{name: "the IdP is gone", stop: true, label: "refresh_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var answer atomic.Int32
			s := startSite(t, siteOptions{op: testenv.OPOptions{BeforeToken: func(grant string) int {
				if grant == "refresh_token" {
					return int(answer.Load())
				}
				return 0
			}}})
			sess := s.login(t)
			answer.Store(int32(tt.status))
			if tt.revoke {
				if err := s.op.Revoke(s.op.Users[0].ID); err != nil {
					t.Fatal(err)
				}
			}
			if tt.stop {
				s.op.Stop()
			}
			sess.RefreshAt = time.Now().Add(-time.Second)
			w := httptest.NewRecorder()
			start := time.Now()
			got, err := s.rp.Session(w, s.request(s.cookieOf(t, sess)))
			if err != nil {
				t.Fatal(err)
			}
			if n := s.count(tt.label); n != 1 {
				t.Errorf("%s counted %v times, want 1", tt.label, n)
			}
			cleared := false
			for _, c := range w.Result().Cookies() {
				cleared = cleared || (c.Name == s.cfg.Session.Name && c.MaxAge < 0)
			}
			if tt.ended {
				if got != nil || !cleared {
					t.Errorf("session kept after a refusal (%v), cookie cleared %v", got != nil, cleared)
				}
				return
			}
			if got == nil || cleared || got.RefreshToken != sess.RefreshToken {
				t.Fatalf("session not kept after a failure (%v), cookie cleared %v", got != nil, cleared)
			}
			// Postponed, so a down IdP is not asked again by every request.
			if wait := got.RefreshAt.Sub(start); wait < retryAfterFailure-time.Second || wait > retryAfterFailure+5*time.Second {
				t.Errorf("next refresh in %v, want about %v", wait, retryAfterFailure)
			}
		})
	}
}

// Concurrent requests of one session that is due share one refresh: a
// rotated refresh token is spent once.
func TestRefreshOncePerSession(t *testing.T) {
	held := make(chan struct{})
	s := startSite(t, siteOptions{op: testenv.OPOptions{BeforeToken: func(grant string) int {
		if grant == "refresh_token" {
			<-held
		}
		return 0
	}}})
	sess := s.login(t)
	sess.RefreshAt = time.Now().Add(-time.Second)
	cookie := s.cookieOf(t, sess)
	results := make(chan *session.Session, 5)
	for range cap(results) {
		go func() {
			got, _ := s.rp.Session(httptest.NewRecorder(), s.request(cookie))
			results <- got
		}()
	}
	time.Sleep(100 * time.Millisecond) // let them all reach the refresh
	close(held)
	var first string
	for range cap(results) {
		got := <-results
		if got == nil {
			t.Fatal("a request lost the session")
		}
		if first == "" {
			first = got.RefreshToken
		} else if got.RefreshToken != first {
			t.Errorf("requests got different refresh tokens: %q, %q", first, got.RefreshToken)
		}
	}
	// A straggler with the old cookie gets the same result, no new refresh.
	if got, _ := s.rp.Session(httptest.NewRecorder(), s.request(cookie)); got == nil || got.RefreshToken != first {
		t.Errorf("a straggler with the old cookie got another result (signed in %v)", got != nil)
	}
	n := 0
	for _, g := range s.grants() {
		if g == "refresh_token" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d refresh requests, want 1", n)
	}
}
