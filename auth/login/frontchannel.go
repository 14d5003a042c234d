package login

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// Limits of OpenID Connect Front-Channel Logout 1.0 as the proxy applies
// them. The request comes from a browser, so anyone can send one: what is
// too long is refused before it is parsed or logged.
const (
	// maxFrontchannelQuery bounds the whole query: an issuer URL and a sid.
	maxFrontchannelQuery = 4 << 10
	// maxSID bounds the sid: Entra ID's is a GUID; the spec gives it the
	// syntax of a client identifier.
	maxSID = 255
)

// FrontchannelStore is what front-channel logout needs of a server-side
// session store (session.RedisStore has it): ending every session of an
// IdP session, on every replica. Without it (the cookie store) only the
// cookie the browser sends can be cleared.
type FrontchannelStore interface {
	EndSID(ctx context.Context, sid string) (int, error)
}

// frontchannelAnswer is what the IdP's iframe shows. It carries nothing of
// the request, so nothing can be reflected into it.
const frontchannelAnswer = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Signed out</title></head><body></body></html>\n"

// FrontchannelLogoutHandler serves OpenID Connect Front-Channel Logout 1.0:
// when the user signs out at the IdP (or in another of its applications),
// the IdP's logout page loads this endpoint in an iframe with the IdP
// session's sid, and usually iss. The sessions of that sid end:
//
//   - with a server-side store (FrontchannelStore), every session of the
//     sid on every replica: the sid alone names them, so it works whether
//     or not the browser sends our cookie in the IdP's frame;
//   - with the cookie store, only the session whose cookie the browser
//     sends, and only when that session's sid is the one named: another
//     sid is another sign-in (or a third party's guess), left alone. A
//     browser sends our SameSite=Lax cookie in a frame only when the IdP's
//     page is on the same site; from another site (Entra ID) nothing comes
//     and nothing can be cleared.
//
// A request without sid is refused rather than taken to mean "the
// browser's session": a GET that any page can cause (a link, a top-level
// navigation, which carries Lax cookies) must not sign users out, and the
// sid, which only the IdP and the ID token know, is what says the IdP
// sent it. An iss, when present, must name oidc.issuer (issuerMatches);
// Entra ID sends only sid, which is unambiguous because the proxy has one
// OpenID provider.
//
// The answer is a tiny page that only the IdP's origin may frame
// (frame-ancestors session.frontchannel_logout's Ancestors), never cached:
// 200 whether or not a session ended (the IdP learns nothing about other
// users' sessions), 400 for a malformed request or another issuer, 503
// when the store cannot be reached, 405 for anything but GET (a HEAD
// must not end sessions). It never redirects.
func (rp *RP) FrontchannelLogoutHandler() http.Handler {
	srv, _ := rp.store.(FrontchannelStore)
	csp := frontchannelCSP(rp.opt.Session.FrontchannelLogout.Ancestors)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet {
			h.Set("Allow", http.MethodGet)
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		status := http.StatusOK
		result, err := rp.frontchannelLogout(w, r, srv)
		var refused *logoutRefusal
		switch {
		case errors.As(err, &refused):
			status, result = http.StatusBadRequest, refused.result
			rp.log.InfoContext(r.Context(), "front-channel logout refused", slog.String("reason", refused.result), slog.String("error", refused.err.Error()))
		case err != nil:
			status, result = http.StatusServiceUnavailable, "unavailable"
			rp.log.WarnContext(r.Context(), "front-channel logout failed", slog.String("error", err.Error()))
		default:
			rp.log.InfoContext(r.Context(), "front-channel logout", slog.String("result", result))
		}
		rp.metrics.FrontchannelLogouts.WithLabelValues(result).Inc()
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(frontchannelAnswer))
	})
}

// frontchannelCSP lets the answer be framed by the given origins only
// (none without any) and load nothing.
func frontchannelCSP(ancestors []string) string {
	fa := "'none'"
	if len(ancestors) > 0 {
		fa = strings.Join(ancestors, " ")
	}
	return "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors " + fa
}

// frontchannelLogout checks the request's iss and sid and ends the
// sessions of the sid; result is the metric's label. A *logoutRefusal is a
// malformed request; any other error is the store's.
func (rp *RP) frontchannelLogout(w http.ResponseWriter, r *http.Request, srv FrontchannelStore) (result string, err error) {
	sid, err := frontchannelParams(r, rp.issuerMatches)
	if err != nil {
		return "", err
	}
	if srv != nil {
		n, err := srv.EndSID(r.Context(), sid)
		switch {
		case err != nil:
			return "", err
		case n == 0:
			return "no_session", nil
		}
		return "ended", nil
	}
	sess, err := rp.store.Load(r)
	switch {
	case err != nil:
		// No cookie (third-party cookies blocked, or signed out already)
		// or one that opens nothing: nothing here to end.
		return "no_session", nil
	case sess.SID == "" || sess.SID != sid:
		return "other_session", nil
	}
	if err := rp.store.Clear(w, r); err != nil {
		return "", err
	}
	rp.refresher.ended(sess)
	return "ended", nil
}

// frontchannelParams reads the one sid and the optional one iss of a
// bounded query, iss checked by issuerOK.
func frontchannelParams(r *http.Request, issuerOK func(string) bool) (string, error) {
	if len(r.URL.RawQuery) > maxFrontchannelQuery {
		return "", refuse("bad_request", "query of %d bytes, at most %d", len(r.URL.RawQuery), maxFrontchannelQuery)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", refuse("bad_request", "query: %w", err)
	}
	sids, iss := q["sid"], q["iss"]
	switch {
	case len(sids) != 1 || sids[0] == "":
		return "", refuse("bad_request", "want one sid, got %d", len(sids))
	case len(sids[0]) > maxSID:
		return "", refuse("bad_request", "sid of %d bytes, at most %d", len(sids[0]), maxSID)
	case len(iss) > 1:
		return "", refuse("bad_request", "want at most one iss, got %d", len(iss))
	case len(iss) == 1 && !issuerOK(iss[0]):
		return "", refuse("wrong_issuer", "iss is not oidc.issuer")
	}
	return sids[0], nil
}

// issuerMatches reports whether iss names the configured OpenID provider,
// as a logout token's iss is checked (go-oidc's Verify: the very string
// of oidc.issuer). It is the one place front-channel logout decides which
// issuer to believe, so an issuer template ({tenantid}) is checked by
// swapping this function's body for the template's matcher.
func (rp *RP) issuerMatches(iss string) bool {
	return iss == rp.opt.OIDC.Issuer
}
