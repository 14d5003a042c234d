// Command bigpage measures the injector's memory on a very large page: an
// upstream streams an N MB HTML page (generated, never held in memory)
// through httputil.ReverseProxy with the injector's ModifyResponse to a client
// that discards it. It reports peak RSS (VmHWM) growth over the warmed-up
// baseline, and the time to first byte.
//
//	go run ./bench/bigpage -mb 100 -encoding gzip
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/heapfloor"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/inject"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench/bigpage:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("inject", flag.ContinueOnError)
	mb := fs.Int("mb", 100, "page size in MB")
	enc := fs.String("encoding", "", "upstream Content-Encoding: empty or gzip")
	accept := fs.String("accept", "", "client Accept-Encoding")
	prepare := fs.Bool("prepare", true, "call PrepareRequest (upstream asked for identity on page loads)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	size := int64(*mb) << 20
	// The collector paced as serve paces it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heapfloor.Start(ctx, heapfloor.DefaultMin, os.Getenv)

	upstream := httptest.NewServer(pageHandler(size, *enc))
	defer upstream.Close()
	target, err := url.Parse(upstream.URL)
	if err != nil {
		return fmt.Errorf("parse upstream url: %w", err)
	}
	inj := inject.New(inject.Options{Paths: config.NewPaths("/_lcw"), BootstrapVersion: "v", Logger: slog.New(slog.DiscardHandler)})
	proxy := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			if *prepare {
				inj.PrepareRequest(pr.Out)
			}
		},
		Transport:      &http.Transport{DisableCompression: true},
		ModifyResponse: inj.ModifyResponse,
	})
	defer proxy.Close()
	client := &http.Transport{DisableCompression: true}

	// Warm up: one small page so pools, connections and code pages exist.
	if _, _, err := fetch(client, proxy.URL+"?mb=1", *accept); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	runtime.GC()
	base, err := vmHWM()
	if err != nil {
		return err
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	n, ttfb, err := fetch(client, proxy.URL, *accept)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	peak, err := vmHWM()
	if err != nil {
		return err
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	fmt.Fprintf(stdout, "page %d MB (upstream encoding %q, client accepts %q): %d bytes to client in %v (%.0f MB/s), ttfb %v\n",
		*mb, *enc, *accept, n, elapsed.Round(time.Millisecond), float64(size)/(1<<20)/elapsed.Seconds(), ttfb.Round(time.Microsecond))
	fmt.Fprintf(stdout, "VmHWM baseline %d KiB, peak %d KiB, growth %d KiB (%.2f MB); heap sys growth %d KiB, total alloc %d KiB\n",
		base, peak, peak-base, float64(peak-base)/1024, (int64(after.HeapSys)-int64(before.HeapSys))/1024, (after.TotalAlloc-before.TotalAlloc)/1024)
	return nil
}

func fetch(client http.RoundTripper, u, accept string) (int64, time.Duration, error) {
	req, err := http.NewRequestWithContext(context.Background(), "GET", u, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Sec-Fetch-Dest", "document")
	if accept != "" {
		req.Header.Set("Accept-Encoding", accept)
	}
	start := time.Now()
	resp, err := client.RoundTrip(req)
	if err != nil {
		return 0, 0, fmt.Errorf("request: %w", err)
	}
	defer resp.Body.Close()
	one := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, one); err != nil {
		return 0, 0, fmt.Errorf("first byte: %w", err)
	}
	ttfb := time.Since(start)
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, 0, fmt.Errorf("read body: %w", err)
	}
	return n + 1, ttfb, nil
}

// pageHandler streams a generated page of size bytes (or ?mb=N).
func pageHandler(size int64, enc string) http.Handler {
	row := bytes.Repeat([]byte(`<div class="row"><a href="/item">an item</a> <span>12.34</span></div>`+"\n"), 400)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := size
		if v := r.URL.Query().Get("mb"); v != "" {
			m, _ := strconv.Atoi(v)
			n = int64(m) << 20
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		var out io.Writer = w
		if enc == "gzip" && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
			defer zw.Close()
			out = zw
		}
		io.WriteString(out, "<!doctype html><html><head><title>big</title></head><body>\n")
		for written := int64(0); written < n; written += int64(len(row)) {
			if _, err := out.Write(row); err != nil {
				return
			}
		}
		io.WriteString(out, "</body></html>")
	})
}

// vmHWM reads the process's peak resident set size in KiB.
func vmHWM() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read /proc/self/status: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}
