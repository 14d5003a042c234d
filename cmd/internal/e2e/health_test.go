package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// waitDependency waits for lcw_dependency_up{dep} to read want.
func waitDependency(t *testing.T, e *env, dep string, want float64) {
	t.Helper()
	g := e.App.Metrics().DependencyUp.WithLabelValues(dep)
	for deadline := time.Now().Add(20 * time.Second); testutil.ToFloat64(g) != want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("lcw_dependency_up{dep=%q} = %v, want %v", dep, testutil.ToFloat64(g), want)
		}
	}
}

// verboseDeps reads {prefix}/readyz?verbose, which must answer 200.
func verboseDeps(t *testing.T, e *env) map[string]bool {
	t.Helper()
	resp := testenv.Do(t, &http.Client{}, "GET", e.URL+"/_lcw/readyz?verbose", nil)
	b := body(t, resp)
	var got struct {
		Ready        bool
		Dependencies map[string]struct{ Up bool }
	}
	if err := json.Unmarshal([]byte(b), &got); err != nil || resp.StatusCode != http.StatusOK || !got.Ready {
		t.Fatalf("readyz?verbose: %d %v %s", resp.StatusCode, err, b)
	}
	up := map[string]bool{}
	for k, v := range got.Dependencies {
		up[k] = v.Up
	}
	return up
}

// Redis stopped and the IdP down together, the outage every replica sees
// at once: readiness stays (so the Service keeps its endpoints), public
// paths answer, signed-in requests get a clear 503 (never a redirect into
// the dead IdP), and lcw_dependency_up says what is down. Both back, the
// same process recovers by itself: the gauge reads 1 and sign-in works.
func TestSharedOutageKeepsTheProxyReady(t *testing.T) {
	t.Parallel()
	redis := testenv.StartRedis(t)
	e := startEnv(t, envOptions{
		OP:            testenv.OPOptions{Addr: freeAddr(t)},
		Extra:         "headers:\n  pass: true\nsession:\n  secret: {secret}\n  store: redis\n  redis:\n    url: " + redis.URL() + "\n    timeout: 500ms\n",
		ProbeInterval: 100 * time.Millisecond,
	})
	waitDependency(t, e, "idp", 1)
	waitDependency(t, e, "redis", 1)
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	cookie := sessionCookie(t, e, c)
	plain := noRedirect(&http.Client{})
	nav := map[string]string{"Cookie": cookie, "Sec-Fetch-Mode": "navigate", "Accept": "text/html"}
	if resp := testenv.Do(t, plain, "GET", e.URL+"/page", nav); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed-in page before the outage: %d", resp.StatusCode)
	}

	redis.Stop()
	e.OP.Stop()
	waitDependency(t, e, "idp", 0)
	waitDependency(t, e, "redis", 0)

	for _, p := range []string{"/_lcw/readyz", "/_lcw/healthz", "/public/logo.png", "/_lcw/public-key.pem", "/_lcw/bootstrap.js"} {
		if resp := testenv.Do(t, plain, "GET", e.URL+p, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("%s during the outage: %d, want 200", p, resp.StatusCode)
		}
	}
	if up := verboseDeps(t, e); len(up) != 2 || up["idp"] || up["redis"] {
		t.Errorf("readyz?verbose during the outage: %v, want idp and redis down", up)
	}
	resp := testenv.Do(t, plain, "GET", e.URL+"/page", nav)
	if b := body(t, resp); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Location") != "" || !strings.Contains(b, "cannot be checked") {
		t.Errorf("signed-in page during the outage: %d Location %q, want 503 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := testenv.Do(t, plain, "GET", e.URL+"/_lcw/token", map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("token during the outage: %d, want 503", resp.StatusCode)
	}

	redis.Restart() // empty: the old session went with the data
	e.OP = testenv.StartOP(t, e.OPOpts)
	waitDependency(t, e, "idp", 1)
	waitDependency(t, e, "redis", 1)
	if up := verboseDeps(t, e); !up["idp"] || !up["redis"] {
		t.Errorf("readyz?verbose after recovery: %v", up)
	}
	c, resp = e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/after")
	if b := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(b, "X-Forwarded-Email: vip@example.com") {
		t.Fatalf("sign-in after recovery: %d %s", resp.StatusCode, b)
	}
	if resp := testenv.Do(t, plain, "GET", e.URL+"/_lcw/token", map[string]string{"Cookie": sessionCookie(t, e, c), "Sec-Fetch-Site": "same-origin"}); resp.StatusCode != http.StatusOK {
		t.Errorf("token after recovery: %d", resp.StatusCode)
	}
}
