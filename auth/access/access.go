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
// slashes or backslashes, ';' path parameters) never count as public, so
// "/public/..;/admin" cannot borrow a public prefix.
func (p *Policy) Public(r *http.Request) bool {
	if len(p.publicPaths) == 0 {
		return false
	}
	raw := r.URL.EscapedPath()
	if strings.ContainsAny(raw, ";\\") || containsFold(raw, "%2f") || containsFold(raw, "%5c") || containsFold(raw, "%2e") {
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

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), sub)
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
