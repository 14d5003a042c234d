package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/token"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// Thresholds for warnings about a real token: close to Omnichannel's
// lwicontexts limits (100 keys, 4,000 characters a value). A lifetime
// below config.AdvisedMinTokenLifetime is warned about too: a browser
// clock a few minutes ahead sees such a token expired on arrival.
const (
	contextKeysWarn  = 80
	contextValueWarn = 3500
)

// checkCrossSite asks for a token the way a script on another site would,
// with the session cookie when there is one: only a 403 is safe.
func (c *check) checkCrossSite(ctx context.Context) {
	u := c.endpoint("token")
	hdr := map[string]string{
		"Origin":         "https://doctor.invalid",
		"Sec-Fetch-Site": "cross-site",
		"Sec-Fetch-Mode": "cors",
		"Sec-Fetch-Dest": "empty",
		"Accept":         "application/json",
	}
	if c.opt.Cookie != "" {
		hdr["Cookie"] = c.opt.Cookie
	}
	resp, _, err := c.get(ctx, http.MethodGet, u, hdr)
	switch {
	case err != nil:
		c.add(Error, "token", fmt.Sprintf("%s: %v", u, err), "check that the proxy serves "+c.opt.Prefix+"/token")
	case resp.StatusCode == http.StatusForbidden:
		c.ok("token", "%s refuses requests from other sites (403)", u)
	case resp.StatusCode == http.StatusOK:
		c.add(Error, "token", u+" hands a chat token to a request from another site: any site your users visit could take it",
			"make sure nothing in front of the proxy drops the Origin and Sec-Fetch-* headers, and that "+c.opt.Prefix+"/token reaches the proxy itself")
	default:
		c.add(Error, "token", fmt.Sprintf("%s answers a request from another site with %s, not 403", u, resp.Status),
			"check that "+c.opt.Prefix+"/token reaches the proxy itself and that nothing in front of it drops the Origin and Sec-Fetch-* headers")
	}
}

// checkToken fetches a token as the page's script does, with the session
// cookie, and verifies it as Omnichannel would, against each published key
// document, then warns about what works but is fragile.
func (c *check) checkToken(ctx context.Context) {
	u := c.endpoint("token")
	if c.opt.Cookie == "" {
		c.add(Skip, "token", "no signed-in session: a real token was not checked", "pass --cookie or --cookie-file of a signed-in session to verify one")
		return
	}
	resp, body, err := c.get(ctx, http.MethodGet, u, map[string]string{
		"Cookie":         c.opt.Cookie,
		"Origin":         c.origin,
		"Sec-Fetch-Site": "same-origin",
		"Sec-Fetch-Mode": "cors",
		"Sec-Fetch-Dest": "empty",
		"Accept":         "application/json",
	})
	var answer struct {
		Token string `json:"token"`
	}
	switch {
	case err != nil:
		c.add(Error, "token", fmt.Sprintf("%s: %v", u, err), "check that the proxy serves "+c.opt.Prefix+"/token")
		return
	case resp.StatusCode == http.StatusUnauthorized:
		c.add(Error, "token", u+" answers 401 with the cookie given: it is not a signed-in session", "sign in, then copy the Cookie header (or export the cookies) again")
		return
	case resp.StatusCode == http.StatusForbidden:
		c.add(Error, "token", fmt.Sprintf("%s refuses a request from its own page (Origin %s) with 403: the proxy's public_url is another origin", u, c.origin),
			"run doctor on the URL browsers use, or set public_url to the origin browsers use (scheme, host and port)")
		return
	case resp.StatusCode != http.StatusOK:
		c.add(Error, "token", fmt.Sprintf("%s answers %s to the signed-in session", u, resp.Status), "see the proxy's log for why")
		return
	case json.Unmarshal(body, &answer) != nil || answer.Token == "":
		c.add(Error, "token", u+" answered without a token in {\"token\": …}", "check that "+c.opt.Prefix+"/token reaches the proxy")
		return
	}
	docs := []struct {
		name string
		pub  []keys.PublicKey
	}{{"public-keys", c.keys.multi}}
	if c.keys.pem != nil {
		docs = append(docs, struct {
			name string
			pub  []keys.PublicKey
		}{"public-key.pem", []keys.PublicKey{{Key: c.keys.pem}}})
	}
	var rep *token.Report
	for _, d := range docs {
		if d.pub == nil {
			continue
		}
		r, err := token.Verify(answer.Token, d.pub, c.opt.Now())
		rep = r
		if err != nil {
			c.add(Error, "token", fmt.Sprintf("with %s as the public key URL Omnichannel would reject the token: %s", d.name, strings.Join(r.Failures, "; ")),
				"fix what the message names (lcw-auth-proxy verify --key URL TOKEN explains a token in detail)")
			continue
		}
		key := "kid " + r.Kid
		if r.Kid == "" {
			key = "its one key"
		}
		c.ok("token", "a signed-in session's token verifies as Omnichannel verifies it, with %s (%s)", d.name, key)
		for _, w := range r.Warnings {
			c.add(Warn, "token", w, "see lcw-auth-proxy verify --key URL TOKEN")
		}
	}
	if rep == nil {
		c.add(Error, "token", "no usable key document to verify the token with", "fix the key findings above")
		return
	}
	c.checkClaims(rep)
	sub, _ := rep.Claims["sub"].(string)
	c.checkContact(ctx, sub)
}

// checkContact asks {prefix}/session where sub came from: with
// token.contact configured the answer names the last lookup's result, and
// whether sub is the GUID of the user's Dataverse record.
func (c *check) checkContact(ctx context.Context, sub string) {
	u := c.endpoint("session")
	resp, body, err := c.get(ctx, http.MethodGet, u, map[string]string{
		"Cookie": c.opt.Cookie, "Origin": c.origin, "Sec-Fetch-Site": "same-origin", "Accept": "application/json",
	})
	if err != nil || resp.StatusCode != http.StatusOK {
		return // the token check above already said what is wrong
	}
	var answer struct {
		Contact *token.ContactView `json:"contact"`
	}
	if json.Unmarshal(body, &answer) != nil {
		return
	}
	ct := answer.Contact
	switch {
	case ct == nil:
		if claims.IsRecordID(sub) {
			c.ok("token", "sub is a GUID, from token.subject_claim (no Dataverse lookup is configured): Omnichannel links the chat if it is an active contact's or account's id")
		}
	case ct.FromDataverse:
		c.ok("token", "sub %s is the GUID of the signed-in user's Dataverse record, found by the contact lookup (%s)", sub, ct.Result)
	default:
		text, fix := contactAdvice(ct.Result)
		c.add(Warn, "token", "sub is not from Dataverse: the contact lookup says "+text, fix)
	}
}

// contactAdvice explains a lookup result that left sub the IdP's subject.
func contactAdvice(result string) (text, fix string) {
	switch result {
	case claims.ContactNoMatch:
		return "no active record matches this user", "create the contact in Dataverse (or set token.contact.on_no_match: create); the next refresh or sign-in finds it"
	case claims.ContactAmbiguous:
		return "more than one active record matches this user, so none is linked", "merge or deactivate the duplicate records in Dataverse"
	case claims.ContactNoClaim:
		return "this user has no verified value of the matched claim", "match a claim every user has and the IdP verifies (token.contact.match.claim); an email needs email_verified"
	case claims.ContactThrottled:
		return "Dataverse throttled the lookup (429)", "it is tried again at the next refresh; see lcw_contact_lookups_total and Dataverse's service protection limits"
	case claims.ContactUnavailable:
		return "Dataverse or Entra ID did not answer in time", "it is tried again at the next refresh; see the proxy's log (contact look up failed) and lcw_contact_lookups_total"
	}
	return fmt.Sprintf("%q: the lookup was refused", result), "see the proxy's log (contact look up failed): the app registration, its secret, the application user and its security role"
}

// checkClaims warns about a token Omnichannel accepts but that is likely
// to cause trouble.
func (c *check) checkClaims(rep *token.Report) {
	if sub, _ := rep.Claims["sub"].(string); sub != "" && !claims.IsRecordID(sub) {
		c.add(Warn, "token", fmt.Sprintf("sub %q is not a GUID: Omnichannel links a chat to the Dataverse contact whose id sub is, so this chat links to no contact", sub),
			"configure token.contact (the proxy looks the contact up in Dataverse), or set token.subject_claim to a claim that holds the contact's GUID")
	}
	if ctxs := rep.LWIContexts; ctxs != nil {
		if n := len(ctxs); n >= contextKeysWarn {
			c.add(Warn, "token", fmt.Sprintf("lwicontexts has %d keys, close to Omnichannel's limit of %d", n, config.MaxContextKeys),
				"drop context variables the agents do not need")
		}
		for k, v := range ctxs {
			if s, ok := v.(string); ok && utf8.RuneCountInString(s) >= contextValueWarn {
				c.add(Warn, "token", fmt.Sprintf("lwicontexts key %q holds %d characters, close to Omnichannel's limit of %d", k, utf8.RuneCountInString(s), config.MaxContextValueLen),
					"shorten the value (a claim that grows, such as a list of groups, can pass the limit and is then left out)")
			}
		}
	}
	iat, _ := rep.Claims["iat"].(float64)
	exp, _ := rep.Claims["exp"].(float64)
	if life := time.Duration(exp-iat) * time.Second; exp > iat && life < config.AdvisedMinTokenLifetime {
		c.add(Warn, "token", fmt.Sprintf("the token lives %s: a visitor whose clock runs a few minutes ahead gets it already expired (the widget checks exp against the browser's clock)", life),
			fmt.Sprintf("set token.lifetime to at least %s (default %s)", config.DurationText(config.AdvisedMinTokenLifetime), config.DurationText(config.Default().Token.Lifetime.D())))
	}
}
