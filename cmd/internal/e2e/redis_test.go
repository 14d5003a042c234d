package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// replicas are two proxies sharing one real Redis, one OP and one session
// secret, as two pods of one Deployment.
type replicas struct {
	A, B  *env
	Redis *testenv.Redis
	OP    *testenv.OP
}

func startReplicas(t *testing.T, extra string) *replicas {
	t.Helper()
	return startReplicasWith(t, extra, testenv.OPOptions{})
}

// startReplicasWith is startReplicas with an OP of op's options (its
// redirect URIs are filled in, and a front-channel logout URI that is a
// path is replica A's).
func startReplicasWith(t *testing.T, extra string, op testenv.OPOptions) *replicas {
	t.Helper()
	r := &replicas{Redis: testenv.StartRedis(t)}
	lnA, _ := net.Listen("tcp", "127.0.0.1:0")
	lnB, _ := net.Listen("tcp", "127.0.0.1:0")
	urls := []string{"http://" + lnA.Addr().String(), "http://" + lnB.Addr().String()}
	op.RedirectURIs = []string{urls[0] + "/_lcw/callback", urls[1] + "/_lcw/callback"}
	op.PostLogoutRedirectURIs = []string{urls[0] + "/", urls[1] + "/"}
	op.FrontchannelLogoutURI = frontchannelURI(urls[0], op.FrontchannelLogoutURI)
	r.OP = testenv.StartOP(t, op)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	section := "session:\n  secret: " + base64.StdEncoding.EncodeToString(secret) + "\n  store: redis\n  redis:\n    url: " + r.Redis.URL() + "\n" + extra
	r.A = startEnv(t, envOptions{Listener: lnA, SharedOP: r.OP, Secret: secret, Extra: "headers:\n  pass: true\n" + section})
	r.B = startEnv(t, envOptions{Listener: lnB, SharedOP: r.OP, Secret: secret, Extra: "headers:\n  pass: true\n" + section})
	return r
}

// cookieHeader is the session cookie a signed-in client holds, as a copied
// cookie would be replayed elsewhere.
func sessionCookie(t *testing.T, e *env, c *http.Client) string {
	t.Helper()
	ck, err := e.cookie(c, "_lcw")
	if err != nil {
		t.Fatal(err)
	}
	return "_lcw=" + ck.Value
}

func TestRedisSessionsAcrossReplicas(t *testing.T) {
	r := startReplicas(t, "")
	c, _ := r.A.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	cookie := sessionCookie(t, r.A, c)
	if len(cookie) >= 200 {
		t.Errorf("session cookie is %d bytes, want under 200: %s", len(cookie), cookie)
	}
	plain := &http.Client{}
	sameOrigin := map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}
	// Any replica serves any user: page with identity, and a chat token.
	page := body(t, testenv.Do(t, noRedirect(plain), "GET", r.B.URL+"/page", map[string]string{"Cookie": cookie}))
	if !strings.Contains(page, "X-Forwarded-Email: vip@example.com") {
		t.Fatalf("replica B did not serve the session signed in on A:\n%s", page)
	}
	if resp := testenv.Do(t, plain, "GET", r.B.URL+"/_lcw/token", sameOrigin); resp.StatusCode != http.StatusOK {
		t.Fatalf("token on B: %d", resp.StatusCode)
	}
	// Logout on B ends the session everywhere: the copied cookie is
	// anonymous on A at once.
	if resp := testenv.Do(t, noRedirect(plain), "POST", r.B.URL+"/_lcw/logout", map[string]string{"Cookie": cookie, "Origin": r.B.URL}); resp.StatusCode != http.StatusFound {
		t.Fatalf("logout on B: %d", resp.StatusCode)
	}
	// Redis pushes the invalidation of A's cached record as it deletes it;
	// A's client reads the push within milliseconds.
	deadline := time.Now().Add(time.Second)
	for {
		resp := testenv.Do(t, plain, "GET", r.A.URL+"/_lcw/token", sameOrigin)
		body(t, resp)
		if resp.StatusCode == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token with the copied cookie on A a second after logout: %d, want 401", resp.StatusCode)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if resp := testenv.Do(t, noRedirect(plain), "GET", r.A.URL+"/page", map[string]string{"Cookie": cookie, "Sec-Fetch-Mode": "navigate", "Accept": "text/html"}); resp.StatusCode != http.StatusFound {
		t.Errorf("page with the copied cookie on A after logout: %d, want a redirect to login", resp.StatusCode)
	}
}

// Two replicas refresh the same session at the same moment against an OP
// that rotates refresh tokens: one refreshes, the other waits for its
// record, nobody spends the old refresh token twice (invalid_grant).
func TestRedisRefreshAcrossReplicas(t *testing.T) {
	t.Parallel()
	r := startReplicas(t, "  refresh_interval: 1s\n")
	c, _ := r.A.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	cookie := sessionCookie(t, r.A, c)
	time.Sleep(1200 * time.Millisecond)
	var wg sync.WaitGroup
	for i := range 8 {
		e := r.A
		if i%2 == 1 {
			e = r.B
		}
		wg.Go(func() {
			resp := testenv.Do(t, noRedirect(&http.Client{}), "GET", e.URL+"/asset", map[string]string{"Cookie": cookie})
			if body(t, resp); resp.StatusCode != http.StatusOK {
				t.Errorf("status %d during the refresh", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	refreshes := testutil.ToFloat64(r.A.App.Metrics().Logins.WithLabelValues("refresh")) + testutil.ToFloat64(r.B.App.Metrics().Logins.WithLabelValues("refresh"))
	lost := testutil.ToFloat64(r.A.App.Metrics().Logins.WithLabelValues("refresh_invalid_grant")) + testutil.ToFloat64(r.B.App.Metrics().Logins.WithLabelValues("refresh_invalid_grant"))
	if refreshes != 1 || lost != 0 {
		t.Fatalf("refreshes = %v, invalid_grant = %v; want exactly one refresh and no lost session", refreshes, lost)
	}
	// The same cookie keeps working on both: the record was replaced in place.
	for _, e := range []*env{r.A, r.B} {
		if resp := testenv.Do(t, &http.Client{}, "GET", e.URL+"/_lcw/token", map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}); resp.StatusCode != http.StatusOK {
			t.Errorf("token on %s after the refresh: %d", e.URL, resp.StatusCode)
		}
	}
}

// Redis stopped mid-test: public paths work, signed-in traffic gets a clear
// 503 (never "signed out", which would loop through the IdP), readyz
// stays ready (every replica shares Redis); when Redis is back the proxy
// recovers by itself.
func TestRedisOutage(t *testing.T) {
	r := startReplicas(t, "    timeout: 500ms\n")
	e := r.A
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	cookie := sessionCookie(t, e, c)
	plain := noRedirect(&http.Client{})
	r.Redis.Stop()

	nav := map[string]string{"Cookie": cookie, "Sec-Fetch-Mode": "navigate", "Accept": "text/html"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := testenv.Do(t, plain, "GET", e.URL+"/page", nav)
		b := body(t, resp)
		if resp.StatusCode == http.StatusServiceUnavailable {
			if !strings.Contains(b, "cannot be checked") {
				t.Errorf("503 page: %s", b)
			}
			break
		}
		if resp.StatusCode == http.StatusFound {
			t.Fatalf("a signed-in visitor was sent to sign in while Redis is down: %s", resp.Header.Get("Location"))
		}
		if time.Now().After(deadline) {
			t.Fatalf("page with Redis down: %d, want 503", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp := testenv.Do(t, plain, "GET", e.URL+"/_lcw/token", map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-origin", "Accept": "application/json"}); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("token with Redis down: %d, want 503", resp.StatusCode)
	}
	if resp := testenv.Do(t, plain, "GET", e.URL+"/public/logo.png", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("public path with Redis down: %d", resp.StatusCode)
	}
	if resp := testenv.Do(t, plain, "GET", e.URL+"/_lcw/readyz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("readyz with Redis down: %d, want 200", resp.StatusCode)
	}

	r.Redis.Restart() // empty, as after losing a non-persistent Redis
	deadline = time.Now().Add(15 * time.Second)
	for {
		resp := testenv.Do(t, plain, "GET", e.URL+"/page", nav)
		if body(t, resp); resp.StatusCode != http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still 503 after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The old session went with the data: a normal sign-in, no 503.
	if resp := testenv.Do(t, plain, "GET", e.URL+"/page", nav); resp.StatusCode != http.StatusFound {
		t.Errorf("after recovery, the lost session: %d, want a redirect to sign in", resp.StatusCode)
	}
	c2, resp := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/page")
	if resp.StatusCode != http.StatusOK || c2 == nil {
		t.Fatalf("sign-in after recovery: %d", resp.StatusCode)
	}
	if ops := testutil.ToFloat64(e.App.Metrics().StoreOps.WithLabelValues("load", "error")); ops == 0 {
		t.Errorf("store errors not counted")
	}
}
