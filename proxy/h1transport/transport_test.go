package h1transport_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/h1transport"
)

// Generous bound for anything that should happen "at once": the tests run on
// loaded CI machines, so they only catch hangs, never measure speed.
const soon = 5 * time.Second

// ---------------------------------------------------------------------------
// Helpers

// waitFor polls cond until it holds or soon has passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(soon)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// newDirect returns a Transport toward u with test-friendly settings, those
// of production otherwise (the reverse proxy's 64 KiB read buffer,
// http.Transport's header limit).
func newDirect(t *testing.T, u *url.URL, next http.RoundTripper) *h1transport.Transport {
	t.Helper()
	if next == nil {
		next = &http.Transport{}
	}
	d := &net.Dialer{Timeout: soon}
	tr := &h1transport.Transport{
		Host:                   u.Host,
		Addr:                   u.Host,
		DialContext:            d.DialContext,
		Next:                   next,
		ResponseHeaderTimeout:  soon,
		IdleConnTimeout:        time.Minute,
		MaxIdleConns:           16,
		MaxResponseHeaderBytes: 10 << 20,
		ReadBufferSize:         64 << 10,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// waitPooledClosed waits until the one pooled connection fails the
// pre-reuse check (the upstream's close or extra bytes reached it).
func waitPooledClosed(t *testing.T, tr *h1transport.Transport, what string) {
	t.Helper()
	waitFor(t, what, func() bool {
		alive := tr.IdleAlive()
		return len(alive) == 1 && !alive[0]
	})
}

// mustEcho GETs path from an upstream that echoes the path and fails unless
// the answer is its own.
func mustEcho(t *testing.T, rt http.RoundTripper, base, path string) {
	t.Helper()
	status, body, err := do(t, rt, "GET", base+path, nil)
	if err != nil || status != 200 || body != path {
		t.Fatalf("GET %s: %d %q %v, want 200 %q", path, status, body, err, path)
	}
}

// do sends a bodiless request through rt and returns status and body.
func do(t *testing.T, rt http.RoundTripper, method, rawURL string, h http.Header) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// countingRT counts the requests handed to the fallback transport.
type countingRT struct {
	next      http.RoundTripper
	calls     atomic.Int32
	closeIdle atomic.Int32
}

func (c *countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return c.next.RoundTrip(r)
}

func (c *countingRT) CloseIdleConnections() {
	c.closeIdle.Add(1)
	if ci, ok := c.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// connCounter counts an httptest.Server's connections by state.
type connCounter struct{ newConns, closed atomic.Int32 }

func (cc *connCounter) hook(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		cc.newConns.Add(1)
	case http.StateClosed, http.StateHijacked:
		cc.closed.Add(1)
	}
}

func newCountedServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *connCounter) {
	t.Helper()
	cc := &connCounter{}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = cc.hook
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cc
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// ---------------------------------------------------------------------------
// 1. Differential: ReverseProxy+Transport vs ReverseProxy+http.Transport

// proxyResult is what a client of the reverse proxy observes.
type proxyResult struct {
	Status  int
	Header  http.Header
	Body    string
	BodyErr bool
	Trailer http.Header
	Infos   []string // 1xx responses: "code Link"
}

// viaProxy sends method twice through a ReverseProxy using rt toward target
// and returns both results.
func viaProxy(t *testing.T, rt http.RoundTripper, target *url.URL, method string) []proxyResult {
	t.Helper()
	front := httptest.NewUnstartedServer(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: rt,
		ErrorLog:  log.New(io.Discard, "", 0),
	})
	front.Config.ErrorLog = log.New(io.Discard, "", 0)
	front.Start()
	defer front.Close()
	client := &http.Transport{DisableKeepAlives: true}
	defer client.CloseIdleConnections()

	var out []proxyResult
	for range 2 {
		var r proxyResult
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			r.Infos = append(r.Infos, fmt.Sprintf("%d %s", code, h.Get("Link")))
			return nil
		}}
		ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(context.Background(), trace), soon)
		req, _ := http.NewRequestWithContext(ctx, method, front.URL+"/path?q=1", nil)
		resp, err := client.RoundTrip(req)
		if err != nil {
			// The proxy aborted before sending a header (a body cut while
			// still in its write buffer): status 0, cut.
			cancel()
			r.BodyErr = true
			out = append(out, r)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		r.Status = resp.StatusCode
		r.BodyErr = err != nil
		if !r.BodyErr { // a cut body's partial content depends on buffering
			r.Body = string(b)
		}
		r.Header = resp.Header.Clone()
		r.Header.Del("Date")
		// None of the upstream responses sets Content-Type. For bodies of
		// unknown length ReverseProxy flushes the header from a timer
		// goroutine racing the first body write, so whether the front
		// server sniffs one in is a race, whatever the transport.
		if r.Header.Get("Content-Type") == "text/plain; charset=utf-8" {
			r.Header.Del("Content-Type")
		}
		if len(resp.Trailer) > 0 {
			r.Trailer = resp.Trailer
		}
		out = append(out, r)
	}
	return out
}

func TestDirectDifferential(t *testing.T) {
	const smallHeaderLimit = 1024
	bigHeader := "X-Big: " + strings.Repeat("b", 4000) + "\r\n"
	nearHeader := "X-Near: " + strings.Repeat("n", 700) + "\r\n"
	hints := strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", 7)

	tests := []struct {
		name       string
		method     string
		resp       string
		closeAfter bool
		wantStatus int
		wantBody   string // not checked for 502: the error page, compared with std
		wantErr    bool   // the client sees the body cut
		wantConns  int    // upstream connections for the two requests
		check      func(t *testing.T, r proxyResult)
		// differs, when set, replaces the equality check: direct and std
		// legitimately behave differently.
		differs func(t *testing.T, direct, std []proxyResult, directConns, stdConns int)
	}{
		{
			name: "content-length", resp: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
			wantStatus: 200, wantBody: "hello", wantConns: 1,
			check: func(t *testing.T, r proxyResult) {
				if r.Header.Get("X-A") != "1" {
					t.Errorf("X-A = %q", r.Header.Get("X-A"))
				}
			},
		},
		{
			name: "chunked with trailers",
			resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
				"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: abc\r\n\r\n",
			wantStatus: 200, wantBody: "hello world", wantConns: 1,
			check: func(t *testing.T, r proxyResult) {
				if r.Trailer.Get("X-Sum") != "abc" {
					t.Errorf("trailer X-Sum = %q (trailers %v)", r.Trailer.Get("X-Sum"), r.Trailer)
				}
			},
		},
		{
			name: "HEAD", method: http.MethodHead, resp: "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n",
			wantStatus: 200, wantBody: "", wantConns: 1,
			check: func(t *testing.T, r proxyResult) {
				if r.Header.Get("Content-Length") != "42" {
					t.Errorf("Content-Length = %q", r.Header.Get("Content-Length"))
				}
			},
		},
		{name: "204", resp: "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", wantStatus: 204, wantConns: 1},
		{name: "304", resp: "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", wantStatus: 304, wantConns: 1},
		{
			name: "connection close", resp: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
			closeAfter: true, wantStatus: 200, wantBody: "ok", wantConns: 2,
		},
		{
			// The upstream says close but keeps the socket open (and would
			// answer on it): only the header can stop the reuse.
			name: "connection close, socket left open", resp: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
			wantStatus: 200, wantBody: "ok", wantConns: 2,
		},
		{
			name: "HTTP/1.0 without keep-alive, socket left open", resp: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
			wantStatus: 200, wantBody: "ok", wantConns: 2,
		},
		{
			name: "HTTP/1.0 without keep-alive", resp: "HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\nold server",
			closeAfter: true, wantStatus: 200, wantBody: "old server", wantConns: 2,
		},
		{
			name: "HTTP/1.0 with keep-alive", resp: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nka",
			wantStatus: 200, wantBody: "ka", wantConns: 1,
		},
		{
			name: "103 early hints", resp: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" +
				"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			wantStatus: 200, wantBody: "ok", wantConns: 1,
			check: func(t *testing.T, r proxyResult) {
				if want := []string{"103 </a.css>; rel=preload"}; !reflect.DeepEqual(r.Infos, want) {
					t.Errorf("1xx seen by the client = %q, want %q", r.Infos, want)
				}
			},
		},
		{
			name: "seven 1xx", resp: hints + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			// Go 1.26's http.Transport has no count limit on 1xx responses
			// once they are delivered to Got1xxResponse (it only bounds
			// their size); Transport deliberately stops after 5, so
			// an upstream cannot keep a proxy goroutine busy forever with
			// endless 1xx. The client got the first five, then a 502.
			differs: func(t *testing.T, direct, std []proxyResult, directConns, stdConns int) {
				for _, r := range direct {
					if r.Status != http.StatusBadGateway || len(r.Infos) != h1transport.Max1xxResponses {
						t.Errorf("direct: status %d after %d 1xx, want 502 after %d", r.Status, len(r.Infos), h1transport.Max1xxResponses)
					}
				}
				if directConns != 2 {
					t.Errorf("direct used %d connections, want 2 (the failed one is not reused)", directConns)
				}
				for _, r := range std {
					if r.Status != 200 || r.Body != "ok" || len(r.Infos) != 7 {
						t.Errorf("std: status %d body %q after %d 1xx; expected 200 ok after 7", r.Status, r.Body, len(r.Infos))
					}
				}
				if stdConns != 1 {
					t.Errorf("std used %d connections", stdConns)
				}
			},
		},
		{
			name: "unexpected 101", resp: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			wantStatus: 502, wantConns: 2,
		},
		{name: "malformed status line", resp: "HTTP/1.1 two hundred OK\r\n\r\n", wantStatus: 502, wantConns: 2},
		{name: "not HTTP at all", resp: "SSH-2.0-OpenSSH_9.6\r\n\r\n", wantStatus: 502, wantConns: 2},
		{name: "header line without colon", resp: "HTTP/1.1 200 OK\r\nBroken header\r\nContent-Length: 2\r\n\r\nok", wantStatus: 502, wantConns: 2},
		{name: "conflicting content-lengths", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\nok", wantStatus: 502, wantConns: 2},
		{
			// Both lengths: chunked framing wins (RFC 9112 6.3), the
			// connection stays usable.
			name: "chunked and content-length", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n2\r\nok\r\n0\r\n\r\n",
			wantStatus: 200, wantBody: "ok", wantConns: 1,
		},
		{name: "header over the limit", resp: "HTTP/1.1 200 OK\r\n" + bigHeader + "Content-Length: 2\r\n\r\nok", wantStatus: 502, wantConns: 2},
		{
			name: "header near the limit, big body", resp: "HTTP/1.1 200 OK\r\n" + nearHeader + "Content-Length: 20000\r\n\r\n" + strings.Repeat("z", 20000),
			wantStatus: 200, wantBody: strings.Repeat("z", 20000), wantConns: 1,
		},
		{
			// ReverseProxy has not flushed the header (known length, nothing
			// forces it) when the read fails, so it aborts the client's
			// connection before a status line: status 0.
			name: "body cut before content-length", resp: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
			closeAfter: true, wantStatus: 0, wantErr: true, wantConns: 2,
		},
		{
			name: "chunked body cut", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly this",
			closeAfter: true, wantStatus: 200, wantErr: true, wantConns: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			dsrv := testenv.NewRawServer(t, testenv.Canned(tt.resp, tt.closeAfter))
			direct := newDirect(t, dsrv.URL, nil)
			direct.MaxResponseHeaderBytes = smallHeaderLimit
			dres := viaProxy(t, direct, dsrv.URL, method)

			ssrv := testenv.NewRawServer(t, testenv.Canned(tt.resp, tt.closeAfter))
			std := &http.Transport{MaxResponseHeaderBytes: smallHeaderLimit, DisableCompression: true, ResponseHeaderTimeout: soon}
			defer std.CloseIdleConnections()
			sres := viaProxy(t, std, ssrv.URL, method)

			dConns, sConns := int(dsrv.Accepted.Load()), int(ssrv.Accepted.Load())
			if tt.differs != nil {
				tt.differs(t, dres, sres, dConns, sConns)
				return
			}
			if !reflect.DeepEqual(dres, sres) {
				t.Errorf("direct and std differ:\ndirect %+v\nstd    %+v", dres, sres)
			}
			if dConns != sConns {
				t.Errorf("upstream connections: direct %d, std %d", dConns, sConns)
			}
			if dConns != tt.wantConns {
				t.Errorf("direct used %d upstream connections, want %d", dConns, tt.wantConns)
			}
			for i, r := range dres {
				checkBody := !tt.wantErr && tt.wantStatus != http.StatusBadGateway
				if r.Status != tt.wantStatus || r.BodyErr != tt.wantErr || (checkBody && r.Body != tt.wantBody) {
					t.Errorf("request %d: status %d body %.40q cut=%v; want %d %.40q cut=%v",
						i, r.Status, r.Body, r.BodyErr, tt.wantStatus, tt.wantBody, tt.wantErr)
				}
				if tt.check != nil {
					tt.check(t, r)
				}
			}
		})
	}
}

// The 1xx trace hook on the transport itself: every informational response
// reaches Got1xxResponse with its headers, and an error from the hook aborts.
func TestDirect1xxTrace(t *testing.T) {
	resp := "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </b.js>\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	srv := testenv.NewRawServer(t, testenv.Canned(resp, false))
	tr := newDirect(t, srv.URL, nil)

	var got []string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			got = append(got, fmt.Sprintf("%d %s", code, h.Get("Link")))
			return nil
		},
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL.String()+"/", nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "ok" {
		t.Fatalf("got %d %q", res.StatusCode, b)
	}
	if want := []string{"103 </a.css>", "103 </b.js>"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Got1xxResponse saw %q, want %q", got, want)
	}
	if tr.IdleLen() != 1 {
		t.Fatalf("idle = %d, want the connection pooled", tr.IdleLen())
	}

	hookErr := errors.New("hook says no")
	ctx = httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(int, textproto.MIMEHeader) error { return hookErr },
	})
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL.String()+"/", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, hookErr) {
		t.Fatalf("err = %v, want the hook's error", err)
	}
	if tr.IdleLen() != 0 {
		t.Fatal("a connection abandoned mid-response was pooled")
	}
}

// ---------------------------------------------------------------------------
// 2. Reuse

// ---------------------------------------------------------------------------
// 3. Stale idle connections

func TestDirectStaleIdleConnections(t *testing.T) {
	// A complete keep-alive response (no Connection: close), then the
	// upstream hangs up, as servers with short idle timeouts do.
	srv := testenv.NewRawServer(t, func(s *testenv.RawServer, _ int, c net.Conn, br *bufio.Reader) {
		if req, err := s.ReadReq(br); err == nil {
			io.WriteString(c, testenv.EchoResponse(req))
		}
	})
	tr := newDirect(t, srv.URL, nil)
	for i := range 20 {
		mustEcho(t, tr, srv.URL.String(), fmt.Sprintf("/r%d", i))
	}
	if n := srv.Accepted.Load(); n != 20 {
		t.Fatalf("accepted %d connections, want 20", n)
	}

	// A POST is never retried, so it only succeeds if the closed idle
	// connection is detected before use. Wait until the close is visible
	// on the pooled socket, as it is almost at once on loopback.
	waitPooledClosed(t, tr, "the upstream's close to reach the pooled connection")
	status, body, err := do(t, tr, "POST", srv.URL.String()+"/post", nil)
	if err != nil || status != 200 || body != "/post" {
		t.Fatalf("POST after the upstream closed the idle connection: %d %q %v", status, body, err)
	}
	if n := srv.Count("POST /post"); n != 1 {
		t.Fatalf("upstream saw the POST %d times", n)
	}
}

// An idle connection older than idleTimeout is closed, not reused.
func TestDirectIdleTimeout(t *testing.T) {
	srv, cc := newCountedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := newDirect(t, mustURL(t, srv.URL), nil)
	tr.IdleConnTimeout = time.Minute
	for range 2 {
		if _, _, err := do(t, tr, "GET", srv.URL, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := cc.newConns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
	if n := tr.IdleLen(); n != 1 {
		t.Fatalf("idle = %d", n)
	}
	tr.AgeIdle(2 * time.Minute)
	if _, _, err := do(t, tr, "GET", srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	if n := cc.newConns.Load(); n != 2 {
		t.Fatalf("%d connections, want a fresh one after the idle timeout", n)
	}
	waitFor(t, "the expired connection to close", func() bool { return cc.closed.Load() == 1 })
}

// A quiet proxy closes its idle connections once they expire, without a
// request coming to find them.
func TestDirectIdleReaped(t *testing.T) {
	srv, cc := newCountedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := newDirect(t, mustURL(t, srv.URL), nil)
	tr.IdleConnTimeout = 50 * time.Millisecond
	for range 3 {
		if _, _, err := do(t, tr, "GET", srv.URL, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the idle connection to be reaped", func() bool { return cc.closed.Load() == 1 })
	if idle, reaping := tr.IdleLen(), tr.Reaping(); idle != 0 || reaping {
		t.Fatalf("after reaping: %d idle, reaper set %v", idle, reaping)
	}
	// The pool works on after a reap.
	if _, body, err := do(t, tr, "GET", srv.URL, nil); err != nil || body != "ok" {
		t.Fatalf("after reaping: %q, %v", body, err)
	}
}

// ---------------------------------------------------------------------------
// 4. Retry on a reused connection

func TestDirectRetry(t *testing.T) {
	// Each connection answers its first request and hangs up on the second
	// after reading it, without a byte of answer.
	handler := func(s *testenv.RawServer, _ int, c net.Conn, br *bufio.Reader) {
		req, err := s.ReadReq(br)
		if err != nil {
			return
		}
		io.WriteString(c, testenv.EchoResponse(req))
		s.ReadReq(br)
	}
	type attempt struct {
		name    string
		method  string
		header  http.Header
		retried bool
	}
	for _, a := range []attempt{
		{name: "GET", method: "GET", retried: true},
		{name: "HEAD", method: "HEAD", retried: true},
		{name: "POST", method: "POST", retried: false},
		{name: "DELETE", method: "DELETE", retried: false},
		{name: "POST with Idempotency-Key", method: "POST", header: http.Header{"Idempotency-Key": {"k1"}}, retried: true},
		{name: "POST with X-Idempotency-Key", method: "POST", header: http.Header{"X-Idempotency-Key": {"k1"}}, retried: true},
	} {
		t.Run(a.name, func(t *testing.T) {
			srv := testenv.NewRawServer(t, handler)
			tr := newDirect(t, srv.URL, nil)
			if _, body, err := do(t, tr, "GET", srv.URL.String()+"/warm", nil); err != nil || body != "/warm" {
				t.Fatalf("warm-up: %q %v", body, err)
			}
			status, body, err := do(t, tr, a.method, srv.URL.String()+"/target", a.header)
			entry := a.method + " /target"
			if a.retried {
				want := "/target"
				if a.method == "HEAD" {
					want = ""
				}
				if err != nil || status != 200 || body != want {
					t.Fatalf("%s: %d %q %v, want it retried on a fresh connection", a.method, status, body, err)
				}
				if n := srv.Count(entry); n != 2 {
					t.Fatalf("upstream saw %q %d times, want 2 (first try + retry)", entry, n)
				}
				if n := srv.Accepted.Load(); n != 2 {
					t.Fatalf("accepted %d connections, want 2", n)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s on a connection the upstream dropped succeeded (%d %q): it must not be replayed", a.method, status, body)
			}
			if n := srv.Count(entry); n != 1 {
				t.Fatalf("upstream saw %q %d times, want exactly 1", entry, n)
			}
			if n := srv.Accepted.Load(); n != 1 {
				t.Fatalf("accepted %d connections, want 1 (no retry)", n)
			}
		})
	}
}

// The same through ReverseProxy: the client sees 200 for a GET and 502 (the
// ReverseProxy's answer to a transport error) for a POST that must not be
// replayed.
func TestDirectRetryViaReverseProxy(t *testing.T) {
	srv := testenv.NewRawServer(t, func(s *testenv.RawServer, _ int, c net.Conn, br *bufio.Reader) {
		req, err := s.ReadReq(br)
		if err != nil {
			return
		}
		io.WriteString(c, testenv.EchoResponse(req))
		s.ReadReq(br)
	})
	tr := newDirect(t, srv.URL, nil)
	front := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(srv.URL) },
		Transport: tr,
		ErrorLog:  log.New(io.Discard, "", 0),
	})
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	send := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, front.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if s, b := send("GET", "/warm"); s != 200 || b != "/warm" {
		t.Fatalf("warm: %d %q", s, b)
	}
	if s, b := send("GET", "/again"); s != 200 || b != "/again" {
		t.Fatalf("GET on a dropped connection: %d %q, want it retried", s, b)
	}
	// The retry's connection has served one request: the POST lands on it
	// and is dropped.
	if s, _ := send("POST", "/post"); s != http.StatusBadGateway {
		t.Fatalf("POST on a dropped connection: %d, want 502", s)
	}
	if n := srv.Count("POST /post"); n != 1 {
		t.Fatalf("upstream saw the POST %d times", n)
	}
}

// ---------------------------------------------------------------------------
// 5. Desync: bytes beyond the response

func TestDirectDesync(t *testing.T) {
	const evil = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"
	firsts := []struct {
		name, method, resp string
	}{
		{"content-length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n0\r\n\r\n"},
		{"HEAD answered with a body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"},
		{"204 with a body", "GET", "HTTP/1.1 204 No Content\r\n\r\n"},
		{"304 with a body", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n"},
	}
	for _, f := range firsts {
		for _, delayed := range []bool{false, true} {
			name := f.name + "/same write"
			if delayed {
				name = f.name + "/written later"
			}
			t.Run(name, func(t *testing.T) {
				release, written := make(chan struct{}), make(chan struct{})
				srv := testenv.NewRawServer(t, func(s *testenv.RawServer, n int, c net.Conn, br *bufio.Reader) {
					if n > 1 {
						testenv.EchoHandler(s, n, c, br)
						return
					}
					if _, err := s.ReadReq(br); err != nil {
						return
					}
					if !delayed {
						io.WriteString(c, f.resp+evil) // one write: arrives together
						close(written)
					} else {
						io.WriteString(c, f.resp)
						select {
						case <-release:
						case <-s.Done:
							return
						}
						io.WriteString(c, evil)
						close(written)
					}
					// Answer anything else on this connection too: a
					// desynced client would read "evil" first.
					testenv.EchoHandler(s, n, c, br)
				})
				tr := newDirect(t, srv.URL, nil)
				req, _ := http.NewRequest(f.method, srv.URL.String()+"/one", nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if delayed {
					if tr.IdleLen() != 1 {
						t.Fatalf("idle = %d: the clean connection should have been pooled", tr.IdleLen())
					}
					close(release)
					<-written
					// Sync on the bytes being on the pooled socket (at once
					// on loopback) rather than on a sleep.
					waitPooledClosed(t, tr, "the extra bytes to arrive")
				} else {
					<-written
					if tr.IdleLen() != 0 {
						t.Fatal("a connection with extra buffered bytes was pooled")
					}
				}
				for i := range 3 {
					mustEcho(t, tr, srv.URL.String(), fmt.Sprintf("/next%d", i)) // after the desync attempt
				}
				if n := srv.Accepted.Load(); n != 2 {
					t.Fatalf("accepted %d connections, want 2 (the tainted one never reused)", n)
				}
			})
		}
	}
}

// ---------------------------------------------------------------------------
// 6. Early close and cancellation

func TestDirectEarlyCloseClosesConnection(t *testing.T) {
	writeErr := make(chan error, 1)
	srv := testenv.NewRawServer(t, func(s *testenv.RawServer, _ int, c net.Conn, br *bufio.Reader) {
		if _, err := s.ReadReq(br); err != nil {
			return
		}
		chunk := fmt.Sprintf("%x\r\n%s\r\n", 16<<10, bytes.Repeat([]byte("x"), 16<<10))
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"); err != nil {
			writeErr <- err
			return
		}
		for {
			if _, err := io.WriteString(c, chunk); err != nil {
				writeErr <- err
				return
			}
			select {
			case <-s.Done:
				writeErr <- errors.New("test ended")
				return
			default:
			}
		}
	})
	tr := newDirect(t, srv.URL, nil)
	req, _ := http.NewRequest("GET", srv.URL.String()+"/endless", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { resp.Body.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(soon):
		t.Fatal("Close of an endless body did not return: it drains")
	}
	select {
	case err := <-writeErr:
		var ne *net.OpError
		if !errors.As(err, &ne) {
			t.Fatalf("upstream write ended with %v, want a connection error", err)
		}
	case <-time.After(soon):
		t.Fatal("the upstream kept writing: the connection was not closed")
	}
	if tr.IdleLen() != 0 {
		t.Fatal("an early-closed connection was pooled")
	}
	if _, err := resp.Body.Read(make([]byte, 10)); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}

func TestDirectCancelWhileWaitingForHeaders(t *testing.T) {
	gotReq, connClosed := make(chan struct{}), make(chan struct{})
	srv := testenv.NewRawServer(t, func(s *testenv.RawServer, _ int, c net.Conn, br *bufio.Reader) {
		if _, err := s.ReadReq(br); err != nil {
			return
		}
		close(gotReq)
		io.Copy(io.Discard, br) // until the client closes
		close(connClosed)
	})
	tr := newDirect(t, srv.URL, nil)
	tr.ResponseHeaderTimeout = time.Hour // only the cancellation can end the wait
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL.String()+"/slow", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-gotReq
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(soon):
		t.Fatal("RoundTrip did not return after cancel")
	}
	select {
	case <-connClosed:
	case <-time.After(soon):
		t.Fatal("the upstream connection stayed open after cancel")
	}
	if tr.IdleLen() != 0 {
		t.Fatal("a cancelled connection was pooled")
	}
	if n := srv.Count("GET /slow"); n != 1 {
		t.Fatalf("a cancelled request was sent %d times", n)
	}
}

func TestDirectCancelWhileReadingBody(t *testing.T) {
	srv := testenv.NewRawServer(t, func(s *testenv.RawServer, _ int, c net.Conn, br *bufio.Reader) {
		if _, err := s.ReadReq(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst part")
		io.Copy(io.Discard, br)
	})
	tr := newDirect(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL.String()+"/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 100)
	if n, err := resp.Body.Read(buf); err != nil || string(buf[:n]) != "first part" {
		t.Fatalf("first read: %q %v", buf[:n], err)
	}
	cancel()
	readErr := make(chan error, 1)
	go func() { _, err := io.ReadAll(resp.Body); readErr <- err }()
	select {
	case err := <-readErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("read after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(soon):
		t.Fatal("a body read blocked on the upstream ignores the cancellation")
	}
	waitFor(t, "the upstream connection to close", func() bool { return srv.Finished.Load() == 1 })
	if tr.IdleLen() != 0 {
		t.Fatal("a cancelled connection was pooled")
	}
}

// A request whose context is already done is not sent, even when a pooled
// connection is at hand (http.Transport checks this first too).
func TestDirectCancelledBeforeStart(t *testing.T) {
	srv := testenv.NewRawServer(t, testenv.EchoHandler)
	tr := newDirect(t, srv.URL, nil)
	if _, body, err := do(t, tr, "GET", srv.URL.String()+"/warm", nil); err != nil || body != "/warm" {
		t.Fatalf("warm-up: %q %v", body, err)
	}
	for _, method := range []string{"GET", "POST"} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL.String()+"/cancelled", nil)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: err = %v, want context.Canceled", method, err)
		}
	}
	if _, body, err := do(t, tr, "GET", srv.URL.String()+"/after", nil); err != nil || body != "/after" {
		t.Fatalf("after: %q %v", body, err)
	}
	if got := srv.Requests(); !reflect.DeepEqual(got, []string{"GET /warm", "GET /after"}) {
		t.Fatalf("upstream saw %q: a cancelled request was sent", got)
	}
	if n := srv.Accepted.Load(); n != 1 {
		t.Fatalf("accepted %d connections: the pooled one should have survived", n)
	}
}

// http.Transport's body keeps reporting its error; a reader that asks again
// after an error (bufio.Reader forgets the error once returned) must not see
// a cut body turn into a clean io.EOF.
func TestDirectBodyErrorIsSticky(t *testing.T) {
	srv := testenv.NewRawServer(t, testenv.Canned("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", true))
	tr := newDirect(t, srv.URL, nil)
	req, _ := http.NewRequest("GET", srv.URL.String()+"/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut body: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := resp.Body.Read(make([]byte, 10)); err == io.EOF || err == nil {
		t.Fatalf("second read of a cut body: %v, want the error again", err)
	}
	// Through a bufio.Reader, which clears an error once returned.
	resp2, err := tr.RoundTrip(req.Clone(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	br := bufio.NewReader(resp2.Body)
	_, err1 := io.ReadAll(br)
	_, err2 := io.ReadAll(br)
	if err1 == nil || err2 != nil && !errors.Is(err2, io.ErrUnexpectedEOF) {
		t.Fatalf("through bufio: first %v, second %v", err1, err2)
	}
	// ReadAll returns nil for io.EOF: a second ReadAll must still fail.
	if err2 == nil {
		t.Fatal("a cut body read again through bufio.Reader looks complete")
	}
}

// ---------------------------------------------------------------------------
// 7. Response header timeout

// doBounded is do with a client-side bound, so that a transport ignoring
// its header timeout fails the test instead of hanging it. The bound's own
// error is context.DeadlineExceeded, which the callers tell apart.
func doBounded(t *testing.T, rt http.RoundTripper, rawURL string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), soon)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", rawURL, nil)
	resp, err := rt.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the header timeout did not fire within %v", soon)
	}
	return err
}

func TestDirectHeaderTimeout(t *testing.T) {
	srv := testenv.NewRawServer(t, testenv.HangHandler)
	tr := newDirect(t, srv.URL, nil)
	tr.ResponseHeaderTimeout = 200 * time.Millisecond
	start := time.Now()
	err := doBounded(t, tr, srv.URL.String()+"/hang")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a net.Error with Timeout()", err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want it to wrap os.ErrDeadlineExceeded", err)
	}
	if d := time.Since(start); d > soon {
		t.Fatalf("timeout took %v", d)
	}
	if tr.IdleLen() != 0 {
		t.Fatal("a timed-out connection was pooled")
	}
	waitFor(t, "the timed-out connection to close", func() bool { return srv.Finished.Load() == 1 })
}

// A timeout on a reused connection is the upstream being slow, not an idle
// connection closed under us: the request was received, so it is not sent
// again (that would double upstream.timeout and the upstream's work), which
// is also what http.Transport does.
func TestDirectHeaderTimeoutOnReusedConnectionIsNotRetried(t *testing.T) {
	srv := testenv.NewRawServer(t, testenv.HangHandler)
	tr := newDirect(t, srv.URL, nil)
	tr.ResponseHeaderTimeout = 200 * time.Millisecond
	if _, body, err := do(t, tr, "GET", srv.URL.String()+"/warm", nil); err != nil || body != "/warm" {
		t.Fatalf("warm-up: %q %v", body, err)
	}
	err := doBounded(t, tr, srv.URL.String()+"/hang")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if n := srv.Count("GET /hang"); n != 1 {
		t.Fatalf("the timed-out request reached the upstream %d times, want 1", n)
	}
	if n := srv.Accepted.Load(); n != 1 {
		t.Fatalf("accepted %d connections, want 1", n)
	}
}

// ---------------------------------------------------------------------------
// 8. Pool cap

func TestDirectPoolCap(t *testing.T) {
	const n = 8
	var arrived atomic.Int32
	release := make(chan struct{})
	srv, cc := newCountedServer(t, func(w http.ResponseWriter, r *http.Request) {
		if arrived.Add(1) == n {
			close(release)
		}
		select { // all n are in flight at once, each on its own connection
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, r.URL.Path)
	})
	tr := newDirect(t, mustURL(t, srv.URL), nil)
	tr.MaxIdleConns = 2
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := fmt.Sprintf("/c%d", i)
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != path {
				t.Errorf("%s: %q %v", path, b, err)
			}
		}()
	}
	wg.Wait()
	if got := tr.IdleLen(); got != 2 {
		t.Fatalf("idle = %d, want maxIdle = 2", got)
	}
	if got := cc.newConns.Load(); got != n {
		t.Fatalf("upstream saw %d connections, want %d", got, n)
	}
	waitFor(t, "the connections beyond the cap to close", func() bool { return cc.closed.Load() == n-2 })
	for _, alive := range tr.IdleAlive() {
		if !alive {
			t.Fatal("a pooled connection is dead")
		}
	}
}

// ---------------------------------------------------------------------------
// 9. Ineligible requests go to next

func TestDirectIneligibleGoToNext(t *testing.T) {
	handler := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}
	srv, _ := newCountedServer(t, handler)
	other, _ := newCountedServer(t, handler)
	next := &countingRT{next: &http.Transport{}}
	defer next.CloseIdleConnections()
	tr := newDirect(t, mustURL(t, srv.URL), next)

	send := func(req *http.Request) (*http.Response, string, error) {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}

	// Eligible: direct.
	req, _ := http.NewRequest("GET", srv.URL+"/direct", nil)
	if _, body, err := send(req); err != nil || body != "GET /direct " {
		t.Fatalf("direct GET: %q %v", body, err)
	}
	if next.calls.Load() != 0 || tr.IdleLen() != 1 {
		t.Fatalf("a plain GET went to next (%d calls, idle %d)", next.calls.Load(), tr.IdleLen())
	}

	cases := []struct {
		name     string
		req      func() *http.Request
		wantBody string // "" = only check that next got it
	}{
		{"POST with a body", func() *http.Request {
			r, _ := http.NewRequest("POST", srv.URL+"/post", strings.NewReader("payload"))
			return r
		}, "POST /post payload"},
		{"GET with an empty non-nil body", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/emptybody", nil)
			r.Body = io.NopCloser(strings.NewReader(""))
			return r
		}, "GET /emptybody "},
		{"Upgrade: websocket", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/ws", nil)
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			return r
		}, "GET /ws "},
		{"other host", func() *http.Request {
			r, _ := http.NewRequest("GET", other.URL+"/elsewhere", nil)
			return r
		}, "GET /elsewhere "},
		{"https scheme", func() *http.Request {
			r, _ := http.NewRequest("GET", "https://"+mustURL(t, srv.URL).Host+"/tls", nil)
			ctx, cancel := context.WithTimeout(context.Background(), soon)
			t.Cleanup(cancel)
			return r.WithContext(ctx)
		}, ""},
	}
	for i, c := range cases {
		_, body, err := send(c.req())
		if got := next.calls.Load(); got != int32(i+1) {
			t.Fatalf("%s: next called %d times, want %d", c.name, got, i+1)
		}
		if c.wantBody != "" && (err != nil || body != c.wantBody) {
			t.Fatalf("%s via next: %q %v", c.name, body, err)
		}
	}
	if tr.IdleLen() != 1 {
		t.Fatalf("idle = %d: the direct pool was touched by fallback requests", tr.IdleLen())
	}
	// The direct connection stays in use for eligible requests.
	req, _ = http.NewRequest("GET", srv.URL+"/direct2", nil)
	if _, body, err := send(req); err != nil || body != "GET /direct2 " {
		t.Fatalf("direct GET: %q %v", body, err)
	}
	if int(next.calls.Load()) != len(cases) {
		t.Fatal("an eligible GET went to next")
	}
}

// ---------------------------------------------------------------------------
// 10. Invalid header values never reach the upstream

func TestDirectRejectsInvalidRequests(t *testing.T) {
	srv := testenv.NewRawServer(t, testenv.EchoHandler)
	tr := newDirect(t, srv.URL, nil)
	std := &http.Transport{}
	defer std.CloseIdleConnections()

	cases := []struct {
		name string
		mod  func(r *http.Request)
	}{
		{"value with LF", func(r *http.Request) { r.Header.Set("X-A", "a\nX-Injected: 1") }},
		{"value with CRLF", func(r *http.Request) { r.Header["X-A"] = []string{"a\r\nX-Injected: 1"} }},
		{"value with NUL", func(r *http.Request) { r.Header["X-A"] = []string{"a\x00b"} }},
		{"second value with CR", func(r *http.Request) { r.Header["X-A"] = []string{"ok", "a\rb"} }},
		{"name with space", func(r *http.Request) { r.Header["X Bad"] = []string{"1"} }},
		{"name with colon", func(r *http.Request) { r.Header["X-Injected: 1\r\nX-B"] = []string{"1"} }},
		{"empty name", func(r *http.Request) { r.Header[""] = []string{"1"} }},
		{"method with CRLF", func(r *http.Request) { r.Method = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\nGET" }},
		{"method with space", func(r *http.Request) { r.Method = "GET /x" }},
		{"empty header name with value", func(r *http.Request) { r.Header["\x00"] = []string{"1"} }},
	}
	for _, c := range cases {
		for _, rt := range []struct {
			name string
			rt   http.RoundTripper
		}{{"direct", tr}, {"std", std}} {
			req, _ := http.NewRequest("GET", srv.URL.String()+"/bad", nil)
			c.mod(req)
			resp, err := rt.rt.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: %s accepted the request", c.name, rt.name)
			}
		}
	}
	// Any connection dialed for them was closed by the client: wait until
	// the upstream has seen all of them end, then check nothing arrived.
	waitFor(t, "dialed connections to end", func() bool { return srv.Finished.Load() == srv.Accepted.Load() })
	if n := srv.BytesIn.Load(); n != 0 {
		t.Fatalf("the upstream received %d bytes from invalid requests (%q)", n, srv.Requests())
	}
	if _, body, err := do(t, tr, "GET", srv.URL.String()+"/ok", nil); err != nil || body != "/ok" {
		t.Fatalf("valid request after the invalid ones: %q %v", body, err)
	}
	if got := srv.Requests(); !reflect.DeepEqual(got, []string{"GET /ok"}) {
		t.Fatalf("upstream saw %q", got)
	}
}

// An invalid Host is not an error for http.Transport either: req.Write
// sends an empty Host rather than the bytes. Neither transport may let the
// CRLF through.
func TestDirectInvalidHostNotInjected(t *testing.T) {
	got := make(chan *http.Request, 2)
	srv := testenv.NewRawServer(t, func(s *testenv.RawServer, _ int, c net.Conn, br *bufio.Reader) {
		for {
			req, err := s.ReadReq(br)
			if err != nil {
				return
			}
			got <- req
			io.WriteString(c, testenv.EchoResponse(req))
		}
	})
	tr := newDirect(t, srv.URL, nil)
	std := &http.Transport{}
	defer std.CloseIdleConnections()
	for _, rt := range []http.RoundTripper{tr, std} {
		req, _ := http.NewRequest("GET", srv.URL.String()+"/h", nil)
		req.Host = "example.com\r\nX-Injected: 1"
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatalf("%T: %v", rt, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		up := <-got
		if up.Host != "" || up.Header.Get("X-Injected") != "" {
			t.Fatalf("%T: upstream got Host %q, X-Injected %q", rt, up.Host, up.Header.Get("X-Injected"))
		}
	}
}

// ---------------------------------------------------------------------------
// 11. Concurrency

func TestDirectConcurrent(t *testing.T) {
	// The body is the request URI repeated: a response that belongs to
	// another request, or bytes left from one, cannot go unnoticed.
	srv, _ := newCountedServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		line := r.URL.Path + "\n"
		if r.URL.Query().Get("chunked") == "1" {
			for i := 0; i < n; i++ {
				if _, err := io.WriteString(w, line); err != nil {
					return
				}
				if i%100 == 0 {
					w.(http.Flusher).Flush()
				}
			}
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n*len(line)))
		io.WriteString(w, strings.Repeat(line, n))
	})
	tr := newDirect(t, mustURL(t, srv.URL), nil)
	tr.MaxIdleConns = 4

	const workers, total = 16, 200
	var completed, cut atomic.Int32
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			for i := g; i < total; i += workers {
				path := fmt.Sprintf("/g%d/r%d", g, i)
				n := 1 + rng.IntN(3000)
				chunked := rng.IntN(2)
				want := strings.Repeat(path+"\n", n)
				u := fmt.Sprintf("%s%s?n=%d&chunked=%d", srv.URL, path, n, chunked)
				mode := rng.IntN(5)
				ctx, cancel := context.WithCancel(context.Background())
				if mode == 1 {
					cancel() // before the request
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
				if mode == 4 {
					req.Method = "HEAD"
				}
				resp, err := tr.RoundTrip(req)
				if err != nil {
					cancel()
					if mode != 1 {
						t.Errorf("%s: %v", path, err)
					} else if !errors.Is(err, context.Canceled) {
						t.Errorf("%s cancelled before sending: %v", path, err)
					}
					continue
				}
				if mode == 1 {
					t.Errorf("%s: a request cancelled before it started succeeded", path)
				}
				var got []byte
				switch mode {
				case 2: // read a little, then give up
					buf := make([]byte, rng.IntN(len(want)+1))
					k, _ := io.ReadFull(resp.Body, buf)
					got = buf[:k]
					resp.Body.Close()
					cut.Add(1)
				case 3: // cancel part way
					buf := make([]byte, rng.IntN(len(want)+1))
					k, _ := io.ReadFull(resp.Body, buf)
					cancel()
					rest, err := io.ReadAll(resp.Body)
					got = append(buf[:k], rest...)
					resp.Body.Close()
					if err == nil && string(got) != want {
						t.Errorf("%s: a body that ended cleanly after cancel is wrong", path)
					}
					cut.Add(1)
				default:
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						t.Errorf("%s: %v", path, err)
					}
					if mode == 4 {
						want = ""
					}
					if string(b) != want {
						t.Errorf("%s: body %.60q..., want %.60q...", path, b, want)
					}
					got = b
					completed.Add(1)
				}
				if !strings.HasPrefix(want, string(got)) {
					t.Errorf("%s: partial body %.60q is not a prefix of its own response", path, got)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	if completed.Load() == 0 || cut.Load() == 0 {
		t.Fatalf("the mix did not exercise both paths: completed %d, cut %d", completed.Load(), cut.Load())
	}
	if n := tr.IdleLen(); n > tr.MaxIdleConns {
		t.Fatalf("idle = %d > maxIdle %d", n, tr.MaxIdleConns)
	}
	for _, alive := range tr.IdleAlive() {
		if !alive {
			t.Fatal("a pooled connection has unread bytes or is closed")
		}
	}
	// The pool still serves correct responses afterwards.
	for i := range 10 {
		path := fmt.Sprintf("/after%d", i)
		if _, body, err := do(t, tr, "GET", srv.URL+path+"?n=2", nil); err != nil || body != path+"\n"+path+"\n" {
			t.Fatalf("after the storm: %q %v", body, err)
		}
	}
}

// ---------------------------------------------------------------------------
// 12. CloseIdleConnections

func TestDirectCloseIdleConnections(t *testing.T) {
	const n = 3
	var arrived atomic.Int32
	release := make(chan struct{})
	srv, cc := newCountedServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/barrier" {
			if arrived.Add(1) == n {
				close(release)
			}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "ok")
	})
	next := &countingRT{next: &http.Transport{}}
	tr := newDirect(t, mustURL(t, srv.URL), next)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, body, err := do(t, tr, "GET", srv.URL+"/barrier", nil); err != nil || body != "ok" {
				t.Errorf("%q %v", body, err)
			}
		}()
	}
	wg.Wait()
	if tr.IdleLen() != n {
		t.Fatalf("idle = %d, want %d", tr.IdleLen(), n)
	}
	tr.CloseIdleConnections()
	if tr.IdleLen() != 0 {
		t.Fatalf("idle = %d after CloseIdleConnections", tr.IdleLen())
	}
	if next.closeIdle.Load() != 1 {
		t.Fatal("CloseIdleConnections was not passed on to next")
	}
	waitFor(t, "the upstream to see the pooled connections close", func() bool { return cc.closed.Load() == n })
	if _, body, err := do(t, tr, "GET", srv.URL+"/", nil); err != nil || body != "ok" {
		t.Fatalf("after CloseIdleConnections: %q %v", body, err)
	}
	if got := cc.newConns.Load(); got != n+1 {
		t.Fatalf("%d connections, want a fresh one after CloseIdleConnections", got)
	}
}

// ---------------------------------------------------------------------------
// Close semantics

// A request with Close set (or a response with Connection: close) is not
// pooled, and the upstream is told.
//
// The upstream here ignores the request's Connection: close and keeps the
// socket open, so only the transport's own check can stop the reuse.
func TestDirectRequestCloseNotPooled(t *testing.T) {
	var sawClose atomic.Bool
	srv := testenv.NewRawServer(t, func(s *testenv.RawServer, _ int, c net.Conn, br *bufio.Reader) {
		for {
			req, err := s.ReadReq(br)
			if err != nil {
				return
			}
			if req.URL.Path == "/close" {
				sawClose.Store(req.Close)
			}
			if _, err := io.WriteString(c, testenv.EchoResponse(req)); err != nil {
				return
			}
		}
	})
	tr := newDirect(t, srv.URL, nil)
	req, _ := http.NewRequest("GET", srv.URL.String()+"/close", nil)
	req.Close = true
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "/close" {
		t.Fatalf("%q %v", b, err)
	}
	resp.Body.Close()
	if !sawClose.Load() {
		t.Fatal("the upstream was not told Connection: close")
	}
	if tr.IdleLen() != 0 {
		t.Fatal("a Connection: close connection was pooled")
	}
	waitFor(t, "the connection to close", func() bool { return srv.Finished.Load() == 1 })
	if _, body, err := do(t, tr, "GET", srv.URL.String()+"/next", nil); err != nil || body != "/next" {
		t.Fatalf("next: %q %v", body, err)
	}
	if n := srv.Accepted.Load(); n != 2 {
		t.Fatalf("accepted %d connections, want 2", n)
	}
}
