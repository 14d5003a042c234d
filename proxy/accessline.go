package proxy

import (
	"log/slog"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// accessLine is one access-log line. It formats itself byte for byte as
// slog's JSONHandler and TextHandler format the record
// LogAttrs(ctx, LevelInfo, "request", method, path, status, bytes, duration,
// upstream_duration), so the log stays what its readers already parse,
// without slog's per-attribute work.
type accessLine struct {
	time               time.Time
	method, path       string
	status             int
	bytes              int64
	duration, upstream time.Duration
}

// attrs are the line's fields as slog attributes: what a logger without
// the fast path (WithAccessLog) gets, and what appendJSON and appendText
// must format exactly as slog's handlers would.
func (l *accessLine) attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("method", l.method),
		slog.String("path", l.path),
		slog.Int("status", l.status),
		slog.Int64("bytes", l.bytes),
		slog.Duration("duration", l.duration),
		slog.Duration("upstream_duration", l.upstream),
	}
}

// appendJSON appends the line as JSONHandler writes it: RFC 3339 time with
// nanoseconds, durations as integer nanoseconds.
func (l *accessLine) appendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = l.time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","method":`...)
	b = appendJSONString(b, l.method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, l.path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, l.bytes, 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(l.duration), 10)
	b = append(b, `,"upstream_duration":`...)
	b = strconv.AppendInt(b, int64(l.upstream), 10)
	return append(b, "}\n"...)
}

// appendText appends the line as TextHandler writes it: RFC 3339 time with
// milliseconds, durations as time.Duration.String.
func (l *accessLine) appendText(b []byte) []byte {
	b = append(b, "time="...)
	b = appendRFC3339Millis(b, l.time)
	b = append(b, " level=INFO msg=request method="...)
	b = appendTextString(b, l.method)
	b = append(b, " path="...)
	b = appendTextString(b, l.path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, l.bytes, 10)
	b = append(b, " duration="...)
	b = append(b, l.duration.String()...) // inlined: the string stays on the stack
	b = append(b, " upstream_duration="...)
	b = append(b, l.upstream.String()...)
	return append(b, '\n')
}

// appendJSONString appends s as a quoted JSON string the way slog's
// JSONHandler does (encoding/json's escaping without the HTML escapes):
// quotes, backslashes and control characters escaped, invalid UTF-8 as
// \ufffd, U+2028 and U+2029 escaped. Paths are attacker-controlled; this is
// what keeps one request from forging or breaking log lines.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		// Valid JSON, but they end a line in JavaScript; slog and
		// encoding/json escape them.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendTextString appends s as TextHandler does: bare when it is safe,
// otherwise quoted with strconv.
func appendTextString(b []byte, s string) []byte {
	if textNeedsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// textNeedsQuoting is slog's rule: empty strings, spaces, '=', '"', control
// characters, invalid UTF-8 and unprintable runes need quotes.
func textNeedsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// appendRFC3339Millis is slog's text time format: RFC 3339 with exactly
// three fractional digits, truncated.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	// RFC3339Nano trims trailing zeros; adding a tenth of a millisecond
	// guarantees four digits, and the fourth is dropped.
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}
