package login

import (
	"net/url"
	"strings"
)

// configuredLogout fills oidc.logout_url's placeholders (config validated
// that it has no others) for a session with idToken: the logout of IdPs
// whose end_session is off the spec (Amazon Cognito wants client_id and
// logout_uri, Auth0's /v2/logout returnTo) or missing from discovery.
func (rp *RP) configuredLogout(idToken string) string {
	return strings.NewReplacer(
		"{client_id}", url.QueryEscape(rp.opt.OIDC.ClientID),
		"{post_logout_redirect_uri}", url.QueryEscape(rp.opt.PublicOrigin+rp.opt.OIDC.PostLogoutRedirectPath),
		"{id_token_hint}", url.QueryEscape(idToken),
	).Replace(rp.opt.OIDC.LogoutURL)
}

// logoutURLTakesIDToken reports whether oidc.logout_url sends the ID token.
func logoutURLTakesIDToken(u string) bool { return strings.Contains(u, "{id_token_hint}") }

// keepsIDToken reports whether RP-initiated logout at p will send the ID
// token (id_token_hint): only then does a session keep it. Amazon
// Cognito's logout (client_id and logout_uri) and Auth0's /v2/logout take
// none; an IdP without end_session_endpoint gets a local logout.
func (rp *RP) keepsIDToken(p *provider) bool {
	if u := rp.opt.OIDC.LogoutURL; u != "" {
		return logoutURLTakesIDToken(u)
	}
	return p.endSession != ""
}
