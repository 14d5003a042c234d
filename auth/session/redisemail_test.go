package session

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// emailSession is a session of sub signed in with email.
func emailSession(sub, email, name string) *Session {
	s := typicalSession()
	s.Subject, s.Email, s.Name = sub, email, name
	return s
}

// alive reports whether the request's session still loads.
func alive(t *testing.T, s *RedisStore, r *http.Request) bool {
	t.Helper()
	_, err := s.Load(r)
	if err != nil && !errors.Is(err, ErrRevoked) {
		t.Fatalf("Load: %v", err)
	}
	return err == nil
}

// An operator finds and ends a person's sessions by email address: in
// any letter case, on every device, and an address with the characters
// Redis's MATCH reads as a glob (*, ?, [ ], \) finds only itself.
func TestRedisStoreByEmail(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newRedisStore(t, config.Redis{URL: r.URL()})
	ctx := context.Background()

	laptop := saveRedis(t, s, emailSession("alice-sub", "Alice@Example.com", "Alice Liddell"))
	phone := saveRedis(t, s, emailSession("alice-sub", "alice@example.COM", "Alice Liddell"))
	glob := map[string]*http.Request{}
	for i, e := range []string{"a*@example.com", "ab@example.com", "[ab]?@example.com", "aa@example.com", `a\b@example.com`, "a?@example.com"} {
		glob[e] = saveRedis(t, s, emailSession("glob-"+strconv.Itoa(i), e, ""))
	}
	bob := saveRedis(t, s, emailSession("bob-sub", "bob@example.com", "Bob"))

	infos, err := s.ListEmail(ctx, "  ALICE@example.com ")
	if err != nil || len(infos) != 2 {
		t.Fatalf("ListEmail(ALICE@…): %+v %v, want alice's two sessions", infos, err)
	}
	for _, in := range infos {
		if in.Subject != "alice-sub" || in.Name != "Alice Liddell" || (in.Email != "Alice@Example.com" && in.Email != "alice@example.COM") {
			t.Errorf("listed %+v, want alice's subject, name and email as signed in", in)
		}
	}
	for e := range glob {
		infos, err := s.ListEmail(ctx, e)
		if err != nil || len(infos) != 1 || infos[0].Email != e {
			t.Errorf("ListEmail(%q): %+v %v, want exactly that address's one session", e, infos, err)
		}
	}

	if n, err := s.EndEmail(ctx, "[ab]?@example.com"); err != nil || n != 1 {
		t.Fatalf("EndEmail([ab]?@…): %d %v, want 1", n, err)
	}
	for e, req := range glob {
		if want := e != "[ab]?@example.com"; alive(t, s, req) != want {
			t.Errorf("after ending [ab]?@…, the session of %q alive: %v, want %v", e, !want, want)
		}
	}

	if n, err := s.EndEmail(ctx, "alice@example.com"); err != nil || n != 2 {
		t.Fatalf("EndEmail(alice): %d %v, want both devices", n, err)
	}
	if alive(t, s, laptop) || alive(t, s, phone) {
		t.Error("a device of alice is still signed in after EndEmail")
	}
	if !alive(t, s, bob) {
		t.Error("bob's session ended with alice's")
	}
	if infos, err := s.ListEmail(ctx, "alice@example.com"); err != nil || len(infos) != 0 {
		t.Errorf("ListEmail after EndEmail: %+v %v", infos, err)
	}
	if n, err := s.EndEmail(ctx, "alice@example.com"); err != nil || n != 0 {
		t.Errorf("EndEmail again: %d %v, want 0", n, err)
	}
	// Alice signs in again: found again, once.
	again := saveRedis(t, s, emailSession("alice-sub", "alice@example.com", "Alice Liddell"))
	if infos, err := s.ListEmail(ctx, "Alice@Example.com"); err != nil || len(infos) != 1 {
		t.Errorf("ListEmail after a new sign-in: %+v %v, want 1", infos, err)
	}
	if !alive(t, s, again) {
		t.Error("the new sign-in does not load")
	}

	// Index names say nothing about the address, and expire as the
	// subject's index does.
	for _, pattern := range []string{"*alice*", "*example*", "*ALICE*"} {
		if keys, _ := r.DoArray("KEYS", pattern); len(keys) != 0 {
			t.Errorf("KEYS %s: %q, a key names the address", pattern, keys)
		}
	}
	emailIdx, subIdx := s.indexKeys("email", "alice@example.com")[0], s.indexKeys("sub", "alice-sub")[0]
	emailTTL, err1 := r.Do("PTTL", emailIdx)
	subTTL, err2 := r.Do("PTTL", subIdx)
	et, _ := strconv.ParseInt(emailTTL, 10, 64)
	st, _ := strconv.ParseInt(subTTL, 10, 64)
	if err1 != nil || err2 != nil || et <= 0 || et > (12*time.Hour).Milliseconds() || st-et > time.Minute.Milliseconds() {
		t.Errorf("email index PTTL %q (%v), subject index %q (%v): want the subject index's, at most the lifetime", emailTTL, err1, subTTL, err2)
	}

	// An empty address is a mistake, never "everyone".
	if _, err := s.EndEmail(ctx, " "); err == nil {
		t.Error("EndEmail of an empty address succeeded")
	}
	if _, err := s.ListEmail(ctx, ""); err == nil {
		t.Error("ListEmail of an empty address succeeded")
	}
}

// A refresh that changes the address moves the session: the old address
// no longer finds or ends it (its index entry is only a hint), the new
// one does.
func TestRedisStoreEmailChangedAtRefresh(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newRedisStore(t, config.Redis{URL: r.URL()})
	ctx := context.Background()
	sess := emailSession("carol-sub", "carol@old.example", "Carol")
	req := saveRedis(t, s, sess)
	prev, err := s.Get(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	next := *prev
	next.Email = "carol@new.example"
	next.RefreshedAt = time.Now()
	if err := s.Replace(ctx, &next, prev); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	if infos, err := s.ListEmail(ctx, "carol@old.example"); err != nil || len(infos) != 0 {
		t.Errorf("the old address lists %+v %v, want nothing", infos, err)
	}
	if n, err := s.EndEmail(ctx, "carol@old.example"); err != nil || n != 0 || !alive(t, s, req) {
		t.Errorf("EndEmail(old address) ended %d (%v); the session must live", n, err)
	}
	if ids, _ := r.DoArray("SMEMBERS", s.indexKeys("email", "carol@old.example")[0]); slices.Contains(ids, sess.ID) {
		t.Error("the old address's index still lists the session after EndEmail read it")
	}
	if infos, err := s.ListEmail(ctx, "carol@new.example"); err != nil || len(infos) != 1 {
		t.Errorf("the new address lists %+v %v, want 1", infos, err)
	}
	if n, err := s.EndEmail(ctx, "CAROL@new.example"); err != nil || n != 1 || alive(t, s, req) {
		t.Errorf("EndEmail(new address): %d %v, want the session ended", n, err)
	}
}

// A key_prefix with glob characters lists its own sessions, and only
// those: the listing's SCAN MATCH quotes the prefix.
func TestRedisStoreListWithGlobPrefix(t *testing.T) {
	r := testenv.StartRedis(t)
	odd := newRedisStore(t, config.Redis{URL: r.URL(), KeyPrefix: `shop[1]*?\:`})
	plain := newRedisStore(t, config.Redis{URL: r.URL(), KeyPrefix: "shop1x:"})
	saveRedis(t, odd, emailSession("odd-sub", "odd@example.com", ""))
	saveRedis(t, plain, emailSession("plain-sub", "plain@example.com", ""))
	all, err := odd.List(context.Background(), "")
	if err != nil || len(all) != 1 || all[0].Subject != "odd-sub" {
		t.Errorf("List of key_prefix %q: %+v %v, want its one session", `shop[1]*?\:`, all, err)
	}
	if got := globEscape(`a*b?c[d]e\f`); got != `a\*b\?c\[d\]e\\f` {
		t.Errorf("globEscape = %q", got)
	}
}

// The operator's fields stay out of the cookie store's cookie.
func TestCookieOmitsOperatorFields(t *testing.T) {
	sess := emailSession("dave-sub", "dave@example.com", "Dave Operator-Visible")
	plain, err := encodeSession(sess, false)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeSession(plain)
	if err != nil {
		t.Fatal(err)
	}
	if back.Email != "" || back.Name != "" {
		t.Errorf("a cookie keeps email %q and name %q", back.Email, back.Name)
	}
	plain, _ = encodeSession(sess, true)
	if back, _ := decodeSession(plain); back.Email != sess.Email || back.Name != sess.Name {
		t.Errorf("a record lost email or name: %+v", back)
	}
}
