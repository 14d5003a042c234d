package e2e

import (
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// Nothing on the request path is paid per claim the configuration does not
// read: the same user signed in once as the IdP sends them and once with
// 50 more claims in the ID token (and userinfo) gets a session cookie of
// the same size and the same allocations per signed-in request, through
// the whole handler (session, access, headers, reverse proxy).
func TestUnusedClaimsCostNothingPerRequest(t *testing.T) {
	rng := rand.New(rand.NewPCG(50, 50))
	extra := map[string]any{}
	for i := range 50 {
		b := make([]byte, 30)
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		extra[fmt.Sprintf("extension_unused_%02d", i)] = base64.RawURLEncoding.EncodeToString(b) // 40 characters that do not compress
	}
	measure := func(withExtra bool) (allocs float64, cookie int) {
		users := devidp.DefaultUsers()
		if withExtra {
			for k, v := range extra {
				users[0].Claims[k] = v
			}
		}
		e := startEnv(t, envOptions{OP: testenv.OPOptions{Users: users},
			Upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "small") }),
			Extra:    "log:\n  access_log: false\n  level: warn\nheaders:\n  pass: true\n"})
		c, _ := e.login(t, users[0].Username, users[0].Password, "/")
		ck, err := e.cookie(c, "_lcw")
		if err != nil {
			t.Fatal(err)
		}
		h := e.App.Handler()
		serve := func() {
			req := httptest.NewRequest(http.MethodGet, e.URL+"/small", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("Cookie", "_lcw="+ck.Value)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
		}
		serve() // the session cache and the upstream connection warm
		return testing.AllocsPerRun(200, serve), len(ck.Value)
	}
	a0, n0 := measure(false)
	a1, n1 := measure(true)
	t.Logf("per signed-in request: %v allocs, cookie %d B; with 50 unused claims: %v allocs, cookie %d B", a0, n0, a1, n1)
	// Work per unused claim would add 50 allocations or more; a few either
	// way are sync.Pool misses (the race detector drops pooled items at
	// random) and a redialed upstream connection, not claims.
	if a1 > a0+5 {
		t.Errorf("50 unused claims added allocations per request: %v, then %v", a0, a1)
	}
	// The refresh token and the times differ between two sign-ins by a few
	// bytes after compression; 50 kept claims would add about 2 KB.
	if d := n1 - n0; d > 32 || d < -32 {
		t.Errorf("50 unused claims changed the session cookie: %d B, then %d B", n0, n1)
	}
}
