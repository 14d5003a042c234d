package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// trickleResult is how the proxy ended a trickled request.
type trickleResult struct {
	status int   // the proxy's answer; 0 when it closed the connection without one
	sent   int   // body bytes written before it did
	err    error // why no answer could be read, when status is 0
}

// trickle is the slow-body attack: it sends head with a declared body of n
// bytes, then one byte every interval, until the proxy answers or closes the
// connection. It gives up after giveUp and reports ok=false: the proxy held
// the connection open for the attacker all that time.
func trickle(t *testing.T, addr, head string, n int, interval, giveUp time.Duration) (res trickleResult, ok bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	answered := make(chan trickleResult, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- trickleResult{err: err}
			return
		}
		resp.Body.Close()
		answered <- trickleResult{status: resp.StatusCode}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	stop := time.After(giveUp)
	sent := 0
	for {
		select {
		case r := <-answered:
			r.sent = sent
			return r, true
		case <-stop:
			return trickleResult{sent: sent}, false
		case <-tick.C:
			if sent == n {
				continue
			}
			if _, err := conn.Write([]byte{'x'}); err != nil {
				// Cut off; the reader sees the close (or an answer sent first).
				select {
				case r := <-answered:
					r.sent = sent
					return r, true
				case <-stop:
					return trickleResult{sent: sent, err: err}, true
				}
			}
			sent++
		}
	}
}

// cutOff reports whether r is the proxy ending a slow request: 408, or the
// connection closed without an answer.
func cutOff(r trickleResult) bool {
	return r.status == http.StatusRequestTimeout || r.status == 0
}

// A body trickled to the unauthenticated client-events endpoint is cut off
// after a few seconds even when server.read_timeout is off: the endpoint
// takes ten-byte bodies and is open to anyone who can load a page.
func TestSlowClientEventBodyIsCutOff(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.NotFoundHandler())
	defer up.Close()
	p := startProxy(t, baseConfig(t, up.URL, "server:\n  read_timeout: 0s\n"), nil)
	head := "POST /_lcw/client-events HTTP/1.1\r\nHost: 127.0.0.1:4180\r\nSec-Fetch-Site: same-origin\r\n" +
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
	// The endpoint's own deadline is 5s; 30s is the margin of a loaded CI
	// machine, and still far short of the 1000 × 250ms the attack wants.
	res, ok := trickle(t, strings.TrimPrefix(p.URL, "http://"), head, 1000, 250*time.Millisecond, 30*time.Second)
	if !ok {
		t.Fatalf("a body trickled to client-events still held the connection after 30s (%d bytes sent)", res.sent)
	}
	if !cutOff(res) {
		t.Fatalf("trickled client event answered %d, want 408 or a closed connection", res.status)
	}
	// The endpoint still works for a real report.
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/_lcw/client-events", strings.NewReader(`{"code":2}`))
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("client event after the attack: %d", resp.StatusCode)
	}
}

// server.read_timeout bounds a request body on its way to the upstream: a
// trickled upload is cut off, and the upstream never gets it whole. Fast
// uploads, and responses that take longer than read_timeout once the body
// is in, are untouched.
func TestReadTimeoutBoundsRequestBodies(t *testing.T) {
	t.Parallel()
	type upload struct {
		n        int64
		complete bool
	}
	uploads := make(chan upload, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		uploads <- upload{n: n, complete: err == nil && n == r.ContentLength}
		if d := r.URL.Query().Get("think"); d != "" {
			pause, _ := time.ParseDuration(d)
			time.Sleep(pause)
		}
		fmt.Fprintf(w, "got %d bytes", n)
	}))
	defer up.Close()
	const readTimeout = 2 * time.Second
	p := startProxy(t, baseConfig(t, up.URL, fmt.Sprintf("server:\n  read_header_timeout: %s\n  read_timeout: %[1]s\n", readTimeout)), nil)

	t.Run("trickled upload is cut off", func(t *testing.T) {
		head := "POST /upload HTTP/1.1\r\nHost: 127.0.0.1:4180\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
		res, ok := trickle(t, strings.TrimPrefix(p.URL, "http://"), head, 1000, 250*time.Millisecond, 10*readTimeout)
		if !ok {
			t.Fatalf("a trickled upload still held the connection after %s with read_timeout %s (%d bytes sent)", 10*readTimeout, readTimeout, res.sent)
		}
		if !cutOff(res) {
			t.Fatalf("trickled upload answered %d, want 408 or a closed connection\n%s", res.status, p.Logs)
		}
		select {
		case u := <-uploads:
			if u.complete {
				t.Fatalf("the upstream got the trickled body whole (%d bytes)", u.n)
			}
		case <-time.After(10 * time.Second):
			// Nothing reached the upstream at all: also fine.
		}
	})

	t.Run("fast upload passes", func(t *testing.T) {
		body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		resp, err := http.Post(p.URL+"/upload", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(got) != fmt.Sprintf("got %d bytes", len(body)) {
			t.Fatalf("fast upload: %d %s", resp.StatusCode, got)
		}
		<-uploads
	})

	t.Run("slow response after the body is not cut", func(t *testing.T) {
		// The deadline is on reading the request, not on the whole
		// exchange: an upstream that thinks past it still answers.
		think := readTimeout + time.Second
		resp, err := http.Post(p.URL+"/upload?think="+think.String(), "text/plain", strings.NewReader("small form"))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(got) != "got 10 bytes" {
			t.Fatalf("slow response: %d %s", resp.StatusCode, got)
		}
		<-uploads
	})
}

// With server.max_connections: 2, a third client is not served while two
// connections are open, and is served as soon as one closes.
func TestMaxConnections(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	p := startProxy(t, baseConfig(t, up.URL, "server:\n  max_connections: 2\n"), nil)
	addr := strings.TrimPrefix(p.URL, "http://")
	const get = "GET /page HTTP/1.1\r\nHost: 127.0.0.1:4180\r\n\r\n"

	// ask sends one request on conn and reads the answer.
	ask := func(conn net.Conn, br *bufio.Reader) (int, error) {
		if _, err := io.WriteString(conn, get); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var held [2]net.Conn
	for i := range held {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A served request proves the proxy accepted the connection; it
		// stays open (keep-alive), holding its slot.
		if code, err := ask(c, bufio.NewReader(c)); err != nil || code != http.StatusOK {
			t.Fatalf("connection %d: %d %v", i+1, code, err)
		}
		held[i] = c
	}

	var closed atomic.Bool
	type answer struct {
		code        int
		err         error
		whileClosed bool // one of the first two was closed when it came
	}
	third := make(chan answer, 1)
	go func() {
		c, err := net.Dial("tcp", addr) // the kernel completes the handshake; the proxy does not accept
		if err != nil {
			third <- answer{err: err}
			return
		}
		defer c.Close()
		code, err := ask(c, bufio.NewReader(c))
		third <- answer{code: code, err: err, whileClosed: closed.Load()}
	}()
	// The third client gets a fair chance to be (wrongly) served while both
	// slots are taken. A loaded machine may make this window too short to
	// catch a missing cap, never too short for a working one.
	select {
	case a := <-third:
		t.Fatalf("a third connection was served while two were open: %d %v", a.code, a.err)
	case <-time.After(time.Second):
	}
	closed.Store(true)
	held[0].Close()
	select {
	case a := <-third:
		if a.err != nil || a.code != http.StatusOK || !a.whileClosed {
			t.Fatalf("third connection after one closed: %d %v (after close: %v)", a.code, a.err, a.whileClosed)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the third connection was not served after one of the first two closed")
	}
}
