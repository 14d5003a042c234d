package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

// record is what the access log and the request metrics learn about one
// request as it passes through the handlers.
type record struct {
	status     int
	bytes      int64
	upstream   time.Duration
	clientGone bool
}

type recordKey struct{}

func recordFrom(ctx context.Context) *record {
	r, _ := ctx.Value(recordKey{}).(*record)
	return r
}

// loggingWriter counts what is written. The record travels inside it, so
// handlers further down (the reverse proxy's error handler) reach it through
// their ResponseWriter with recordOf, whether or not the access log is on.
// Unwrap lets http.ResponseController reach Flush and Hijack of the real
// writer (SSE and websockets).
type loggingWriter struct {
	http.ResponseWriter
	rec record
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
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *loggingWriter) Write(b []byte) (int, error) {
	if w.rec.status == 0 {
		w.rec.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.rec.bytes += int64(n)
	return n, err
}

func (w *loggingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *loggingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// routeNames are the proxy's own endpoints as metric labels; anything else
// under the prefix is "own_other" so label cardinality stays fixed.
var routeNames = []string{"login", "callback", "logout", "token", "session", "public-key.pem", "public-keys",
	"jwks.json", "bootstrap.js", "client-events", "healthz", "readyz"}

// requestMetrics holds the request counters resolved once per route and
// status class, so the hot path does no label hashing.
type requestMetrics struct {
	prefix   string
	counters map[string]*[6]prometheus.Counter
	duration map[string]prometheus.Observer
}

func newRequestMetrics(m *metrics.Metrics, prefix string) *requestMetrics {
	if m == nil {
		return nil
	}
	rm := &requestMetrics{prefix: prefix, counters: map[string]*[6]prometheus.Counter{}, duration: map[string]prometheus.Observer{}}
	for _, route := range append(routeNames, "own_other", "upstream") {
		var cs [6]prometheus.Counter
		for class := 1; class <= 5; class++ {
			cs[class] = m.Requests.WithLabelValues(route, strconv.Itoa(class)+"xx")
		}
		cs[0] = m.Requests.WithLabelValues(route, "other")
		rm.counters[route] = &cs
		rm.duration[route] = m.RequestDuration.WithLabelValues(route)
	}
	return rm
}

func (rm *requestMetrics) route(p string) string {
	if !underPrefix(p, rm.prefix) {
		return "upstream"
	}
	rest := strings.TrimPrefix(path.Clean(p), rm.prefix+"/")
	for _, r := range routeNames {
		if rest == r {
			return r
		}
	}
	return "own_other"
}

func (rm *requestMetrics) observe(p string, status int, d time.Duration) {
	route := rm.route(p)
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	rm.counters[route][class].Inc()
	rm.duration[route].Observe(d.Seconds())
}

// observe counts every request in metrics and, when enabled, writes one
// access-log line: method, path, status, bytes, duration and upstream
// duration. Query strings, cookies and headers are never logged: they may
// carry codes, tokens or personal data.
func observe(log *slog.Logger, rm *requestMetrics, logEnabled bool, next http.Handler) http.Handler {
	if !logEnabled && rm == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		lw := &loggingWriter{ResponseWriter: w}
		rec := &lw.rec
		if logEnabled {
			// The context value (a request clone) is only worth it when
			// the log wants the upstream's timing.
			r = r.WithContext(context.WithValue(r.Context(), recordKey{}, rec))
		}
		next.ServeHTTP(lw, r)
		status := rec.status
		if status == 0 {
			if rec.clientGone {
				status = 499 // nginx's convention for a client that closed first
			} else {
				status = http.StatusOK
			}
		}
		elapsed := time.Since(start)
		if rm != nil {
			rm.observe(r.URL.Path, status, elapsed)
		}
		if !logEnabled {
			return
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", elapsed),
			slog.Duration("upstream_duration", rec.upstream),
		)
	})
}
