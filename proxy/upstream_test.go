package proxy

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/h1transport"
)

// quietLog formats every record and drops it: the tests run the logging
// code without printing.
var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// countingRT counts the requests handed to the fallback transport.
type countingRT struct {
	next  http.RoundTripper
	calls atomic.Int32
}

func (c *countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return c.next.RoundTrip(r)
}

// newTransport's direct path, as configured by default, carries sequential
// GETs on one connection and hands none to the fallback transport. (The
// transport's own behaviour is tested in proxy/h1transport.)
func TestDirectReusesOneConnection(t *testing.T) {
	var newConns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	u := mustURL(t, srv.URL)
	rt := newTransport(u, config.Default().Upstream)
	tr, ok := rt.(*h1transport.Transport)
	if !ok {
		t.Fatalf("newTransport returned %T for an http upstream", rt)
	}
	next := &countingRT{next: tr.Next}
	tr.Next = next
	defer tr.CloseIdleConnections()

	for i := range 50 {
		path := fmt.Sprintf("/r%d", i)
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(b) != path {
			t.Fatalf("GET %s: %d %q %v, want 200 %q", path, resp.StatusCode, b, err, path)
		}
	}
	if n := newConns.Load(); n != 1 {
		t.Fatalf("upstream saw %d connections for 50 sequential GETs, want 1", n)
	}
	if n := next.calls.Load(); n != 0 {
		t.Fatalf("%d requests went to the fallback transport", n)
	}
}

// newTransport picks the direct path for http upstreams only, with the
// configured limits.
func TestNewTransportSelection(t *testing.T) {
	cfg := config.Default().Upstream
	rt := newTransport(mustURL(t, "http://app:8080"), cfg)
	tr, ok := rt.(*h1transport.Transport)
	if !ok {
		t.Fatalf("http upstream: %T", rt)
	}
	if tr.Host != "app:8080" || tr.Addr != "app:8080" || tr.ResponseHeaderTimeout != cfg.Timeout.D() ||
		tr.IdleConnTimeout != cfg.IdleConnTimeout.D() || tr.MaxIdleConns != cfg.MaxIdleConnsPerHost || tr.MaxResponseHeaderBytes != maxResponseHeaderBytes ||
		tr.ReadBufferSize != copyBufferSize {
		t.Fatalf("direct transport settings: %+v", tr)
	}
	if _, ok := tr.Next.(*http.Transport); !ok {
		t.Fatalf("next is %T", tr.Next)
	}
	rt = newTransport(mustURL(t, "http://app"), cfg)
	if a := rt.(*h1transport.Transport).Addr; a != "app:80" {
		t.Fatalf("addr without port = %q", a)
	}
	rt = newTransport(mustURL(t, "https://app"), cfg)
	if _, ok := rt.(*http.Transport); !ok {
		t.Fatalf("https upstream: %T, want the standard transport", rt)
	}
}

// Through NewReverseProxy, as configured in production: 504.
func TestDirectHeaderTimeoutIs504(t *testing.T) {
	srv := testenv.NewRawServer(t, testenv.HangHandler)
	cfg := config.Default()
	cfg.Upstream.Timeout = config.Duration(200 * time.Millisecond)
	rp, err := NewReverseProxy(UpstreamOptions{URL: srv.URL, Upstream: cfg.Upstream, CookieName: cfg.Session.CookieName, Headers: cfg.Headers, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := rp.Transport.(*h1transport.Transport)
	if !ok {
		t.Fatalf("transport is %T, want the direct path", rp.Transport)
	}
	defer tr.CloseIdleConnections()
	front := httptest.NewServer(rp)
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for _, p := range []string{"/ok", "/hang"} {
		resp, err := client.Get(front.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := http.StatusOK
		if p == "/hang" {
			want = http.StatusGatewayTimeout
		}
		if resp.StatusCode != want {
			t.Fatalf("%s: %d %q, want %d", p, resp.StatusCode, b, want)
		}
	}
}
