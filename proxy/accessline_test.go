package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// slogLine is what the handler of NewLogHandler for format writes for the
// access record l, logged with l's span in the context.
func slogLine(format string, l accessLine) string {
	var buf bytes.Buffer
	h := withTraceIDs(newFormatHandler(format, &buf, slog.LevelInfo))
	r := slog.NewRecord(l.time, slog.LevelInfo, "request", 0)
	r.AddAttrs(l.attrs()...)
	_ = h.Handle(trace.ContextWithSpanContext(context.Background(), l.span), r)
	return buf.String()
}

// testStamps is shared by every line the tests format, as one access log's
// is, so that the cache meets seconds and zones one after another.
var testStamps stampCache

func ourLine(format string, l accessLine) string {
	if format == "text" {
		return string(l.appendText(nil))
	}
	return string(l.appendJSON(nil, format == "gcp", &testStamps))
}

var testSpan = trace.NewSpanContext(trace.SpanContextConfig{
	TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
	SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, TraceFlags: trace.FlagsSampled,
})

// The access log keeps the exact lines slog wrote before, in both formats.
func TestAccessLineMatchesSlog(t *testing.T) {
	base := accessLine{
		time:   time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC),
		method: "GET", path: "/small", status: 200, bytes: 100,
		duration: 1234567, upstream: 456789,
		route: "upstream", host: "shop.example.com", client: "203.0.113.7",
		userAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0", requestID: "0af7651916cd43dd8448eb211c80319c",
	}
	cases := []struct {
		name string
		edit func(*accessLine)
	}{
		{"plain", func(*accessLine) {}},
		{"whole second, no fraction", func(l *accessLine) { l.time = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC) }},
		{"zone offset", func(l *accessLine) { l.time = l.time.In(time.FixedZone("", 5*3600+30*60)) }},
		{"negative offset, trailing zeros", func(l *accessLine) {
			l.time = time.Date(2026, 12, 31, 23, 59, 59, 120000000, time.FixedZone("", -8*3600))
		}},
		{"millis truncate, never round up", func(l *accessLine) { l.time = time.Date(2026, 3, 4, 5, 6, 7, 999999999, time.UTC) }},
		{"local time", func(l *accessLine) { l.time = l.time.Local() }},
		{"empty path", func(l *accessLine) { l.path = "" }},
		{"quote and backslash", func(l *accessLine) { l.path = `/a"b\c` }},
		{"forged line", func(l *accessLine) { l.path = "/x\n{\"msg\":\"request\",\"status\":200}\r\n" }},
		{"tab", func(l *accessLine) { l.path = "/a\tb" }},
		{"control characters", func(l *accessLine) { l.path = "/\x00\x01\x08\x0c\x1b\x1f\x7f" }},
		{"invalid UTF-8", func(l *accessLine) { l.path = "/bad\xff\xfe\xc3(\xe2\x82" }},
		{"unicode", func(l *accessLine) { l.path = "/é/ü/日本/🙂" }},
		{"line and paragraph separators", func(l *accessLine) { l.path = "/a\u2028b\u2029c" }},
		{"space", func(l *accessLine) { l.path = "/a b" }},
		{"equals", func(l *accessLine) { l.path = "/a=b" }},
		{"HTML is not escaped", func(l *accessLine) { l.path = "/<script>&amp;" }},
		{"unicode space and invisible", func(l *accessLine) { l.path = "/\u00a0\u200b\u2003\ufeff" }},
		{"method", func(l *accessLine) { l.method = "PROPFIND" }},
		{"client gone", func(l *accessLine) { l.status, l.bytes = 499, 0 }},
		{"zero durations", func(l *accessLine) { l.duration, l.upstream = 0, 0 }},
		{"nanoseconds", func(l *accessLine) { l.duration, l.upstream = 999, 1 }},
		{"seconds and hours", func(l *accessLine) { l.duration, l.upstream = 3*time.Second+5, time.Hour+2*time.Minute+3*time.Second }},
		{"negative duration", func(l *accessLine) { l.upstream = -1500 }},
		{"large counts", func(l *accessLine) { l.bytes = 1 << 40 }},
		{"traced", func(l *accessLine) { l.span = testSpan }},
		{"unsampled trace still has ids", func(l *accessLine) { l.span = testSpan.WithTraceFlags(0) }},
		{"empty user agent and host", func(l *accessLine) { l.userAgent, l.host = "", "" }},
		{"forged line in the user agent", func(l *accessLine) { l.userAgent = "x\n{\"level\":\"ERROR\"} a=b \"q\"\x00\x1b[31m" }},
		{"forged host", func(l *accessLine) { l.host = "evil\r\nlevel=ERROR" }},
		{"IPv6 client", func(l *accessLine) { l.client = "2001:db8::1" }},
		{"own route", func(l *accessLine) { l.route = "public-key.pem" }},
	}
	for _, format := range []string{"json", "text", "gcp"} {
		for _, c := range cases {
			t.Run(format+"/"+c.name, func(t *testing.T) {
				l := base
				c.edit(&l)
				if got, want := ourLine(format, l), slogLine(format, l); got != want {
					t.Errorf("line differs from slog's\n got %q\nwant %q", got, want)
				}
			})
		}
	}
}

// Formatting a line allocates nothing beyond the buffer it grows.
func TestAccessLineDoesNotAllocate(t *testing.T) {
	l := accessLine{time: time.Now(), method: "GET", path: "/a\"b/\xff/é", status: 200, bytes: 100, duration: 1234567, upstream: 3 * time.Second,
		route: "upstream", host: "shop.example.com", client: "203.0.113.7", userAgent: "curl/8 \"x\"", requestID: "abc", span: testSpan}
	buf := make([]byte, 0, 1024)
	for _, format := range []string{"json", "text", "gcp"} {
		n := testing.AllocsPerRun(100, func() {
			if format == "text" {
				buf = l.appendText(buf[:0])
			} else {
				buf = l.appendJSON(buf[:0], format == "gcp", &testStamps)
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per line, want 0", format, n)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "/small", `"\`, "a\x00\x1f\x7f", "\xff\xfe", "\u2028\u2029", "<&>", "é日🙂", "\xed\xa0\x80", "\xf4\x90\x80\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString(nil, s)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q for %q", out, s)
		}
		var got, want string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		m, _ := json.Marshal(s)
		if err := json.Unmarshal(m, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%q decodes to %q; encoding/json round-trips it to %q", s, got, want)
		}
		var buf bytes.Buffer
		h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == "p" {
				return a
			}
			return slog.Attr{} // drop time, level and msg
		}})
		r := slog.NewRecord(time.Time{}, slog.LevelInfo, "", 0)
		r.AddAttrs(slog.String("p", s))
		_ = h.Handle(context.Background(), r)
		if slogOut := `{"p":` + string(out) + "}\n"; buf.String() != slogOut {
			t.Fatalf("for %q: slog writes %q, we write %q", s, buf.String(), slogOut)
		}
	})
}

func FuzzAppendDuration(f *testing.F) {
	for _, d := range []time.Duration{0, 1, 999, 1000, 1001, 1234567, 999999999, time.Second, -1, 1<<63 - 1, -1 << 63, 1500 * time.Microsecond, 20 * time.Millisecond} {
		f.Add(int64(d))
	}
	f.Fuzz(func(t *testing.T, n int64) {
		d := time.Duration(n)
		if got, want := string(appendDuration([]byte("x"), d)), "x"+d.String(); got != want {
			t.Fatalf("appendDuration(%d) = %q, want %q", n, got, want)
		}
	})
}

// Whole lines, both formats, against slog for arbitrary values.
func FuzzAccessLine(f *testing.F) {
	f.Add("GET", "/small", 200, int64(100), int64(1234567), int64(456789), int64(1772600767123456789), 3600)
	f.Add("", "/a b=\"c\"\n\xff", 499, int64(0), int64(-1), int64(0), int64(0), -28800)
	f.Fuzz(func(t *testing.T, method, path string, status int, n, d, up, unixNano int64, offset int) {
		l := accessLine{
			time:   time.Unix(0, unixNano).In(time.FixedZone("", offset%(24*3600))),
			method: method, path: path, status: status, bytes: n,
			duration: time.Duration(d), upstream: time.Duration(up),
		}
		for _, format := range []string{"json", "text"} {
			if got, want := ourLine(format, l), slogLine(format, l); got != want {
				t.Fatalf("%s line differs from slog's\n got %q\nwant %q", format, got, want)
			}
		}
	})
}
