package preflight

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// check-config --online gets an app token and reads the table; each
// failure names its fix.
func TestContact(t *testing.T) {
	op := testenv.StartOP(t, testenv.OPOptions{})
	dv := testenv.StartDataverse(t, testenv.DataverseOptions{OP: op})
	section := func(edit func(*config.Contact)) config.Contact {
		c := config.Default().Token.Contact
		c.OrgURL, c.TokenURL, c.ClientID, c.ClientSecret = dv.URL, op.TokenURL(), op.AppClientID, op.AppClientSecret
		c.Timeout = config.Duration(5 * time.Second)
		c.Org, c.Scope, c.TokenEndpoint = c.OrgURL, c.OrgURL+"/.default", c.TokenURL
		if edit != nil {
			edit(&c)
		}
		return c
	}
	for _, tt := range []struct {
		name string
		edit func(*config.Contact)
		down bool
		ok   bool
		want string
	}{
		{"works", nil, false, true, "got an app token from " + op.TokenURL() + " and read contact records"},
		{"wrong secret", func(c *config.Contact) { c.ClientSecret = "wrong" }, false, false, "check token.contact.tenant_id, client_id and the secret"},
		{"a token for another environment", func(c *config.Contact) { c.Scope = "https://other.crm.dynamics.com/.default" }, false, false, "add the app registration as an application user"},
		{"Dataverse down", nil, true, false, "check that this host reaches"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dv.SetDown(tt.down)
			defer dv.SetDown(false)
			got := Contact(context.Background(), section(tt.edit), false)
			if len(got) != 1 || got[0].OK != tt.ok || !strings.Contains(got[0].String(), tt.want) {
				t.Fatalf("%v, want ok=%v and %q", got, tt.ok, tt.want)
			}
		})
	}
	if got := Contact(context.Background(), config.Default().Token.Contact, false); got != nil {
		t.Errorf("not configured: %v", got)
	}
}
