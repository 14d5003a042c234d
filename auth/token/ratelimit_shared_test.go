package token

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/ratelimit"
)

// Budgets of these tests: bursts of 20 (what DESIGN.md promises: 20 tokens
// within a minute never see a 429) and one token a minute after that, so
// that no token comes back while a test runs, however slow the machine.
const (
	testBurst     = 20
	testPerMinute = 1
)

// replica is one token endpoint, as one proxy replica serves it: its own
// local limiter and, when shared is set, a budget all replicas share. The user is
// named by X-Test-Subject, the session by X-Test-Session.
func replica(t *testing.T, f *fixture, shared SharedBudget) http.Handler {
	t.Helper()
	who := func(r *http.Request) (Identity, error) {
		return Identity{Claims: userClaims(), Subject: r.Header.Get("X-Test-Subject"), SessionKey: r.Header.Get("X-Test-Session")}, nil
	}
	lim := ratelimit.New(ratelimit.Options{PerMinute: testPerMinute, Burst: testBurst, Now: func() time.Time { return testNow }})
	return TokenHandler(f.minter, who, HandlerOptions{PublicOrigin: "https://shop.example.com", Metrics: f.metrics, Limit: lim, Shared: shared})
}

func askToken(h http.Handler, method, subject, sess string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "https://shop.example.com/_lcw/token", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("X-Test-Subject", subject)
	req.Header.Set("X-Test-Session", sess)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// The attack: a user past the budget signs in again and gets a new session;
// the budget is the user's, so the new session brings no new burst.
func TestTokenBudgetIsPerUserNotPerSession(t *testing.T) {
	h := replica(t, newFixture(t, nil, nil), nil)
	for i := range testBurst {
		if rec := askToken(h, "GET", "alice", "alice-1"); rec.Code != http.StatusOK {
			t.Fatalf("token %d: %d", i+1, rec.Code)
		}
	}
	for s := 2; s <= 5; s++ {
		if rec := askToken(h, "GET", "alice", fmt.Sprintf("alice-%d", s)); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("after signing in again (session %d): %d, want 429 with Retry-After", s, rec.Code)
		}
	}
	if rec := askToken(h, "GET", "bob", "bob-1"); rec.Code != http.StatusOK {
		t.Errorf("another user: %d, want 200", rec.Code)
	}
}
