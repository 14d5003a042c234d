// Package h1transport is an http.RoundTripper for one plain-http upstream
// that carries the common request — HTTP/1.1, no request body, no protocol
// upgrade — on the calling goroutine, and hands every other request to the
// standard Transport behind it.
package h1transport

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Transport carries the common request — HTTP/1.1 to a plain-http
// upstream, no request body, no protocol upgrade — on the calling goroutine:
// it writes the request and reads the response itself on a pooled connection.
// http.Transport hands every request to two goroutines per connection and
// back through channels; doing without them saves that hand-off on every
// small response, which is most of a sidecar's traffic. Everything else
// (request bodies, websockets, TLS, HTTP/2) goes to Next, the standard
// Transport, which handles 100-continue and full-duplex bodies that this
// sequential loop cannot.
//
// What http.Transport does for safety, this does too: a pooled connection is
// reused only after its response was read to the end, with nothing extra
// buffered or waiting on the socket (so a misbehaving upstream cannot make
// one user's response the next user's), and only when neither side asked to
// close; an idle connection the upstream closed is detected before reuse,
// and a replayable request that fails on a reused connection before any
// byte came back is retried once on a fresh one.
//
// As with http.Transport, the exported fields are its configuration: set
// them before the first request and do not change them after.
type Transport struct {
	// Host is the upstream URL's host (host or host:port, as in the request
	// URLs); requests to other hosts go to Next.
	Host string
	// Addr is the host:port to dial.
	Addr string
	// DialContext dials the upstream; nil uses a zero net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Next carries the requests this Transport does not; nil is
	// http.DefaultTransport.
	Next http.RoundTripper
	// ResponseHeaderTimeout bounds the wait for the response header after
	// the request was written; zero means no bound.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes a pooled connection idle for longer; zero keeps
	// it until the upstream closes it.
	IdleConnTimeout time.Duration
	// MaxIdleConns is how many idle connections are pooled; zero pools none.
	MaxIdleConns int
	// MaxResponseHeaderBytes bounds the response header, 1xx ones included
	// (each counted on its own); zero means http.Transport's default, 10 MiB.
	MaxResponseHeaderBytes int64
	// ReadBufferSize is each connection's read buffer; zero means 4 KiB.
	// One read takes the header and as much of the body as fits, which the
	// reverse proxy then hands on in one write: match its copy buffer.
	ReadBufferSize int

	mu     sync.Mutex
	idle   []*pooledConn // LIFO: the most recently used connection is the warmest
	reaper *time.Timer   // set while idle is not empty
}

type pooledConn struct {
	conn   net.Conn
	lr     *limitReader
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
	reused bool

	// raw and peek check the idle socket without allocating per request.
	raw    syscall.RawConn
	peek   func(fd uintptr) bool
	peeked bool // what peek found: open, nothing to read
}

// limitReader bounds what the response header may take, like
// http.Transport's MaxResponseHeaderBytes; the body is not limited.
type limitReader struct {
	r    io.Reader
	n    int64 // bytes left before the header is too large
	read int64 // total read, to tell "nothing came back" from a cut response
}

var errHeaderTooLarge = errors.New("upstream response header too large")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	l.read += int64(n)
	return n, err
}

// Max1xxResponses bounds informational responses before the final one: a
// response with more fails. http.Transport leaves the count to whoever sets
// Got1xxResponse, and ReverseProxy sets no limit; more than this is a
// misbehaving upstream.
const Max1xxResponses = 5

func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.eligible(req) {
		return t.next().RoundTrip(req)
	}
	if err := validHeader(req.Header); err != nil {
		return nil, err
	}
	// req.Write does not check the method (http.Transport does, before
	// writing): a method with CR/LF or spaces would smuggle a request.
	if req.Method != "" && !validMethod(req.Method) {
		return nil, fmt.Errorf("invalid method %q", req.Method)
	}
	// As http.Transport: a request whose context is already done is not
	// sent. Otherwise it would go out on a pooled connection while the
	// AfterFunc races to close it, and could even come back "successful".
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		c, err := t.conn(req.Context(), attempt > 0)
		if err != nil {
			return nil, err
		}
		resp, err := t.roundTrip(req, c)
		if err == nil {
			return resp, nil
		}
		// A header timeout is not a closed idle connection: the upstream got
		// the request and is slow. Retrying would send it twice and double
		// the configured timeout (http.Transport does not retry it either).
		if attempt == 0 && c.reused && c.lr.read == 0 && replayable(req) && req.Context().Err() == nil &&
			!errors.Is(err, os.ErrDeadlineExceeded) {
			continue // the upstream had closed the idle connection as we wrote to it
		}
		return nil, err
	}
}

func (t *Transport) next() http.RoundTripper {
	if t.Next == nil {
		return http.DefaultTransport
	}
	return t.Next
}

func (t *Transport) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if t.DialContext == nil {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return t.DialContext(ctx, network, addr)
}

func (t *Transport) maxHeaderBytes() int64 {
	if t.MaxResponseHeaderBytes <= 0 {
		return 10 << 20
	}
	return t.MaxResponseHeaderBytes
}

func (t *Transport) eligible(req *http.Request) bool {
	return req.URL.Scheme == "http" && req.URL.Host == t.Host &&
		(req.Body == nil || req.Body == http.NoBody) &&
		req.Header.Get("Upgrade") == "" && req.Method != http.MethodConnect
}

// validMethod is http.Transport's check: a method is a non-empty token.
func validMethod(m string) bool {
	return len(m) > 0 && strings.IndexFunc(m, func(r rune) bool { return !httpguts.IsTokenRune(r) }) == -1
}

func validHeader(h http.Header) error {
	for k, vv := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("invalid header field name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("invalid header field value for %q", k)
			}
		}
	}
	return nil
}

func replayable(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

func (t *Transport) roundTrip(req *http.Request, c *pooledConn) (*http.Response, error) {
	ctx := req.Context()
	// Closing the connection is the one way to interrupt a blocked read or
	// write without racing against our own deadline changes; a connection
	// closed this way is never reused (stop reports false).
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		c.conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if err := req.Write(c.bw); err != nil {
		return fail(fmt.Errorf("write request: %w", err))
	}
	if err := c.bw.Flush(); err != nil {
		return fail(fmt.Errorf("write request: %w", err))
	}
	if t.ResponseHeaderTimeout > 0 {
		c.conn.SetReadDeadline(time.Now().Add(t.ResponseHeaderTimeout))
	}
	c.lr.n = t.maxHeaderBytes()
	trace := httptrace.ContextClientTrace(ctx)
	var resp *http.Response
	for n1xx := 0; ; n1xx++ {
		var err error
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			return fail(fmt.Errorf("read response: %w", err))
		}
		if resp.StatusCode < 100 || resp.StatusCode > 199 {
			break
		}
		if resp.StatusCode == http.StatusSwitchingProtocols || n1xx >= Max1xxResponses {
			return fail(fmt.Errorf("unexpected %d response from upstream", resp.StatusCode))
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
				return fail(err)
			}
			c.lr.n = t.maxHeaderBytes()
		}
	}
	c.lr.n = math.MaxInt64
	if t.ResponseHeaderTimeout > 0 {
		c.conn.SetReadDeadline(time.Time{})
	}
	b := &respBody{t: t, c: c, ctx: ctx, body: resp.Body, stop: stop, reuse: !resp.Close && !req.Close}
	if resp.Body == http.NoBody {
		b.finish(true)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// respBody returns the connection to the pool once the response was read
// to its end, and closes it when the reader gives up early: draining an
// unread body could mean reading gigabytes nobody wants. Read and Close are
// not called concurrently: ReverseProxy and the injector do both from the
// handler goroutine, and cancellation goes through the context.
type respBody struct {
	t     *Transport
	c     *pooledConn
	ctx   context.Context
	body  io.ReadCloser
	stop  func() bool
	reuse bool
	done  bool
	err   error // returned by every Read once done
}

// errReadOnClosedBody is http.Transport's error for the same misuse.
var errReadOnClosedBody = errors.New("http: read on closed response body")

func (b *respBody) Read(p []byte) (int, error) {
	if b.done {
		// Sticky, as http.Transport's body: a cut body must not read as a
		// clean io.EOF to a caller that asks again (bufio.Reader forgets
		// an error once it has returned it).
		return 0, b.err
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
		if ctxErr := b.ctx.Err(); ctxErr != nil {
			err = ctxErr // the read failed because the request was cancelled
		}
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

func (b *respBody) Close() error {
	if !b.done {
		b.finish(false)
		b.err = errReadOnClosedBody
	}
	return nil
}

func (b *respBody) finish(complete bool) {
	b.done = true
	// stop must run even when the body failed, to release the callback.
	if b.stop() && complete && b.reuse && b.c.br.Buffered() == 0 {
		b.t.put(b.c)
		return
	}
	b.c.conn.Close()
}

// conn returns a live pooled connection, or dials one.
func (t *Transport) conn(ctx context.Context, fresh bool) (*pooledConn, error) {
	for !fresh {
		c := t.get()
		if c == nil {
			break
		}
		if t.IdleConnTimeout > 0 && time.Since(c.idleAt) > t.IdleConnTimeout || !c.alive() {
			c.conn.Close()
			continue
		}
		c.reused = true
		c.lr.read = 0
		return c, nil
	}
	nc, err := t.dial(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial upstream: %w", err)
	}
	lr := &limitReader{r: nc}
	c := &pooledConn{
		conn: nc,
		lr:   lr,
		br:   bufio.NewReaderSize(lr, cmp.Or(t.ReadBufferSize, 4<<10)),
		bw:   bufio.NewWriterSize(nc, 4<<10),
	}
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn() // nil on error: the connection is then never reused
	}
	c.peek = func(fd uintptr) bool {
		c.peeked = peekEmpty(fd)
		return true // never wait for readiness
	}
	return c, nil
}

func (t *Transport) get() *pooledConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.idle)
	if n == 0 {
		return nil
	}
	c := t.idle[n-1]
	t.idle[n-1] = nil
	t.idle = t.idle[:n-1]
	return c
}

func (t *Transport) put(c *pooledConn) {
	c.idleAt = time.Now()
	t.mu.Lock()
	if len(t.idle) >= t.MaxIdleConns {
		t.mu.Unlock()
		c.conn.Close()
		return
	}
	t.idle = append(t.idle, c)
	if t.reaper == nil && t.IdleConnTimeout > 0 {
		t.reaper = time.AfterFunc(t.IdleConnTimeout, t.reap)
	}
	t.mu.Unlock()
}

// reap closes connections idle longer than idleTimeout, so a quiet proxy
// does not hold sockets the upstream has long closed. It runs only while
// the pool is not empty.
func (t *Transport) reap() {
	cutoff := time.Now().Add(-t.IdleConnTimeout)
	t.mu.Lock()
	n := 0 // the pool is in idleAt order: put appends, get takes the newest
	for n < len(t.idle) && t.idle[n].idleAt.Before(cutoff) {
		n++
	}
	expired := slices.Clone(t.idle[:n])
	t.idle = slices.Delete(t.idle, 0, n)
	if len(t.idle) > 0 {
		t.reaper.Reset(t.idle[0].idleAt.Sub(cutoff))
	} else {
		t.reaper = nil
	}
	t.mu.Unlock()
	for _, c := range expired {
		c.conn.Close()
	}
}

// CloseIdleConnections closes the pooled connections (on shutdown, in
// tests) and those of the fallback transport.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	if t.reaper != nil {
		t.reaper.Stop()
		t.reaper = nil
	}
	t.mu.Unlock()
	for _, c := range idle {
		c.conn.Close()
	}
	if ci, ok := t.next().(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// alive reports whether an idle connection may carry a request: the
// upstream has neither closed it nor sent anything unasked. It peeks
// without blocking, one syscall.
func (c *pooledConn) alive() bool {
	if c.raw == nil || c.br.Buffered() > 0 {
		return false
	}
	c.peeked = false
	return c.raw.Read(c.peek) == nil && c.peeked
}
