// Command reverseproxy is the benchmark's reference point: a plain
// httputil.ReverseProxy with a tuned idle pool and nothing else, so the load
// benchmark shows what lcw-auth-proxy adds to (or saves over) the standard
// library's proxy.
//
// With -lcw it serves lcw-auth-proxy's own reverse proxy instead (its
// direct upstream transport, header hygiene and forwarding headers, default
// config) with nothing in front of it: no sessions, access control,
// injection, access log or metrics. That row is the floor the product's
// request path stands on, the part net/http and ReverseProxy cost.
package main

import (
	"flag"
	"log"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address to listen on")
	upstream := flag.String("upstream", "http://127.0.0.1:8080", "upstream URL")
	lcw := flag.Bool("lcw", false, "serve lcw-auth-proxy's reverse proxy (direct transport, header hygiene) instead of a plain one")
	flag.Parse()
	target, err := url.Parse(*upstream)
	if err != nil {
		log.Fatalf("upstream: %v", err)
	}
	var h http.Handler = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second, DisableCompression: true},
	}
	if *lcw {
		cfg := config.Default()
		h, err = proxy.NewReverseProxy(proxy.UpstreamOptions{
			URL:        target,
			Upstream:   cfg.Upstream,
			Public:     &url.URL{Scheme: "http", Host: *listen},
			CookieName: cfg.Session.CookieName,
			Headers:    cfg.Headers,
			Logger:     slog.New(slog.NewTextHandler(os.Stderr, nil)),
		})
		if err != nil {
			log.Fatalf("reverse proxy: %v", err)
		}
	}
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
