package proxy

import (
	"bufio"
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

// directTransport carries the common request — HTTP/1.1 to a plain-http
// upstream, no request body, no protocol upgrade — on the calling goroutine:
// it writes the request and reads the response itself on a pooled connection.
// http.Transport hands every request to two goroutines per connection and
// back through channels; on a sidecar pinned to one core, doing without
// them cut the proxy's CPU per small response by 14–24 %. Everything else
// (request bodies, websockets, TLS, HTTP/2) goes to next, the standard
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
type directTransport struct {
	host           string // the upstream URL's host; other hosts go to next
	addr           string // host:port to dial
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
	next           http.RoundTripper
	headerTimeout  time.Duration
	idleTimeout    time.Duration
	maxIdle        int
	maxHeaderBytes int64

	mu     sync.Mutex
	idle   []*directConn // LIFO: the most recently used connection is the warmest
	reaper *time.Timer   // set while idle is not empty
}

type directConn struct {
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

// directReadBufferSize matches the reverse proxy's copy buffer
// (copyBufferSize): one read takes a response's header and the first
// 64 KiB of its body, which the reverse proxy then hands on in one write
// instead of several.
const directReadBufferSize = copyBufferSize

// max1xxResponses bounds informational responses before the final one.
// http.Transport leaves the count to whoever sets Got1xxResponse, and
// ReverseProxy sets no limit; more than this is a misbehaving upstream.
const max1xxResponses = 5

func (t *directTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.eligible(req) {
		return t.next.RoundTrip(req)
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

func (t *directTransport) eligible(req *http.Request) bool {
	return req.URL.Scheme == "http" && req.URL.Host == t.host &&
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

func (t *directTransport) roundTrip(req *http.Request, c *directConn) (*http.Response, error) {
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
	if t.headerTimeout > 0 {
		c.conn.SetReadDeadline(time.Now().Add(t.headerTimeout))
	}
	c.lr.n = t.maxHeaderBytes
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
		if resp.StatusCode == http.StatusSwitchingProtocols || n1xx >= max1xxResponses {
			return fail(fmt.Errorf("unexpected %d response from upstream", resp.StatusCode))
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
				return fail(err)
			}
			c.lr.n = t.maxHeaderBytes
		}
	}
	c.lr.n = math.MaxInt64
	if t.headerTimeout > 0 {
		c.conn.SetReadDeadline(time.Time{})
	}
	b := &directBody{t: t, c: c, ctx: ctx, body: resp.Body, stop: stop, reuse: !resp.Close && !req.Close}
	if resp.Body == http.NoBody {
		b.finish(true)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// directBody returns the connection to the pool once the response was read
// to its end, and closes it when the reader gives up early: draining an
// unread body could mean reading gigabytes nobody wants. Read and Close are
// not called concurrently: ReverseProxy and the injector do both from the
// handler goroutine, and cancellation goes through the context.
type directBody struct {
	t     *directTransport
	c     *directConn
	ctx   context.Context
	body  io.ReadCloser
	stop  func() bool
	reuse bool
	done  bool
	err   error // returned by every Read once done
}

// errReadOnClosedBody is http.Transport's error for the same misuse.
var errReadOnClosedBody = errors.New("http: read on closed response body")

func (b *directBody) Read(p []byte) (int, error) {
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

func (b *directBody) Close() error {
	if !b.done {
		b.finish(false)
		b.err = errReadOnClosedBody
	}
	return nil
}

func (b *directBody) finish(complete bool) {
	b.done = true
	// stop must run even when the body failed, to release the callback.
	if b.stop() && complete && b.reuse && b.c.br.Buffered() == 0 {
		b.t.put(b.c)
		return
	}
	b.c.conn.Close()
}

// conn returns a live pooled connection, or dials one.
func (t *directTransport) conn(ctx context.Context, fresh bool) (*directConn, error) {
	for !fresh {
		c := t.get()
		if c == nil {
			break
		}
		if t.idleTimeout > 0 && time.Since(c.idleAt) > t.idleTimeout || !c.alive() {
			c.conn.Close()
			continue
		}
		c.reused = true
		c.lr.read = 0
		return c, nil
	}
	nc, err := t.dial(ctx, "tcp", t.addr)
	if err != nil {
		return nil, fmt.Errorf("dial upstream: %w", err)
	}
	lr := &limitReader{r: nc}
	c := &directConn{
		conn: nc,
		lr:   lr,
		br:   bufio.NewReaderSize(lr, directReadBufferSize),
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

func (t *directTransport) get() *directConn {
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

func (t *directTransport) put(c *directConn) {
	c.idleAt = time.Now()
	t.mu.Lock()
	if len(t.idle) >= t.maxIdle {
		t.mu.Unlock()
		c.conn.Close()
		return
	}
	t.idle = append(t.idle, c)
	if t.reaper == nil && t.idleTimeout > 0 {
		t.reaper = time.AfterFunc(t.idleTimeout, t.reap)
	}
	t.mu.Unlock()
}

// reap closes connections idle longer than idleTimeout, so a quiet proxy
// does not hold sockets the upstream has long closed. It runs only while
// the pool is not empty.
func (t *directTransport) reap() {
	cutoff := time.Now().Add(-t.idleTimeout)
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
func (t *directTransport) CloseIdleConnections() {
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
	if ci, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// alive reports whether an idle connection may carry a request: the
// upstream has neither closed it nor sent anything unasked. It peeks
// without blocking, one syscall.
func (c *directConn) alive() bool {
	if c.raw == nil || c.br.Buffered() > 0 {
		return false
	}
	c.peeked = false
	return c.raw.Read(c.peek) == nil && c.peeked
}
