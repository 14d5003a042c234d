package proxy

import (
	"encoding/hex"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"
)

// accessLine is one access-log line. It formats itself byte for byte as
// the handlers of NewLogHandler format the record
// LogAttrs(ctx, LevelInfo, "request", attrs()...) with the span of ctx (the
// trace ids last), so the log stays what its readers parse, without slog's
// per-attribute work.
type accessLine struct {
	time               time.Time
	method, path       string
	status             int
	bytes              int64
	duration, upstream time.Duration
	// route is the metric's route name; host the Host header; client the
	// address after trusted_proxies (request.Client); requestID the
	// X-Request-Id sent upstream and echoed.
	route, host, client, userAgent, requestID string
	// span is the request's server span, when tracing is on and sampled
	// or not: its ids go into the line.
	span trace.SpanContext
}

// maxLoggedHeader bounds the client-supplied header values a line copies
// (User-Agent, Host): a client cannot make every line of the log huge.
const maxLoggedHeader = 256

// clip cuts s to maxLoggedHeader bytes (a cut rune is logged as U+FFFD, as
// any invalid UTF-8 is).
func clip(s string) string {
	if len(s) > maxLoggedHeader {
		return s[:maxLoggedHeader]
	}
	return s
}

// attrs are the line's fields as slog attributes: what a logger without
// the fast path (WithAccessLog) gets, and what appendJSON and appendText
// must format exactly as the handlers would. The trace ids are not among
// them: the handler adds them from the context (withTraceIDs).
func (l *accessLine) attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("method", l.method),
		slog.String("path", l.path),
		slog.Int("status", l.status),
		slog.Int64("bytes", l.bytes),
		slog.Duration("duration", l.duration),
		slog.Duration("upstream_duration", l.upstream),
		slog.String("route", l.route),
		slog.String("host", l.host),
		slog.String("client", l.client),
		slog.String("user_agent", l.userAgent),
		slog.String("request_id", l.requestID),
	}
}

// appendJSON appends the line as the json (or, gcp set, the gcp) handler
// writes it: RFC 3339 time with nanoseconds (the second's date and time of
// day from stamps), durations as time.Duration.String.
func (l *accessLine) appendJSON(b []byte, gcp bool, stamps *stampCache) []byte {
	b = append(b, `{"time":"`...)
	b = stamps.appendRFC3339Nano(b, l.time)
	if gcp {
		b = append(b, `","severity":"INFO","message":"request","method":`...)
	} else {
		b = append(b, `","level":"INFO","msg":"request","method":`...)
	}
	b = appendJSONString(b, l.method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, l.path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, l.bytes, 10)
	b = append(b, `,"duration":"`...)
	b = appendDuration(b, l.duration)
	b = append(b, `","upstream_duration":"`...)
	b = appendDuration(b, l.upstream)
	b = append(b, `","route":`...)
	b = appendJSONString(b, l.route)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, l.host)
	b = append(b, `,"client":`...)
	b = appendJSONString(b, l.client)
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, l.userAgent)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, l.requestID)
	if l.span.IsValid() {
		b = append(b, `,"trace_id":"`...)
		b = appendHex(b, l.span.TraceID())
		b = append(b, `","span_id":"`...)
		sid := l.span.SpanID()
		b = hex.AppendEncode(b, sid[:])
		b = append(b, '"')
	}
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
	b = appendDuration(b, l.duration)
	b = append(b, " upstream_duration="...)
	b = appendDuration(b, l.upstream)
	b = append(b, " route="...)
	b = appendTextString(b, l.route)
	b = append(b, " host="...)
	b = appendTextString(b, l.host)
	b = append(b, " client="...)
	b = appendTextString(b, l.client)
	b = append(b, " user_agent="...)
	b = appendTextString(b, l.userAgent)
	b = append(b, " request_id="...)
	b = appendTextString(b, l.requestID)
	if l.span.IsValid() {
		b = append(b, " trace_id="...)
		b = appendHex(b, l.span.TraceID())
		b = append(b, " span_id="...)
		sid := l.span.SpanID()
		b = hex.AppendEncode(b, sid[:])
	}
	return append(b, '\n')
}

func appendHex(b []byte, id trace.TraceID) []byte { return hex.AppendEncode(b, id[:]) }

// appendJSONString appends s as a quoted JSON string the way slog's
// JSONHandler does (encoding/json's escaping without the HTML escapes):
// quotes, backslashes and control characters escaped, invalid UTF-8 as
// \ufffd, U+2028 and U+2029 escaped. Paths are attacker-controlled; this is
// what keeps one request from forging or breaking log lines.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	// Nearly every value is plain ASCII: skip it eight bytes at a time
	// and copy it in one append.
	i := 0
	for i+8 <= len(s) && !needsJSONEscape(load64(s[i:])) {
		i += 8
	}
	start := 0
	for i < len(s) {
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

// load64 reads s's first eight bytes as a little-endian word (the compiler
// makes it one load).
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// needsJSONEscape reports whether a byte of x may need appendJSONString's
// slow path: one at or above 0x80, below 0x20, '"' or '\\' (the bit tricks
// of "Bit Twiddling Hacks": a byte less than n, a zero byte). It may say yes
// for a word that needs nothing, never no for one that does.
func needsJSONEscape(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	hasZero := func(y uint64) uint64 { return (y - ones) & ^y & highs }
	return (x&highs)|((x-0x20*ones)&^x&highs)|hasZero(x^('"'*ones))|hasZero(x^('\\'*ones)) != 0
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

// appendDuration appends d as d.String() writes it, without its general
// formatting for the durations of nearly every request: under a second.
func appendDuration(b []byte, d time.Duration) []byte {
	var unit string
	var scale int64
	var digits int
	switch {
	case d < 0 || d >= time.Second:
		return append(b, d.String()...)
	case d == 0:
		return append(b, "0s"...)
	case d < time.Microsecond:
		b = strconv.AppendInt(b, int64(d), 10)
		return append(b, "ns"...)
	case d < time.Millisecond:
		unit, scale, digits = "µs", 1e3, 3
	default:
		unit, scale, digits = "ms", 1e6, 6
	}
	b = strconv.AppendInt(b, int64(d)/scale, 10)
	b = appendFraction(b, int(int64(d)%scale), digits)
	return append(b, unit...)
}

// appendFraction appends frac, a fraction of 10^digits (at most 9 digits),
// as "." and its digits without trailing zeros, as Duration.String and
// RFC3339Nano write one; nothing when it is 0.
func appendFraction(b []byte, frac, digits int) []byte {
	if frac == 0 {
		return b
	}
	var f [10]byte
	f[0] = '.'
	for i := digits; i > 0; i-- {
		f[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := digits
	for f[n] == '0' {
		n--
	}
	return append(b, f[:n+1]...)
}

// stampCache remembers how the current second is written, so that the
// lines of one second (thousands, on a busy proxy) format only their
// fraction. Safe for concurrent use.
type stampCache struct{ last atomic.Pointer[stamp] }

// stamp is one second as RFC 3339 writes it: the date and time of day
// ("2006-01-02T15:04:05") and the zone ("Z" or "-07:00").
type stamp struct {
	unix       int64
	loc        *time.Location
	head, zone []byte
}

// appendRFC3339Nano appends t as t.AppendFormat(b, time.RFC3339Nano) does.
func (c *stampCache) appendRFC3339Nano(b []byte, t time.Time) []byte {
	unix, loc := t.Unix(), t.Location()
	s := c.last.Load()
	if s == nil || s.unix != unix || s.loc != loc {
		// Only a second with four-digit years is cached (a cached second
		// was checked here once).
		if y := t.Year(); y < 1000 || y > 9999 {
			return t.AppendFormat(b, time.RFC3339Nano)
		}
		whole := t.Truncate(time.Second).AppendFormat(nil, time.RFC3339Nano)
		const headLen = len("2006-01-02T15:04:05")
		s = &stamp{unix: unix, loc: loc, head: whole[:headLen], zone: whole[headLen:]}
		c.last.Store(s)
	}
	b = append(b, s.head...)
	b = appendFraction(b, t.Nanosecond(), 9)
	return append(b, s.zone...)
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
