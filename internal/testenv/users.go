package testenv

import (
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
)

// User is an account of the test OpenID provider (see devidp.User).
type User = devidp.User

// Usernames and passwords of DefaultUsers, so tests can log in without
// searching the slice.
const (
	VIPUsername      = devidp.VIPUsername
	VIPPassword      = devidp.VIPPassword
	CustomerUsername = devidp.CustomerUsername
	CustomerPassword = devidp.CustomerPassword
	PlainUsername    = devidp.PlainUsername
	PlainPassword    = devidp.PlainPassword
)

// DefaultUsers returns the accounts StartOP serves when OPOptions.Users is
// empty: a VIP with every claim the proxy maps, a regular customer, and a
// plain user with no extra claims and an unverified email (for "claim
// missing" cases). Each call returns fresh values, so callers may modify them.
func DefaultUsers() []User { return devidp.DefaultUsers() }

// LWIContexts is the token.lwicontexts section that maps DefaultUsers'
// claims: the VIP gets msdyn_isvip true, everyone region EU. It is indented
// to sit under `token:` in a test config.
const LWIContexts = `  lwicontexts:
    customer_email: { claim: email }
    customer_name:  { claim: name }
    msdyn_isvip:    { claim: email, equals: vip@example.com, type: boolean }
    region:         { value: EU }
`

// SubjectOf is the sub claim the OP gives username.
func SubjectOf(t testing.TB, op *OP, username string) string {
	t.Helper()
	for _, u := range op.Users {
		if u.Username == username {
			if u.ID == "" {
				return u.Username
			}
			return u.ID
		}
	}
	t.Fatalf("testenv.SubjectOf: the OP has no user %s", username)
	return ""
}
