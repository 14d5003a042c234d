package session

import (
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// New builds the store session.store names: the cookie store by default,
// the Redis store (whose client connects on first use, so nothing is
// dialled here) for "redis"; both come with a closer.
func TestNewBuildsTheConfiguredStore(t *testing.T) {
	codec, err := NewCodec([][]byte{make([]byte, KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().Session
	cfg.Store = "cookie"
	store, closeStore, err := New(cfg, codec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := store.(*CookieStore); !ok || closeStore == nil {
		t.Errorf("store %q: got %T (closer %v), want *CookieStore and a closer", cfg.Store, store, closeStore != nil)
	}
	closeStore()

	cfg.Store = "redis"
	cfg.Redis.URL = "redis://127.0.0.1:1"
	store, closeStore, err = New(cfg, codec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := store.(*RedisStore); !ok || closeStore == nil {
		t.Errorf("store %q: got %T (closer %v), want *RedisStore and a closer", cfg.Store, store, closeStore != nil)
	}
	closeStore()

	cfg.Redis.URL = "not a redis url"
	if _, _, err := New(cfg, codec, Options{}); err == nil {
		t.Error("a Redis URL that does not parse was accepted")
	}
}
