package login

import (
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
)

// The interfaces login declares for what it needs of a server-side store
// are met by the Redis store.
var (
	_ records          = (*session.RedisStore)(nil)
	_ BackchannelStore = (*session.RedisStore)(nil)
)

// The cookie store has no server-side records: the refresher saves a
// refreshed session as a new cookie, without lock or compare-and-set.
func TestCookieStoreHasNoRecords(t *testing.T) {
	codec, err := session.NewCodec([][]byte{make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	var store session.Store = session.NewCookieStore(codec, session.CookieOptions{Name: "s", Path: "/", Lifetime: time.Hour})
	if _, ok := store.(records); ok {
		t.Error("the cookie store passes for a store of server-side records")
	}
	if _, ok := store.(BackchannelStore); ok {
		t.Error("the cookie store passes for a back-channel logout store")
	}
}
