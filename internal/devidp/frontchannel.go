package devidp

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
)

// FrontchannelSignedOutPath is where Options.FrontchannelLogoutURI serves
// the provider's "you signed out" page: GET with the sid of the IdP
// session that ended. A real provider knows the sid from its own session
// cookie; the development provider takes it from the query, so a test
// names the sign-in it ends.
const FrontchannelSignedOutPath = "/signed-out"

// signedOutPage frames the client's front-channel logout URL, as Entra ID's
// and other providers' sign-out pages do for every application the
// browser signed in to (OpenID Connect Front-Channel Logout 1.0).
var signedOutPage = template.Must(template.New("signed-out").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Signed out at the provider</title></head>
<body><p id="done">You signed out.</p>
<iframe id="frontchannel" title="front-channel logout" src="{{.}}"></iframe>
</body></html>
`))

// frontchannelSignedOut serves FrontchannelSignedOutPath: the page frames
// opts.FrontchannelLogoutURI with iss and sid (sid alone with
// FrontchannelSIDOnly, as Entra ID sends it).
func frontchannelSignedOut(issuer string, opts Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sid := r.URL.Query().Get("sid")
		if sid == "" {
			http.Error(w, "sid is required", http.StatusBadRequest)
			return
		}
		u, err := url.Parse(opts.FrontchannelLogoutURI)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		q := u.Query()
		if !opts.FrontchannelSIDOnly {
			q.Set("iss", issuer)
		}
		q.Set("sid", sid)
		u.RawQuery = q.Encode()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = signedOutPage.Execute(w, u.String()) // the client went away; nothing to do
	}
}

// advertiseFrontchannel adds to the discovery document what a provider
// with front-channel logout announces (frontchannel_logout_session_supported:
// it sends iss and sid).
func advertiseFrontchannel(doc map[string]json.RawMessage) {
	doc["frontchannel_logout_supported"] = json.RawMessage("true")
	doc["frontchannel_logout_session_supported"] = json.RawMessage("true")
}
