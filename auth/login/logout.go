package login

import (
	"net/http"
	"net/url"
	"strings"
)

// LogoutHandler clears every cookie of the proxy and, when the provider
// advertises end_session_endpoint, continues with RP-initiated logout there.
func (rp *RP) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var idToken string
		if sess, err := rp.store.Load(r); err == nil {
			idToken = sess.IDToken
		}
		rp.store.Clear(w, r)
		for _, c := range r.Cookies() {
			if strings.HasPrefix(c.Name, rp.flowCookiePrefix()) {
				http.SetCookie(w, rp.flowCookie(c.Name, "", -1))
			}
		}
		rp.metrics.Logins.WithLabelValues("logout").Inc()
		w.Header().Set("Cache-Control", "no-store")
		after := rp.opt.OIDC.PostLogoutRedirectPath
		target := after
		if p, err := rp.disc.get(); err == nil && p.endSession != "" {
			if u, err := url.Parse(p.endSession); err == nil {
				q := u.Query()
				q.Set("client_id", rp.opt.OIDC.ClientID)
				q.Set("post_logout_redirect_uri", rp.opt.PublicOrigin+after)
				if idToken != "" {
					q.Set("id_token_hint", idToken)
				}
				u.RawQuery = q.Encode()
				target = u.String()
			}
		}
		http.Redirect(w, r, target, http.StatusFound)
	})
}
