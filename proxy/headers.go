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
// requests bound for the upstream.
type headerStripper struct {
	names        map[string]struct{} // lower case, '-' for '_'
	cookieName   string
	cookiePrefix string
}

func newHeaderStripper(cookieName string, h config.Headers) *headerStripper {
	s := &headerStripper{
		names:        map[string]struct{}{},
		cookieName:   cookieName,
		cookiePrefix: cookieName + "_",
	}
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
