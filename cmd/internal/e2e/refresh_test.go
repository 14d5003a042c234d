package e2e

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// heldRefresh makes the OP hold every refresh until the test lets it go,
// as an IdP that takes seconds to answer: the test acts while the proxy
// waits for the IdP, with nothing timed.
type heldRefresh struct {
	arrived chan struct{} // closed when the first refresh reached the OP
	release chan struct{}
	once    sync.Once
	freed   sync.Once
}

func holdRefreshes(t *testing.T) *heldRefresh {
	h := &heldRefresh{arrived: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(h.let) // never leave the OP's handler blocked
	return h
}

// before is the OP's BeforeToken hook.
func (h *heldRefresh) before(grant string) int {
	if grant == "refresh_token" {
		h.once.Do(func() { close(h.arrived) })
		<-h.release
	}
	return 0
}

func (h *heldRefresh) let() { h.freed.Do(func() { close(h.release) }) }

// wait blocks until a refresh is being held at the OP.
func (h *heldRefresh) wait(t *testing.T) {
	t.Helper()
	select {
	case <-h.arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("no refresh reached the OP")
	}
}

// records counts the session records in Redis.
func records(t *testing.T, r *replicas) string {
	t.Helper()
	n, err := r.Redis.Do("KEYS", "lcw:s:*")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A revocation that lands while a refresh waits for the IdP stays: the
// refresh does not write the session back (issue 19, item 2). Each way of
// ending a session, on the refreshing replica and on the other one.
func TestRevocationDuringRefreshStays(t *testing.T) {
	t.Parallel()
	revocations := []struct {
		name   string
		revoke func(t *testing.T, r *replicas, on *env, cookie string)
	}{
		{"sessions revoke", func(t *testing.T, r *replicas, on *env, _ string) {
			n, err := on.App.Store().(*session.RedisStore).EndSubject(context.Background(), testenv.SubjectOf(t, r.OP, testenv.VIPUsername))
			if err != nil || n != 1 {
				t.Fatalf("EndSubject: %d, %v", n, err)
			}
		}},
		{"logout", func(t *testing.T, _ *replicas, on *env, cookie string) {
			resp := testenv.Do(t, noRedirect(&http.Client{}), "POST", on.URL+"/_lcw/logout", map[string]string{"Cookie": cookie, "Origin": on.URL})
			if body(t, resp); resp.StatusCode != http.StatusFound {
				t.Fatalf("logout: %d", resp.StatusCode)
			}
		}},
		{"back-channel logout", func(t *testing.T, r *replicas, on *env, _ string) {
			vip := testenv.SubjectOf(t, r.OP, testenv.VIPUsername)
			resp := postLogoutToken(t, on, signedBy(t, r.OP, logoutClaims(r.OP, vip, "")))
			if body(t, resp); resp.StatusCode != http.StatusOK {
				t.Fatalf("back-channel logout: %d", resp.StatusCode)
			}
		}},
	}
	for _, rv := range revocations {
		for _, where := range []string{"same replica", "other replica"} {
			t.Run(rv.name+" on the "+where, func(t *testing.T) {
				held := holdRefreshes(t)
				r := startReplicasWith(t, "  refresh_interval: 1s\n", testenv.OPOptions{BeforeToken: held.before})
				c, _ := r.A.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
				cookie := sessionCookie(t, r.A, c)
				time.Sleep(1100 * time.Millisecond) // the refresh is due

				refreshed := make(chan int)
				go func() {
					resp, err := http.DefaultClient.Do(tokenRequest(r.A.URL, cookie))
					if err != nil {
						t.Error(err)
						refreshed <- 0
						return
					}
					resp.Body.Close()
					refreshed <- resp.StatusCode
				}()
				held.wait(t)
				on := r.A
				if where == "other replica" {
					on = r.B
				}
				rv.revoke(t, r, on, cookie)
				held.let()
				if got := <-refreshed; got != http.StatusUnauthorized {
					t.Errorf("the request whose refresh the revocation overtook: %d, want 401", got)
				}
				// Before any probe: a replica that ended the session deletes
				// a record it finds again when its cookie comes back.
				if n := records(t, r); n != "0" {
					t.Errorf("%s session records in Redis after the revocation, want 0 (the refresh wrote it back)", n)
				}
				for _, e := range []*env{r.A, r.B} {
					if !signedOut(t, e, cookie, false) {
						t.Errorf("the revoked session on %s after its refresh finished: still signed in", e.URL)
					}
				}
				discarded := testutil.ToFloat64(r.A.App.Metrics().Logins.WithLabelValues("refresh_discarded"))
				if discarded != 1 {
					t.Errorf("refresh_discarded = %v, want 1", discarded)
				}
			})
		}
	}
}

// With the cookie store nothing is revoked on a server, but a logout in
// this process while a refresh of the same session waits for the IdP wins:
// the refresh's answer clears the cookie instead of setting a refreshed
// one, so the browser stays signed out.
func TestLogoutDuringRefreshWithCookieStore(t *testing.T) {
	t.Parallel()
	held := holdRefreshes(t)
	e := startEnv(t, envOptions{OP: testenv.OPOptions{BeforeToken: held.before}, Extra: "session:\n  secret: {secret}\n  refresh_interval: 1s\n"})
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	ck, err := e.cookie(c, "_lcw")
	if err != nil {
		t.Fatal(err)
	}
	cookie := "_lcw=" + ck.Value
	time.Sleep(1100 * time.Millisecond)
	refreshed := make(chan *http.Response)
	go func() {
		resp, err := http.DefaultClient.Do(tokenRequest(e.URL, cookie))
		if err != nil {
			t.Error(err)
		} else {
			resp.Body.Close()
		}
		refreshed <- resp
	}()
	held.wait(t)
	resp := testenv.Do(t, noRedirect(&http.Client{}), "POST", e.URL+"/_lcw/logout", map[string]string{"Cookie": cookie, "Origin": e.URL})
	if body(t, resp); resp.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	held.let()
	late := <-refreshed
	if late == nil {
		return
	}
	if late.StatusCode != http.StatusUnauthorized {
		t.Errorf("the request whose refresh the logout overtook: %d, want 401", late.StatusCode)
	}
	for _, sc := range late.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "_lcw=") && !strings.HasPrefix(sc, "_lcw=;") {
			t.Errorf("the refresh set a session cookie after the logout: %s", sc)
		}
	}
}

// tokenRequest asks e's token endpoint with cookie, as bootstrap.js does.
func tokenRequest(base, cookie string) *http.Request {
	req, _ := http.NewRequest("GET", base+"/_lcw/token", nil)
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return req
}

// A grant revoked at the IdP ends the session on a replica that has never
// made a token request (issue 19, item 3): x/oauth2's auto-detection used
// to retry the refused refresh with the secret in the body, the OP (as
// Hydra) answered invalid_client, and that was taken for a passing problem:
// the session was kept and the postponement saved for every replica.
func TestRevokedGrantEndsSessionOnFreshReplica(t *testing.T) {
	t.Parallel()
	r := startReplicas(t, "  refresh_interval: 1s\n")
	c, _ := r.A.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	cookie := sessionCookie(t, r.A, c)
	if err := r.OP.Revoke(testenv.SubjectOf(t, r.OP, testenv.VIPUsername)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the refresh is due
	if got := tokenStatus(t, r.B, cookie); got != http.StatusUnauthorized {
		t.Fatalf("token on the fresh replica after the grant was revoked: %d, want 401", got)
	}
	if n := records(t, r); n != "0" {
		t.Errorf("%s session records in Redis after the refused refresh, want 0 (nothing postponed)", n)
	}
	if !signedOut(t, r.A, cookie, false) {
		t.Errorf("the other replica still serves the revoked session")
	}
	for _, tr := range r.OP.TokenRequests() {
		if tr.AuthMethod != "client_secret_basic" {
			t.Errorf("token request %+v: want client_secret_basic only (no retry with another method)", tr)
		}
	}
}

// A token endpoint that cannot answer (503) is a passing problem: the
// session is kept and the next refresh postponed, for every replica.
func TestRefreshUnavailableIsPostponed(t *testing.T) {
	t.Parallel()
	down := func(grant string) int {
		if grant == "refresh_token" {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	r := startReplicasWith(t, "  refresh_interval: 1s\n", testenv.OPOptions{BeforeToken: down})
	c, _ := r.A.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	cookie := sessionCookie(t, r.A, c)
	time.Sleep(1100 * time.Millisecond)
	if got := tokenStatus(t, r.B, cookie); got != http.StatusOK {
		t.Fatalf("token while the IdP answers 503: %d, want 200 (session kept)", got)
	}
	if n := testutil.ToFloat64(r.B.App.Metrics().Logins.WithLabelValues("refresh_failed")); n != 1 {
		t.Errorf("refresh_failed = %v, want 1", n)
	}
	if got := tokenStatus(t, r.A, cookie); got != http.StatusOK {
		t.Errorf("token on the other replica: %d, want 200", got)
	}
	refreshes := 0
	for _, tr := range r.OP.TokenRequests() {
		if tr.GrantType == "refresh_token" {
			refreshes++
		}
	}
	if refreshes != 1 {
		t.Errorf("%d refresh requests at the IdP, want 1: the postponement is saved for every replica", refreshes)
	}
}

// The token endpoint sees the configured (or discovered) client
// authentication, and only that one, for the code exchange and refreshes.
func TestTokenAuthMethodIsUsed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		registered string   // at the OP
		announced  []string // token_endpoint_auth_methods_supported; nil: the library's
		configured string
		want       string
	}{
		{"Hydra's discovery order, basic registered: basic first", "client_secret_basic",
			[]string{"client_secret_post", "client_secret_basic", "private_key_jwt", "none"}, "", "client_secret_basic"},
		{"only post announced: post", "client_secret_post", []string{"client_secret_post"}, "", "client_secret_post"},
		{"nothing announced: basic, the spec's default", "client_secret_basic", []string{}, "", "client_secret_basic"},
		{"configured post", "client_secret_post", nil, "client_secret_post", "client_secret_post"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := "session:\n  secret: {secret}\n  refresh_interval: 1s\n"
			if tt.configured != "" {
				extra += oidcSection("  token_auth_method: " + tt.configured + "\n")
			}
			e := startEnv(t, envOptions{OP: testenv.OPOptions{TokenAuthMethod: tt.registered, TokenAuthMethods: tt.announced}, Extra: extra})
			c, resp := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
			if body(t, resp); resp.StatusCode != http.StatusOK {
				t.Fatalf("login: %d", resp.StatusCode)
			}
			time.Sleep(1100 * time.Millisecond)
			if resp := testenv.Do(t, c, "GET", e.URL+"/page", nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("page after the refresh: %d", resp.StatusCode)
			}
			seen := e.OP.TokenRequests()
			grants := map[string]bool{}
			for _, tr := range seen {
				grants[tr.GrantType] = true
				if tr.AuthMethod != tt.want {
					t.Errorf("token request %+v, want %s", tr, tt.want)
				}
			}
			if !grants["authorization_code"] || !grants["refresh_token"] {
				t.Errorf("token requests %+v: want a code exchange and a refresh", seen)
			}
		})
	}
}
