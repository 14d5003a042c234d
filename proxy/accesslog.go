package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// record is what the access log learns about one request as it passes
// through the handlers.
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

// loggingWriter counts what is written. Unwrap lets http.ResponseController
// reach Flush and Hijack of the real writer (SSE and websockets).
type loggingWriter struct {
	http.ResponseWriter
	rec *record
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

// accessLog writes one line per request: method, path, status, bytes,
// duration and upstream duration. Query strings, cookies and headers are
// never logged: they may carry codes, tokens or personal data.
func accessLog(log *slog.Logger, enabled bool, next http.Handler) http.Handler {
	if !enabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &record{}
		lw := &loggingWriter{ResponseWriter: w, rec: rec}
		next.ServeHTTP(lw, r.WithContext(context.WithValue(r.Context(), recordKey{}, rec)))
		status := rec.status
		if status == 0 {
			if rec.clientGone {
				status = 499 // nginx's convention for a client that closed first
			} else {
				status = http.StatusOK
			}
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.Duration("upstream_duration", rec.upstream),
		)
	})
}
