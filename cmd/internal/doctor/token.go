package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

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

// guid is the form of a Dataverse record id.
var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

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
}

// checkClaims warns about a token Omnichannel accepts but that is likely
// to cause trouble.
func (c *check) checkClaims(rep *token.Report) {
	if sub, _ := rep.Claims["sub"].(string); sub != "" && !guid.MatchString(sub) {
		c.add(Warn, "token", fmt.Sprintf("sub %q is not a GUID: Omnichannel links a chat to the Dataverse contact whose id sub is, so this chat links to no contact", sub),
			"set token.subject_claim to a claim that holds the contact's GUID")
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
