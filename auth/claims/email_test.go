package claims

import (
	"maps"
	"testing"
)

// The email rules serve and `token --claims` share: which sets of claims
// keep an email (and B2C's emails array), with and without
// oidc.allow_unverified_email.
func TestTrusted(t *testing.T) {
	for _, tt := range []struct {
		name   string
		claims map[string]any
		allow  bool
		email  any // the email kept; nil: none
	}{
		{"verified", map[string]any{"email": "a@example.com", "email_verified": true}, false, "a@example.com"},
		{"verified as a string", map[string]any{"email": "a@example.com", "email_verified": "true"}, false, "a@example.com"},
		{"unverified", map[string]any{"email": "a@example.com", "email_verified": false}, false, nil},
		{"no email_verified", map[string]any{"email": "a@example.com"}, false, nil},
		{"no email_verified, allowed", map[string]any{"email": "a@example.com"}, true, "a@example.com"},
		{"unverified, allowed", map[string]any{"email": "a@example.com", "email_verified": false}, true, "a@example.com"},
		{"Entra xms_edov true", map[string]any{"email": "a@example.com", "xms_edov": true}, false, "a@example.com"},
		{"Entra xms_edov false", map[string]any{"email": "a@example.com", "xms_edov": false}, false, nil},
		{"Entra xms_edov as a string", map[string]any{"email": "a@example.com", "xms_edov": "true"}, false, "a@example.com"},
		{"Entra xms_edov 1 is not true", map[string]any{"email": "a@example.com", "xms_edov": 1.0}, false, nil},
		{"email_verified false is not overruled by xms_edov", map[string]any{"email": "a@example.com", "email_verified": false, "xms_edov": true}, false, nil},
		{"B2C emails, allowed", map[string]any{"emails": []any{"b@example.com", "c@example.com"}}, true, "b@example.com"},
		{"B2C emails, unverified", map[string]any{"emails": []any{"b@example.com"}}, false, nil},
		{"B2C emails beside an email", map[string]any{"email": "a@example.com", "emails": []any{"b@example.com"}, "email_verified": true}, false, "a@example.com"},
		{"B2C emails empty", map[string]any{"emails": []any{}}, true, nil},
		{"no email at all", map[string]any{"email_verified": true}, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := map[string]any{"sub": "s", "groups": []any{"g"}}
			maps.Copy(in, tt.claims)
			before := maps.Clone(in)
			got := Trusted(in, tt.allow)
			if got["email"] != tt.email {
				t.Errorf("email %v, want %v (claims %v)", got["email"], tt.email, got)
			}
			if _, hasList := got["emails"]; hasList && tt.email == nil && tt.claims["emails"] != nil && !tt.allow {
				t.Errorf("an untrusted emails array was kept: %v", got)
			}
			if got["sub"] != "s" || got["groups"] == nil {
				t.Errorf("other claims lost: %v", got)
			}
			if !maps.EqualFunc(in, before, func(a, b any) bool { return fmtEq(a, b) }) {
				t.Errorf("the input claims were modified: %v", in)
			}
		})
	}
}

func fmtEq(a, b any) bool {
	s1, _ := canonical(a)
	s2, _ := canonical(b)
	if s1 == "" && s2 == "" {
		return true // lists: compared by presence only
	}
	return s1 == s2
}
