package testenv

import (
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
)

// User is an account of the test OpenID provider (see devidp.User).
type User = devidp.User

// Usernames and passwords of devidp.DefaultUsers, so tests can log in without
// searching the slice.
const (
	VIPUsername      = devidp.VIPUsername
	VIPPassword      = devidp.VIPPassword
	CustomerUsername = devidp.CustomerUsername
	CustomerPassword = devidp.CustomerPassword
	PlainUsername    = devidp.PlainUsername
	PlainPassword    = devidp.PlainPassword
)

// LWIContexts is the token.lwicontexts section that maps the claims of the
// users StartOP serves by default (devidp.DefaultUsers): the VIP gets
// msdyn_isvip true, everyone region EU. It is indented to sit under
// `token:` in a test config.
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
