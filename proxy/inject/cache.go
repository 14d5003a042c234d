package inject

import (
	"net/http"
	"strings"
)

// makePrivate keeps shared caches from storing a response that carries a
// per-response nonce: replayed to every visitor, the nonce would be public,
// and markup injected into the page could use it to get a script past the
// policy. The browser's own cache may still keep the page as the site
// allows, so the site's other directives stay, no-store included: public
// and a private="field" limited to some fields give way to plain private,
// s-maxage (meant for shared caches only) goes, and a response without
// Cache-Control (which shared caches could store heuristically) gets one.
// private comes first: after a member with an unclosed quote it would be
// read as part of that quoted string.
func makePrivate(h http.Header) {
	out := []string{"private"}
	for _, v := range h.Values("Cache-Control") {
		for _, d := range splitCacheControl(v) {
			name, _, _ := strings.Cut(d, "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "public", "private", "s-maxage":
			default:
				out = append(out, d)
			}
		}
	}
	h.Set("Cache-Control", strings.Join(out, ", "))
	// Targeted fields (RFC 9213: CDN-Cache-Control, Cloudflare-CDN-Cache-
	// Control, …) and Surrogate-Control replace Cache-Control at the caches
	// they address, so they would let a CDN store the page anyway.
	for k := range h {
		if k == "Surrogate-Control" || k == "Edge-Control" || strings.HasSuffix(k, "-Cache-Control") {
			delete(h, k)
		}
	}
}

// splitCacheControl splits a Cache-Control value at the commas outside
// quoted strings (no-cache="Set-Cookie, X-A" is one directive), trimming
// each member and dropping empty ones. Nothing is lost to a malformed
// value: an open quote or a trailing backslash ends with the last member.
func splitCacheControl(v string) []string {
	var out []string
	add := func(d string) {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	start, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++ // an escaped byte cannot end the quoted string
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			add(v[start:i])
			start = i + 1
		}
	}
	add(v[start:])
	return out
}
