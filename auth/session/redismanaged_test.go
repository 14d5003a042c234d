package session

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// The store against Redis as managed services and hardened installs run
// it: refusing client-side caching, TLS with a private CA and client
// certificates, a least-privilege ACL user, Sentinel failover.

// storeCommands is every command the Redis store sends that Redis checks
// against the user's ACL (HELLO, with its AUTH and SETNAME, is not
// checked), as README's ACL line lists them (session store → "A
// least-privilege ACL user"): the connection handshake, the record and index commands, the scripts (and
// TIME, which the token budget's script calls), the client-side cache
// (CLIENT TRACKING; a cached read is CLIENT CACHING YES, MULTI, PTTL, GET,
// EXEC) and ROLE,
// which the Sentinel client asks a primary it is told of. rueidis also
// sends CLIENT SETINFO (Redis 7.2+) and ignores its refusal.
var storeCommands = []string{
	"auth", "ping",
	"get", "set", "del", "pexpire", "sadd", "srem", "smembers", "sscan", "scan",
	"evalsha", "eval", "time",
	"client|tracking", "client|caching", "multi", "exec", "pttl", "role",
}

// aclUser is the README's ACL line for user lcw with password pw, without
// the commands in drop.
func aclUser(drop ...string) []string {
	args := []string{"ACL", "SETUSER", "lcw", "on", ">pw", "resetkeys", "~lcw:*", "resetchannels", "-@all"}
	for _, c := range storeCommands {
		if !contains(drop, c) {
			args = append(args, "+"+c)
		}
	}
	return args
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// exerciseStore runs every operation the proxy uses on s, checking each
// answer, and returns the first failure: save, load, read by id, the
// refresh lock and compare-and-set replace, listing, ending by sid and by
// subject, the logout-token replay set, the token budget, readiness and
// logout.
func exerciseStore(s *RedisStore) error {
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	save := func(sub, sid string) (*http.Request, error) {
		sess := typicalSession()
		sess.Subject, sess.SID = sub, sid
		rec := httptest.NewRecorder()
		if err := s.Save(rec, httptest.NewRequest("GET", "https://shop.example.com/_lcw/callback", nil), sess); err != nil {
			return nil, fmt.Errorf("save: %w", err)
		}
		return requestWith(rec.Result().Cookies()...), nil
	}
	a, err := save("user-a", "sid-1")
	if err != nil {
		return err
	}
	b, err := save("user-a", "sid-2")
	if err != nil {
		return err
	}
	c, err := save("user-b", "sid-3")
	if err != nil {
		return err
	}
	got, err := s.Load(a)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if _, err := s.Load(a); err != nil { // a second read: the cache's path
		return fmt.Errorf("load again: %w", err)
	}
	read, err := s.Get(ctx, got.ID)
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	release, err := s.Lock(ctx, got.ID, time.Minute)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	next := *read
	next.RefreshToken = "rotated"
	err = s.Replace(ctx, &next, read)
	release()
	if err != nil {
		return fmt.Errorf("replace: %w", err)
	}
	if err := s.Replace(ctx, &next, read); !errors.Is(err, ErrChanged) {
		return fmt.Errorf("replace from a stale read: %v, want ErrChanged", err)
	}
	if now, err := s.Load(a); err != nil || now.RefreshToken != "rotated" {
		return fmt.Errorf("load after replace: %v (refresh token %q)", err, refreshToken(now))
	}
	infos, err := s.List(ctx, "user-a")
	if err != nil || len(infos) != 2 {
		return fmt.Errorf("list user-a: %d sessions, %v; want 2", len(infos), err)
	}
	all, err := s.List(ctx, "")
	mine := 0
	for _, in := range all {
		if in.Subject == "user-a" || in.Subject == "user-b" {
			mine++
		}
	}
	if err != nil || mine != 3 {
		return fmt.Errorf("list all: %d sessions of ours, %v; want 3", mine, err)
	}
	if n, err := s.EndSID(ctx, "sid-1"); err != nil || n != 1 {
		return fmt.Errorf("end sid: %d, %v", n, err)
	}
	if _, err := s.Load(a); !errors.Is(err, ErrRevoked) {
		return fmt.Errorf("load after end sid: %v, want ErrRevoked", err)
	}
	if n, err := s.EndSubject(ctx, "user-a"); err != nil || n != 1 {
		return fmt.Errorf("end subject: %d, %v", n, err)
	}
	if _, err := s.Load(b); !errors.Is(err, ErrRevoked) {
		return fmt.Errorf("load after end subject: %v, want ErrRevoked", err)
	}
	if first, err := s.FirstUse(ctx, "jti-1", time.Minute); err != nil || !first {
		return fmt.Errorf("first use: %v, %v", first, err)
	}
	if first, err := s.FirstUse(ctx, "jti-1", time.Minute); err != nil || first {
		return fmt.Errorf("replayed use: %v, %v", first, err)
	}
	if err := s.ForgetUse(ctx, "jti-1"); err != nil {
		return fmt.Errorf("forget use: %w", err)
	}
	budget := s.Budget(60, 1)
	if ok, _, err := budget.Take(ctx, "user-b", false); err != nil || !ok {
		return fmt.Errorf("budget take: %v, %v", ok, err)
	}
	if ok, wait, err := budget.Take(ctx, "user-b", false); err != nil || ok || wait <= 0 {
		return fmt.Errorf("budget take beyond the burst: %v, %s, %v", ok, wait, err)
	}
	if err := s.Clear(httptest.NewRecorder(), c); err != nil {
		return fmt.Errorf("clear: %w", err)
	}
	if _, err := s.Load(c); !errors.Is(err, ErrRevoked) {
		return fmt.Errorf("load after clear: %v, want ErrRevoked", err)
	}
	return nil
}

func refreshToken(s *Session) string {
	if s == nil {
		return ""
	}
	return s.RefreshToken
}

// newManagedStore builds the store through New, as the proxy does, with
// its log and the cache-refused hook captured.
func newManagedStore(t *testing.T, redis config.Redis) (*RedisStore, *bytes.Buffer, *atomic.Int32) {
	t.Helper()
	cfg := config.Default().Session
	cfg.Store, cfg.Keys, cfg.Name = "redis", [][]byte{key1}, cfg.CookieName
	def := cfg.Redis
	redis.KeyPrefix, redis.DialTimeout, redis.Timeout = def.KeyPrefix, def.DialTimeout, def.Timeout
	if redis.CacheTTL == 0 {
		redis.CacheTTL = def.CacheTTL
	}
	cfg.Redis = redis
	var logs bytes.Buffer
	var refused atomic.Int32
	store, closeStore, err := New(cfg, newCodec(t, key1), Options{
		Logger:       slog.New(slog.NewTextHandler(&logs, nil)),
		CacheRefused: func() { refused.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeStore)
	return store.(*RedisStore), &logs, &refused
}

// Item 7: ElastiCache 7.1 answers CLIENT TRACKING with "unknown
// subcommand", Redis Enterprise and Azure Managed Redis forbid it. Here a
// real redis-server refuses it to the default user by ACL (NOPERM), the
// same refusal during rueidis's handshake: the store connects without its
// client-side cache, says so once, and every operation works.
func TestRedisStoreWithoutClientTracking(t *testing.T) {
	r := testenv.StartRedis(t)
	if _, err := r.Do("ACL", "SETUSER", "default", "-client|tracking"); err != nil {
		t.Fatal(err)
	}
	s, logs, refused := newManagedStore(t, config.Redis{URL: r.URL()})
	if !s.opts.Client.Cached() {
		t.Fatal("the cache is off before the server was asked")
	}
	if err := exerciseStore(s); err != nil {
		t.Fatal(err)
	}
	if s.opts.Client.Cached() {
		t.Error("the client cache is still on after the server refused CLIENT TRACKING")
	}
	if n := refused.Load(); n != 1 {
		t.Errorf("CacheRefused called %d times, want once", n)
	}
	out := logs.String()
	if strings.Count(out, "refused client-side caching") != 1 || !strings.Contains(out, "client|tracking") || !strings.Contains(out, "cache_ttl: 0") {
		t.Errorf("want one log line naming the refusal and cache_ttl: 0, got:\n%s", out)
	}
	// Nothing is tracked: the server holds no tracking client.
	if info, err := r.Do("INFO", "stats"); err != nil || !strings.Contains(info, "tracking_total_keys:0") {
		t.Errorf("server tracks keys: %v\n%s", err, info)
	}
}

// A server that allows tracking keeps the cache on and logs nothing.
func TestRedisStoreClientTrackingAccepted(t *testing.T) {
	r := testenv.StartRedis(t)
	s, logs, refused := newManagedStore(t, config.Redis{URL: r.URL()})
	if err := exerciseStore(s); err != nil {
		t.Fatal(err)
	}
	if !s.opts.Client.Cached() || refused.Load() != 0 || logs.Len() != 0 {
		t.Errorf("cache on %v, refusals %d, log %q; want on, none, nothing", s.opts.Client.Cached(), refused.Load(), logs.String())
	}
}

// Item 8: TLS with a private CA (ca_file), and a client certificate when
// the server requires one (tls-auth-clients yes).
func TestRedisStoreTLS(t *testing.T) {
	t.Run("server certificate only", func(t *testing.T) {
		r := testenv.StartRedisTLS(t, testenv.RedisTLSOptions{})
		s, _, _ := newManagedStore(t, provisioned(t, config.Redis{URL: r.URL(), CAFile: r.TLS.CAFile}))
		if err := exerciseStore(s); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("client certificate required", func(t *testing.T) {
		r := testenv.StartRedisTLS(t, testenv.RedisTLSOptions{RequireClientCert: true})
		s, _, _ := newManagedStore(t, provisioned(t, config.Redis{
			URL: r.URL(), CAFile: r.TLS.CAFile, TLSCertFile: r.TLS.CertFile, TLSKeyFile: r.TLS.KeyFile,
		}))
		if err := exerciseStore(s); err != nil {
			t.Fatal(err)
		}
		// Without the certificate the server refuses the connection: the
		// store is unavailable, it does not fall back to anything.
		bare, _, _ := newManagedStore(t, provisioned(t, config.Redis{URL: r.URL(), CAFile: r.TLS.CAFile}))
		if err := bare.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("without a client certificate: %v, want ErrUnavailable", err)
		}
	})
	t.Run("unknown CA", func(t *testing.T) {
		r := testenv.StartRedisTLS(t, testenv.RedisTLSOptions{})
		other := testenv.StartRedisTLS(t, testenv.RedisTLSOptions{}) // another test CA
		s, _, _ := newManagedStore(t, provisioned(t, config.Redis{URL: r.URL(), CAFile: other.TLS.CAFile}))
		err := s.Ping(context.Background())
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("a server certificate from another CA: %v, want ErrUnavailable about the certificate", err)
		}
	})
}

// provisioned is r as config loading leaves it: the CA and the client
// certificate read and parsed (config's tests cover that step).
func provisioned(t *testing.T, r config.Redis) config.Redis {
	t.Helper()
	pem, err := os.ReadFile(r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	r.RootCAs = x509.NewCertPool()
	if !r.RootCAs.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate")
	}
	if r.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(r.TLSCertFile, r.TLSKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		r.ClientCert = &cert
	}
	return r
}

// Item 8: a user with exactly README's command list runs the whole store;
// without any one of them the store's error names the missing command
// (Redis's NOPERM answer), except CLIENT TRACKING and CACHING, whose
// refusal turns the client cache off, and ROLE, which only Sentinel uses.
func TestRedisStoreLeastPrivilegeACL(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if line := strings.Join(aclUser(), " "); !strings.Contains(string(readme), strings.Replace(line, ">pw", ">CHANGE-ME", 1)+"\n") {
		t.Errorf("README does not show the tested ACL line:\n%s", line)
	}
	r := testenv.StartRedis(t)
	if _, err := r.Do(aclUser()...); err != nil {
		t.Fatal(err)
	}
	s, logs, _ := newManagedStore(t, config.Redis{URL: r.URL(), Username: "lcw", Password: "pw"})
	if err := exerciseStore(s); err != nil {
		t.Fatalf("with README's ACL user: %v", err)
	}
	if !s.opts.Client.Cached() || logs.Len() != 0 {
		t.Errorf("cache on %v, log %q: the ACL user should keep the client cache", s.opts.Client.Cached(), logs.String())
	}
	for _, missing := range storeCommands {
		if missing == "auth" || missing == "role" || missing == "srem" {
			// AUTH: HELLO authenticates (AUTH is RESP2's way); ROLE: Sentinel
			// only; SREM only tidies indexes, its refusal is ignored.
			continue
		}
		t.Run(missing, func(t *testing.T) {
			r := testenv.StartRedis(t)
			if _, err := r.Do(aclUser(missing)...); err != nil {
				t.Fatal(err)
			}
			s, _, refused := newManagedStore(t, config.Redis{URL: r.URL(), Username: "lcw", Password: "pw"})
			err := exerciseStore(s)
			switch missing {
			case "client|tracking", "client|caching", "multi", "exec", "pttl":
				// What the client cache needs: without it the store goes on
				// without the cache, never with a cache Redis does not
				// invalidate.
				if err != nil || refused.Load() != 1 || s.opts.Client.Cached() {
					t.Fatalf("without %s: %v (refusals %d, cache on %v); want the store working, cache off", missing, err, refused.Load(), s.opts.Client.Cached())
				}
				return
			case "time":
				// A script's refused command is not named in the error.
				if err == nil || !strings.Contains(err.Error(), "token budget") || !strings.Contains(err.Error(), "can't run this command") {
					t.Fatalf("without time: %v; want the token budget's script refused", err)
				}
				return
			}
			name := missing
			if i := strings.IndexByte(name, '|'); i >= 0 {
				name = name[:i] // Redis names the container command
			}
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), "'"+name) {
				t.Fatalf("without %s: %v; want an error naming it", missing, err)
			}
		})
	}
}

// Item 8: through Sentinel, the primary failed over during traffic.
// Sessions saved before survive (they were replicated), every read in the
// meantime either answers or is ErrUnavailable (a 503: the visitor is
// neither signed in nor out, never sent to sign in again), and the same
// store writes to the new primary without a restart.
func TestRedisStoreSentinelFailover(t *testing.T) {
	t.Parallel()
	t.Run("SENTINEL FAILOVER", func(t *testing.T) {
		testSentinelFailover(t, (*testenv.RedisSentinel).Failover)
	})
	t.Run("primary killed", func(t *testing.T) {
		testSentinelFailover(t, (*testenv.RedisSentinel).KillPrimary)
	})
}

func testSentinelFailover(t *testing.T, failover func(*testenv.RedisSentinel, testing.TB) *testenv.Redis) {
	sen := testenv.StartRedisSentinel(t)
	s, _, refused := newManagedStore(t, config.Redis{Addrs: sen.Addrs(), MasterName: sen.MasterName})
	if err := exerciseStore(s); err != nil {
		t.Fatalf("through Sentinel: %v", err)
	}
	var reqs []*http.Request
	for i := range 20 {
		sess := typicalSession()
		sess.Subject = fmt.Sprintf("user-%d", i)
		reqs = append(reqs, saveRedis(t, s, sess))
	}
	sen.WaitReplicated(t)

	stop := make(chan struct{})
	type outcome struct{ ok, unavailable, other int }
	results := make(chan outcome)
	var firstOther atomic.Value
	go func() {
		var o outcome
		for {
			select {
			case <-stop:
				results <- o
				return
			default:
			}
			for i, r := range reqs {
				var err error
				if sess, lerr := s.Load(r); lerr != nil {
					err = lerr
				} else if i%4 == 0 { // uncached reads and writes too
					if _, err = s.Get(context.Background(), sess.ID); err == nil {
						err = s.Replace(context.Background(), sess, sess)
						if errors.Is(err, ErrChanged) {
							// A retried script whose first answer was lost with
							// the connection finds its own write: the caller
							// (refresh) reads the record again, as here.
							_, err = s.Get(context.Background(), sess.ID)
						}
					}
				}
				switch {
				case err == nil:
					o.ok++
				case errors.Is(err, ErrUnavailable):
					o.unavailable++
				default:
					o.other++
					firstOther.CompareAndSwap(nil, err.Error())
				}
			}
		}
	}()
	now := failover(sen, t)
	hang := time.Now().Add(time.Minute)
	// The store finds the new primary by itself: a write goes through.
	var after *http.Request
	for after == nil {
		rec := httptest.NewRecorder()
		sess := typicalSession()
		sess.Subject = "after-failover"
		if err := s.Save(rec, httptest.NewRequest("GET", "https://shop.example.com/_lcw/callback", nil), sess); err == nil {
			after = requestWith(rec.Result().Cookies()...)
		} else if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("save during failover: %v, want ErrUnavailable until the new primary is found", err)
		} else if time.Now().After(hang) {
			t.Fatalf("a minute after the failover the store still cannot write: %v", err)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	close(stop)
	o := <-results
	t.Logf("operations during the failover: %d answered, %d unavailable (503), %d otherwise", o.ok, o.unavailable, o.other)
	if o.other != 0 {
		t.Errorf("%d operations during the failover neither answered nor were unavailable (first: %v): a visitor would be sent to sign in again", o.other, firstOther.Load())
	}
	if v, err := now.Do("EXISTS", "lcw:s:{"+mustLoad(t, s, after).ID+"}"); err != nil || v != "1" {
		t.Errorf("the session saved after the failover is not on the new primary %s: %q %v", now.Addr, v, err)
	}
	for i, r := range reqs {
		if _, err := s.Load(r); err != nil {
			t.Errorf("session %d after the failover: %v", i, err)
		}
	}
	if err := exerciseStore(s); err != nil {
		t.Fatalf("after the failover: %v", err)
	}
	if refused.Load() != 0 {
		t.Error("the client cache was refused")
	}
}

func mustLoad(t *testing.T, s Store, r *http.Request) *Session {
	t.Helper()
	sess, err := s.Load(r)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}
