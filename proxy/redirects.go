package proxy

import (
	"net/http"
	"net/url"
	"strings"
)

// redirectRewriter maps absolute redirects that point at the upstream's own
// address back to the public origin, as nginx's `proxy_redirect default`
// does: an app behind a sidecar that builds URLs from the Host it sees would
// otherwise send browsers to an address only the proxy can reach. Only the
// origin (and the upstream URL's base path) changes; the rest of the value is
// kept byte for byte.
type redirectRewriter struct {
	scheme, host string // the upstream's, host with its port made explicit
	base         string // the upstream URL's path without the trailing slash
	public       string // scheme://host of public_url
}

func newRedirectRewriter(upstream, public *url.URL) *redirectRewriter {
	return &redirectRewriter{
		scheme: strings.ToLower(upstream.Scheme),
		host:   hostWithPort(upstream.Scheme, upstream.Host),
		base:   strings.TrimSuffix(upstream.Path, "/"),
		public: public.Scheme + "://" + public.Host,
	}
}

func (rw *redirectRewriter) rewrite(h http.Header) {
	if v := h["Location"]; len(v) == 1 {
		if out, ok := rw.mapURL(v[0]); ok {
			v[0] = out
		}
	}
	// Refresh: "5; url=http://upstream/next", the other redirect nginx maps.
	if v := h["Refresh"]; len(v) == 1 {
		if i := strings.Index(strings.ToLower(v[0]), "url="); i >= 0 {
			if out, ok := rw.mapURL(v[0][i+4:]); ok {
				v[0] = v[0][:i+4] + out
			}
		}
	}
}

// mapURL returns raw with the upstream's origin and base path replaced by
// the public origin, or false when raw does not point at the upstream.
func (rw *redirectRewriter) mapURL(raw string) (string, bool) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !strings.EqualFold(scheme, rw.scheme) {
		return "", false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if strings.Contains(authority, "@") || hostWithPort(scheme, authority) != rw.host {
		return "", false
	}
	if rw.base != "" {
		after, found := strings.CutPrefix(tail, rw.base)
		if !found || (after != "" && !strings.ContainsAny(after[:1], "/?#")) {
			return "", false // outside the proxied part of the upstream
		}
		tail = after
	}
	if tail == "" || tail[0] != '/' {
		tail = "/" + tail
	}
	return rw.public + tail, true
}

// hostWithPort lower-cases host and adds the scheme's default port, so
// "App:80" and "app" compare equal for http.
func hostWithPort(scheme, host string) string {
	host = strings.ToLower(host)
	if u := (&url.URL{Host: host}); u.Port() == "" {
		port := "80"
		if strings.EqualFold(scheme, "https") {
			port = "443"
		}
		return host + ":" + port
	}
	return host
}
