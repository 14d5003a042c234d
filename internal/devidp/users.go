package devidp

import (
	"fmt"
	"maps"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/text/language"
)

// User is an account of the development OpenID provider.
type User struct {
	ID            string // the "sub" claim; defaults to Username when empty
	Username      string // what the login form takes; also "preferred_username"
	Password      string
	FirstName     string // "given_name"; "name" is FirstName + " " + LastName
	LastName      string // "family_name"
	Email         string
	EmailVerified bool

	// Claims are extra claims put into the ID token and userinfo next to the
	// standard ones, whenever the profile or email scope is granted. Values
	// are any JSON value: string, number, bool, array, object. Keys must not
	// name a claim the provider sets itself (see reservedClaims).
	Claims map[string]any
}

// Usernames and passwords of DefaultUsers, so tests and demos can sign in without
// searching the slice.
const (
	VIPUsername      = "vip"
	VIPPassword      = "vip-password"
	CustomerUsername = "customer"
	CustomerPassword = "customer-password"
	PlainUsername    = "plain"
	PlainPassword    = "plain-password"
)

// DefaultUsers returns the accounts Start serves when Options.Users is
// empty: a VIP with every claim the proxy maps, a regular customer, and a
// plain user with no extra claims and an unverified email (for "claim
// missing" cases). Each call returns fresh values, so callers may modify them.
func DefaultUsers() []User {
	return []User{
		{
			ID:            "3f1c9a52-7d6e-4b8f-9a01-5e2d4c6b8a73",
			Username:      VIPUsername,
			Password:      VIPPassword,
			FirstName:     "Vera",
			LastName:      "Important",
			Email:         "vip@example.com",
			EmailVerified: true,
			Claims: map[string]any{
				"groups":     []string{"vip", "customers"},
				"contact_id": "87b4d06c-2f5e-4c1a-b7d3-9e0f6a1c2b45",
				"cart_value": 10000,
			},
		},
		{
			ID:            "a9e4b7c1-0d3f-4e28-8b6a-2c5f7d9e1a04",
			Username:      CustomerUsername,
			Password:      CustomerPassword,
			FirstName:     "Carl",
			LastName:      "Customer",
			Email:         "customer@example.com",
			EmailVerified: true,
			Claims: map[string]any{
				"groups":     []string{"customers"},
				"contact_id": "5b2d8e6f-9a1c-4f37-8e0b-6d4a2c1f9e87",
				"cart_value": 25.5,
			},
		},
		{
			ID:            "c0ffee00-1111-4222-8333-444455556666",
			Username:      PlainUsername,
			Password:      PlainPassword,
			FirstName:     "Paula",
			LastName:      "Plain",
			Email:         "plain@example.com",
			EmailVerified: false,
		},
	}
}

// reservedClaims are set by the provider or the example storage; an extra
// claim of the same name would be silently overwritten, so Start refuses it.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "iat": true, "nbf": true,
	"auth_time": true, "nonce": true, "acr": true, "amr": true, "azp": true,
	"at_hash": true, "c_hash": true, "sid": true, "client_id": true,
	"email": true, "email_verified": true, "name": true, "given_name": true,
	"family_name": true, "preferred_username": true, "locale": true,
	"phone_number": true, "phone_number_verified": true,
}

// userStore serves the configured users to the example storage; it is read
// only after construction, so it needs no lock.
type userStore struct {
	byID       map[string]*storage.User
	byUsername map[string]*storage.User
	claims     map[string]map[string]any // by user ID
}

var _ storage.UserStore = (*userStore)(nil)

func newUserStore(users []User) (*userStore, error) {
	s := &userStore{
		byID:       make(map[string]*storage.User, len(users)),
		byUsername: make(map[string]*storage.User, len(users)),
		claims:     make(map[string]map[string]any, len(users)),
	}
	for _, u := range users {
		if u.Username == "" {
			return nil, fmt.Errorf("user %q: empty username", u.ID)
		}
		id := u.ID
		if id == "" {
			id = u.Username
		}
		if _, dup := s.byID[id]; dup {
			return nil, fmt.Errorf("user %q: duplicate id %q", u.Username, id)
		}
		if _, dup := s.byUsername[u.Username]; dup {
			return nil, fmt.Errorf("user %q: duplicate username", u.Username)
		}
		for k := range u.Claims {
			if reservedClaims[k] {
				return nil, fmt.Errorf("user %q: extra claim %q is set by the provider itself", u.Username, k)
			}
		}
		su := &storage.User{
			ID:                id,
			Username:          u.Username,
			Password:          u.Password,
			FirstName:         u.FirstName,
			LastName:          u.LastName,
			Email:             u.Email,
			EmailVerified:     u.EmailVerified,
			PreferredLanguage: language.English,
		}
		s.byID[id] = su
		s.byUsername[u.Username] = su
		// Clone so a caller that edits its slice after Start cannot race the OP.
		s.claims[id] = maps.Clone(u.Claims)
	}
	return s, nil
}

// GetUserByID implements storage.UserStore.
func (s *userStore) GetUserByID(id string) *storage.User { return s.byID[id] }

// GetUserByUsername implements storage.UserStore.
func (s *userStore) GetUserByUsername(username string) *storage.User {
	return s.byUsername[username]
}

// ExampleClientID implements storage.UserStore; the storage registers a JWT
// profile service under this id, which the proxy never uses.
func (s *userStore) ExampleClientID() string { return storage.ServiceUserID }
