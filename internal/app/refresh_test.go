package app

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
	revocations := []struct {
		name   string
		revoke func(t *testing.T, r *replicas, on *env, cookie string)
	}{
		{"sessions revoke", func(t *testing.T, r *replicas, on *env, _ string) {
			n, err := on.App.store.(session.Server).EndSubject(context.Background(), testenv.SubjectOf(t, r.OP, testenv.VIPUsername))
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
				for _, e := range []*env{r.A, r.B} {
					if !signedOut(t, e, cookie, false) {
						t.Errorf("the revoked session on %s after its refresh finished: still signed in", e.URL)
					}
				}
				if n := records(t, r); n != "0" {
					t.Errorf("%s session records in Redis after the revocation, want 0", n)
				}
				discarded := testutil.ToFloat64(r.A.App.metrics.Logins.WithLabelValues("refresh_discarded"))
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
