package preflight

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/contact"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// Contact checks token.contact as a sign-in would use it: an app token
// from the token endpoint, then a read of the table with it. Nothing when
// the lookup is not configured.
func Contact(ctx context.Context, c config.Contact, allowUnverifiedEmail bool) []Finding {
	if !c.Enabled() {
		return nil
	}
	l, err := contact.New(contact.Options{Contact: c, AllowUnverifiedEmail: allowUnverifiedEmail})
	if err != nil {
		return []Finding{{Key: "token.contact", Msg: err.Error(), Fix: "set token.contact.org_url"}}
	}
	table := c.Table + " records"
	err = l.Probe(ctx)
	if err == nil {
		return []Finding{{Key: "token.contact", OK: true, Msg: fmt.Sprintf("got an app token from %s and read %s at %s", config.RedactURL(c.TokenEndpoint), table, c.Org)}}
	}
	f := Finding{Key: "token.contact", Msg: err.Error()}
	var re *oauth2.RetrieveError
	var ae *contact.APIError
	switch {
	case errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500:
		f.Key = "token.contact.client_id"
		f.Fix = "the token endpoint refused the app: check token.contact.tenant_id, client_id and the secret or certificate (expired? uploaded to this app registration?)"
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		f.Fix = "Dataverse does not know the app: add the app registration as an application user of this environment (Power Platform admin center → Users + permissions → Application users)"
	case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
		f.Fix = fmt.Sprintf("the application user's security role needs Read on %s (Organization level)", c.Table)
	case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
		f.Fix = "Dataverse is throttling this app (service protection limits); try again later"
	default:
		f.Fix = fmt.Sprintf("check that this host reaches %s and %s (proxy, firewall, DNS)", c.Org, config.RedactURL(c.TokenEndpoint))
	}
	return []Finding{f}
}
