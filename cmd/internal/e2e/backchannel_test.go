package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

const logoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutClaims are a valid logout token's claims from op, naming sub and
// sid (either may be ""); cases change them.
func logoutClaims(op *testenv.OP, sub, sid string) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":    op.Issuer,
		"aud":    op.ClientID,
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    rand.Text(),
		"events": map[string]any{logoutEvent: map[string]any{}},
	}
	if sub != "" {
		c["sub"] = sub
	}
	if sid != "" {
		c["sid"] = sid
	}
	return c
}

// signedBy signs claims with the OP's own key, as the IdP would.
func signedBy(t *testing.T, op *testenv.OP, claims map[string]any) string {
	t.Helper()
	tok, err := op.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forged signs claims with a key of the attacker's, under the OP's kid, so
// only the signature tells it apart.
func forged(t *testing.T, op *testenv.OP, claims map[string]any) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.ForgeJWT(t, key, op.KeyID(), claims)
}

// postLogoutToken posts a logout token the way an IdP does.
func postLogoutToken(t *testing.T, e *env, token string) *http.Response {
	t.Helper()
	return postForm(t, e.URL+"/_lcw/backchannel-logout", "application/x-www-form-urlencoded", url.Values{"logout_token": {token}}.Encode())
}

func postForm(t *testing.T, u, contentType, form string) *http.Response {
	t.Helper()
	resp, err := http.Post(u, contentType, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// sids are the IdP session ids of sub's sessions, as the store lists them.
func sids(t *testing.T, e *env, sub string) []string {
	t.Helper()
	infos, err := e.App.Store().(*session.RedisStore).List(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, in := range infos {
		if in.SID == "" {
			t.Fatalf("session %s has no sid: the ID token's sid did not reach it", in.ID)
		}
		out = append(out, in.SID)
	}
	return out
}

// tokenStatus is what the token endpoint answers for cookie on e: 200
// signed in, 401 signed out. HEAD, so that asking often spends nothing of
// the session's token rate limit.
func tokenStatus(t *testing.T, e *env, cookie string) int {
	t.Helper()
	resp := testenv.Do(t, &http.Client{}, "HEAD", e.URL+"/_lcw/token", map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-origin"})
	body(t, resp)
	return resp.StatusCode
}

// signedOut reports whether cookie is signed out on e, waiting a moment
// when e is not the replica that ended the session (handled false): that
// one forgets the record at once, but another serves it from its
// client-side cache until Redis's invalidation message, sent when the
// record is deleted, has reached it over its own connection.
func signedOut(t *testing.T, e *env, cookie string, handled bool) bool {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		got := tokenStatus(t, e, cookie)
		if got == http.StatusUnauthorized {
			return true
		}
		if handled || time.Now().After(deadline) {
			t.Logf("token on %s: %d", e.URL, got)
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The IdP's logout token ends the sessions it names on every replica: by
// sid when it has one (even with a sub: other sign-ins of the user live
// on), by sub otherwise; other users are untouched.
func TestBackchannelLogoutEndsSessionsOnEveryReplica(t *testing.T) {
	r := startReplicas(t, "")
	vip := testenv.SubjectOf(t, r.OP, testenv.VIPUsername)
	c1, _ := r.A.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	first := sessionCookie(t, r.A, c1)
	sid1 := sids(t, r.A, vip)
	c2, _ := r.B.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	second := sessionCookie(t, r.B, c2)
	c3, _ := r.A.login(t, testenv.CustomerUsername, testenv.CustomerPassword, "/")
	other := sessionCookie(t, r.A, c3)
	if len(sid1) != 1 || len(sids(t, r.A, vip)) != 2 {
		t.Fatalf("sessions of the VIP: %v then %v, want one then two", sid1, sids(t, r.A, vip))
	}
	// Every replica has read (and may cache) every session.
	for _, e := range []*env{r.A, r.B} {
		for _, ck := range []string{first, second, other} {
			if got := tokenStatus(t, e, ck); got != http.StatusOK {
				t.Fatalf("before logout: token on %s = %d", e.URL, got)
			}
		}
	}

	// sid and sub: the first sign-in ends, everywhere; the second stays.
	resp := postLogoutToken(t, r.B, signedBy(t, r.OP, logoutClaims(r.OP, vip, sid1[0])))
	if b := body(t, resp); resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("logout by sid: %d %q (Cache-Control %q), want 200 no-store", resp.StatusCode, b, resp.Header.Get("Cache-Control"))
	}
	for _, e := range []*env{r.B, r.A} {
		if !signedOut(t, e, first, e == r.B) {
			t.Errorf("the sid's session on %s after back-channel logout: still signed in, want 401", e.URL)
		}
		if got := tokenStatus(t, e, second); got != http.StatusOK {
			t.Errorf("the user's other sign-in on %s after logout by sid: %d, want 200", e.URL, got)
		}
	}

	// sub alone: every session of the user ends.
	resp = postLogoutToken(t, r.A, signedBy(t, r.OP, logoutClaims(r.OP, vip, "")))
	if body(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout by sub: %d", resp.StatusCode)
	}
	for _, e := range []*env{r.A, r.B} {
		if !signedOut(t, e, second, e == r.A) {
			t.Errorf("the user's session on %s after logout by sub: still signed in, want 401", e.URL)
		}
		if got := tokenStatus(t, e, other); got != http.StatusOK {
			t.Errorf("another user's session on %s: %d, want 200", e.URL, got)
		}
	}
	if n := len(sids(t, r.A, vip)); n != 0 {
		t.Errorf("%d sessions of the user listed after logout by sub", n)
	}

	// Nothing to end is still a success: the IdP must not retry.
	resp = postLogoutToken(t, r.A, signedBy(t, r.OP, logoutClaims(r.OP, "", "no-such-sid")))
	if body(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("logout of an unknown sid: %d, want 200", resp.StatusCode)
	}
	m := func(e *env, result string) float64 {
		return testutil.ToFloat64(e.App.Metrics().BackchannelLogouts.WithLabelValues(result))
	}
	if m(r.B, "ended") != 1 || m(r.A, "ended") != 1 || m(r.A, "no_session") != 1 {
		t.Errorf("lcw_backchannel_logouts_total: ended B=%v A=%v, no_session A=%v; want 1, 1, 1", m(r.B, "ended"), m(r.A, "ended"), m(r.A, "no_session"))
	}
}

// Anything but a valid, fresh, first-used logout token from the IdP is
// refused with a bare 400 and ends nothing. Each case has a session of its
// own, which the token would end if it were accepted.
func TestBackchannelLogoutRefusals(t *testing.T) {
	r := startReplicas(t, "")
	vip := testenv.SubjectOf(t, r.OP, testenv.VIPUsername)
	form := func(tok string) string { return url.Values{"logout_token": {tok}}.Encode() }
	const formType = "application/x-www-form-urlencoded"
	ago := func(d time.Duration) int64 { return time.Now().Add(-d).Unix() }
	// signed is a case whose body is a form with the valid claims, changed
	// and signed by the OP.
	signed := func(change func(c map[string]any)) func(map[string]any) string {
		return func(c map[string]any) string { change(c); return form(signedBy(t, r.OP, c)) }
	}

	tests := []struct {
		name        string
		contentType string
		body        func(valid map[string]any) string
		result      string // lcw_backchannel_logouts_total label
	}{
		{"signed by another key", formType, func(c map[string]any) string { return form(forged(t, r.OP, c)) }, "invalid_token"},
		{"wrong aud", formType, signed(func(c map[string]any) { c["aud"] = "another-client" }), "invalid_token"},
		{"wrong iss", formType, signed(func(c map[string]any) { c["iss"] = "http://127.0.0.1:1" }), "invalid_token"},
		{"iat too old (exp still ahead)", formType, signed(func(c map[string]any) { c["iat"] = ago(10 * time.Minute) }), "expired"},
		{"iat in the future", formType, signed(func(c map[string]any) { c["iat"] = ago(-10 * time.Minute) }), "expired"},
		{"no iat", formType, signed(func(c map[string]any) { delete(c, "iat") }), "expired"},
		{"exp passed", formType, signed(func(c map[string]any) { c["exp"] = ago(2 * time.Minute) }), "expired"},
		{"nonce", formType, signed(func(c map[string]any) { c["nonce"] = "n-1" }), "invalid_claims"},
		{"no events", formType, signed(func(c map[string]any) { delete(c, "events") }), "invalid_claims"},
		{"events not an object", formType, signed(func(c map[string]any) { c["events"] = logoutEvent }), "invalid_claims"},
		{"events without the logout member", formType, signed(func(c map[string]any) {
			c["events"] = map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}
		}), "invalid_claims"},
		{"logout event not an object", formType, signed(func(c map[string]any) { c["events"] = map[string]any{logoutEvent: true} }), "invalid_claims"},
		{"neither sid nor sub", formType, signed(func(c map[string]any) { delete(c, "sid"); delete(c, "sub") }), "invalid_claims"},
		{"sid not a string", formType, signed(func(c map[string]any) { c["sid"] = 7 }), "invalid_claims"},
		{"no jti", formType, signed(func(c map[string]any) { delete(c, "jti") }), "invalid_claims"},
		{"not a JWT", formType, func(map[string]any) string { return form("not-a-jwt") }, "invalid_token"},
		{"no logout_token", formType, func(map[string]any) string { return "token=x" }, "bad_request"},
		{"two logout_tokens", formType, func(c map[string]any) string {
			return form(signedBy(t, r.OP, c)) + "&" + form(signedBy(t, r.OP, c))
		}, "bad_request"},
		{"JSON body", "application/json", func(c map[string]any) string {
			return `{"logout_token":"` + signedBy(t, r.OP, c) + `"}`
		}, "bad_request"},
		{"body over 64 KiB", formType, func(c map[string]any) string {
			return form(signedBy(t, r.OP, c)) + "&pad=" + strings.Repeat("x", 64<<10)
		}, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := r.A.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
			cookie := sessionCookie(t, r.A, c)
			all := sids(t, r.A, vip)
			valid := logoutClaims(r.OP, vip, all[len(all)-1])
			before := testutil.ToFloat64(r.A.App.Metrics().BackchannelLogouts.WithLabelValues(tt.result))
			resp := postForm(t, r.A.URL+"/_lcw/backchannel-logout", tt.contentType, tt.body(valid))
			b := body(t, resp)
			if resp.StatusCode != http.StatusBadRequest || strings.TrimSpace(b) != `{"error":"invalid_request"}` || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("answer %d %q (Cache-Control %q), want 400 {\"error\":\"invalid_request\"} no-store", resp.StatusCode, b, resp.Header.Get("Cache-Control"))
			}
			if got := testutil.ToFloat64(r.A.App.Metrics().BackchannelLogouts.WithLabelValues(tt.result)); got != before+1 {
				t.Errorf("lcw_backchannel_logouts_total{result=%q} went from %v to %v", tt.result, before, got)
			}
			for _, e := range []*env{r.A, r.B} {
				if got := tokenStatus(t, e, cookie); got != http.StatusOK {
					t.Errorf("the session on %s after a refused logout: %d, want still signed in", e.URL, got)
				}
			}
			if n := len(sids(t, r.A, vip)); n != len(all) {
				t.Errorf("%d sessions of the user listed after a refused logout, want %d", n, len(all))
			}
		})
	}

	t.Run("replayed token", func(t *testing.T) {
		// A token for a user without sessions is used; the user signs in
		// again; a replay of the old token must not end the new session.
		customer := testenv.SubjectOf(t, r.OP, testenv.CustomerUsername)
		tok := signedBy(t, r.OP, logoutClaims(r.OP, customer, ""))
		if resp := postLogoutToken(t, r.A, tok); resp.StatusCode != http.StatusOK {
			t.Fatalf("first use: %d", resp.StatusCode)
		}
		c, _ := r.B.login(t, testenv.CustomerUsername, testenv.CustomerPassword, "/")
		fresh := sessionCookie(t, r.B, c)
		resp := postLogoutToken(t, r.B, tok) // the other replica: the replay set is shared
		if b := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "invalid_request") {
			t.Errorf("replay: %d %q, want 400", resp.StatusCode, b)
		}
		if got := tokenStatus(t, r.A, fresh); got != http.StatusOK {
			t.Errorf("the new session after a replayed logout token: %d, want 200", got)
		}
		if got := testutil.ToFloat64(r.B.App.Metrics().BackchannelLogouts.WithLabelValues("replayed")); got != 1 {
			t.Errorf("replays counted: %v", got)
		}
	})

	t.Run("GET", func(t *testing.T) {
		c, _ := r.A.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
		cookie := sessionCookie(t, r.A, c)
		all := sids(t, r.A, vip)
		resp := testenv.Do(t, &http.Client{}, "GET", r.A.URL+"/_lcw/backchannel-logout?logout_token="+signedBy(t, r.OP, logoutClaims(r.OP, vip, all[len(all)-1])), nil)
		body(t, resp)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("GET: %d (Allow %q), want 405 with Allow: POST", resp.StatusCode, resp.Header.Get("Allow"))
		}
		if got := tokenStatus(t, r.A, cookie); got != http.StatusOK {
			t.Errorf("the session after a GET with a valid token: %d", got)
		}
	})
}

// Without a server-side store (or with it switched off) there is nothing an
// IdP could end: the route does not exist.
func TestBackchannelLogoutNotServed(t *testing.T) {
	for _, tt := range []struct{ name, extra string }{
		{"cookie store", ""},
		{"redis with backchannel_logout: false", "session:\n  secret: {secret}\n  store: redis\n  backchannel_logout: false\n  redis:\n    url: " + testenv.StartRedis(t).URL() + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := startEnv(t, envOptions{Extra: tt.extra})
			resp := postLogoutToken(t, e, signedBy(t, e.OP, logoutClaims(e.OP, "someone", "")))
			body(t, resp)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("POST /_lcw/backchannel-logout: %d, want 404", resp.StatusCode)
			}
			if tt.extra != "" && e.Config.Session.Store != "redis" {
				t.Fatalf("the environment did not use Redis: %q", e.Config.Session.Store)
			}
		})
	}
}

// Redis down: the logout cannot be done, so the IdP is told to retry (503,
// never a 400 that would make it give up), and its retry works once Redis
// is back.
func TestBackchannelLogoutStoreUnavailable(t *testing.T) {
	r := startReplicas(t, "    timeout: 500ms\n")
	tok := signedBy(t, r.OP, logoutClaims(r.OP, testenv.SubjectOf(t, r.OP, testenv.VIPUsername), ""))
	r.Redis.Stop()
	resp := postLogoutToken(t, r.A, tok)
	if b := body(t, resp); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("with Redis down: %d %q, want 503 no-store", resp.StatusCode, b)
	}
	if got := testutil.ToFloat64(r.A.App.Metrics().BackchannelLogouts.WithLabelValues("unavailable")); got != 1 {
		t.Errorf("unavailable counted %v times", got)
	}
	r.Redis.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp := postLogoutToken(t, r.A, tok)
		body(t, resp)
		if resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("the IdP's retry after Redis came back: %d, want 200", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
