// Package session keeps signed-in users between requests, behind one Store
// interface with two implementations:
//
//   - CookieStore (the default, nothing to run): the Session is serialised
//     as JSON, sealed by a Codec (AES-256-GCM, the cookie name and the
//     expiry authenticated with it) and kept in one cookie, or split into
//     numbered chunk cookies when it is too big for one. Nothing is kept on
//     the server: a copied cookie stays valid until its expiry, even after
//     Clear.
//   - RedisStore: the cookie holds only a sealed random session id; the
//     record lives in Redis, sealed with the same Codec and bound to its id,
//     so a Redis dump opens nothing. Clear deletes the record, which ends
//     every copy of the cookie at once, on every replica.
package session

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
)

// Store keeps sessions between requests. Both implementations are safe for
// concurrent use.
type Store interface {
	// Load returns the request's session. ErrNoSession: no session cookie;
	// an error wrapping ErrInvalid: a cookie that does not (or no longer)
	// open a session, so an anonymous visitor; ErrUnavailable: the store
	// cannot answer, so the visitor is neither signed in nor out. The
	// Session is a copy, but its Claims map is shared and must not be
	// modified.
	Load(r *http.Request) (*Session, error)
	// Save stores sess and sets the cookie that finds it again. Zero
	// Expiry and CreatedAt are filled in (now + lifetime, now) and written
	// back into sess.
	Save(w http.ResponseWriter, r *http.Request, sess *Session) error
	// Clear ends the request's session: the server's record, if any, and
	// the cookies. An error means the record could not be deleted; the
	// cookies are then left alone, so the user can try again.
	Clear(w http.ResponseWriter, r *http.Request) error
	// Twice reports whether r carries the session cookie (or a chunk)
	// more than once, which Load refuses with ErrDuplicate.
	Twice(r *http.Request) bool
}

var (
	// ErrNoSession means the request carries no session cookie: an
	// anonymous visitor.
	ErrNoSession = errors.New("session: no session cookie")
	// ErrDuplicate means the request carries a session cookie (or a chunk)
	// of our name twice: someone else, such as a sibling subdomain,
	// planted one, and which is the visitor's own cannot be told. It wraps
	// ErrInvalid.
	ErrDuplicate = fmt.Errorf("%w: the session cookie came twice", ErrInvalid)
	// ErrRevoked means the cookie is authentic but its server-side record
	// is gone: logged out, revoked, or expired. It wraps ErrInvalid.
	ErrRevoked = fmt.Errorf("%w: the session was ended", ErrInvalid)
	// ErrUnavailable means a server-side store could not be reached.
	ErrUnavailable = errors.New("session: the session store is unavailable")
)

// Session is what the proxy keeps about a signed-in user: only what later
// steps need.
type Session struct {
	Subject      string         `json:"sub"`
	Claims       map[string]any `json:"c,omitempty"`   // the verified claims the configuration reads (Needs)
	IDToken      string         `json:"idt,omitempty"` // raw ID token, for logout id_token_hint
	RefreshToken string         `json:"rt,omitempty"`
	RefreshAt    time.Time      `json:"ra,omitzero"` // when tokens should be refreshed (zero = never)
	Expiry       time.Time      `json:"exp"`         // absolute end of the session
	CreatedAt    time.Time      `json:"iat"`
	// SID is the IdP's session id (the ID token's sid claim), which
	// back-channel logout names.
	SID string `json:"sid,omitempty"`
	// RefreshedAt is the last refresh at the IdP (zero: none yet).
	RefreshedAt time.Time `json:"rfa,omitzero"`
	// Needs names the claims the configuration read when Claims were kept
	// (claims.Set.Names): a configuration that needs more signs the user
	// in again (claims.Set.Covers). Nil: a session of an earlier version,
	// which kept every claim.
	Needs []string `json:"n,omitempty"`
	// Email (the verified one, as claims.Trusted decides) and Name are
	// for the operator: `sessions list` shows them and `sessions
	// --email` finds the session by Email. Only a server-side record keeps
	// them (sealed, as the rest); a cookie never does, whatever the
	// configuration reads (Claims is for that).
	Email string `json:"em,omitempty"`
	Name  string `json:"nm,omitempty"`

	// ID is the server-side record's id (RedisStore only; never in a
	// cookie's JSON).
	ID string `json:"-"`
	// sealed is the record as read from a server-side store: the version
	// a conditional replace (RedisStore.Replace) compares with.
	sealed string
	// legacy: read in the format before issue 22 (every claim; in a
	// cookie, the ID token too).
	legacy bool
}

// Legacy reports whether the session was read in the format of an earlier
// version (which kept every claim and, in the cookie, the ID token): the
// caller cuts its claims to what the configuration reads and saves it, so
// the browser holds the current format from its next response on.
func (s *Session) Legacy() bool { return s.legacy }

// EmailVerified reports whether the IdP says the email claim was verified,
// by the rules of claims.EmailVerified (email_verified true, or Entra ID's
// xms_edov when the IdP sends no email_verified).
func (s *Session) EmailVerified() bool {
	return claims.EmailVerified(s.Claims)
}
