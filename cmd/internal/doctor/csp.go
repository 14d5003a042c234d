package doctor

import (
	"net/url"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// This file evaluates Content-Security-Policy the way browsers do (CSP
// Level 3, §6.7.2 "does url match expression"), for the two questions the
// doctor asks: may this script element load, and may the page connect to
// this URL. It does not rewrite anything; proxy/inject does that.

// cspPolicy is one policy: directive name (lower case) → sources, first
// occurrence of a name only (browsers ignore repeats).
type cspPolicy map[string][]string

// parseCSP splits header values and <meta> contents into policies; a
// header value may hold several, separated by commas.
func parseCSP(values []string) []cspPolicy {
	var out []cspPolicy
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			p := cspPolicy{}
			for raw := range strings.SplitSeq(part, ";") {
				f := strings.FieldsFunc(raw, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r' })
				if len(f) == 0 {
					continue
				}
				name := strings.ToLower(f[0])
				if _, dup := p[name]; !dup {
					p[name] = f[1:]
				}
			}
			if len(p) > 0 {
				out = append(out, p)
			}
		}
	}
	return out
}

// sources returns the first directive of names that the policy has.
func (p cspPolicy) sources(names ...string) ([]string, bool) {
	for _, n := range names {
		if s, ok := p[n]; ok {
			return s, true
		}
	}
	return nil, false
}

// allowsScript reports whether a <script src=u nonce=nonce> element on page
// may load.
func (p cspPolicy) allowsScript(u *url.URL, nonce string, page *url.URL) bool {
	list, ok := p.sources("script-src-elem", "script-src", "default-src")
	if !ok {
		return true
	}
	strictDynamic := false
	for _, s := range list {
		if nonce != "" && s == "'nonce-"+nonce+"'" {
			return true
		}
		strictDynamic = strictDynamic || strings.EqualFold(s, "'strict-dynamic'")
	}
	if strictDynamic {
		return false // host and scheme sources are ignored then
	}
	return listMatches(list, u, page)
}

// allowsInserted reports whether a script that an allowed script adds to
// the page (the widget loader adds the rest of the widget) may load from u:
// under 'strict-dynamic' trust passes to it, otherwise its own URL must be
// allowed.
func (p cspPolicy) allowsInserted(u *url.URL, page *url.URL, inserterAllowed bool) bool {
	list, ok := p.sources("script-src-elem", "script-src", "default-src")
	if !ok {
		return true
	}
	for _, s := range list {
		if strings.EqualFold(s, "'strict-dynamic'") {
			return inserterAllowed
		}
	}
	return listMatches(list, u, page)
}

// allowsConnect reports whether page may fetch or open a socket to u.
func (p cspPolicy) allowsConnect(u *url.URL, page *url.URL) bool {
	return p.allowsFetch("connect-src", u, page)
}

// allowsFetch reports whether page may load u for the requests directive
// governs (connect-src, frame-src, img-src, media-src, font-src).
func (p cspPolicy) allowsFetch(directive string, u *url.URL, page *url.URL) bool {
	list, ok := p.sources(config.EffectiveDirectives(directive)...)
	if !ok {
		return true
	}
	return listMatches(list, u, page)
}

// allowsInlineStyle reports whether <style> elements without a nonce or
// hash may apply: the effective style directive has 'unsafe-inline' and
// no nonce or hash (which would switch it off).
func (p cspPolicy) allowsInlineStyle() bool {
	list, ok := p.sources(config.EffectiveDirectives("style-src")...)
	if !ok {
		return true
	}
	inline := false
	for _, s := range list {
		l := strings.ToLower(s)
		if strings.HasPrefix(l, "'nonce-") || strings.HasPrefix(l, "'sha") {
			return false
		}
		inline = inline || l == "'unsafe-inline'"
	}
	return inline
}

func listMatches(list []string, u, page *url.URL) bool {
	for _, s := range list {
		if sourceMatches(s, u, page) {
			return true
		}
	}
	return false
}

// sourceMatches is CSP3's "does url match expression in origin".
func sourceMatches(src string, u, page *url.URL) bool {
	s := strings.ToLower(src)
	us := strings.ToLower(u.Scheme)
	switch {
	case s == "*":
		return us == "http" || us == "https" || us == "ws" || us == "wss" || us == page.Scheme
	case s == "'self'":
		return selfMatches(u, page)
	case strings.HasPrefix(s, "'"):
		return false // 'none', nonces, hashes and other keywords name no URL
	case strings.HasSuffix(s, ":") && !strings.Contains(s, "/"):
		return schemeMatches(strings.TrimSuffix(s, ":"), us)
	case us == "data" || us == "blob":
		return false // only a scheme source names them
	}
	scheme, rest := "", s
	if i := strings.Index(s, "://"); i >= 0 {
		scheme, rest = s[:i], s[i+3:]
	}
	if scheme == "" {
		scheme = page.Scheme
	}
	if !schemeMatches(scheme, us) {
		return false
	}
	hostport, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		hostport, path = rest[:i], rest[i:]
	}
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[i:], "]") {
		host, port = hostport[:i], hostport[i+1:]
	}
	uh := strings.ToLower(u.Hostname())
	switch {
	case host == "*":
	case strings.HasPrefix(host, "*."):
		if !strings.HasSuffix(uh, host[1:]) {
			return false
		}
	case host != uh:
		return false
	}
	up := u.Port()
	if up == "" {
		up = defaultPort(us)
	}
	switch {
	case port == "*":
	case port == "":
		if up != defaultPort(us) {
			return false
		}
	case port != up && !(port == "80" && up == "443"):
		return false
	}
	if path != "" && path != "/" {
		p := u.Path
		if p == "" {
			p = "/"
		}
		if strings.HasSuffix(path, "/") {
			return strings.HasPrefix(p, path)
		}
		return p == path
	}
	return true
}

// schemeMatches is CSP3's scheme-part match: a source's scheme a matches
// url scheme b, secure upgrades included.
func schemeMatches(a, b string) bool {
	switch {
	case a == b:
		return true
	case a == "http":
		return b == "https"
	case a == "ws":
		return b == "wss" || b == "http" || b == "https"
	case a == "wss":
		return b == "https"
	}
	return false
}

// selfMatches is 'self': the page's origin, its secure upgrade, and
// WebSockets to the same host.
func selfMatches(u, page *url.URL) bool {
	if !strings.EqualFold(u.Hostname(), page.Hostname()) {
		return false
	}
	us, ps := strings.ToLower(u.Scheme), page.Scheme
	up, pp := u.Port(), page.Port()
	if up == "" {
		up = defaultPort(us)
	}
	if pp == "" {
		pp = defaultPort(ps)
	}
	switch {
	case us == ps && up == pp:
		return true
	case (us == "https" || us == "wss") && (up == pp || up == "443"):
		return true
	case ps == "http" && us == "ws" && up == pp:
		return true
	}
	return false
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

// allowsHandler reports whether an inline event handler with source text
// js may run: script-src-attr, script-src or default-src (the first the
// policy has) holds 'unsafe-inline' without a nonce or hash, or
// 'unsafe-hashes' with the handler's sha256.
func (p cspPolicy) allowsHandler(js string) bool {
	list, ok := p.sources("script-src-attr", "script-src", "default-src")
	if !ok {
		return true
	}
	hash := config.CSPHashSource(js)
	var inline, hashed, unsafeHashes, match bool
	for _, s := range list {
		l := strings.ToLower(s)
		inline = inline || l == "'unsafe-inline'"
		hashed = hashed || strings.HasPrefix(l, "'nonce-") || strings.HasPrefix(l, "'sha")
		unsafeHashes = unsafeHashes || l == "'unsafe-hashes'"
		match = match || s == hash
	}
	return (inline && !hashed) || (unsafeHashes && match)
}
