package login

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// liveRP is a relying party discovered from a real test OP, with its
// back-channel logout endpoint served on a real Redis store and a clock
// for its logout key set that the test moves.
type liveRP struct {
	rp    *RP
	op    *testenv.OP
	url   string // the back-channel logout endpoint
	clock atomic.Int64
}

func (l *liveRP) now() time.Time { return time.Unix(0, l.clock.Load()) }

func (l *liveRP) advance(d time.Duration) { l.clock.Add(int64(d)) }

func startLiveRP(t *testing.T) *liveRP {
	t.Helper()
	l := &liveRP{op: testenv.StartOP(t, testenv.OPOptions{})}
	l.clock.Store(time.Now().UnixNano())
	cfg := loadConfig(t, `{issuer: "`+l.op.Issuer+`", client_id: `+l.op.ClientID+`, client_secret: `+l.op.ClientSecret+`}`)
	codec, err := session.NewCodec(cfg.Session.Keys)
	if err != nil {
		t.Fatal(err)
	}
	store := newRedisStore(t, cfg, codec)
	rp, err := New(Options{OIDC: cfg.OIDC, Session: cfg.Session, Store: store, Codec: codec, Paths: cfg.Paths, PublicOrigin: cfg.Public.String(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New()})
	if err != nil {
		t.Fatal(err)
	}
	rp.keyNow = l.now
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rp.Start(ctx)
	for deadline := time.Now().Add(20 * time.Second); rp.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not discovered: %v", rp.Ready())
		}
	}
	srv := httptest.NewServer(rp.BackchannelLogoutHandler(store))
	t.Cleanup(srv.Close)
	l.rp, l.url = rp, srv.URL
	return l
}

// newRedisStore is a session store on a fresh real redis-server, with the
// cookie settings of cfg.
func newRedisStore(t *testing.T, cfg *config.Config, codec *session.Codec) *session.RedisStore {
	t.Helper()
	rc := config.Default().Session.Redis
	rc.URL = testenv.StartRedis(t).URL()
	client, err := session.NewRedisClient(rc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return session.NewRedisStore(codec, cfg.Session.Keys, session.RedisOptions{
		Cookie: session.CookieOptions{Name: cfg.Session.Name, Path: cfg.Session.CookiePath, Secure: cfg.Session.Secure, Lifetime: cfg.Session.Lifetime.D()},
		Client: client, KeyPrefix: rc.KeyPrefix, Timeout: rc.Timeout.D(),
	})
}

// post sends a logout token as the IdP would and returns the status.
func (l *liveRP) post(t *testing.T, token string) int {
	t.Helper()
	resp, err := http.Post(l.url, "application/x-www-form-urlencoded", strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (l *liveRP) refusals(result string) float64 {
	return testutil.ToFloat64(l.rp.metrics.BackchannelLogouts.WithLabelValues(result))
}

// logoutClaimsFor are a valid logout token's claims from op for sub.
func logoutClaimsFor(op *testenv.OP, sub string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": op.Issuer, "aud": op.ClientID, "sub": sub, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": rand.Text(), "events": map[string]any{backchannelLogoutEvent: map[string]any{}},
	}
}

// Forged back-channel logout tokens, unauthenticated by nature, must not
// each cost the IdP a JWKS request (go-oidc's remote key set fetched the
// JWKS again for every signature that failed): 500 tokens under random
// kids and 500 under the IdP's own kid with a bad signature leave the
// JWKS requested at most once more. A genuine key rotation at the IdP is
// still followed once the refetch interval has passed.
func TestForgedLogoutTokensDoNotFetchTheIdPKeys(t *testing.T) {
	t.Parallel()
	l := startLiveRP(t)
	sub := testenv.SubjectOf(t, l.op, testenv.VIPUsername)
	if got := l.post(t, signedByOP(t, l.op, logoutClaimsFor(l.op, sub))); got != http.StatusOK {
		t.Fatalf("a genuine logout token: %d, want 200", got)
	}
	before := l.op.JWKSRequests()

	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const forged = 500
	kids := []string{"", l.op.KeyID()} // random kid, the IdP's kid
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 2*forged; i += 8 {
				kid := kids[i%2]
				if kid == "" {
					kid = rand.Text()
				}
				if got := l.post(t, testenv.ForgeJWT(t, attacker, kid, logoutClaimsFor(l.op, sub))); got != http.StatusBadRequest {
					wrong.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	fetches := l.op.JWKSRequests() - before
	t.Logf("JWKS requests for %d forged logout tokens: %d", 2*forged, fetches)
	if wrong.Load() != 0 {
		t.Errorf("%d forged tokens not answered 400", wrong.Load())
	}
	if fetches > 1 {
		t.Errorf("%d forged logout tokens made %d JWKS requests at the IdP, want at most 1", 2*forged, fetches)
	}
	if u, b := l.refusals("unknown_key"), l.refusals("invalid_token"); u != forged || b != forged {
		t.Errorf("refusals counted: unknown_key %v, invalid_token %v; want %d each", u, b, forged)
	}

	// The IdP rotates its key: until the interval has passed the new kid
	// is refused from the cache (and costs the IdP nothing), then it is
	// fetched once and accepted.
	if _, err := l.op.RotateKey(); err != nil {
		t.Fatal(err)
	}
	rotated := signedByOP(t, l.op, logoutClaimsFor(l.op, sub))
	if got := l.post(t, rotated); got != http.StatusBadRequest {
		t.Errorf("a token under the new kid within the interval: %d, want 400 (refused from the cache)", got)
	}
	l.advance(KeyRefetchInterval)
	if got := l.post(t, signedByOP(t, l.op, logoutClaimsFor(l.op, sub))); got != http.StatusOK {
		t.Errorf("a token under the new kid after the interval: %d, want 200", got)
	}
	if got := l.post(t, signedByOP(t, l.op, logoutClaimsFor(l.op, sub))); got != http.StatusOK {
		t.Errorf("another token under the new kid: %d, want 200", got)
	}
	if n := l.op.JWKSRequests() - before - fetches; n != 1 {
		t.Errorf("the rotation took %d JWKS requests, want 1", n)
	}
}

// The IdP's keys cannot be fetched: the IdP is told to retry (503), never
// refused for good.
func TestLogoutTokenWhileTheIdPKeysAreUnreachable(t *testing.T) {
	l := startLiveRP(t)
	sub := testenv.SubjectOf(t, l.op, testenv.VIPUsername)
	tok := signedByOP(t, l.op, logoutClaimsFor(l.op, sub))
	l.op.Stop()
	if got := l.post(t, tok); got != http.StatusServiceUnavailable {
		t.Errorf("with the IdP's JWKS unreachable: %d, want 503", got)
	}
}

func signedByOP(t *testing.T, op *testenv.OP, claims map[string]any) string {
	t.Helper()
	tok, err := op.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
