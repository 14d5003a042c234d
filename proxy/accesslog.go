package proxy

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/logbuf"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/request"
)

// record is what the access log and the request metrics learn about one
// request as it passes through the handlers.
type record struct {
	status     int
	bytes      int64
	clientGone bool
	// requestID is the X-Request-Id value, set on the response when its
	// header is written; ownID holds one made here.
	requestID []string
	ownID     [1]string
	// hijacked is the connection a protocol switch took over, tracked in
	// hijacks until the handler returns.
	hijacked net.Conn
	hijacks  *hijacks

	// timeUpstream is set when the line is logged: only then does the
	// reverse proxy take the time.
	timeUpstream  bool
	upstreamStart time.Time
	// upstream runs from handing the request to the reverse proxy until
	// the response header is ready for the client (or the upstream
	// failed): the upstream's time to its header, plus the proxy's own
	// rewriting and, for pages it injects into, the look-ahead at the
	// body. Taken at the ResponseWriter, it needs no request clone to
	// carry the record to the transport.
	upstream time.Duration
}

// upstreamStarts marks the start of the upstream's part of the request.
func (rec *record) upstreamStarts() {
	if rec.timeUpstream {
		rec.upstreamStart = time.Now()
	}
}

// upstreamAnswered marks its end: a response header or an error.
func (rec *record) upstreamAnswered() {
	if !rec.upstreamStart.IsZero() && rec.upstream == 0 {
		rec.upstream = time.Since(rec.upstreamStart)
	}
}

// loggingWriter counts what is written. The record travels inside it, so
// handlers further down (the reverse proxy's error handler) reach it through
// their ResponseWriter with recordOf, whether or not the access log is on.
// Unwrap lets http.ResponseController reach Flush and Hijack of the real
// writer (SSE and websockets).
type loggingWriter struct {
	http.ResponseWriter
	rec record
	ctx context.Context // the request's, for Hijack to find the server's hijacks
}

// recordOf finds the request's record behind w, looking through writers
// that wrap it (anything with Unwrap, as http.ResponseController does); nil
// when the request is not observed.
func recordOf(w http.ResponseWriter) *record {
	for {
		switch t := w.(type) {
		case *loggingWriter:
			return &t.rec
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil
		}
	}
}

func (w *loggingWriter) WriteHeader(code int) {
	if w.rec.status == 0 && code >= 200 {
		w.rec.status = code
		w.rec.upstreamAnswered()
		w.echoRequestID()
	} else if code == http.StatusSwitchingProtocols {
		w.rec.upstreamAnswered()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *loggingWriter) Write(b []byte) (int, error) {
	if w.rec.status == 0 {
		w.rec.status = http.StatusOK
		w.rec.upstreamAnswered()
		w.echoRequestID()
	}
	n, err := w.ResponseWriter.Write(b)
	w.rec.bytes += int64(n)
	return n, err
}

// echoRequestID puts the request's id on the response, replacing any the
// upstream sent: the client sees the id the logs have.
func (w *loggingWriter) echoRequestID() {
	if w.rec.requestID != nil {
		w.ResponseWriter.Header()[RequestIDHeader] = w.rec.requestID
	}
}

// Hijack takes the connection over for a protocol switch (ReverseProxy's
// websocket upgrade finds it through http.ResponseController): the request
// is logged as 101, and the connection is tracked so that shutdown waits
// for it (Serve) — http.Server.Shutdown forgets hijacked connections.
func (w *loggingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if w.rec.status == 0 {
		w.rec.status = http.StatusSwitchingProtocols
		w.rec.upstreamAnswered()
	}
	if h := hijacksFrom(w.ctx); h != nil {
		h.add(conn)
		w.rec.hijacked, w.rec.hijacks = conn, h
	}
	return conn, brw, nil
}

func (w *loggingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *loggingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestMetrics holds the request counters resolved once per route and
// status class, so the hot path does no label hashing.
type requestMetrics struct {
	byRoute map[string]*routeMetrics
}

// routeMetrics are one route's counters by status class (0: other) and its
// duration histogram.
type routeMetrics struct {
	counters [6]prometheus.Counter
	duration prometheus.Observer
}

func newRequestMetrics(m *metrics.Metrics, names *routeNames) *requestMetrics {
	if m == nil {
		return nil
	}
	rm := &requestMetrics{byRoute: map[string]*routeMetrics{}}
	for _, route := range slices.Concat(names.names, []string{"own_other", "upstream"}) {
		r := &routeMetrics{duration: m.RequestDuration.WithLabelValues(route)}
		for class := 1; class <= 5; class++ {
			r.counters[class] = m.Requests.WithLabelValues(route, strconv.Itoa(class)+"xx")
		}
		r.counters[0] = m.Requests.WithLabelValues(route, "other")
		rm.byRoute[route] = r
	}
	return rm
}

func (rm *requestMetrics) observe(route string, status int, d time.Duration) {
	r := rm.byRoute[route]
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	r.counters[class].Inc()
	r.duration.Observe(d.Seconds())
}

// accessLog writes access-log lines through a buffer of its own (see
// WithAccessLog).
type accessLog struct {
	out    *logbuf.Writer
	format string // config.LogJSON, LogText, LogGCP
	stamps stampCache
}

// linePool lends line buffers to accessLog.write; pooling the pointer
// keeps Put from allocating.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (a *accessLog) write(l *accessLine) {
	bp := linePool.Get().(*[]byte)
	b := (*bp)[:0]
	if a.format == config.LogText {
		b = l.appendText(b)
	} else {
		b = l.appendJSON(b, a.format == config.LogGCP, &a.stamps)
	}
	// As with slog, a log that cannot be written is not the request's
	// failure.
	_, _ = a.out.Write(b)
	// A rare huge path should not pin its buffer in the pool.
	if cap(b) <= 8<<10 {
		*bp = b
		linePool.Put(bp)
	}
}

// accessLogHandler is the slog.Handler WithAccessLog returns: records go
// to the wrapped handler; the access log rides along for observe to find.
type accessLogHandler struct {
	slog.Handler
	access *accessLog
}

// WithAccessLog returns h with a fast access log attached: the proxy's
// handler tree (and Serve, which flushes it at shutdown) find it on the
// logger built from the returned handler and write each request's line to
// out themselves, formatted as h would (format "json", "text" or "gcp", h
// being NewLogHandler's for it), through a
// logbuf.Writer: one write per 64 KiB or per second instead of one per
// request. Every other record still goes through h, unbuffered, so the two
// streams are not ordered against each other: an access line may reach out
// up to a second after records logged later (every line carries its time).
//
// Loggers derived with With or WithGroup lose the attachment; the access
// log then goes through slog as any record would.
func WithAccessLog(h slog.Handler, out io.Writer, format string) slog.Handler {
	return accessLogHandler{Handler: h, access: &accessLog{out: logbuf.New(out, logbuf.Options{}), format: format}}
}

func accessLogOf(log *slog.Logger) *accessLog {
	if h, ok := log.Handler().(accessLogHandler); ok {
		return h.access
	}
	return nil
}

// closeAccessLog writes out the access log's buffer; lines written later
// (a handler outliving a forced shutdown) go straight through.
func closeAccessLog(log *slog.Logger) error {
	if a := accessLogOf(log); a != nil {
		return a.out.Close()
	}
	return nil
}

// observeOptions are what observe needs.
type observeOptions struct {
	Log *slog.Logger
	// Metrics, when set, counts every request; Names names its route.
	Metrics *requestMetrics
	Names   *routeNames
	// AccessLog writes a line per request (at info).
	AccessLog bool
	// TrustedProxies may send X-Request-Id and X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// Tracing is on: the line carries the server span's ids. Off, there is
	// no span to look for, and the lookup would walk the request's whole
	// context chain for nothing.
	Tracing bool
}

// observe gives every request its id (X-Request-Id: a trusted proxy's, or
// a new one; sent upstream and echoed to the client), counts it in metrics
// and, when enabled, writes one access-log line: method, path, status,
// bytes, duration, upstream duration, route, Host, client address (after
// trusted_proxies), User-Agent, request id and, when tracing is on, the
// trace and span ids. Query strings, cookies and other headers are never
// logged: they may carry codes, tokens or personal data; nor is a
// secret-looking parameter inside the path (loggedPath).
func observe(o observeOptions, next http.Handler) http.Handler {
	if !o.AccessLog && o.Metrics == nil {
		return next
	}
	log, rm, names, trusted := o.Log, o.Metrics, o.Names, o.TrustedProxies
	fast := accessLogOf(log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		lw := &loggingWriter{ResponseWriter: w, ctx: r.Context()}
		rec := &lw.rec
		rec.requestID = requestID(r, request.FromPeerIn(r, trusted), &rec.ownID)
		r.Header[RequestIDHeader] = rec.requestID // on to the upstream
		logged := o.AccessLog && log.Enabled(r.Context(), slog.LevelInfo)
		rec.timeUpstream = logged
		defer rec.release()
		next.ServeHTTP(lw, r)
		status := rec.status
		if status == 0 {
			if rec.clientGone {
				status = 499 // nginx's convention for a client that closed first
			} else {
				status = http.StatusOK
			}
		}
		now := time.Now()
		elapsed := now.Sub(start)
		route := names.of(r.URL.Path)
		if rm != nil {
			rm.observe(route, status, elapsed)
		}
		if !logged {
			return
		}
		line := accessLine{time: now, method: r.Method, path: loggedPath(r.URL.Path), status: status,
			bytes: rec.bytes, duration: elapsed, upstream: rec.upstream,
			route: route, host: clip(r.Host), client: request.Client(r, trusted), userAgent: clip(request.FirstValue(r.Header, "User-Agent")),
			requestID: rec.requestID[0]}
		if o.Tracing {
			line.span = trace.SpanContextFromContext(r.Context())
		}
		if fast != nil {
			fast.write(&line)
			return
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "request", line.attrs()...)
	})
}

// release ends the tracking of a hijacked connection: the handler that
// served it returned, so it is closed.
func (rec *record) release() {
	if rec.hijacked != nil {
		rec.hijacks.remove(rec.hijacked)
	}
}
