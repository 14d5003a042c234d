package proxy

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync/atomic"
)

// clientBody is a request body on its way to the upstream that remembers
// whether reading it ran into the listener's read deadline
// (server.read_timeout). The server then also cancels the request's
// context, which would otherwise look like a client that went away; the
// error handler asks this instead and answers 408.
type clientBody struct {
	io.ReadCloser
	timedOut atomic.Bool // read by the error handler, written by the transport's goroutine
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.timedOut.Store(true)
	}
	return n, err
}

// watchBody wraps out's body, if it has one, in a clientBody.
func watchBody(out *http.Request) {
	if out.Body != nil && out.Body != http.NoBody {
		out.Body = &clientBody{ReadCloser: out.Body}
	}
}

// bodyTimedOut reports whether out's body (wrapped by watchBody) stopped at
// the read deadline.
func bodyTimedOut(out *http.Request) bool {
	b, ok := out.Body.(*clientBody)
	return ok && b.timedOut.Load()
}
