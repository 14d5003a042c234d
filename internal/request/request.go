// Package request decides the facts about an incoming request that several
// parts of the proxy act on: is it a page load, did a script fetch it, where
// does it come from, does the client want JSON. Each fact has one rule, here;
// nothing else reads Sec-Fetch-*, Origin or Accept to decide them.
package request

import (
	"iter"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// IsPageLoad reports whether the browser is loading a document the user will
// see: Sec-Fetch-Dest says so (a top-level document or a frame), or, from
// browsers that send no Fetch metadata, the request asks for HTML and is not
// marked as XHR. It does not look at the method: a POSTed form also loads a
// page, but only GET and HEAD can be replayed (see Replayable).
func IsPageLoad(r *http.Request) bool {
	h := r.Header
	switch h.Get("Sec-Fetch-Dest") {
	case "document", "iframe", "frame":
		return true
	case "":
	default:
		return false
	}
	if mode := h.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	if isXHR(h) {
		return false
	}
	return strings.Contains(h.Get("Accept"), "text/html")
}

// IsTopLevelNavigation reports whether the browser is loading a page into
// its window (not a frame): the only request that may be sent through the
// IdP and back without the user noticing anything but a moment's delay.
func IsTopLevelNavigation(r *http.Request) bool {
	if d := r.Header.Get("Sec-Fetch-Dest"); d != "" {
		return d == "document"
	}
	return IsPageLoad(r)
}

// IsScripted reports whether a script fetched the request (fetch, XHR,
// htmx, Turbo frames): what it gets back is swapped into a page that is
// already loaded. Without Fetch metadata only the classic XHR marker counts,
// so plain clients (curl, old browsers) are treated as page loads.
func IsScripted(r *http.Request) bool {
	h := r.Header
	if h.Get("Sec-Fetch-Dest") != "" || h.Get("Sec-Fetch-Mode") != "" {
		return !IsPageLoad(r)
	}
	return isXHR(h)
}

// isXHR matches only the value jQuery and friends send: Android WebViews
// put the app's package name in X-Requested-With on every request,
// navigations included.
func isXHR(h http.Header) bool {
	return strings.EqualFold(h.Get("X-Requested-With"), "XMLHttpRequest")
}

// Replayable reports whether a redirect (to the login and back) can repeat
// the request: only GET and HEAD.
func Replayable(r *http.Request) bool {
	return r.Method == http.MethodGet || r.Method == http.MethodHead
}

// FromPeerIn reports whether the request's direct peer (the TCP
// connection, not any header) is in one of nets: a trusted proxy whose
// forwarding headers may be believed.
func FromPeerIn(r *http.Request, nets []netip.Prefix) bool {
	if len(nets) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	return inNets(ap.Addr().Unmap(), nets)
}

// FirstValue is h's first value of key, which must be canonical
// ("Content-Type"), as the keys of a parsed request or response are:
// Header.Get would canonicalise it again, on every request.
func FirstValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// peerHost is the host of an "ip:port" or "[ip]:port" peer address,
// without parsing an IPv4 one (with no trusted proxies nothing needs the
// parsed form, and this runs for every logged request); anything else as
// it is.
func peerHost(peer string) string {
	i := strings.LastIndexByte(peer, ':')
	if i < 0 || i == len(peer)-1 {
		return peer
	}
	for _, c := range []byte(peer[i+1:]) {
		if c < '0' || c > '9' {
			return peer // not a port
		}
	}
	host := peer[:i]
	if host == "" {
		return peer
	}
	if host[0] == '[' {
		// IPv6, bracketed before its port: parsed, as it is rarer
		if _, err := netip.ParseAddrPort(peer); err == nil {
			return host[1 : len(host)-1]
		}
		return peer
	}
	if strings.IndexByte(host, ':') >= 0 {
		return peer // IPv6 without brackets
	}
	return host
}

// Client is the address of the client the request comes from, for logs:
// the TCP peer's, or, when the peer is a trusted proxy, the nearest address
// in X-Forwarded-For that is not one of nets (read from the right, since
// each proxy appends the peer it saw; a client can prepend anything it
// likes, so the walk stops at the first hop no trusted proxy vouches for).
// An entry that is not an IP address stops the walk at the last trusted
// hop; when every hop is trusted, the leftmost is the client.
func Client(r *http.Request, nets []netip.Prefix) string {
	peer := r.RemoteAddr
	if len(nets) == 0 {
		return peerHost(peer)
	}
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		peer = peer[:strings.LastIndexByte(peer, ':')]
		if !inNets(ap.Addr().Unmap(), nets) {
			return strings.TrimSuffix(strings.TrimPrefix(peer, "["), "]")
		}
	} else {
		return peer // not ip:port (tests, unix sockets): as it is
	}
	client := strings.TrimSuffix(strings.TrimPrefix(peer, "["), "]")
	vals := r.Header["X-Forwarded-For"]
	for i := len(vals) - 1; i >= 0; i-- {
		for v := vals[i]; v != ""; {
			elem := v
			if c := strings.LastIndexByte(v, ','); c >= 0 {
				elem, v = v[c+1:], v[:c]
			} else {
				v = ""
			}
			elem = strings.TrimSpace(elem)
			if elem == "" {
				continue
			}
			a, err := netip.ParseAddr(elem)
			if err != nil {
				return client
			}
			client = elem
			if !inNets(a.Unmap(), nets) {
				return client
			}
		}
	}
	return client
}

func inNets(a netip.Addr, nets []netip.Prefix) bool {
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Site says where a request comes from, as the browser tells it.
type Site int

const (
	// SiteUnknown: neither Sec-Fetch-Site nor Origin (old browsers, curl);
	// such a request carries no victim's ambient authority across sites.
	SiteUnknown Site = iota
	// SiteSameOrigin: a script or page of the public origin.
	SiteSameOrigin
	// SiteUser: the user typed the URL or opened a bookmark
	// (Sec-Fetch-Site: none).
	SiteUser
	// SiteCross: another origin, including same-site subdomains and the
	// opaque "null" origin of sandboxed frames.
	SiteCross
)

// From tells where r comes from relative to publicOrigin (scheme://host[:port],
// as config provisions it). An Origin header naming another origin makes
// any request cross-site, whatever Sec-Fetch-Site says.
func From(r *http.Request, publicOrigin string) Site {
	if o := r.Header.Get("Origin"); o != "" && !strings.EqualFold(o, publicOrigin) {
		return SiteCross
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin":
		return SiteSameOrigin
	case "none":
		return SiteUser
	case "":
		if r.Header.Get("Origin") != "" {
			return SiteSameOrigin
		}
		return SiteUnknown
	}
	return SiteCross
}

// SameOrigin reports whether a request may use endpoints meant for the
// page's own scripts: it comes from the public origin, or from a client that
// sends no Fetch metadata at all.
func SameOrigin(r *http.Request, publicOrigin string) bool {
	s := From(r, publicOrigin)
	return s == SiteSameOrigin || s == SiteUnknown
}

// WantsJSON reports whether the client ranks application/json at least as
// high as alt (e.g. "text/html" for error pages, "application/jwt" for the
// token). Wildcards count for neither, so "*/*" alone is not a request for
// JSON.
func WantsJSON(r *http.Request, alt string) bool {
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return false
	}
	var qJSON, qAlt float64
	for name, q := range Weighted(accept) {
		switch name {
		case "application/json":
			qJSON = max(qJSON, q)
		case alt:
			qAlt = max(qAlt, q)
		}
	}
	return qJSON > 0 && qJSON >= qAlt
}

// Weighted yields each element of a comma-separated list header with
// weights (Accept, Accept-Encoding), lower-cased without its parameters,
// and its q-value. A missing q is 1; a malformed or out-of-range q is 0, so
// it can never make an element preferred.
func Weighted(values []string) iter.Seq2[string, float64] {
	return func(yield func(string, float64) bool) {
		for _, v := range values {
			for part := range strings.SplitSeq(v, ",") {
				name, params, _ := strings.Cut(part, ";")
				name = strings.ToLower(strings.TrimSpace(name))
				if name == "" {
					continue
				}
				if !yield(name, quality(params)) {
					return
				}
			}
		}
	}
}

func quality(params string) float64 {
	q := 1.0
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(f >= 0 && f <= 1) { // NaN too
			f = 0
		}
		q = f
	}
	return q
}
