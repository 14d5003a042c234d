package proxy

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// NewLogHandler is the handler the log section asks for, writing to w:
// log.format json (slog's JSON), text (slog's text) or gcp (JSON whose
// level and message keys are Cloud Logging's severity and message, so GKE
// and Cloud Run do not file every stderr line as an error). Durations are
// Go duration strings ("1.5ms") in every format, never integer
// nanoseconds. A record logged with a context that holds a span carries
// its trace_id and span_id (withTraceIDs); with log.access_log the access
// log's fast path is attached (WithAccessLog).
func NewLogHandler(cfg config.Log, w io.Writer) slog.Handler {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level)) // validated by config
	h := withTraceIDs(newFormatHandler(cfg.Format, w, level))
	if cfg.AccessLog {
		// Access-log lines go to w through a buffer of their own.
		h = WithAccessLog(h, w, cfg.Format)
	}
	return h
}

// newFormatHandler is the bare handler of a log.format.
func newFormatHandler(format string, w io.Writer, level slog.Leveler) slog.Handler {
	switch format {
	case config.LogText:
		return slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	case config.LogGCP:
		return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: gcpAttr})
	default:
		return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: jsonAttr})
	}
}

// jsonAttr writes durations as Go duration strings: JSONHandler's integer
// nanoseconds read as milliseconds or seconds by mistake too easily.
func jsonAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// gcpAttr is jsonAttr with Cloud Logging's names for the level (severity,
// in its LogSeverity values) and the message.
func gcpAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 {
		switch a.Key {
		case slog.LevelKey:
			lvl, _ := a.Value.Any().(slog.Level)
			return slog.String("severity", gcpSeverity(lvl))
		case slog.MessageKey:
			a.Key = "message"
			return a
		}
	}
	return jsonAttr(groups, a)
}

// gcpSeverity maps slog's levels (and those between) onto LogSeverity.
func gcpSeverity(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	default:
		return "ERROR"
	}
}

// traceIDHandler adds the trace_id and span_id of the span in a record's
// context, so every line logged while serving a traced request (with a
// *Context logging call) can be found from its trace and back.
type traceIDHandler struct{ slog.Handler }

func withTraceIDs(h slog.Handler) slog.Handler { return traceIDHandler{h} }

func (h traceIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceIDHandler{h.Handler.WithAttrs(as)}
}

func (h traceIDHandler) WithGroup(name string) slog.Handler {
	return traceIDHandler{h.Handler.WithGroup(name)}
}
