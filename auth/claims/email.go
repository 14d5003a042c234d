package claims

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// The email rules: which email an IdP's claims carry and whether it may be
// trusted. serve applies them once, when a session is made (auth/login),
// and `lcw-auth-proxy token --claims` applies them to its claims file, so
// the offline tool never shows a value serve would drop.

// EmailVerified reports whether claims say the email was verified:
//   - email_verified true: the boolean the spec requires, or the string
//     "true" that some IdPs (Amazon Cognito, older ADFS) send instead;
//   - when the IdP sends no email_verified at all, Microsoft Entra ID's
//     optional claim xms_edov ("email domain owner verified", a boolean)
//     true. An email_verified that is present and not true is never
//     overruled by xms_edov.
func EmailVerified(c map[string]any) bool {
	if v, ok := c["email_verified"]; ok {
		return isTrue(v)
	}
	return isTrue(c["xms_edov"])
}

func isTrue(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// Trusted returns the claims with an email only when it may be trusted:
// the IdP verified it (EmailVerified) or allowUnverified
// (oidc.allow_unverified_email) says the IdP vouches for every address.
// Anyone who can register an address unverified at the IdP must not reach
// identity headers, email rules or lwicontexts with it.
//
// Azure AD B2C sends no email claim but an emails array (the account's
// sign-in and other addresses): when there is no email, the first entry of
// emails is the email, under the same rule; an untrusted emails array is
// dropped with it, so no rule can read the address by another name.
//
// c is not modified (it may be shared with other requests); the result is
// c itself when nothing changes.
func Trusted(c map[string]any, allowUnverified bool) map[string]any {
	_, hasEmail := c["email"]
	_, hasList := c["emails"]
	first := firstEmail(c["emails"])
	switch {
	case !hasEmail && !hasList:
		return c
	case allowUnverified || EmailVerified(c):
		if hasEmail || first == "" {
			return c
		}
		out := clone(c, "")
		out["email"] = first
		return out
	}
	out := clone(c, "email")
	delete(out, "emails")
	return out
}

// firstEmail is the first entry of B2C's emails claim when that is a
// string, else "".
func firstEmail(v any) string {
	switch l := v.(type) {
	case []any:
		if len(l) > 0 {
			s, _ := l[0].(string)
			return s
		}
	case []string:
		if len(l) > 0 {
			return l[0]
		}
	}
	return ""
}

// clone copies c without the key drop.
func clone(c map[string]any, drop string) map[string]any {
	out := make(map[string]any, len(c)+1)
	for k, v := range c {
		if k != drop {
			out[k] = v
		}
	}
	return out
}

// NormalEmail is an address as operators look it up (`sessions --email`,
// the hashed email of the sign-in log): without surrounding spaces and in
// lower case. Mailboxes are case-insensitive in practice, and IdPs return
// the case the user typed at registration.
func NormalEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// EmailSHA256 is the hex SHA-256 of NormalEmail(e): how the sign-in log
// names the address with log.email: hash. An operator finds a user's
// sign-ins by computing it from the address, e.g.
//
//	printf '%s' 'Alice@Example.com' | tr '[:upper:]' '[:lower:]' | sha256sum
//
// It is a pseudonym, not a secret: whoever knows an address can confirm it.
func EmailSHA256(e string) string {
	h := sha256.Sum256([]byte(NormalEmail(e)))
	return hex.EncodeToString(h[:])
}

// Email is the email claim of c as a string ("" when absent or not a
// string). Call it on Trusted claims.
func Email(c map[string]any) string {
	e, _ := c["email"].(string)
	return e
}

// DisplayName is the user's name for an operator: the name claim, else
// given_name and family_name joined.
func DisplayName(c map[string]any) string {
	if n, ok := c["name"].(string); ok && strings.TrimSpace(n) != "" {
		return n
	}
	given, _ := c["given_name"].(string)
	family, _ := c["family_name"].(string)
	return strings.TrimSpace(given + " " + family)
}
