package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// RawServer is a loopback upstream that writes exact bytes, for the
// misbehaving upstreams an httptest.Server cannot imitate. Each accepted
// connection runs handle on its own goroutine; the connection is closed when
// handle returns.
type RawServer struct {
	URL      *url.URL
	Accepted atomic.Int32  // connections accepted
	Finished atomic.Int32  // connections whose handler returned (closed by us)
	BytesIn  atomic.Int64  // request bytes received, over all connections
	Done     chan struct{} // closed when the test ends

	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	closed bool
	open   map[net.Conn]struct{}
	log    []string // "METHOD /uri" of every request read by ReadReq
}

// RawHandler serves one accepted connection: n counts connections from 1,
// br reads from c.
type RawHandler func(s *RawServer, n int, c net.Conn, br *bufio.Reader)

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// NewRawServer starts a RawServer on a loopback port; it stops, closing
// every connection, when the test ends.
func NewRawServer(t testing.TB, handle RawHandler) *RawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &RawServer{
		URL:  &url.URL{Scheme: "http", Host: ln.Addr().String()},
		ln:   ln,
		Done: make(chan struct{}),
		open: map[net.Conn]struct{}{},
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(s.Accepted.Add(1))
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				continue
			}
			s.open[c] = struct{}{}
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				defer func() {
					c.Close()
					s.mu.Lock()
					delete(s.open, c)
					s.mu.Unlock()
					s.Finished.Add(1)
				}()
				handle(s, n, c, bufio.NewReader(countingReader{c, &s.BytesIn}))
			}()
		}
	}()
	t.Cleanup(func() {
		close(s.Done)
		ln.Close()
		s.mu.Lock()
		s.closed = true
		for c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// readReq reads one request (and its body) and logs it.
func (s *RawServer) ReadReq(br *bufio.Reader) (*http.Request, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.log = append(s.log, req.Method+" "+req.URL.RequestURI())
	s.mu.Unlock()
	return req, nil
}

// Requests lists the requests ReadReq has read, as "METHOD /uri".
func (s *RawServer) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// Count is how many times entry ("METHOD /uri") was read.
func (s *RawServer) Count(entry string) int {
	n := 0
	for _, r := range s.Requests() {
		if r == entry {
			n++
		}
	}
	return n
}

// Canned answers every request on a connection with resp, and closes the
// connection after the first answer when closeAfter is set.
func Canned(resp string, closeAfter bool) RawHandler {
	return func(s *RawServer, _ int, c net.Conn, br *bufio.Reader) {
		for {
			if _, err := s.ReadReq(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, resp); err != nil || closeAfter {
				return
			}
		}
	}
}

// EchoResponse is a keep-alive response whose body is the request's URI, so a
// response that belongs to another request shows at once.
func EchoResponse(req *http.Request) string {
	uri := req.URL.RequestURI()
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(uri), uri)
}

// EchoHandler answers every request with EchoResponse.
func EchoHandler(s *RawServer, _ int, c net.Conn, br *bufio.Reader) {
	for {
		req, err := s.ReadReq(br)
		if err != nil {
			return
		}
		if _, err := io.WriteString(c, EchoResponse(req)); err != nil {
			return
		}
	}
}

// HangHandler answers /hang never (it waits for the client to hang up) and
// anything else at once.
func HangHandler(s *RawServer, _ int, c net.Conn, br *bufio.Reader) {
	for {
		req, err := s.ReadReq(br)
		if err != nil {
			return
		}
		if req.URL.Path == "/hang" {
			io.Copy(io.Discard, br)
			return
		}
		if _, err := io.WriteString(c, EchoResponse(req)); err != nil {
			return
		}
	}
}
