package inject

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// benchPage is HTML of about size bytes with a realistic head.
func benchPage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("<!doctype html><html><head><meta charset=utf-8><title>Shop</title>")
	b.WriteString(`<link rel="stylesheet" href="/s.css"><script src="/app.js" defer></script></head><body>`)
	row := `<div class="product"><a href="/p/12345">Product name that is long enough</a><span class="price">12.34</span></div>` + "\n"
	for b.Len() < size-len("</body></html>") {
		b.WriteString(row)
	}
	b.WriteString("</body></html>")
	return b.Bytes()
}

func runBench(b *testing.B, inj *Injector, h http.Header, accept string, page []byte) {
	b.Helper()
	buf := make([]byte, 64<<10) // what the proxy's BufferPool lends (copyBufferSize)
	req := &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Header: http.Header{}}
	if accept != "" {
		req.Header.Set("Accept-Encoding", accept)
	}
	req = req.WithContext(context.Background())
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		resp := &http.Response{StatusCode: 200, Header: h.Clone(), Body: io.NopCloser(bytes.NewReader(page)), ContentLength: -1, Request: req}
		if inj != nil {
			if err := inj.ModifyResponse(resp); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

// BenchmarkThroughput1MiB compares a 1 MiB identity page injected with the
// same page passed through untouched (goal: injected ≥ 0.8× passthrough).
func BenchmarkThroughput1MiB(b *testing.B) {
	page := benchPage(1 << 20)
	h := http.Header{"Content-Type": {"text/html; charset=utf-8"}, "Etag": {`"x"`}}
	b.Run("passthrough", func(b *testing.B) { runBench(b, nil, h, "", page) })
	b.Run("injected", func(b *testing.B) {
		inj, _ := testInjector(b, nil)
		runBench(b, inj, h, "", page)
	})
	b.Run("injected+widget", func(b *testing.B) {
		// The widget tag waits for the last byte, so every chunk is
		// searched for a widget the page may carry.
		inj, _ := testInjector(b, func(o *Options) { o.Widget = config.Widget{Src: "https://cdn.example/w.js"} })
		runBench(b, inj, h, "", page)
	})
	b.Run("injected-csp", func(b *testing.B) {
		inj, _ := testInjector(b, nil)
		hc := h.Clone()
		hc.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' https://cdn.example; img-src *")
		runBench(b, inj, hc, "", page)
	})
}

// BenchmarkEncodings measures the three ways of serving a compressing
// client: re-encode what the upstream compressed (decode + encode), ask the
// upstream for identity and compress ourselves (encode only), or send
// identity to the client (neither). SetBytes counts uncompressed bytes.
func BenchmarkEncodings(b *testing.B) {
	page := benchPage(1 << 20)
	for _, enc := range []string{"gzip", "deflate", "br", "zstd"} {
		encoded := encode(b, enc, page)
		b.Run("reencode/"+enc, func(b *testing.B) {
			inj, _ := testInjector(b, nil)
			h := http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {enc}}
			runBenchEncoded(b, inj, h, enc, encoded, len(page))
		})
		b.Run("recompress/"+enc, func(b *testing.B) {
			inj, _ := testInjector(b, nil)
			runBench(b, inj, http.Header{"Content-Type": {"text/html"}}, "identity;q=0, "+enc, page)
		})
		b.Run("decode-to-identity/"+enc, func(b *testing.B) {
			inj, _ := testInjector(b, nil)
			h := http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {enc}}
			runBenchEncoded(b, inj, h, "", encoded, len(page))
		})
	}
	b.Run("identity", func(b *testing.B) {
		inj, _ := testInjector(b, nil)
		runBench(b, inj, http.Header{"Content-Type": {"text/html"}}, "", page)
	})
}

func runBenchEncoded(b *testing.B, inj *Injector, h http.Header, accept string, encoded []byte, plain int) {
	b.Helper()
	buf := make([]byte, 64<<10)
	req := (&http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Header: http.Header{"Accept-Encoding": {accept}}}).WithContext(context.Background())
	b.SetBytes(int64(plain))
	b.ReportAllocs()
	var outBytes int64
	for b.Loop() {
		resp := &http.Response{StatusCode: 200, Header: h.Clone(), Body: io.NopCloser(bytes.NewReader(encoded)), ContentLength: -1, Request: req}
		if err := inj.ModifyResponse(resp); err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
		if err != nil {
			b.Fatal(err)
		}
		outBytes = n
		resp.Body.Close()
	}
	b.ReportMetric(float64(outBytes), "out-bytes")
}

// BenchmarkTimeToFirstByte measures how long the client waits for the first
// body bytes when the upstream sends its head and then stalls for 50 ms per
// further chunk: the metric ttfb-ms must stay far below the 50 ms stall.
func BenchmarkTimeToFirstByte(b *testing.B) {
	head := "<html><head><title>t</title></head><body>"
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, head)
		w.(http.Flusher).Flush()
		for range 3 {
			time.Sleep(50 * time.Millisecond)
			io.WriteString(w, strings.Repeat("<p>x</p>", 100))
			w.(http.Flusher).Flush()
		}
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)
	inj, _ := testInjector(b, nil)
	proxy := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		ModifyResponse: inj.ModifyResponse,
	})
	defer proxy.Close()
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		resp, err := http.Get(proxy.URL)
		if err != nil {
			b.Fatal(err)
		}
		one := make([]byte, 1)
		if _, err := io.ReadFull(resp.Body, one); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ttfb-ms")
}

// BenchmarkReverseProxy1MiB is the end-to-end form of the throughput goal:
// a 1 MiB page through a real ReverseProxy over loopback, with and without
// the injector (goal: injected ≥ 0.8× passthrough).
func BenchmarkReverseProxy1MiB(b *testing.B) {
	page := benchPage(1 << 20)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		w.Write(page)
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)
	for _, mode := range []string{"passthrough", "injected"} {
		b.Run(mode, func(b *testing.B) {
			rp := &httputil.ReverseProxy{
				Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
				Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4},
			}
			if mode == "injected" {
				inj, _ := testInjector(b, nil)
				rp.ModifyResponse = inj.ModifyResponse
			}
			proxy := httptest.NewServer(rp)
			defer proxy.Close()
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(page)))
			for b.Loop() {
				resp, err := client.Get(proxy.URL)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf); err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}
