package token

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/ratelimit"
)

// limitedEndpoint is the token endpoint with the default limit (30 a
// minute, bursts of 20) on a clock the test moves. The session is named by
// the request's X-Test-Session header, standing in for the sealed cookie.
type limitedEndpoint struct {
	f   *fixture
	h   http.Handler
	now time.Time
}

func newLimitedEndpoint(t *testing.T) *limitedEndpoint {
	e := &limitedEndpoint{f: newFixture(t, nil, nil), now: testNow}
	lim := ratelimit.New(ratelimit.Options{PerMinute: e.f.cfg.RateLimit, Burst: e.f.cfg.RateBurst, Now: func() time.Time { return e.now }})
	who := func(r *http.Request) (Identity, error) {
		return Identity{Claims: userClaims(), SessionKey: r.Header.Get("X-Test-Session")}, nil
	}
	e.h = TokenHandler(e.f.minter, who, HandlerOptions{PublicOrigin: "https://shop.example.com", Metrics: e.f.metrics, Limit: lim})
	return e
}

func (e *limitedEndpoint) get(method, session, accept string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "https://shop.example.com/_lcw/token", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("X-Test-Session", session)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func (e *limitedEndpoint) limited() float64 {
	return testutil.ToFloat64(e.f.metrics.Tokens.WithLabelValues("rate_limited"))
}

// One session asking for tokens as fast as it can (the report: 1,478 in
// 5s) gets its burst, then 429 with Retry-After, counted; normal use never
// sees that.
func TestTokenFloodIsLimitedPerSession(t *testing.T) {
	e := newLimitedEndpoint(t)
	// Several tabs starting chats at once.
	for i := range 20 {
		if rec := e.get("GET", "tab-user", ""); rec.Code != http.StatusOK {
			t.Fatalf("token %d of a burst of 20: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	// The flood.
	for i := range 100 {
		rec := e.get("GET", "tab-user", "")
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("flood request %d: %d, want 429", i+1, rec.Code)
		}
		if ra := rec.Header().Get("Retry-After"); ra != "2" {
			t.Fatalf("Retry-After %q, want 2 (one token every 2s)", ra)
		}
		if strings.HasPrefix(rec.Body.String(), "eyJ") || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("429 answer: %q, Cache-Control %q", rec.Body, rec.Header().Get("Cache-Control"))
		}
	}
	if n := e.limited(); n != 100 {
		t.Fatalf("tokens_total{result=rate_limited} = %v, want 100", n)
	}
	if n := testutil.ToFloat64(e.f.metrics.Tokens.WithLabelValues("issued")); n != 20 {
		t.Fatalf("tokens_total{result=issued} = %v, want 20", n)
	}

	// JSON clients get the error as JSON.
	rec := e.get("GET", "tab-user", "application/json")
	var body struct {
		Error string `json:"error"`
	}
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Content-Type") != "application/json" ||
		json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error == "" || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("JSON 429: %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}

	// Another session is unaffected.
	if rec := e.get("GET", "other-user", ""); rec.Code != http.StatusOK {
		t.Fatalf("another session: %d", rec.Code)
	}

	// Waiting as told is enough.
	e.now = e.now.Add(2 * time.Second)
	if rec := e.get("GET", "tab-user", ""); rec.Code != http.StatusOK {
		t.Fatalf("after Retry-After: %d", rec.Code)
	}
	if rec := e.get("GET", "tab-user", ""); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("a second token right after the wait: %d, want 429", rec.Code)
	}
}

// HEAD signs nothing, so it spends nothing, but it tells the truth about
// whether a GET would get a token.
func TestTokenHEADSpendsNoBudget(t *testing.T) {
	e := newLimitedEndpoint(t)
	for range 50 {
		if rec := e.get("HEAD", "s", ""); rec.Code != http.StatusOK {
			t.Fatalf("HEAD: %d", rec.Code)
		}
	}
	for i := range 20 {
		if rec := e.get("GET", "s", ""); rec.Code != http.StatusOK {
			t.Fatalf("GET %d after 50 HEADs: %d", i+1, rec.Code)
		}
	}
	rec := e.get("HEAD", "s", "")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("HEAD with the budget spent: %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "1", time.Millisecond: "1", time.Second: "1", time.Second + time.Nanosecond: "2", 2 * time.Minute: "120",
	} {
		if got := retryAfter(d); got != want {
			t.Errorf("retryAfter(%s) = %s, want %s", d, got, want)
		}
	}
}

// The session tag lets bootstrap.js reuse a token only within the session
// that got it: GET, HEAD and even 429 answers name the session, the same
// tag every time for one session and a different one for another; a
// request without a session gets none.
func TestSessionHeaderNamesTheSession(t *testing.T) {
	e := newLimitedEndpoint(t)
	first := e.get("GET", "alice\x00100", "application/json")
	tag := first.Header().Get(SessionHeader)
	if first.Code != http.StatusOK || len(tag) != 16 {
		t.Fatalf("GET: %d, %s = %q, want 200 and a 16-character tag", first.Code, SessionHeader, tag)
	}
	if strings.Contains(tag, "alice") {
		t.Errorf("tag %q shows the session key", tag)
	}
	if got := e.get("HEAD", "alice\x00100", "").Header().Get(SessionHeader); got != tag {
		t.Errorf("HEAD tag %q, want the GET's %q", got, tag)
	}
	if got := e.get("GET", "alice\x00200", "").Header().Get(SessionHeader); got == tag || got == "" {
		t.Errorf("a new sign-in of the same user has tag %q, want a new one (not %q)", got, tag)
	}
	for range 30 {
		e.get("GET", "alice\x00100", "")
	}
	limited := e.get("HEAD", "alice\x00100", "")
	if limited.Code != http.StatusTooManyRequests || limited.Header().Get(SessionHeader) != tag {
		t.Errorf("HEAD past the limit: %d with tag %q, want 429 with %q", limited.Code, limited.Header().Get(SessionHeader), tag)
	}
	if got := e.get("GET", "", "").Header().Get(SessionHeader); got != "" {
		t.Errorf("no session key, tag %q", got)
	}
}
