package claims

import (
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// ContactClaim is the name under which a session keeps its Dataverse
// contact link (token.contact) among its claims: the chat token reads it
// (sub), the session keeps it only while the configuration asks for it
// (Needed), and an IdP can never set it (the sign-in drops any claim of
// this name before the link is made).
const ContactClaim = "_lcw_contact"

// Contact lookup results (lcw_contact_lookups_total's result label and
// Contact.Result).
const (
	ContactLinked      = "linked"      // one active record: its GUID is sub
	ContactCreated     = "created"     // none found; a new contact was made
	ContactNoMatch     = "no_match"    // none found: sub stays the IdP's subject
	ContactAmbiguous   = "ambiguous"   // two or more: no link, never a guess
	ContactNoClaim     = "no_claim"    // the user has no verified value to match
	ContactThrottled   = "throttled"   // Dataverse said 429: retried after Retry-After
	ContactUnavailable = "unavailable" // timeout, network, 5xx: retried at the next refresh
	ContactError       = "error"       // refused (401, 403, 400): retried at the next refresh
)

// Contact is a session's link to its Dataverse record.
type Contact struct {
	// ID is the record's GUID when Result is linked or created (or when a
	// later check failed and the earlier link stands).
	ID string
	// Result is the last lookup's outcome.
	Result string
	// Next is when a refresh looks again; zero: never.
	Next time.Time
}

// ContactOf reads the link a session keeps; ok is false without one.
func ContactOf(c map[string]any) (Contact, bool) {
	m, ok := c[ContactClaim].(map[string]any)
	if !ok {
		return Contact{}, false
	}
	var out Contact
	out.ID, _ = m["id"].(string)
	out.Result, _ = m["r"].(string)
	if n, ok := m["next"].(float64); ok && n > 0 {
		out.Next = time.Unix(int64(n), 0)
	}
	return out, out.Result != ""
}

// Value is the link as a claim value (what JSON keeps the same through a
// session's round trip).
func (c Contact) Value() map[string]any {
	m := map[string]any{"r": c.Result}
	if c.ID != "" {
		m["id"] = c.ID
	}
	if !c.Next.IsZero() {
		m["next"] = float64(c.Next.Unix())
	}
	return m
}

// Due reports whether a refresh at now should look the record up again.
func (c Contact) Due(now time.Time) bool {
	return !c.Next.IsZero() && !now.Before(c.Next)
}

// IsRecordID reports whether s has the form of a Dataverse record id (a
// GUID), the only sub that links a chat to a record.
func IsRecordID(s string) bool { return config.IsGUID(s) }
