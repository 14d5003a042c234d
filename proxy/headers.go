package proxy

import (
	"net/http"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
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

// headerStripper removes identity headers and the proxy's own cookies from
// requests bound for the upstream, and the upstream's attempts to set the
// proxy's cookies from its responses.
type headerStripper struct {
	names        map[string]struct{} // lower case, '-' for '_'
	cookieName   string
	cookiePrefix string
}

func newHeaderStripper(cfg *config.Config) *headerStripper {
	s := &headerStripper{
		names:        map[string]struct{}{},
		cookieName:   cfg.Session.CookieName,
		cookiePrefix: cfg.Session.CookieName + "_",
	}
	h := cfg.Headers
	for _, n := range append(append(identityHeaders, h.User, h.Email, h.PreferredUsername, h.Groups), h.Strip...) {
		if n != "" {
			s.names[normalizeHeaderName(n)] = struct{}{}
		}
	}
	return s
}

// normalizeHeaderName folds case and treats '_' as '-': many servers (and
// CGI-style frameworks) read X_Forwarded_User as X-Forwarded-User.
func normalizeHeaderName(n string) string {
	return strings.ReplaceAll(strings.ToLower(n), "_", "-")
}

func (s *headerStripper) isIdentity(name string) bool {
	var buf [64]byte
	if len(name) > len(buf) {
		_, ok := s.names[normalizeHeaderName(name)]
		return ok
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
	_, ok := s.names[string(b)]
	return ok
}

func (s *headerStripper) clean(h http.Header) {
	for k := range h {
		if s.isIdentity(k) {
			delete(h, k)
		}
	}
	if cs, ok := h["Cookie"]; ok {
		kept := cs[:0]
		for _, c := range cs {
			if c = s.stripCookies(c); c != "" {
				kept = append(kept, c)
			}
		}
		if len(kept) == 0 {
			delete(h, "Cookie")
		} else {
			h["Cookie"] = kept
		}
	}
}

// ours reports whether a cookie name belongs to the proxy: the session
// cookie, its chunks and the login flow cookies all share the configured name.
func (s *headerStripper) ours(name string) bool {
	return name == s.cookieName || strings.HasPrefix(name, s.cookiePrefix)
}

// stripCookies removes the proxy's cookies from one Cookie header value,
// returning it unchanged (without allocating) when none is present.
func (s *headerStripper) stripCookies(v string) string {
	found := false
	for part := range strings.SplitSeq(v, ";") {
		name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
		if s.ours(name) {
			found = true
			break
		}
	}
	if !found {
		return v
	}
	var b strings.Builder
	for part := range strings.SplitSeq(v, ";") {
		part = strings.TrimSpace(part)
		name, _, _ := strings.Cut(part, "=")
		if part == "" || s.ours(name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(part)
	}
	return b.String()
}

// dropOwnSetCookies removes the upstream's Set-Cookie lines for the proxy's
// cookies: a compromised or confused upstream must not plant a session of
// its choosing (fixation) or clear the visitor's (wiping).
func (s *headerStripper) dropOwnSetCookies(h http.Header) {
	lines, ok := h["Set-Cookie"]
	if !ok {
		return
	}
	kept := lines[:0]
	for _, l := range lines {
		if !s.setsOurs(l) {
			kept = append(kept, l)
		}
	}
	if len(kept) == 0 {
		delete(h, "Set-Cookie")
	} else {
		h["Set-Cookie"] = kept
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
