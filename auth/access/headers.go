package access

import (
	"net/http"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// IdentityHeaders returns the function that sets the configured identity
// headers (on a request bound for the upstream, or on a forward-auth
// answer), or nil when headers.pass is off. Incoming copies were already
// stripped by the proxy. Groups come from groupsClaim (access.groups_claim),
// the same claim the group rules read.
func IdentityHeaders(h config.Headers, groupsClaim string) func(dst http.Header, s *session.Session) {
	if !h.Pass {
		return nil
	}
	return func(dst http.Header, s *session.Session) {
		set := func(name, v string) {
			if name != "" && v != "" {
				dst.Set(name, headerSafe(v))
			}
		}
		set(h.User, s.Subject)
		email, _ := s.Claims["email"].(string)
		set(h.Email, email)
		pu, _ := s.Claims["preferred_username"].(string)
		set(h.PreferredUsername, pu)
		set(h.Groups, strings.Join(stringsOf(s.Claims[groupsClaim]), ","))
	}
}

// headerSafe drops control characters so a claim can never split a header.
func headerSafe(v string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v)
}
