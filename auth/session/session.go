// Package session keeps signed-in users in encrypted, authenticated cookies.
//
// A Session is serialised as JSON, sealed by a Codec (AES-256-GCM, the cookie
// name and the expiry authenticated with it) and stored by a Store in one
// cookie, or split into numbered chunk cookies when it is too big for one.
// Nothing is kept on the server: a cookie stays valid until its expiry, even
// after Clear, if someone copied it.
package session

import (
	"time"
)

// Session is what the proxy keeps about a signed-in user: only what later
// steps need.
type Session struct {
	Subject      string         `json:"sub"`
	Claims       map[string]any `json:"c,omitempty"`   // verified ID token + userinfo claims, for lwicontexts
	IDToken      string         `json:"idt,omitempty"` // raw ID token, for logout id_token_hint
	RefreshToken string         `json:"rt,omitempty"`
	RefreshAt    time.Time      `json:"ra,omitzero"` // when tokens should be refreshed (zero = never)
	Expiry       time.Time      `json:"exp"`         // absolute end of the session
	CreatedAt    time.Time      `json:"iat"`
}

// EmailVerified reports whether the IdP says the email claim was verified:
// the boolean the spec requires, or the string "true" that some IdPs
// (Amazon Cognito, older ADFS) send instead.
func (s *Session) EmailVerified() bool {
	switch v := s.Claims["email_verified"].(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}
