package devidp

import (
	"net/http"
	"slices"
)

// CognitoLogoutPath is where Options.CognitoLogout serves Amazon Cognito's
// logout endpoint (https://{domain}.auth.{region}.amazoncognito.com/logout).
const CognitoLogoutPath = "/logout"

// cognitoLogout answers as Cognito's /logout does for a sign-out: it wants
// client_id and logout_uri (a registered "Allowed sign-out URL") and
// redirects there, ending the browser's session at the provider. It knows
// no post_logout_redirect_uri: a request with one, another client or an
// unregistered logout_uri ends on an error page.
func cognitoLogout(opts Options, sso *ssoSessions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		to := q.Get("logout_uri")
		if q.Has("post_logout_redirect_uri") || q.Get("client_id") != opts.ClientID || !slices.Contains(opts.PostLogoutRedirectURIs, to) {
			http.Error(w, "An error was encountered with the requested page. (Required String parameter 'client_id' and a registered 'logout_uri'.)", http.StatusBadRequest)
			return
		}
		if sso != nil {
			sso.end(w, r)
		}
		http.Redirect(w, r, to, http.StatusFound)
	})
}
