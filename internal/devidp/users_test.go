package devidp

import (
	"strings"
	"testing"
)

func TestNewUserStoreRejectsBadUsers(t *testing.T) {
	tests := []struct {
		name    string
		users   []User
		wantErr string
	}{
		{name: "empty username", users: []User{{ID: "x"}}, wantErr: "empty username"},
		{name: "duplicate username", users: []User{{ID: "a", Username: "u"}, {ID: "b", Username: "u"}}, wantErr: "duplicate username"},
		{name: "duplicate id", users: []User{{ID: "a", Username: "u"}, {ID: "a", Username: "v"}}, wantErr: "duplicate id"},
		{name: "extra claim shadows email", users: []User{{Username: "u", Claims: map[string]any{"email": "x@y"}}}, wantErr: `"email"`},
		{name: "extra claim shadows sub", users: []User{{Username: "u", Claims: map[string]any{"sub": "other"}}}, wantErr: `"sub"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newUserStore(tt.users)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("newUserStore error = %v, want one containing %s", err, tt.wantErr)
			}
		})
	}
}

func TestNewUserStoreServesDefaultUsers(t *testing.T) {
	s, err := newUserStore(DefaultUsers())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range DefaultUsers() {
		got := s.GetUserByUsername(u.Username)
		if got == nil || got.ID != u.ID || got.Password != u.Password || s.GetUserByID(u.ID) != got {
			t.Errorf("user %q not served as configured: %+v", u.Username, got)
		}
	}
	if s.GetUserByUsername("nobody") != nil {
		t.Error("unknown username found")
	}
	// An ID defaults to the username, so the sub claim is never empty.
	s, err = newUserStore([]User{{Username: "solo"}})
	if err != nil || s.GetUserByID("solo") == nil {
		t.Errorf("user without ID not served under its username (err %v)", err)
	}
}
