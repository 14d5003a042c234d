package e2e

import (
	"net/http"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// With the Redis store, two replicas spend from one budget per user: 20
// tokens within a minute (over both replicas and two sign-ins) pass, the
// next is refused on either with Retry-After, a third sign-in brings no
// new burst, and another user is unaffected. One token a minute after the
// burst, so none comes back while the test runs. Without the shared budget
// each replica, and each sign-in, had a burst of its own.
func TestTokenBudgetSharedAcrossReplicas(t *testing.T) {
	r := startReplicas(t, "token:\n  issuer: shop.example.com\n  signing_keys:\n    - file: {keyfile}\n  rate_limit: 1\n  rate_burst: 20\n"+testenv.LWIContexts)
	ca, _ := r.A.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	cb, _ := r.B.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	sameOrigin := map[string]string{"Sec-Fetch-Site": "same-origin"}
	for i := range 20 {
		e, c := r.A, ca
		if i%2 == 1 {
			e, c = r.B, cb
		}
		if resp := testenv.Do(t, c, "GET", e.URL+"/_lcw/token", sameOrigin); resp.StatusCode != http.StatusOK {
			t.Fatalf("token %d of 20 within a minute: %d %s", i+1, resp.StatusCode, body(t, resp))
		}
	}
	cc, _ := r.A.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	for _, try := range []struct {
		e *env
		c *http.Client
	}{{r.A, ca}, {r.B, cb}, {r.A, cc}, {r.B, cc}} {
		resp := testenv.Do(t, try.c, "GET", try.e.URL+"/_lcw/token", sameOrigin)
		body(t, resp)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("token 21 on %s: %d (Retry-After %q), want 429 with Retry-After", try.e.URL, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	other, _ := r.B.login(t, testenv.CustomerUsername, testenv.CustomerPassword, "/")
	if resp := testenv.Do(t, other, "GET", r.B.URL+"/_lcw/token", sameOrigin); resp.StatusCode != http.StatusOK {
		t.Errorf("another user: %d, want 200", resp.StatusCode)
	}
}
