package e2e

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// BenchmarkSessionStores measures signed-in requests for a 100-byte
// response with each session store in the same run (the target: Redis at
// least 0.8× the cookie store's rate). "handler" runs the handler tree
// in-process; "loopback" goes through real connections, in parallel. Redis
// is a real redis-server on loopback; the client-side cache keeps it off
// the request path once a session is warm.
func BenchmarkSessionStores(b *testing.B) {
	small := strings.Repeat("x", 100)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, small)
	})
	redis := testenv.StartRedis(b)
	secret := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	stores := []struct{ name, section string }{
		{"cookie", "session:\n  secret: " + secret + "\n"},
		{"redis", "session:\n  secret: " + secret + "\n  store: redis\n  redis:\n    url: " + redis.URL() + "\n"},
	}
	for _, st := range stores {
		e := startEnv(b, envOptions{Upstream: upstream, Extra: "log:\n  access_log: false\n  level: warn\n" + st.section})
		c, _ := e.login(b, testenv.VIPUsername, testenv.VIPPassword, "/")
		ck, err := e.cookie(c, "_lcw")
		if err != nil {
			b.Fatal(err)
		}
		cookie := "_lcw=" + ck.Value
		b.Run(st.name+"/handler", func(b *testing.B) {
			h := e.App.Handler()
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", e.URL+"/small", nil)
				req.RemoteAddr = "127.0.0.1:40000"
				req.Header.Set("Cookie", cookie)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
		b.Run(st.name+"/loopback", func(b *testing.B) { loopback(b, e.URL+"/small", cookie) })
	}
}
