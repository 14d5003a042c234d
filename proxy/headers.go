package proxy

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/cookieheader"
)

// identityHeaders are stripped from every incoming request whether or not the
// proxy sets them, so a site that once trusted them cannot be fed a forged
// identity. oauth2-proxy's and common SSO names are included for the same
// reason.
var identityHeaders = []string{
	"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Preferred-Username",
	"X-Forwarded-Groups", "X-Forwarded-Access-Token", "X-Auth-Request-User",
	"X-Auth-Request-Email", "X-Auth-Request-Preferred-Username",
	"X-Auth-Request-Groups", "X-Auth-Request-Access-Token", "Remote-User",
	"X-Remote-User", "X-Lcw-Subject",
}

// routingHeaders say where a request came from or which path or host it
// was for. Servers and frameworks honour them (IIS/ASP.NET X-Original-URL,
// Rails and Django X-Forwarded-Host, Express trust proxy), so from a peer
// that is not a trusted proxy they are removed before the proxy sets its
// own: otherwise the upstream could serve /admin while the proxy checked
// /public/x, or mail out links to the attacker's host. The W3C trace
// headers are among them, tracing on or off: a client must not join the
// upstream's spans to a trace of its choosing, force sampling on, or hand
// the upstream baggage it takes for the proxy's; with tracing on, the
// tracing transport sets traceparent/tracestate anew.
var routingHeaders = []string{
	"X-Original-URL", "X-Rewrite-URL", "X-Original-URI", "X-Forwarded-Uri",
	"X-Forwarded-Path", "X-Forwarded-Prefix", "X-Envoy-Original-Path",
	"X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port",
	"X-Forwarded-Server", "X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Url-Scheme",
	"Front-End-Https", "X-Host", "X-Original-Host", "Forwarded",
	"X-Forwarded-For", "X-Real-IP", "True-Client-IP", "X-Client-IP", "Client-IP",
	"X-Cluster-Client-IP", "X-Original-Forwarded-For", "CF-Connecting-IP",
	"Fastly-Client-IP", "X-ProxyUser-Ip",
	"Traceparent", "Tracestate", "Baggage",
}

// Kinds of stripped header.
const (
	identityHeader = 1 << iota // stripped always
	routingHeader              // stripped unless the peer is a trusted proxy
)

// headerStripper removes identity headers, routing headers from untrusted
// peers and the proxy's own cookies from requests bound for the upstream,
// and the upstream's attempts to set the proxy's cookies from its responses.
type headerStripper struct {
	names        map[string]uint8 // lower case, '-' for '_'
	cookieName   string
	cookiePrefix string
}

func newHeaderStripper(cookieName string, h config.Headers) *headerStripper {
	cookieName = unprefixed(cookieName)
	s := &headerStripper{
		names:        map[string]uint8{},
		cookieName:   cookieName,
		cookiePrefix: cookieName + "_",
	}
	for _, n := range append(append(identityHeaders, h.User, h.Email, h.PreferredUsername, h.Groups), h.Strip...) {
		if n != "" {
			s.names[normalizeHeaderName(n)] |= identityHeader
		}
	}
	for _, n := range routingHeaders {
		s.names[normalizeHeaderName(n)] |= routingHeader
	}
	return s
}

// normalizeHeaderName folds case and treats '_' as '-': many servers (and
// CGI-style frameworks) read X_Forwarded_User as X-Forwarded-User.
func normalizeHeaderName(n string) string {
	return strings.ReplaceAll(strings.ToLower(n), "_", "-")
}

// kind tells which kinds of stripped header name is (0: none), matching in
// any letter case and with '_' for '-'.
func (s *headerStripper) kind(name string) uint8 {
	var buf [64]byte
	if len(name) > len(buf) {
		return s.names[normalizeHeaderName(name)]
	}
	b := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		b[i] = c
	}
	return s.names[string(b)]
}

// clean removes what must not reach the upstream; routing headers stay
// only when the peer is a trusted proxy.
func (s *headerStripper) clean(h http.Header, trustedPeer bool) {
	drop := uint8(identityHeader | routingHeader)
	if trustedPeer {
		drop = identityHeader
	}
	for k := range h {
		if s.kind(k)&drop != 0 {
			delete(h, k)
		}
	}
	keepValues(h, "Cookie", func(c string) (string, bool) {
		c = s.stripCookies(c)
		return c, c != ""
	})
}

// keepValues rewrites h[key] in place with f, which returns a value's
// replacement and whether to keep it; the key goes when nothing is kept.
func keepValues(h http.Header, key string, f func(string) (string, bool)) {
	vs, ok := h[key]
	if !ok {
		return
	}
	kept := vs[:0]
	for _, v := range vs {
		if v, keep := f(v); keep {
			kept = append(kept, v)
		}
	}
	if len(kept) == 0 {
		delete(h, key)
	} else {
		h[key] = kept
	}
}

// ours reports whether a cookie name belongs to the proxy: the session
// cookie, its chunks and the login flow cookies all share the configured
// name, with or without the __Host- (or __Secure-) prefix, so cookies left
// from before the prefix was turned on never reach the upstream either.
func (s *headerStripper) ours(name string) bool {
	name = unprefixed(name)
	return name == s.cookieName || strings.HasPrefix(name, s.cookiePrefix)
}

func unprefixed(name string) string {
	if strings.HasPrefix(name, "__Host-") {
		return name[len("__Host-"):]
	}
	return strings.TrimPrefix(name, "__Secure-")
}

// stripCookies removes the proxy's cookies from one Cookie header value,
// returning it unchanged (without allocating) when none is present.
func (s *headerStripper) stripCookies(v string) string {
	found := false
	for p := range cookieheader.Pairs(v) {
		if s.ours(p.Name) {
			found = true
			break
		}
	}
	if !found {
		return v
	}
	var b strings.Builder
	for p := range cookieheader.Pairs(v) {
		if s.ours(p.Name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Raw)
	}
	return b.String()
}

// dropOwnSetCookies removes the upstream's Set-Cookie lines for the proxy's
// cookies: a compromised or confused upstream must not plant a session of
// its choosing (fixation) or clear the visitor's (wiping).
func (s *headerStripper) dropOwnSetCookies(h http.Header) {
	keepValues(h, "Set-Cookie", func(l string) (string, bool) { return l, !s.setsOurs(l) })
}

// hopByHopHeaders are RFC 9110's connection-specific fields (and the
// obsolete ones ReverseProxy removes too): ReverseProxy strips them from
// final responses but copies a 1xx's header as it came.
var hopByHopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// cleanInterim filters an informational (1xx) response's header as final
// responses are filtered: no Set-Cookie for the proxy's cookies, no
// hop-by-hop fields (nor those the upstream's Connection names).
func (s *headerStripper) cleanInterim(h http.Header) {
	s.dropOwnSetCookies(h)
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHopHeaders {
		delete(h, name)
	}
}

// setsOurs reports whether the cookie a browser stores from a Set-Cookie
// line comes back in a form our Cookie readers take for one of ours. They
// trim with strings.TrimSpace, which strips Unicode spaces browsers keep in
// a name, and a cookie with an empty name is sent back as its bare value,
// so "=_lcw=x" returns as "_lcw=x".
func (s *headerStripper) setsOurs(line string) bool {
	name, value := setCookieName(line)
	if name == "" {
		name, _, _ = strings.Cut(value, "=")
	}
	return s.ours(strings.TrimSpace(name))
}

// setCookieName splits a Set-Cookie line the way browsers do (RFC 6265bis
// §5.6): the name-value pair ends at the first ';' and splits at its first
// '='; spaces and tabs around both are dropped; a pair without '=' is a
// value with an empty name. Names are case-sensitive and kept as they are.
func setCookieName(line string) (name, value string) {
	pair, _, _ := strings.Cut(line, ";")
	name, value, ok := strings.Cut(pair, "=")
	if !ok {
		return "", strings.Trim(pair, " \t")
	}
	return strings.Trim(name, " \t"), strings.Trim(value, " \t")
}
