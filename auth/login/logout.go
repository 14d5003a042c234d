package login

import (
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/errorpage"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/request"
)

// LogoutHandler clears every cookie of the proxy and, when there was a
// session and the provider advertises end_session_endpoint, continues
// with RP-initiated logout there. Without a session (a second click, a
// second tab, a session ended by back-channel logout or expiry) it stays
// local: without id_token_hint, certified IdPs such as Ory Hydra refuse
// post_logout_redirect_uri, and the user would be left on their error
// page. Only the site's own pages log out at once (a link or form of the
// public origin, or a client without Fetch metadata); any other site gets
// a page asking the user to confirm, so a cross-site link or image cannot
// end sessions.
func (rp *RP) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !request.SameOrigin(r, rp.opt.PublicOrigin) {
			rp.confirmLogout(w)
			return
		}
		sess, err := rp.store.Load(r)
		if err != nil {
			sess = nil
		}
		if err := rp.store.Clear(w, r); err != nil {
			// The record lives on: a copy of the cookie would still work,
			// so the browser keeps its cookie to try again.
			rp.log.ErrorContext(r.Context(), "logout: the session could not be ended", slog.String("error", err.Error()))
			rp.metrics.Logins.WithLabelValues("logout_failed").Inc()
			errorpage.Write(w, errorpage.FormatFor(r), http.StatusServiceUnavailable, "Signing out is not possible right now. Please try again in a moment.")
			return
		}
		if sess != nil {
			rp.refresher.ended(sess)
		}
		for _, c := range r.Cookies() {
			if strings.HasPrefix(c.Name, rp.flowCookiePrefix()) {
				http.SetCookie(w, rp.flowCookie(c.Name, "", -1))
			}
		}
		rp.metrics.Logins.WithLabelValues("logout").Inc()
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, rp.afterLogout(sess), http.StatusFound)
	})
}

// afterLogout is where the browser goes once sess (nil: there was none)
// is cleared: the provider's end_session_endpoint with id_token_hint and
// post_logout_redirect_uri when there is an ID token to name the session,
// oidc.logout_url filled in when there was a session (and the ID token,
// if the URL takes one), post_logout_redirect_path on this site otherwise.
func (rp *RP) afterLogout(sess *session.Session) string {
	local := rp.opt.OIDC.PostLogoutRedirectPath
	if sess == nil {
		return local
	}
	idToken := sess.IDToken
	if rp.opt.OIDC.LogoutURL != "" {
		if idToken == "" && logoutURLTakesIDToken(rp.opt.OIDC.LogoutURL) {
			return local
		}
		return rp.configuredLogout(idToken)
	}
	if idToken == "" {
		return local
	}
	p, err := rp.disc.get()
	if err != nil || p.endSession == "" {
		return local
	}
	u, err := url.Parse(p.endSession)
	if err != nil {
		return local
	}
	q := u.Query()
	q.Set("client_id", rp.opt.OIDC.ClientID)
	q.Set("id_token_hint", idToken)
	q.Set("post_logout_redirect_uri", rp.opt.PublicOrigin+local)
	u.RawQuery = q.Encode()
	return u.String()
}

// confirmLogout answers a logout that did not come from the site itself
// with a button that POSTs from the site's own origin. The page cannot be
// framed, so the button cannot be clickjacked.
func (rp *RP) confirmLogout(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>Sign out?</title>
<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;color:#222}button{font-size:1em;padding:.5em 1.2em}</style></head>
<body><h1>Sign out?</h1><p>Another site asked to sign you out of this one.</p>
<form method="post" action="%s"><button type="submit">Sign out</button></form>
<p><a href="/">Stay signed in</a></p></body></html>
`, html.EscapeString(rp.opt.Paths.Logout))
}
