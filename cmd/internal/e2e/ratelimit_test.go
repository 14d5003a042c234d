package e2e

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// A signed-in browser asking for chat tokens in a loop gets the burst the
// widget needs (20, several tabs at once), then 429 with Retry-After. The
// limit follows the signed-in user, not the cookie's bytes or the session:
// signing in again gives a new session but no new budget.
func TestTokenFloodIsLimited(t *testing.T) {
	e := startEnv(t, envOptions{}) // defaults: 30 a minute, bursts of 20
	sameOrigin := map[string]string{"Sec-Fetch-Site": "same-origin"}
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	for i := range 20 {
		if r := testenv.Do(t, c, "GET", e.URL+"/_lcw/token", sameOrigin); r.StatusCode != http.StatusOK {
			t.Fatalf("token %d of 20: %d %s", i+1, r.StatusCode, body(t, r))
		}
	}
	// The bucket refills one token every 2s; only a machine taking 2s per
	// request could keep up with 200 without a 429.
	var limited *http.Response
	for range 200 {
		r := testenv.Do(t, c, "GET", e.URL+"/_lcw/token", sameOrigin)
		if r.StatusCode == http.StatusTooManyRequests {
			limited = r
			break
		}
		if r.StatusCode != http.StatusOK {
			t.Fatalf("flood: %d %s", r.StatusCode, body(t, r))
		}
	}
	if limited == nil {
		t.Fatal("220 tokens for one session without a 429")
	}
	if s, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || s < 1 || s > 2 {
		t.Fatalf("Retry-After %q, want 1 or 2 seconds", limited.Header.Get("Retry-After"))
	}
	if n := testutil.ToFloat64(e.App.Metrics().Tokens.WithLabelValues("rate_limited")); n != 1 {
		t.Fatalf("tokens_total{result=rate_limited} = %v, want 1", n)
	}

	// Signing in again brings no new burst: the budget is the user's.
	c2, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	if r := testenv.Do(t, c2, "GET", e.URL+"/_lcw/token", sameOrigin); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second session of the same user past the budget: %d, want 429", r.StatusCode)
	}
	// Another user has a budget of their own.
	c3, _ := e.login(t, testenv.CustomerUsername, testenv.CustomerPassword, "/")
	if r := testenv.Do(t, c3, "GET", e.URL+"/_lcw/token", sameOrigin); r.StatusCode != http.StatusOK {
		t.Fatalf("another user: %d, want 200", r.StatusCode)
	}
}
