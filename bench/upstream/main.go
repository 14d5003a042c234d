// Command upstream is the load benchmark's origin server: the same site
// behind every measured path (direct, nginx, lcw-auth-proxy), so the numbers
// differ only by what sits in between. Its responses are built once at start
// and its handlers do not allocate, so the upstream's own cost stays small and
// constant.
//
//	/small  100 bytes of text/plain
//	/page   a 50 KiB text/html page with a </head> for the injector to find
//	/idp/.well-known/openid-configuration
//	        an OpenID Provider's discovery document for the issuer
//	        http://<listen>/idp (its endpoints answer 404)
//
// Anything else is 404. The discovery document is there so that the
// proxies measured have a reachable IdP, as a deployed proxy does: with
// none, each would retry discovery and probe the IdP every second, work
// that runs beside every measured row on the same CPU. No measured path
// signs in, so nothing else of an IdP is needed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sizes of the two bodies; bench/run.sh and its README quote them.
const (
	smallSize = 100
	pageSize  = 50 << 10
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	srv := &http.Server{
		Handler:           newMux("http://" + ln.Addr().String() + "/idp"),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.NewTextHandler(os.Stderr, nil).WithAttrs([]slog.Attr{slog.String("component", "upstream")}), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func newMux(issuer string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /small", fixed("text/plain; charset=utf-8", smallBody()))
	mux.Handle("GET /page", fixed("text/html; charset=utf-8", pageBody()))
	mux.Handle("GET /idp/.well-known/openid-configuration", fixed("application/json", discoveryBody(issuer)))
	return mux
}

// discoveryBody is the discovery document of issuer, with what go-oidc
// and the proxy read of it.
func discoveryBody(issuer string) []byte {
	b, err := json.Marshal(map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                issuer + "/authorize",
		"token_endpoint":                        issuer + "/token",
		"jwks_uri":                              issuer + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return b
}

// fixed serves body with precomputed header values. Assigning the header
// slices directly (instead of Header().Set) keeps the handler allocation-free;
// the slices are never modified by net/http.
func fixed(contentType string, body []byte) http.Handler {
	ct := []string{contentType}
	cl := []string{strconv.Itoa(len(body))}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = ct
		h["Content-Length"] = cl
		_, _ = w.Write(body)
	})
}

func smallBody() []byte {
	b := []byte(strings.Repeat("0123456789", smallSize/10))
	b[len(b)-1] = '\n'
	return b
}

// pageBody is a plausible HTML page of exactly pageSize bytes: a head with a
// stylesheet and a script tag, then paragraphs of text, so the injector sees
// real markup rather than one giant text node.
func pageBody() []byte {
	const head = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n" +
		"<title>Benchmark page</title>\n<link rel=\"stylesheet\" href=\"/static/site.css\">\n" +
		"<script src=\"/static/site.js\" defer></script>\n</head>\n<body>\n<main>\n"
	const tail = "</main>\n</body>\n</html>\n"
	const para = "<p class=\"copy\">Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor " +
		"incididunt ut labore et dolore magna aliqua. <a href=\"/products/42\">Ut enim ad minim veniam</a>.</p>\n"
	var sb strings.Builder
	sb.Grow(pageSize)
	sb.WriteString(head)
	for sb.Len()+len(para)+len(tail) <= pageSize {
		sb.WriteString(para)
	}
	// Pad with an HTML comment so the page is exactly pageSize bytes.
	if pad := pageSize - sb.Len() - len(tail); pad > 0 {
		if pad >= len("<!---->") {
			sb.WriteString("<!--" + strings.Repeat("x", pad-len("<!---->")) + "-->")
		} else {
			sb.WriteString(strings.Repeat("\n", pad))
		}
	}
	sb.WriteString(tail)
	return []byte(sb.String())
}
