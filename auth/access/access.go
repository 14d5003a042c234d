// Package access decides who may reach the upstream: the access mode, public
// paths, authorization rules, and how an anonymous visitor is answered.
package access

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/errorpage"
)

// Policy is the access configuration compiled for request-time checks.
type Policy struct {
	required    bool
	publicPaths []string
	domains     []string
	groups      []string
	groupsClaim string
	claims      map[string][]string
	loginPath   string
}

// NewPolicy compiles the access section.
func NewPolicy(a config.Access, prefix string) *Policy {
	domains := make([]string, len(a.AllowedEmailDomains))
	for i, d := range a.AllowedEmailDomains {
		domains[i] = strings.ToLower(strings.TrimPrefix(d, "@"))
	}
	return &Policy{
		required:    a.Mode == "required",
		publicPaths: a.PublicPaths,
		domains:     domains,
		groups:      a.RequiredGroups,
		groupsClaim: a.GroupsClaim,
		claims:      a.RequiredClaims,
		loginPath:   prefix + "/login",
	}
}

// Public reports whether the request's path is configured as public. Paths
// that a server could resolve differently from us (dot segments, encoded
// slashes or backslashes, ';' path parameters, escapes a second decoding
// pass or a lenient UTF-8 decoder would turn into those) never count as
// public, so "/public/..;/admin" or "/public/%252e%252e/admin" cannot borrow
// a public prefix.
func (p *Policy) Public(r *http.Request) bool {
	if len(p.publicPaths) == 0 {
		return false
	}
	raw := r.URL.EscapedPath()
	if strings.ContainsAny(raw, ";\\") || hasAmbiguousEscape(raw) {
		return false
	}
	clean := path.Clean(r.URL.Path)
	if clean != r.URL.Path && clean+"/" != r.URL.Path {
		return false
	}
	for _, pp := range p.publicPaths {
		if strings.HasSuffix(pp, "/") {
			if strings.HasPrefix(r.URL.Path, pp) || r.URL.Path+"/" == pp {
				return true
			}
		} else if r.URL.Path == pp {
			return true
		}
	}
	return false
}

// hasAmbiguousEscape reports whether an escaped path holds a %XX that some
// server on the way could read differently from the path we match:
//   - '.', '/', '\': dot segments and separators invisible in our decoded path;
//   - ';', '?', '#': path parameters or a cut path after one more decoding;
//   - '%': an upstream that decodes twice turns %252e into '.';
//   - any byte >= 0x80: overlong UTF-8 (%c0%ae) is '.' to lenient decoders,
//     and best-fit or NFKC folding maps valid characters (U+FF0E) to '.' or
//     '/'; telling safe non-ASCII from these is not worth the risk, so such
//     paths need a login;
//   - control bytes: C upstreams stop at %00.
//
// A malformed escape counts as ambiguous too.
func hasAmbiguousEscape(raw string) bool {
	for i := strings.IndexByte(raw, '%'); i >= 0; i = strings.IndexByte(raw, '%') {
		if i+2 >= len(raw) {
			return true
		}
		hi, ok1 := unhex(raw[i+1])
		lo, ok2 := unhex(raw[i+2])
		if !ok1 || !ok2 {
			return true
		}
		switch b := hi<<4 | lo; {
		case b < 0x20 || b >= 0x7f:
			return true
		case strings.IndexByte("./\\;?#%", b) >= 0:
			return true
		}
		raw = raw[i+3:]
	}
	return false
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Authorize checks the optional rules against a signed-in user's claims. The
// error says which rule failed (for the log, not the user).
func (p *Policy) Authorize(s *session.Session) error {
	if len(p.domains) > 0 {
		email, _ := s.Claims["email"].(string)
		_, domain, ok := strings.Cut(strings.ToLower(email), "@")
		if !ok || !contains(p.domains, domain) {
			return fmt.Errorf("email domain of %q is not allowed", email)
		}
		if v, present := s.Claims["email_verified"]; present && v != true {
			return fmt.Errorf("email %q is not verified", email)
		}
	}
	if len(p.groups) > 0 {
		have := stringsOf(s.Claims[p.groupsClaim])
		ok := false
		for _, g := range p.groups {
			ok = ok || contains(have, g)
		}
		if !ok {
			return fmt.Errorf("user is in none of the required groups %v", p.groups)
		}
	}
	for claim, allowed := range p.claims {
		have := stringsOf(s.Claims[claim])
		ok := false
		for _, a := range allowed {
			ok = ok || contains(have, a)
		}
		if !ok {
			return fmt.Errorf("claim %s has none of the required values %v", claim, allowed)
		}
	}
	return nil
}

// stringsOf reads a claim that may be a string or a list of strings.
func stringsOf(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return t
	case bool, float64:
		return []string{fmt.Sprint(t)}
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// IsNavigation tells a browser loading a page (which gets a redirect to the
// login) from scripts and API clients (which get a 401 they can handle).
func IsNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	if r.Header.Get("X-Requested-With") != "" {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// Deny answers a visitor without a session on a protected path.
func (p *Policy) Deny(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if IsNavigation(r) {
		http.Redirect(w, r, p.loginPath+"?rd="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="lcw-auth-proxy"`)
	r.Header.Set("Accept", "application/json") // machines get the JSON form
	errorpage.Status(w, r, http.StatusUnauthorized)
}

// Protect lets a request reach next when the path is public, the access
// mode is optional, or the session (found by lookup) passes the rules. A
// signed-in user who fails them gets a 403 page, never a new login (which
// would loop); in optional mode such a user continues as anonymous.
func (p *Policy) Protect(lookup func(*http.Request) (*session.Session, bool), log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sess, ok := lookup(r); ok {
			err := p.Authorize(sess)
			if err == nil || !p.required || p.Public(r) {
				next.ServeHTTP(w, r)
				return
			}
			log.InfoContext(r.Context(), "signed-in user not authorized", slog.String("sub", sess.Subject), slog.String("reason", err.Error()))
			errorpage.Status(w, r, http.StatusForbidden)
			return
		}
		if !p.required || p.Public(r) {
			next.ServeHTTP(w, r)
			return
		}
		p.Deny(w, r)
	})
}
