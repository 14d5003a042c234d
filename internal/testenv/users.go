package testenv

import "github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"

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
