package login

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// plantFlow puts a login flow into the browser's cookies as the login
// handler would have, sealed with the site's codec, so a test can pair it
// with an authorization request of its own.
func (s *site) plantFlow(t *testing.T, f flow) {
	t.Helper()
	plain, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	name := s.rp.flowCookieName(f.State)
	sealed, err := s.rp.codec.Seal(name, plain, f.Created.Add(flowLifetime))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.url)
	s.browser.Jar.SetCookies(u, []*http.Cookie{s.rp.flowCookie(name, sealed, int(flowLifetime/time.Second))})
}

// authorize signs in at the OP with an authorization request made with
// state, nonce and the PKCE challenge of verifier, and returns the answer
// to the callback the OP sends the browser to.
func (s *site) authorize(t *testing.T, state, nonce, verifier string) *http.Response {
	t.Helper()
	p, err := s.rp.disc.get()
	if err != nil {
		t.Fatal(err)
	}
	start := p.oauth2.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	return testenv.Login(t, s.noRedirectAfterCallback(), start, testenv.VIPUsername, testenv.VIPPassword)
}

// noRedirectAfterCallback follows redirects up to the callback's answer
// and stops there.
func (s *site) noRedirectAfterCallback() *http.Client {
	c := *s.browser
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(via[len(via)-1].URL.String(), s.url+"/_lcw/callback") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &c
}

// The callback accepts a code only for the flow that asked for it: the
// state names the flow cookie, the code is exchanged with that flow's PKCE
// verifier, and the ID token must carry that flow's nonce. Each check is
// made to fail alone, against the real provider.
func TestCallbackChecks(t *testing.T) {
	s := startSite(t, siteOptions{})
	tests := []struct {
		name string
		// the authorization request's nonce and verifier, and the flow
		// cookie's (the flow's state is always the request's)
		nonce, verifier         string
		flowNonce, flowVerifier string
		status                  int
		reason                  string
	}{
		{"the flow's own code", "n1", "v1-0123456789012345678901234567890123456789", "n1", "v1-0123456789012345678901234567890123456789", http.StatusFound, "success"},
		{"PKCE verifier of another flow", "n1", "v1-0123456789012345678901234567890123456789", "n1", "v2-0123456789012345678901234567890123456789", http.StatusBadGateway, "exchange_failed"},
		{"nonce of another flow", "n1", "v1-0123456789012345678901234567890123456789", "n2", "v1-0123456789012345678901234567890123456789", http.StatusBadGateway, "id_token_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := randomString()
			s.plantFlow(t, flow{State: state, Nonce: tt.flowNonce, Verifier: tt.flowVerifier, RD: "/after", Created: time.Now()})
			before := s.count(tt.reason)
			resp := s.authorize(t, state, tt.nonce, tt.verifier)
			if resp.StatusCode != tt.status {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("callback answered %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if s.count(tt.reason)-before != 1 {
				t.Errorf("%s not counted", tt.reason)
			}
			if tt.status == http.StatusFound && resp.Header.Get("Location") != "/after" {
				t.Errorf("success leads to %q, want the flow's rd", resp.Header.Get("Location"))
			}
			// Spent whatever the outcome: a replayed callback finds no flow.
			replay, err := s.noRedirect().Get(resp.Request.URL.String())
			if err != nil {
				t.Fatal(err)
			}
			replay.Body.Close()
			if replay.StatusCode != http.StatusBadRequest {
				t.Errorf("replayed callback answered %d, want 400", replay.StatusCode)
			}
		})
	}
}

// A state that finds a flow cookie (its first 16 characters name it) but
// is not that flow's state is refused before any code is exchanged.
func TestCallbackStateMismatch(t *testing.T) {
	s := startSite(t, siteOptions{})
	resp, err := s.noRedirect().Get(s.url + "/_lcw/login?rd=/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	auth, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	q := auth.Query()
	state := q.Get("state")
	for _, want := range []string{"state", "nonce", "code_challenge"} {
		if q.Get(want) == "" {
			t.Errorf("authorization request without %s: %s", want, auth)
		}
	}
	if q.Get("code_challenge_method") != "S256" {
		t.Errorf("code_challenge_method %q, want S256", q.Get("code_challenge_method"))
	}
	forged := state[:16] + strings.Repeat("x", len(state)-16)
	resp, err = s.noRedirect().Get(s.url + "/_lcw/callback?code=anything&state=" + forged)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || s.count("state_mismatch") != 1 {
		t.Errorf("callback with another state: %d, state_mismatch counted %v", resp.StatusCode, s.count("state_mismatch"))
	}
	for _, g := range s.grants() {
		t.Errorf("a %s token request was made", g)
	}
}

// A silent flow (prompt=none) that the provider answers with
// login_required goes back to where the visitor was, anonymous, without
// an error page; an interactive flow shows the provider's error code.
func TestCallbackProviderError(t *testing.T) {
	s := startSite(t, siteOptions{})
	for _, silent := range []bool{true, false} {
		state := randomString()
		s.plantFlow(t, flow{State: state, Nonce: "n", Verifier: "v", RD: "/where", Created: time.Now(), Silent: silent})
		resp, err := s.noRedirect().Get(s.url + "/_lcw/callback?error=login_required&state=" + state)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case silent && (resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/where" || s.count("silent_login_required") != 1):
			t.Errorf("silent: %d to %q, silent_login_required %v", resp.StatusCode, resp.Header.Get("Location"), s.count("silent_login_required"))
		case !silent && (resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "(login_required)")):
			t.Errorf("interactive: %d %s", resp.StatusCode, body)
		}
	}
}

// ID tokens are checked against a clock set back by oidc.clock_skew: one
// that expired within the skew is still accepted, one that expired before
// it is not.
func TestIDTokenExpirySkew(t *testing.T) {
	for _, tt := range []struct {
		name     string
		skew     string
		expired  time.Duration // how long ago the token expired
		accepted bool
	}{
		{"within the default skew (30s)", "", 10 * time.Second, true},
		{"beyond the default skew", "", 40 * time.Second, false},
		{"no skew", ", clock_skew: 0s", 10 * time.Second, false},
		{"within a longer skew", ", clock_skew: 2m", 90 * time.Second, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startSite(t, siteOptions{oidc: tt.skew})
			now := time.Now()
			raw, err := s.op.Sign(map[string]any{
				"iss": s.op.Issuer, "aud": s.op.ClientID, "sub": "someone",
				"iat": now.Add(-10 * time.Minute).Unix(), "exp": now.Add(-tt.expired).Unix(),
			})
			if err != nil {
				t.Fatal(err)
			}
			p, _ := s.rp.disc.get()
			_, err = p.verifier.Verify(context.Background(), raw)
			if (err == nil) != tt.accepted {
				t.Errorf("Verify: %v, want accepted %v", err, tt.accepted)
			}
		})
	}
}

// A refreshed ID token must name the session's subject; a session built
// from a token response keeps only the claims lwicontexts may use.
func TestSessionFromRefreshedToken(t *testing.T) {
	s := startSite(t, siteOptions{})
	sess := s.login(t)
	p, _ := s.rp.disc.get()
	sign := func(sub string) *oauth2.Token {
		raw, err := s.op.Sign(map[string]any{
			"iss": s.op.Issuer, "aud": s.op.ClientID, "sub": sub, "sid": "",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "nonce": "x", "email": "vip@example.com",
		})
		if err != nil {
			t.Fatal(err)
		}
		return (&oauth2.Token{AccessToken: "at", RefreshToken: "rt2"}).WithExtra(map[string]any{"id_token": raw})
	}
	if _, _, err := s.rp.sessionFromToken(context.Background(), p, sign("someone-else"), "", sess); err == nil || !strings.Contains(err.Error(), "another subject") {
		t.Errorf("a refreshed ID token for another subject: %v", err)
	}
	got, _, err := s.rp.sessionFromToken(context.Background(), p, sign(sess.Subject), "", sess)
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshToken != "rt2" || got.SID != sess.SID || !got.Expiry.Equal(sess.Expiry) {
		t.Errorf("refreshed session: refresh token %q, sid %q (was %q), expiry %v (was %v)", got.RefreshToken, got.SID, sess.SID, got.Expiry, sess.Expiry)
	}
	for _, k := range []string{"nonce", "exp", "iat", "aud", "sid"} {
		if _, kept := got.Claims[k]; kept {
			t.Errorf("claim %s kept in the session", k)
		}
	}
	// Without an ID token, a refresh keeps the session's identity; a login
	// cannot do without one.
	bare := &oauth2.Token{AccessToken: "at"}
	if got, _, err := s.rp.sessionFromToken(context.Background(), p, bare, "", sess); err != nil || got.Subject != sess.Subject || got.RefreshToken != sess.RefreshToken {
		t.Errorf("a refresh without an ID token must keep the subject and refresh token (error %v)", err)
	}
	if _, _, err := s.rp.sessionFromToken(context.Background(), p, bare, "n", nil); err == nil || !strings.Contains(err.Error(), "no id_token") {
		t.Errorf("login without an ID token: %v", err)
	}
}
