package token

import (
	"context"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// With token.contact, sub is the session's linked record when it has one
// (the IdP subject in subject_context either way); without the section a
// link in the claims is never read.
func TestPayloadContactSubject(t *testing.T) {
	const guid = "3f1c9a52-7d6e-4b8f-9a01-5e2d4c6b8a73"
	withContact := func(c *config.Token) {
		c.Contact.OrgURL = "https://contoso.crm.dynamics.com"
		c.Contact.SubjectContext = "idp_subject"
	}
	with := func(link claims.Contact) map[string]any {
		c := map[string]any{"sub": "idp-1", "email": "vip@example.com", "email_verified": true}
		c[claims.ContactClaim] = link.Value()
		return c
	}
	for _, tt := range []struct {
		name        string
		configured  bool
		claims      map[string]any
		sub, result string
		fromDV      bool
	}{
		{"linked", true, with(claims.Contact{ID: guid, Result: claims.ContactLinked}), guid, "linked", true},
		{"a failed recheck keeps the link", true, with(claims.Contact{ID: guid, Result: claims.ContactUnavailable}), guid, "unavailable", true},
		{"no match", true, with(claims.Contact{Result: claims.ContactNoMatch}), "idp-1", "no_match", false},
		{"an id that is not a GUID is never sub", true, with(claims.Contact{ID: "x' or 1", Result: claims.ContactLinked}), "idp-1", "linked", false},
		{"not configured: the link is not read", false, with(claims.Contact{ID: guid, Result: claims.ContactLinked}), "idp-1", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mutate func(*config.Token)
			if tt.configured {
				mutate = withContact
			}
			f := newFixture(t, mutate, nil)
			p, err := f.minter.Payload(context.Background(), tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != tt.sub {
				t.Errorf("sub = %q, want %q", p.Subject, tt.sub)
			}
			v := contactView(p)
			switch {
			case !tt.configured && v != nil:
				t.Errorf("contact view %+v without token.contact", v)
			case tt.configured && (v == nil || v.Result != tt.result || v.FromDataverse != tt.fromDV):
				t.Errorf("contact view %+v, want %s from Dataverse %v", v, tt.result, tt.fromDV)
			}
			if tt.configured && p.Contexts["idp_subject"] != "idp-1" {
				t.Errorf("idp_subject = %v, want the IdP subject", p.Contexts["idp_subject"])
			}
			if !tt.configured && p.Contexts["idp_subject"] != nil {
				t.Errorf("idp_subject set without token.contact")
			}
		})
	}
}
