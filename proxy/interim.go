package proxy

import (
	"net/http"
	"slices"
	"sync"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/h1transport"
)

// interimWriter is the ResponseWriter the reverse proxy writes to, there to
// relay the upstream's informational (1xx) responses safely. ReverseProxy
// relays them from its Got1xxResponse hook: it copies the upstream's 1xx
// header into the writer's header map, calls WriteHeader(code) and clears
// the map. That map already holds what the proxy set for the final response
// before proxying (a refreshed session's Set-Cookie), so unguarded the hook
// sends those in the 1xx and then wipes them from the final response; and
// the upstream's 1xx header reaches the client without the filtering its
// final header gets, Set-Cookie for the proxy's own cookies included.
//
// So on a 1xx it keeps the proxy's values out of the interim response,
// filters the upstream's as the final response is filtered, and puts the
// proxy's values back before the header map is used again. Not for 101,
// which ends the exchange like a final response and is filtered in
// ModifyResponse.
type interimWriter struct {
	http.ResponseWriter
	strip *headerStripper
	// final is what the header map held when proxying started; nil when
	// it was empty, as it is for nearly every request.
	final   http.Header
	http11  bool // the client speaks HTTP/1.1 or later: HTTP/1.0 gets no 1xx (RFC 9110 §15.2)
	n1xx    int
	restore bool // a 1xx was written: the map is set back to final before its next use
}

// interimWriters lends the writers: one per proxied request would be an
// allocation on every request for what a rare response needs.
var interimWriters = sync.Pool{New: func() any { return new(interimWriter) }}

// newInterimWriter wraps w for one request; release returns it.
func newInterimWriter(w http.ResponseWriter, r *http.Request, strip *headerStripper) *interimWriter {
	iw := interimWriters.Get().(*interimWriter)
	*iw = interimWriter{ResponseWriter: w, strip: strip, http11: r.ProtoAtLeast(1, 1)}
	if h := w.Header(); len(h) > 0 {
		iw.final = h.Clone()
	}
	return iw
}

// release must be called once ReverseProxy.ServeHTTP has returned: it
// keeps no reference to the writer after that (its 1xx hook checks that
// the round trip is still going before it writes).
func (w *interimWriter) release() {
	*w = interimWriter{}
	interimWriters.Put(w)
}

func (w *interimWriter) Header() http.Header {
	h := w.ResponseWriter.Header()
	if w.restore {
		w.restore = false
		clear(h)
		for k, vs := range w.final {
			h[k] = slices.Clone(vs)
		}
	}
	return h
}

func (w *interimWriter) WriteHeader(code int) {
	h := w.Header()
	if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	// From here on the map holds final's values followed by the
	// upstream's 1xx header (ReverseProxy's copy appends).
	w.restore = true
	for k, vs := range w.final {
		if cur := h[k]; len(cur) >= len(vs) && slices.Equal(cur[:len(vs)], vs) {
			if len(cur) == len(vs) {
				delete(h, k)
			} else {
				h[k] = cur[len(vs):]
			}
		}
	}
	w.n1xx++
	if !w.http11 || w.n1xx > h1transport.Max1xxResponses {
		return // the upstream's hints are dropped, never the exchange
	}
	w.strip.cleanInterim(h)
	w.ResponseWriter.WriteHeader(code)
}

func (w *interimWriter) Write(b []byte) (int, error) {
	w.Header()
	return w.ResponseWriter.Write(b)
}

func (w *interimWriter) Flush() {
	w.Header()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController (ReverseProxy's flushes and its
// Hijack for upgrades) and recordOf reach the writer beneath.
func (w *interimWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
