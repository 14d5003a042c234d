package inject

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

const testTag = `<script src="/_lcw/bootstrap.js?v=abc" defer></script>`

func testInjector(t testing.TB, mod func(*Options)) (*Injector, *metrics.Metrics) {
	t.Helper()
	m := metrics.New()
	o := Options{Paths: config.NewPaths("/_lcw"), BootstrapVersion: "abc", Metrics: m, Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&o)
	}
	return New(o), m
}

// chunkReader returns its data in the given chunk sizes (cycling), so tests
// control where reads split the page.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.sizes) > 0 {
		n = max(c.sizes[c.i%len(c.sizes)], 1)
		c.i++
	}
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

type response struct {
	status int
	header http.Header
	reqHdr http.Header
	method string
	path   string
	ctx    context.Context
	body   []byte
	chunks []int
}

// run passes r through the injector and returns the response with its body
// read completely (still encoded as the response says).
func run(t testing.TB, inj *Injector, r response) (*http.Response, []byte) {
	t.Helper()
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.header == nil {
		r.header = http.Header{"Content-Type": {"text/html; charset=utf-8"}}
	}
	if r.method == "" {
		r.method = http.MethodGet
	}
	if r.path == "" {
		r.path = "/page"
	}
	if r.ctx == nil {
		r.ctx = context.Background()
	}
	req := (&http.Request{Method: r.method, URL: &url.URL{Path: r.path}, Header: r.reqHdr}).WithContext(r.ctx)
	if req.Header == nil {
		req.Header = http.Header{}
	}
	resp := &http.Response{
		StatusCode:    r.status,
		Header:        r.header,
		Body:          io.NopCloser(&chunkReader{data: r.body, sizes: r.chunks}),
		ContentLength: -1,
		Request:       req,
	}
	if cl := r.header.Get("Content-Length"); cl != "" {
		resp.ContentLength = int64(len(r.body))
	}
	if err := inj.ModifyResponse(resp); err != nil {
		t.Fatalf("ModifyResponse: %v", err)
	}
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatalf("close body: %v", err)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != int64(len(out)) {
		t.Fatalf("Content-Length %d for a %d-byte body", resp.ContentLength, len(out))
	}
	return resp, out
}

func TestPlacement(t *testing.T) {
	long := strings.Repeat("x", lookahead)
	tests := []struct {
		name, in, want, result string
	}{
		{"before head end tag", "<html><head><title>t</title></head><body>x</body></html>",
			"<html><head><title>t</title>" + testTag + "</head><body>x</body></html>", "injected"},
		{"upper-case tags", "<HTML><HEAD><TITLE>t</TITLE></HEAD><BODY>x</BODY></HTML>",
			"<HTML><HEAD><TITLE>t</TITLE>" + testTag + "</HEAD><BODY>x</BODY></HTML>", "injected"},
		{"head with space and attributes", `<head ><meta charset="utf-8"></head  ><body>`,
			`<head ><meta charset="utf-8">` + testTag + `</head  ><body>`, "injected"},
		{"body start when no head end tag", `<!doctype html><title>t</title><body class="a">x`,
			`<!doctype html><title>t</title><body class="a">` + testTag + `x`, "injected"},
		{"body before a later head end tag", `<body><p>x</p></head>`,
			`<body>` + testTag + `<p>x</p></head>`, "injected"},
		{"appended when neither appears", "<p>hello</p>", "<p>hello</p>" + testTag, "injected"},
		{"empty chunked body", "", testTag, "injected"},
		{"comment holding head end tag", "<head><!-- </head> <body> --></head>",
			"<head><!-- </head> <body> -->" + testTag + "</head>", "injected"},
		{"script holding head end tag", "<head><script>var s='</head><body>';</script></head>",
			"<head><script>var s='</head><body>';</script>" + testTag + "</head>", "injected"},
		{"escaped script data", "<head><script><!-- document.write('<script></head></script>') --></script></head>",
			"<head><script><!-- document.write('<script></head></script>') --></script>" + testTag + "</head>", "injected"},
		{"style holding head end tag", "<head><style>/* </head> */</style></head>",
			"<head><style>/* </head> */</style>" + testTag + "</head>", "injected"},
		{"title holding head end tag", "<head><title></head><body></title></head>",
			"<head><title></head><body></title>" + testTag + "</head>", "injected"},
		{"textarea holding body tag", "<textarea><body></head></textarea><p>",
			"<textarea><body></head></textarea><p>" + testTag, "injected"},
		{"template holding head end and body", "<head><template></head><body></template></head><body>",
			"<head><template></head><body></template>" + testTag + "</head><body>", "injected"},
		{"nested template", "<head><template><template></template></head></template></head>",
			"<head><template><template></template></head></template>" + testTag + "</head>", "injected"},
		{"utf-8 BOM", "\ufeff<html><head></head>", "\ufeff<html><head>" + testTag + "</head>", "injected"},
		{"utf-16 BOM skipped", "\xff\xfe<\x00h\x00", "\xff\xfe<\x00h\x00", "skipped_charset"},
		{"already has bootstrap", `<head><script src="/_lcw/bootstrap.js?v=old" defer></script></head>`,
			`<head><script src="/_lcw/bootstrap.js?v=old" defer></script></head>`, "already"},
		{"bootstrap with absolute url", `<head><SCRIPT SRC="https://s.example/_lcw/bootstrap.js"></SCRIPT></head>`,
			`<head><SCRIPT SRC="https://s.example/_lcw/bootstrap.js"></SCRIPT></head>`, "already"},
		{"mention in text is not a tag", `<head><title>/_lcw/bootstrap.js</title></head>`,
			`<head><title>/_lcw/bootstrap.js</title>` + testTag + `</head>`, "injected"},
		{"bootstrap in template does not count", `<template><script src="/_lcw/bootstrap.js"></script></template></head>`,
			`<template><script src="/_lcw/bootstrap.js"></script></template>` + testTag + `</head>`, "injected"},
		{"head end tag beyond look-ahead", "<head><style>" + long + "</style></head><body>",
			"<head><style>" + long + "</style></head><body>" + testTag, "injected"},
		{"unterminated tag at end", "<head><p x='", "<head><p x='" + testTag, "injected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inj, m := testInjector(t, nil)
			h := http.Header{"Content-Type": {"text/html"}}
			if tc.in != "" { // an empty chunked body still gets the tags; Content-Length: 0 is skipped
				h.Set("Content-Length", strconv.Itoa(len(tc.in)))
			}
			_, out := run(t, inj, response{header: h, body: []byte(tc.in)})
			if string(out) != tc.want {
				t.Errorf("got  %q\nwant %q", trunc(out), trunc([]byte(tc.want)))
			}
			if got := testutil.ToFloat64(m.Injections.WithLabelValues(tc.result)); got != 1 {
				t.Errorf("injections{result=%q} = %v, want 1", tc.result, got)
			}
		})
	}
}

func trunc(b []byte) string {
	if len(b) > 300 {
		return string(b[:150]) + "…" + string(b[len(b)-150:])
	}
	return string(b)
}

func tailOf(b []byte) string { return string(b[max(0, len(b)-300):]) }

func TestWidgetTag(t *testing.T) {
	w := config.Widget{
		Src:   "https://oc-cdn-ocprod.azureedge.net/livechatwidget/scripts/LiveChatBootstrapper.js",
		AppID: `a"><script>alert(1)</script>`, OrgID: "org", OrgURL: "https://x.omnichannelengagementhub.com/?a=1&b=2",
		LCWVersion: "prod", Attributes: map[string]string{"data-color-override": "#fff", "data-z": "'", "id": "hijack"},
	}
	widgetTag := `<script id="Microsoft_Omnichannel_LCWidget" src="https://oc-cdn-ocprod.azureedge.net/livechatwidget/scripts/LiveChatBootstrapper.js"` +
		` data-app-id="a&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" data-lcw-version="prod" data-org-id="org"` +
		` data-org-url="https://x.omnichannelengagementhub.com/?a=1&amp;b=2" data-color-override="#fff" data-z="&#39;"></script>`
	// A site that embeds the widget itself, far down the page: past the
	// look-ahead.
	longBody := "<body>" + strings.Repeat("<p>filler</p>", 10000)
	siteWidget := `<script id="Microsoft_Omnichannel_LCWidget" src="x"></script></body></html>`
	tests := []struct {
		name, in, want string
		chunks         []int
	}{
		{"both tags", "<head></head>", "<head>" + testTag + "</head>" + widgetTag, nil},
		{"widget after the document", "<html><head></head><body><p>x</p></body></html>\n",
			"<html><head>" + testTag + "</head><body><p>x</p></body></html>\n" + widgetTag, nil},
		{"widget already in the head", `<head><script id="Microsoft_Omnichannel_LCWidget" src="x"></script></head>`,
			`<head><script id="Microsoft_Omnichannel_LCWidget" src="x"></script>` + testTag + `</head>`, nil},
		{"widget at the end of a long body", "<head></head>" + longBody + siteWidget,
			"<head>" + testTag + "</head>" + longBody + siteWidget, nil},
		{"id one byte at a time", "<head></head><p>" + siteWidget,
			"<head>" + testTag + "</head><p>" + siteWidget, []int{13, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inj, _ := testInjector(t, func(o *Options) { o.Widget = w })
			// With and without the upstream's Content-Length: run checks
			// that a length the injector announces is the length it sends.
			for _, h := range []http.Header{
				{"Content-Type": {"text/html"}},
				{"Content-Type": {"text/html"}, "Content-Length": {strconv.Itoa(len(tc.in))}},
			} {
				_, out := run(t, inj, response{header: h, body: []byte(tc.in), chunks: tc.chunks})
				if string(out) != tc.want {
					t.Errorf("got  %.300s … %.300s\nwant %.300s … %.300s", out, tailOf(out), tc.want, tailOf([]byte(tc.want)))
				}
			}
		})
	}
}

// The id the page carries may arrive cut across any two reads of the
// upstream body, in reads shorter or longer than the id itself.
func TestWidgetIDAcrossReads(t *testing.T) {
	inj, _ := testInjector(t, func(o *Options) { o.Widget = config.Widget{Src: "https://cdn.example/w.js"} })
	page := "<head></head><body>" + strings.Repeat("<p>filler</p>", 6000) +
		`<script id="Microsoft_Omnichannel_LCWidget" src="x"></script></body></html>`
	want := "<head>" + testTag + "</head>" + page[len("<head></head>"):]
	for size := 1; size <= 64; size++ {
		_, out := run(t, inj, response{body: []byte(page), chunks: []int{size}})
		if string(out) != want {
			t.Errorf("reads of %d bytes: the widget was added although the page has it: …%s", size, tailOf(out))
		}
	}
}

func TestHostilePrefixAndVersionEscaped(t *testing.T) {
	inj, _ := testInjector(t, func(o *Options) { o.Paths = config.NewPaths(`/a"b<`); o.BootstrapVersion = `v"&x` })
	_, out := run(t, inj, response{body: []byte("<head></head>")})
	want := `<head><script src="/a&#34;b&lt;/bootstrap.js?v=v%22%26x" defer></script></head>`
	if string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
}

func TestEverySplitPoint(t *testing.T) {
	page := "\ufeff<!DOCTYPE html><HTML><Head data-x='1'><!-- </head> --><script>a='</head>'</script><title>x</title></HEAD ><body>y</body></html>"
	want := strings.Replace(page, "</HEAD >", testTag+"</HEAD >", 1)
	inj, _ := testInjector(t, nil)
	for split := 0; split <= len(page); split++ {
		_, out := run(t, inj, response{body: []byte(page), chunks: []int{split, len(page)}})
		if string(out) != want {
			t.Fatalf("split at %d: got %q", split, out)
		}
	}
	_, out := run(t, inj, response{body: []byte(page), chunks: []int{1}})
	if string(out) != want {
		t.Fatalf("byte-by-byte reads: got %q", out)
	}
}

func encode(t testing.TB, c string, p []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch c {
	case "gzip", "x-gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "raw-deflate":
		w, _ = flate.NewWriter(&buf, 5)
	case "br":
		w = brotli.NewWriter(&buf)
	case "zstd":
		w, _ = zstd.NewWriter(&buf)
	default:
		return p
	}
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decode(t testing.TB, c string, p []byte) []byte {
	t.Helper()
	var r io.Reader
	var err error
	switch c {
	case "":
		return p
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(p))
	case "deflate":
		r, err = zlib.NewReader(bytes.NewReader(p))
	case "br":
		r = brotli.NewReader(bytes.NewReader(p))
	case "zstd":
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(p))
		if err == nil {
			defer d.Close()
		}
		r = d
	default:
		t.Fatalf("unexpected Content-Encoding %q", c)
	}
	if err != nil {
		t.Fatalf("decode %s: %v", c, err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", c, err)
	}
	return out
}

func TestEncodings(t *testing.T) {
	page := []byte("<html><head><title>t</title></head><body>" + strings.Repeat("<p>hello world</p>", 5000) + "</body></html>")
	want := bytes.Replace(page, []byte("</head>"), []byte(testTag+"</head>"), 1)
	tests := []struct {
		name, upstream, accept, wantEnc string
	}{
		{"gzip kept", "gzip", "gzip, deflate, br, zstd", "gzip"},
		{"x-gzip kept as gzip", "x-gzip", "gzip", "gzip"},
		{"deflate kept", "deflate", "deflate", "deflate"},
		{"raw deflate read, zlib written", "raw-deflate", "deflate", "deflate"},
		{"br kept", "br", "br;q=1.0, gzip;q=0.5", "br"},
		{"zstd kept", "zstd", "zstd", "zstd"},
		{"identity stays identity", "", "gzip, br", ""},
		{"client refused upstream coding: q=0", "br", "br;q=0, gzip", "gzip"},
		{"client refused everything", "gzip", "gzip;q=0, identity", ""},
		{"wildcard accepts", "zstd", "*", "zstd"},
		{"wildcard q=0 but gzip listed", "br", "*;q=0, gzip;q=0.1", "gzip"},
		{"no Accept-Encoding decodes", "gzip", "", ""},
		{"highest q wins", "br", "br;q=0, gzip;q=0.2, zstd;q=0.9", "zstd"},
		{"identity refused forces a coding", "", "identity;q=0, gzip", "gzip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inj, _ := testInjector(t, nil)
			h := http.Header{"Content-Type": {"text/html"}}
			ce := tc.upstream
			if ce == "raw-deflate" {
				ce = "deflate"
			}
			if ce != "" {
				h.Set("Content-Encoding", ce)
			}
			reqHdr := http.Header{}
			if tc.accept != "" {
				reqHdr.Set("Accept-Encoding", tc.accept)
			}
			resp, out := run(t, inj, response{header: h, reqHdr: reqHdr, body: encode(t, tc.upstream, page), chunks: []int{1000, 7, 4096}})
			if got := resp.Header.Get("Content-Encoding"); got != tc.wantEnc {
				t.Fatalf("Content-Encoding = %q, want %q", got, tc.wantEnc)
			}
			if got := decode(t, tc.wantEnc, out); !bytes.Equal(got, want) {
				t.Errorf("round trip differs: got %d bytes %q", len(got), trunc(got))
			}
		})
	}
}

func TestNegotiateTable(t *testing.T) {
	tests := []struct {
		accept   []string
		upstream coding
		want     coding
	}{
		{nil, identity, identity},
		{[]string{"gzip", "br"}, codingBr, codingBr},
		{[]string{"GZIP;Q=0.5"}, codingZstd, codingGzip},
		{[]string{"gzip, br, zstd"}, codingUnknown, codingZstd},
		{[]string{"gzip, br"}, codingUnknown, codingBr},
		{[]string{"gzip;q=bogus, deflate"}, codingBr, codingDeflate},
		{[]string{"gzip;q=2"}, codingBr, identity},
		{[]string{"compress, gzip;q=0"}, codingGzip, identity},
	}
	for _, tc := range tests {
		if got := negotiate(tc.accept, tc.upstream, false); got != tc.want {
			t.Errorf("negotiate(%q, %s) = %s, want %s", tc.accept, tc.upstream.name(), got.name(), tc.want.name())
		}
	}
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		name       string
		in         http.Header
		wantETag   string
		wantVary   []string
		wantRanges string
	}{
		{"strong etag weakened, vary added", http.Header{"Etag": {`"abc"`}, "Content-Length": {"13"}, "Accept-Ranges": {"bytes"}},
			`W/"abc"`, []string{"Accept-Encoding"}, ""},
		{"weak etag kept", http.Header{"Etag": {`W/"abc"`}}, `W/"abc"`, []string{"Accept-Encoding"}, ""},
		{"vary kept when present", http.Header{"Vary": {"Cookie, accept-encoding"}}, "", []string{"Cookie, accept-encoding"}, ""},
		{"vary extended", http.Header{"Vary": {"Cookie"}}, "", []string{"Cookie", "Accept-Encoding"}, ""},
		{"vary star kept alone", http.Header{"Vary": {"*"}}, "", []string{"*"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inj, _ := testInjector(t, nil)
			tc.in.Set("Content-Type", "text/html")
			tc.in.Set("Content-Digest", "sha-256=:x:")
			resp, out := run(t, inj, response{header: tc.in, body: []byte("<head></head>")})
			wantLen, wantHdr := int64(-1), ""
			if tc.in.Get("Content-Length") != "" {
				wantLen, wantHdr = int64(len(out)), strconv.Itoa(len(out))
			}
			if resp.ContentLength != wantLen || resp.Header.Get("Content-Length") != wantHdr {
				t.Errorf("Content-Length = %d %q, want %d %q", resp.ContentLength, resp.Header.Get("Content-Length"), wantLen, wantHdr)
			}
			if got := resp.Header.Get("Etag"); got != tc.wantETag {
				t.Errorf("ETag = %q, want %q", got, tc.wantETag)
			}
			if got := resp.Header.Values("Vary"); strings.Join(got, "|") != strings.Join(tc.wantVary, "|") {
				t.Errorf("Vary = %q, want %q", got, tc.wantVary)
			}
			if got := resp.Header.Get("Accept-Ranges"); got != tc.wantRanges {
				t.Errorf("Accept-Ranges = %q", got)
			}
			if resp.Header.Get("Content-Digest") != "" {
				t.Error("Content-Digest of the upstream bytes left on the rewritten body")
			}
			if !bytes.Contains(out, []byte(testTag)) {
				t.Errorf("not injected: %s", out)
			}
		})
	}
}

func TestSkipped(t *testing.T) {
	page := []byte("<html><head></head><body></body></html>")
	html := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"text/html"}, "Content-Length": {"39"}, "Etag": {`"e"`}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	signedOut := func(o *Options) { o.SignedIn = markedSignedIn }
	tests := []struct {
		name   string
		mod    func(*Options)
		r      response
		result string
	}{
		{"HEAD", nil, response{method: http.MethodHead}, "skipped_method"},
		{"204", nil, response{status: 204}, "skipped_status"},
		{"304", nil, response{status: 304}, "skipped_status"},
		{"206", nil, response{status: 206}, "skipped_status"},
		{"101 upgrade", nil, response{status: 101, header: html("Connection", "Upgrade", "Upgrade", "websocket")}, "skipped_status"},
		{"upgrade header on 200", nil, response{header: html("Connection", "keep-alive, Upgrade")}, "skipped_upgrade"},
		{"range request", nil, response{reqHdr: http.Header{"Range": {"bytes=0-"}}}, "skipped_range"},
		{"fetch of a fragment", nil, response{reqHdr: http.Header{"Sec-Fetch-Dest": {"empty"}, "Hx-Request": {"true"}}}, "skipped_not_document"},
		{"script destination", nil, response{reqHdr: http.Header{"Sec-Fetch-Dest": {"script"}}}, "skipped_not_document"},
		{"XHR from a browser without Sec-Fetch", nil, response{reqHdr: http.Header{"X-Requested-With": {"XMLHttpRequest"}}}, "skipped_not_document"},
		{"attachment", nil, response{header: html("Content-Disposition", `attachment; filename="a.html"`)}, "skipped_attachment"},
		{"no-transform", nil, response{header: html("Cache-Control", "public, No-Transform")}, "skipped_no_transform"},
		{"json", nil, response{header: http.Header{"Content-Type": {"application/json"}}}, "skipped_not_html"},
		{"xhtml is not text/html", nil, response{header: http.Header{"Content-Type": {"application/xhtml+xml"}}}, "skipped_not_html"},
		{"text/htmlx", nil, response{header: http.Header{"Content-Type": {"text/htmlx"}}}, "skipped_not_html"},
		{"no content type", nil, response{header: http.Header{}}, "skipped_not_html"},
		{"utf-16 charset", nil, response{header: html("Content-Type", "text/html; charset=UTF-16LE")}, "skipped_not_html"},
		{"excluded path", func(o *Options) { o.ExcludePaths = []string{"/admin/"} }, response{path: "/admin/x"}, "skipped_excluded"},
		{"unknown encoding", nil, response{header: html("Content-Encoding", "compress")}, "skipped_encoding"},
		{"stacked encodings", nil, response{header: html("Content-Encoding", "gzip, br")}, "skipped_encoding"},
		{"signed-in only, anonymous", signedOut, response{}, "skipped_signed_out"},
		{"signed-in only, marked signed out", signedOut, response{ctx: context.WithValue(context.Background(), signedInKey{}, false)}, "skipped_signed_out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inj, m := testInjector(t, tc.mod)
			if tc.r.header == nil {
				tc.r.header = html()
			}
			before := tc.r.header.Clone()
			tc.r.body = page
			resp, out := run(t, inj, tc.r)
			if !bytes.Equal(out, page) {
				t.Errorf("body changed: %s", out)
			}
			if !equalHeader(resp.Header, before) {
				t.Errorf("headers changed:\n got %v\nwant %v", resp.Header, before)
			}
			if got := testutil.ToFloat64(m.Injections.WithLabelValues(tc.result)); got != 1 {
				t.Errorf("injections{result=%q} = %v, want 1", tc.result, got)
			}
		})
	}
}

// Page loads are injected whatever frame they load in, and so are clients
// that say nothing about where the response goes.
func TestDocumentsInjected(t *testing.T) {
	inj, _ := testInjector(t, nil)
	for _, h := range []http.Header{
		{"Sec-Fetch-Dest": {"document"}, "Sec-Fetch-Mode": {"navigate"}},
		{"Sec-Fetch-Dest": {"iframe"}},
		{"Accept": {"text/html"}},
		{},
	} {
		_, out := run(t, inj, response{reqHdr: h, body: []byte("<head></head>")})
		if !bytes.Contains(out, []byte(testTag)) {
			t.Errorf("request with %v not injected: %s", h, out)
		}
	}
}

func TestSignedInOnlyInjectsMarkedRequests(t *testing.T) {
	inj, _ := testInjector(t, func(o *Options) { o.SignedIn = markedSignedIn })
	_, out := run(t, inj, response{ctx: context.WithValue(context.Background(), signedInKey{}, true), body: []byte("<head></head>")})
	if !bytes.Contains(out, []byte(testTag)) {
		t.Errorf("signed-in request not injected: %s", out)
	}
}

// signedInKey marks a test request's visitor, standing in for the access
// verdict the proxy's middleware puts in the context.
type signedInKey struct{}

func markedSignedIn(r *http.Request) bool {
	v, _ := r.Context().Value(signedInKey{}).(bool)
	return v
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

type failingReader struct{ after []byte }

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.after) > 0 {
		n := copy(p, f.after)
		f.after = f.after[n:]
		return n, nil
	}
	return 0, io.ErrUnexpectedEOF
}

func TestUpstreamErrorSurfaces(t *testing.T) {
	tests := []struct {
		name           string
		page           string
		wantModifyErr  bool // failed inside the look-ahead: ReverseProxy answers 502
		wantBodyPrefix string
	}{
		{"during look-ahead", "<head>", true, ""},
		{"after look-ahead", "<head></head>" + strings.Repeat("x", 100<<10), false, "<head>" + testTag + "</head>xxx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inj, _ := testInjector(t, nil)
			resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/html"}},
				Body: io.NopCloser(&failingReader{after: []byte(tc.page)}), ContentLength: -1,
				Request: &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Header: http.Header{}}}
			err := inj.ModifyResponse(resp)
			defer resp.Body.Close()
			if tc.wantModifyErr {
				if err == nil {
					t.Fatal("ModifyResponse hid an upstream error it saw")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Errorf("a truncated upstream body must end in an error, got clean EOF after %d bytes", len(out))
			}
			if !bytes.HasPrefix(out, []byte(tc.wantBodyPrefix)) {
				t.Errorf("bytes before the error were lost: %q", trunc(out))
			}
		})
	}
}

func TestCorruptEncodingIsAnError(t *testing.T) {
	inj, _ := testInjector(t, nil)
	h := http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {"gzip"}}
	resp := &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader("not gzip at all")),
		ContentLength: -1, Request: &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Header: http.Header{"Accept-Encoding": {"gzip"}}}}
	if err := inj.ModifyResponse(resp); err == nil {
		t.Error("corrupt gzip accepted")
	}
	_ = resp.Body.Close()
}
