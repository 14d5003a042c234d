package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// newRedisStore is a RedisStore on a real redis-server (one node, or the
// cluster's seed addresses), as config provisions it.
func newRedisStore(t testing.TB, redis config.Redis, keys ...[]byte) *RedisStore {
	t.Helper()
	if len(keys) == 0 {
		keys = [][]byte{newKey(t)}
	}
	def := config.Default().Session.Redis
	if redis.KeyPrefix == "" {
		redis.KeyPrefix = def.KeyPrefix
	}
	redis.DialTimeout, redis.Timeout = def.DialTimeout, def.Timeout
	switch {
	case redis.CacheTTL == 0:
		redis.CacheTTL = def.CacheTTL
	case redis.CacheTTL < 0: // a test that wants no client-side cache
		redis.CacheTTL = 0
	}
	client, err := NewRedisClient(redis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return NewRedisStore(newCodec(t, keys...), keys, RedisOptions{
		Cookie:    CookieOptions{Name: "_lcw", Path: "/", Lifetime: 12 * time.Hour},
		Client:    client,
		KeyPrefix: redis.KeyPrefix,
		Timeout:   redis.Timeout.D(),
		CacheTTL:  redis.CacheTTL.D(),
	})
}

// saveRedis saves sess and returns a request carrying the ticket cookie.
func saveRedis(t testing.TB, s Store, sess *Session) *http.Request {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := s.Save(rec, httptest.NewRequest("GET", "https://shop.example.com/_lcw/callback", nil), sess); err != nil {
		t.Fatalf("Save: %v", err)
	}
	return requestWith(rec.Result().Cookies()...)
}

// entraSession is what an Entra ID login with 60 group ids leaves.
func entraSession() *Session {
	s := typicalSession()
	groups := make([]any, 60)
	for i := range groups {
		groups[i] = fmt.Sprintf("%08x-1111-4222-8333-%012x", i, i)
	}
	s.Claims["groups"] = groups
	s.IDToken = strings.Repeat("x", 4000)
	s.SID = "entra-sid-1"
	return s
}

func TestRedisStoreRoundTrip(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newRedisStore(t, config.Redis{URL: r.URL()})
	want := entraSession()
	req := saveRedis(t, s, want)
	cookies := req.Cookies()
	if len(cookies) != 1 || len(cookies[0].Name)+len(cookies[0].Value) >= 200 {
		t.Fatalf("cookie %v: want one cookie under 200 bytes whatever the IdP sends", cookies)
	}
	got, err := s.Load(req)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != want.Subject || got.IDToken != want.IDToken || got.SID != "entra-sid-1" || len(got.Claims["groups"].([]any)) != 60 || got.ID == "" {
		t.Fatalf("loaded %+v", got)
	}
	// The record is sealed: nothing of the session is readable in Redis.
	raw, err := r.Do("GET", "lcw:s:{"+got.ID+"}")
	if err != nil || raw == "" {
		t.Fatalf("record: %q %v", raw, err)
	}
	for _, secret := range []string{want.Subject, want.RefreshToken, "jane.doe@example.com", "entra-sid-1"} {
		if strings.Contains(raw, secret) {
			t.Errorf("the record shows %q in clear", secret)
		}
	}
	// The TTL is the session's.
	ttl, err := r.Do("PTTL", "lcw:s:{"+got.ID+"}")
	if err != nil || ttl == "" || ttl[0] == '-' {
		t.Fatalf("PTTL %q %v", ttl, err)
	}
	// A second Load comes from the caches and is a copy.
	again, err := s.Load(req)
	if err != nil || again == got {
		t.Fatalf("second load: %v (same pointer: %v)", err, again == got)
	}
}

func TestRedisStoreRevocation(t *testing.T) {
	r := testenv.StartRedis(t)
	replicaA := newRedisStore(t, config.Redis{URL: r.URL()}, key1)
	replicaB := newRedisStore(t, config.Redis{URL: r.URL()}, key1)
	req := saveRedis(t, replicaA, typicalSession())
	// Both replicas serve it, and cache it client-side.
	for _, s := range []*RedisStore{replicaA, replicaB, replicaA, replicaB} {
		if _, err := s.Load(req); err != nil {
			t.Fatal(err)
		}
	}
	// Logout on B: the copied cookie is dead on A at once (Redis invalidates
	// A's cached record; the push may need a moment to arrive).
	if err := replicaB.Clear(httptest.NewRecorder(), req); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := replicaA.Load(req)
		if errors.Is(err, ErrRevoked) && errors.Is(err, ErrInvalid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica A still serves the logged-out session: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var key1 = []byte("0123456789abcdef0123456789abcdef")

func TestRedisStoreRefusesTamperedAndMovedRecords(t *testing.T) {
	r := testenv.StartRedis(t)
	// No client-side cache: the test edits Redis behind the store's back.
	s := newRedisStore(t, config.Redis{URL: r.URL(), CacheTTL: -1})
	victim := saveRedis(t, s, typicalSession())
	other := typicalSession()
	other.Subject = "attacker"
	attacker := saveRedis(t, s, other)
	vs, _ := s.Load(victim)
	as, _ := s.Load(attacker)

	// Moved: the attacker copies their record over the victim's id.
	rec, _ := r.Do("GET", "lcw:s:{"+as.ID+"}")
	if _, err := r.Do("SET", "lcw:s:{"+vs.ID+"}", rec); err != nil {
		t.Fatal(err)
	}
	if sess, err := s.Load(victim); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a record moved to another id loaded: %+v, %v", sess, err)
	}
	// Tampered: one character changed.
	b := []byte(rec)
	b[len(b)/2] ^= 1
	if _, err := r.Do("SET", "lcw:s:{"+as.ID+"}", string(b)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(attacker); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a tampered record loaded: %v", err)
	}
	// A forged ticket (an id sealed by someone without the secret) is no session.
	forged := requestWithHeader("_lcw=" + strings.Repeat("A", 80))
	if _, err := s.Load(forged); !errors.Is(err, ErrInvalid) {
		t.Fatalf("forged ticket: %v", err)
	}
	// A cookie-store session under the same name is not a ticket.
	cs := NewCookieStore(s.codec, s.opts.Cookie)
	rec2 := httptest.NewRecorder()
	if err := cs.Save(rec2, httptest.NewRequest("GET", "/", nil), typicalSession()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(requestWith(rec2.Result().Cookies()...)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a cookie-store session read as a ticket: %v", err)
	}
}

func TestRedisStoreSecretRotation(t *testing.T) {
	r := testenv.StartRedis(t)
	old, fresh := newKey(t), newKey(t)
	before := newRedisStore(t, config.Redis{URL: r.URL()}, old)
	req := saveRedis(t, before, typicalSession())
	after := newRedisStore(t, config.Redis{URL: r.URL()}, fresh, old)
	if _, err := after.Load(req); err != nil {
		t.Fatalf("session of the previous secret after rotation: %v", err)
	}
	if n, err := after.EndSubject(context.Background(), typicalSession().Subject); err != nil || n != 1 {
		t.Fatalf("EndSubject found %d sessions indexed under the previous secret: %v", n, err)
	}
	without := newRedisStore(t, config.Redis{URL: r.URL()}, fresh)
	req = saveRedis(t, before, typicalSession())
	if _, err := without.Load(req); !errors.Is(err, ErrInvalid) {
		t.Fatalf("old secret dropped, yet its session loads: %v", err)
	}
}

func TestRedisStoreIndexes(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newRedisStore(t, config.Redis{URL: r.URL()})
	ctx := context.Background()
	a := typicalSession()
	a.SID = "idp-session-1"
	reqA := saveRedis(t, s, a)
	b := typicalSession()
	b.SID = "idp-session-2"
	reqB := saveRedis(t, s, b)
	other := typicalSession()
	other.Subject = "someone-else"
	reqOther := saveRedis(t, s, other)

	infos, err := s.List(ctx, a.Subject)
	if err != nil || len(infos) != 2 {
		t.Fatalf("List: %+v %v", infos, err)
	}
	for _, in := range infos {
		if in.CreatedAt.IsZero() || in.Expiry.IsZero() || len(in.ID) != 8 {
			t.Errorf("info %+v", in)
		}
	}
	if n, err := s.EndSID(ctx, "idp-session-1"); err != nil || n != 1 {
		t.Fatalf("EndSID: %d %v", n, err)
	}
	if _, err := s.Load(reqA); !errors.Is(err, ErrRevoked) {
		t.Errorf("session of the ended sid: %v", err)
	}
	if _, err := s.Load(reqB); err != nil {
		t.Errorf("the other IdP session ended too: %v", err)
	}
	if n, err := s.EndSubject(ctx, a.Subject); err != nil || n != 1 {
		t.Fatalf("EndSubject: %d %v", n, err)
	}
	if _, err := s.Load(reqB); !errors.Is(err, ErrRevoked) {
		t.Errorf("after EndSubject: %v", err)
	}
	if _, err := s.Load(reqOther); err != nil {
		t.Errorf("another subject's session ended: %v", err)
	}
	if infos, _ := s.List(ctx, a.Subject); len(infos) != 0 {
		t.Errorf("List after EndSubject: %+v", infos)
	}
	// Index names say nothing about the subject.
	keys, _ := r.Do("KEYS", "*someone-else*")
	if keys != "0" && keys != "" {
		t.Errorf("a key names the subject: %q", keys)
	}
}

func TestRedisStoreLock(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newRedisStore(t, config.Redis{URL: r.URL()})
	ctx := context.Background()
	release, err := s.Lock(ctx, "id1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, "id1", time.Minute); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock: %v, want ErrLocked", err)
	}
	if rel, err := s.Lock(ctx, "id2", time.Minute); err != nil {
		t.Fatalf("another session's lock: %v", err)
	} else {
		rel()
	}
	release()
	again, err := s.Lock(ctx, "id1", 200*time.Millisecond)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	// A holder that dies leaves a lock that expires; its late release must
	// not free a lock someone else took meanwhile.
	time.Sleep(300 * time.Millisecond)
	third, err := s.Lock(ctx, "id1", time.Minute)
	if err != nil {
		t.Fatalf("Lock after expiry: %v", err)
	}
	again() // the expired holder's release
	if _, err := s.Lock(ctx, "id1", time.Minute); !errors.Is(err, ErrLocked) {
		t.Fatalf("a stale release freed the current holder's lock: %v", err)
	}
	third()
}

func TestRedisStoreFirstUse(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newRedisStore(t, config.Redis{URL: r.URL()})
	ctx := context.Background()
	if ok, err := s.FirstUse(ctx, "jti-1", time.Minute); !ok || err != nil {
		t.Fatalf("first use: %v %v", ok, err)
	}
	if ok, err := s.FirstUse(ctx, "jti-1", time.Minute); ok || err != nil {
		t.Fatalf("replay: %v %v", ok, err)
	}
	// A use whose work failed is forgotten: the sender's retry is new.
	if err := s.ForgetUse(ctx, "jti-1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.FirstUse(ctx, "jti-1", time.Minute); !ok || err != nil {
		t.Fatalf("retry after ForgetUse: %v %v, want a first use", ok, err)
	}
	if ok, err := s.FirstUse(ctx, "jti-2", time.Minute); !ok || err != nil {
		t.Fatalf("another token id: %v %v, want a first use", ok, err)
	}
}

// Redis down: the store says unavailable (never "signed out"), and it
// recovers without a restart once Redis is back.
func TestRedisStoreUnavailableAndRecovery(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newRedisStore(t, config.Redis{URL: r.URL()})
	req := saveRedis(t, s, typicalSession())
	r.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := s.Load(req)
		if errors.Is(err, ErrUnavailable) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Load with Redis down: %v, want ErrUnavailable", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping with Redis down: %v", err)
	}
	if err := s.Save(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), typicalSession()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Save with Redis down: %v", err)
	}
	if err := s.Clear(httptest.NewRecorder(), req); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Clear with Redis down: %v, want an error so logout does not pretend", err)
	}
	r.Restart() // empty: the old session is gone, as after a flush
	deadline = time.Now().Add(10 * time.Second)
	for s.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("no recovery after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	req2 := saveRedis(t, s, typicalSession())
	if _, err := s.Load(req2); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if _, err := s.Load(req); !errors.Is(err, ErrRevoked) {
		t.Fatalf("session lost with the restart: %v, want ErrRevoked", err)
	}
}

// Never started: the first use fails fast and later uses connect.
func TestRedisStoreStartsWithoutRedis(t *testing.T) {
	r := testenv.StartRedis(t)
	addr := r.Addr
	r.Stop()
	s := newRedisStore(t, config.Redis{URL: "redis://" + addr})
	if err := s.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping before Redis exists: %v", err)
	}
	r.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("never connected")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// On a Cluster every operation works: keys read together share a slot.
func TestRedisStoreCluster(t *testing.T) {
	t.Parallel()
	c := testenv.StartRedisCluster(t)
	s := newRedisStore(t, config.Redis{Addrs: c.Addrs()})
	ctx := context.Background()
	var reqs []*http.Request
	for i := range 8 { // spread over the slots
		sess := typicalSession()
		sess.SID = fmt.Sprintf("sid-%d", i)
		reqs = append(reqs, saveRedis(t, s, sess))
	}
	for _, req := range reqs {
		got, err := s.Load(req)
		if err != nil {
			t.Fatal(err)
		}
		release, err := s.Lock(ctx, got.ID, time.Minute)
		if err != nil {
			t.Fatalf("Lock on the cluster: %v", err)
		}
		release()
	}
	if infos, err := s.List(ctx, typicalSession().Subject); err != nil || len(infos) != 8 {
		t.Fatalf("List on the cluster: %d %v", len(infos), err)
	}
	if n, err := s.EndSID(ctx, "sid-3"); err != nil || n != 1 {
		t.Fatalf("EndSID on the cluster: %d %v", n, err)
	}
	if n, err := s.EndSubject(ctx, typicalSession().Subject); err != nil || n != 7 {
		t.Fatalf("EndSubject on the cluster: %d %v", n, err)
	}
	for _, req := range reqs {
		if _, err := s.Load(req); !errors.Is(err, ErrRevoked) {
			t.Fatalf("after EndSubject: %v", err)
		}
	}
}

func TestRedisStoreConcurrentUse(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newRedisStore(t, config.Redis{URL: r.URL()})
	req := saveRedis(t, s, typicalSession())
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := s.Load(req); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// BenchmarkCookieBytes reports the Cookie request header each store makes
// browsers send on every request for an Entra ID-sized session (60 group
// ids, a 4 KB ID token): the metric is the point, not the time.
func BenchmarkCookieBytes(b *testing.B) {
	r := testenv.StartRedis(b)
	cookieStore := NewCookieStore(newCodec(b, key1), CookieOptions{Name: "_lcw", Path: "/", Lifetime: 12 * time.Hour})
	redisStore := newRedisStore(b, config.Redis{URL: r.URL()}, key1)
	for _, st := range []struct {
		name string
		s    Store
	}{{"cookie", cookieStore}, {"redis", redisStore}} {
		b.Run(st.name, func(b *testing.B) {
			var header int
			for b.Loop() {
				req := saveRedis(b, st.s, entraSession())
				header = len(req.Header.Get("Cookie"))
			}
			b.ReportMetric(float64(header), "cookie-bytes")
			b.ReportMetric(float64(len(saveRedis(b, st.s, entraSession()).Cookies())), "cookies")
		})
	}
}

// TestRedisStoreReadsItsOwnRewrite: after this replica replaces a record,
// its loads go to Redis, past the client-side cache, for as long as the
// cache could hold the old record. Redis invalidates the cached copy with
// a push that can arrive after the script's reply (seen on a loaded
// machine: the load right after a refresh returned the old refresh token).
// Redis's GET count tells a load that reached it from one the cache
// answered.
func TestRedisStoreReadsItsOwnRewrite(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	s := newRedisStore(t, config.Redis{URL: r.URL()})
	gets := func() int {
		t.Helper()
		info, err := r.Do("INFO", "commandstats")
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(info, "cmdstat_get:calls=")
		n, err := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
		if !ok || err != nil {
			t.Fatalf("no GET count in INFO commandstats: %q", info)
		}
		return n
	}
	rec := httptest.NewRecorder()
	if err := s.Save(rec, httptest.NewRequest("GET", "https://shop.example.com/_lcw/callback", nil), typicalSession()); err != nil {
		t.Fatal(err)
	}
	req := requestWith(rec.Result().Cookies()...)
	load := func() *Session {
		t.Helper()
		sess, err := s.Load(req)
		if err != nil {
			t.Fatal(err)
		}
		return sess
	}
	first := load()
	before := gets()
	load()
	if n := gets() - before; n != 0 {
		t.Fatalf("a second load reached Redis %d times; want the client cache to answer it", n)
	}
	next := *first
	next.RefreshToken = "rotated"
	if err := s.Replace(context.Background(), &next, first); err != nil {
		t.Fatal(err)
	}
	before = gets()
	for range 2 {
		if got := load(); got.RefreshToken != "rotated" {
			t.Fatalf("load after replace: refresh token %q, want the rewrite's", got.RefreshToken)
		}
	}
	if n := gets() - before; n != 2 {
		t.Errorf("the two loads after our own rewrite reached Redis %d times; want both", n)
	}
}
