package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// startRedisEnv starts a proxy whose session.redis section is redis (YAML
// lines indented under "redis:").
func startRedisEnv(t *testing.T, redis string) *env {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	section := "session:\n  secret: " + base64.StdEncoding.EncodeToString(secret) + "\n  store: redis\n  redis:\n" + redis
	return startEnv(t, envOptions{Secret: secret, Extra: "headers:\n  pass: true\n" + section})
}

// signedInWorks checks a signed-in visitor's page (with identity) and chat
// token, then logs out and checks the cookie is anonymous.
func signedInWorks(t *testing.T, e *env) {
	t.Helper()
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	cookie := sessionCookie(t, e, c)
	plain := noRedirect(&http.Client{})
	if page := body(t, testenv.Do(t, plain, "GET", e.URL+"/page", map[string]string{"Cookie": cookie})); !strings.Contains(page, "X-Forwarded-Email: vip@example.com") {
		t.Fatalf("page of a signed-in visitor:\n%s", page)
	}
	sameOrigin := map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}
	if resp := testenv.Do(t, plain, "GET", e.URL+"/_lcw/token", sameOrigin); resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d", resp.StatusCode)
	}
	if resp := testenv.Do(t, plain, "POST", e.URL+"/_lcw/logout", map[string]string{"Cookie": cookie, "Origin": e.URL}); resp.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp := testenv.Do(t, plain, "GET", e.URL+"/_lcw/token", sameOrigin); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token after logout: %d, want 401", resp.StatusCode)
	}
}

// Managed Redis refusing CLIENT TRACKING (here by ACL, as Redis Enterprise
// and Azure Managed Redis do; ElastiCache 7.1 answers "unknown
// subcommand"): the proxy with the default cache_ttl signs in, serves and
// logs out; one log line and the metric say the cache is off.
func TestRedisManagedWithoutClientTracking(t *testing.T) {
	r := testenv.StartRedis(t)
	if _, err := r.Do("ACL", "SETUSER", "default", "-client|tracking"); err != nil {
		t.Fatal(err)
	}
	e := startRedisEnv(t, "    url: "+r.URL()+"\n")
	signedInWorks(t, e)
	signedInWorks(t, e)
	if n := testutil.ToFloat64(e.App.Metrics().StoreCacheRefused); n != 1 {
		t.Errorf("lcw_session_store_cache_refused_total = %v, want 1", n)
	}
	if n := strings.Count(e.Logs.String(), "Redis refused client-side caching"); n != 1 {
		t.Errorf("%d log lines about the refusal, want 1:\n%s", n, e.Logs.String())
	}
}

// Redis over TLS only, with a private CA and a required client
// certificate, configured as an operator would: the files named in YAML.
func TestRedisTLSWithClientCertificate(t *testing.T) {
	r := testenv.StartRedisTLS(t, testenv.RedisTLSOptions{RequireClientCert: true})
	e := startRedisEnv(t, "    url: "+r.URL()+"\n    ca_file: "+r.TLS.CAFile+"\n    tls_cert_file: "+r.TLS.CertFile+"\n    tls_key_file: "+r.TLS.KeyFile+"\n")
	signedInWorks(t, e)
	if resp := testenv.Do(t, &http.Client{}, "GET", e.URL+"/_lcw/readyz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("readyz over TLS: %d", resp.StatusCode)
	}
}

// Through Sentinel, the primary failed over while a signed-in visitor
// keeps loading pages: each answer is the page or a 503, never a redirect
// to sign in; afterwards the session still works and new sign-ins are
// written to the new primary, without a restart.
func TestRedisSentinelFailoverDuringTraffic(t *testing.T) {
	t.Parallel()
	sen := testenv.StartRedisSentinel(t)
	e := startRedisEnv(t, "    addrs: ["+strings.Join(sen.Addrs(), ", ")+"]\n    master_name: "+sen.MasterName+"\n")
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	cookie := sessionCookie(t, e, c)
	sen.WaitReplicated(t)
	nav := map[string]string{"Cookie": cookie, "Sec-Fetch-Mode": "navigate", "Accept": "text/html"}
	plain := noRedirect(&http.Client{})
	var ok, unavailable, other atomic.Int32
	var firstOther atomic.Value
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp := testenv.Do(t, plain, "GET", e.URL+"/page", nav)
			body(t, resp)
			switch resp.StatusCode {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusServiceUnavailable:
				unavailable.Add(1)
			default:
				other.Add(1)
				firstOther.CompareAndSwap(nil, resp.Status+" "+resp.Header.Get("Location"))
			}
			// A visitor's pace, not a flood: at a thousand requests a
			// second the loop starved the Sentinels of a loaded CI machine.
			time.Sleep(2 * time.Millisecond)
		}
	}()
	sen.Failover(t)
	hang := time.Now().Add(time.Minute)
	for { // the page answers again once the store follows the new primary
		resp := testenv.Do(t, plain, "GET", e.URL+"/page", nav)
		if body(t, resp); resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(hang) {
			t.Fatalf("a minute after the failover the page answers %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	<-done
	t.Logf("pages during the failover: %d served, %d 503, %d otherwise", ok.Load(), unavailable.Load(), other.Load())
	if other.Load() != 0 {
		t.Errorf("%d pages during the failover were neither served nor 503 (first: %v)", other.Load(), firstOther.Load())
	}
	signedInWorks(t, e) // a new sign-in, refresh lock, logout: writes on the new primary
}
