package e2e

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// An upstream that sends 103 Early Hints trying to set the session cookie
// on a request whose session is refreshed on the way: the browser gets the
// hint's Link, never the upstream's cookie, and the refreshed session
// cookie arrives with the final response (ReverseProxy's 1xx relay used to
// send it in the 103 and then clear it from the final header).
func TestEarlyHintsKeepTheRefreshedSession(t *testing.T) {
	t.Parallel()
	const link = "</style.css>; rel=preload; as=style"
	e := startEnv(t, envOptions{
		Extra: "session:\n  secret: {secret}\n  refresh_interval: 1s\n",
		Upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", link)
			w.Header().Add("Set-Cookie", "_lcw=evil; Path=/")
			w.WriteHeader(http.StatusEarlyHints)
			clear(w.Header())
			w.Write([]byte("page"))
		}),
	})
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	old, _ := e.cookie(c, "_lcw")
	time.Sleep(1200 * time.Millisecond) // past refresh_interval: the next request refreshes

	var hints []textproto.MIMEHeader
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(_ int, h textproto.MIMEHeader) error { hints = append(hints, h); return nil },
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/page", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := body(t, resp); resp.StatusCode != 200 || got != "page" {
		t.Fatalf("page: %d %q", resp.StatusCode, got)
	}
	if len(hints) != 1 || hints[0].Get("Link") != link {
		t.Fatalf("the browser saw 1xx headers %v, want one 103 with the Link", hints)
	}
	if v := hints[0].Values("Set-Cookie"); len(v) > 0 {
		t.Errorf("103 Set-Cookie = %q: neither the upstream's nor the proxy's cookie belongs in it", v)
	}
	var renewed bool
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if strings.Contains(sc, "evil") {
			t.Errorf("the upstream's cookie reached the final response: %q", sc)
		}
		renewed = renewed || strings.HasPrefix(sc, "_lcw=") && !strings.HasPrefix(sc, "_lcw="+old.Value+";")
	}
	if !renewed {
		t.Fatalf("the refreshed session cookie is missing from the final response: %q", resp.Header.Values("Set-Cookie"))
	}
	if resp := testenv.Do(t, noRedirect(c), "GET", e.URL+"/after", navigate); resp.StatusCode != 200 {
		t.Fatalf("with the refreshed cookie: %d", resp.StatusCode)
	}
}
