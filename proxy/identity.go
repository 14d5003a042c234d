package proxy

import (
	"net/http"
	"strconv"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/access"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/token"
)

// tokenIdentity is what the chat token may carry: the verified claims of an
// authorized visitor, never anything the browser sent. The session key is
// the subject and the session's creation time, both sealed in the session
// and kept across refreshes: a browser cannot pick a fresh one, only sign
// in again.
func tokenIdentity(r *http.Request) (token.Identity, error) {
	v := access.VisitorFrom(r.Context())
	if v != nil && v.Unavailable != nil {
		return token.Identity{}, v.Unavailable
	}
	s, ok := v.User()
	if !ok {
		return token.Identity{}, token.ErrNotSignedIn
	}
	key := s.Subject + "\x00" + strconv.FormatInt(s.CreatedAt.UnixNano(), 10)
	return token.Identity{Claims: s.Claims, SessionExpiry: s.Expiry, SessionKey: key, Subject: limitSubject(s.Claims, s.Subject)}, nil
}

// limitSubject names the user for the token limit: the issuer and the
// subject, so that two tenants' equal subjects are two users.
func limitSubject(claims map[string]any, sub string) string {
	iss, _ := claims["iss"].(string)
	return iss + "\x00" + sub
}
