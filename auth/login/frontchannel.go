package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// Limits of OpenID Connect Front-Channel Logout 1.0 as the proxy applies
// them. The request comes from a browser, so anyone can send one: what is
// too long is refused before it is parsed.
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
//     sends, and only when that session's sid (and iss, when both are
//     known) is the one named: another sid is another sign-in (or a third
//     party's guess), left alone. A browser sends our SameSite=Lax cookie
//     in a frame only when the IdP's page is on the same site; from
//     another site (Entra ID) nothing comes and nothing can be cleared.
//
// The sid is the request's only authority. A GET that any page can cause
// (a link, a top-level navigation, which carries Lax cookies, or a frame
// of its own) ends nothing without the sid, which only the IdP, the ID
// token and the signed-in browser know; a request without one is refused
// rather than taken to mean "the browser's session". frame-ancestors keeps
// other sites from showing the answer, not from sending the request.
//
// iss, when present, must name oidc.issuer by the rule ID and logout
// tokens are checked by (issuerRule.checkIssuer: with a {tenantid} issuer,
// the issuer of an allowed tenant). Without iss the sid is taken alone:
// the spec wants both, but Entra ID sends only sid, and the proxy trusts
// exactly one OpenID provider, so the sid cannot be another provider's.
//
// Unless session.frontchannel_logout.enabled is set, the endpoint answers
// only once discovery found frontchannel_logout_supported: true (404
// otherwise; 503 before discovery succeeded).
//
// The answer is a tiny page that only the IdP's origin may frame
// (frame-ancestors session.frontchannel_logout's Ancestors), never cached:
// 200 whether or not a session ended (the caller learns nothing about
// other users' sessions), 400 for a malformed request or another issuer,
// 503 when the store cannot be reached, 405 for anything but GET (a HEAD
// must not end sessions). It never redirects.
func (rp *RP) FrontchannelLogoutHandler() http.Handler {
	srv, _ := rp.store.(FrontchannelStore)
	fc := rp.opt.Session.FrontchannelLogout
	csp := frontchannelCSP(fc.Ancestors)
	issuer := newIssuerRule(rp.opt.OIDC)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet {
			h.Set("Allow", http.MethodGet)
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		if fc.Enabled == nil {
			p, err := rp.disc.get()
			switch {
			case err != nil:
				rp.frontchannelAnswer(w, r, http.StatusServiceUnavailable, "unavailable", err)
				return
			case !p.frontchannel:
				rp.metrics.FrontchannelLogouts.WithLabelValues("not_supported").Inc()
				http.NotFound(w, r)
				return
			}
		}
		result, err := rp.frontchannelLogout(w, r, issuer, srv)
		var refused *logoutRefusal
		switch {
		case errors.As(err, &refused):
			rp.frontchannelAnswer(w, r, http.StatusBadRequest, refused.result, refused.err)
		case err != nil:
			rp.frontchannelAnswer(w, r, http.StatusServiceUnavailable, "unavailable", err)
		default:
			rp.frontchannelAnswer(w, r, http.StatusOK, result, nil)
		}
	})
}

// frontchannelAnswer counts and logs result and writes the page.
func (rp *RP) frontchannelAnswer(w http.ResponseWriter, r *http.Request, status int, result string, err error) {
	switch {
	case status == http.StatusBadRequest:
		rp.log.InfoContext(r.Context(), "front-channel logout refused", slog.String("reason", result), slog.String("error", err.Error()))
	case err != nil:
		rp.log.WarnContext(r.Context(), "front-channel logout failed", slog.String("error", err.Error()))
	default:
		rp.log.InfoContext(r.Context(), "front-channel logout", slog.String("result", result))
	}
	rp.metrics.FrontchannelLogouts.WithLabelValues(result).Inc()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(frontchannelAnswer))
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
func (rp *RP) frontchannelLogout(w http.ResponseWriter, r *http.Request, issuer issuerRule, srv FrontchannelStore) (result string, err error) {
	iss, sid, err := frontchannelParams(r, issuer)
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
	if err != nil {
		// No cookie (third-party cookies blocked, a cross-site IdP, or
		// signed out already) or one that opens nothing: nothing to end.
		return "no_session", nil
	}
	sessIss, _ := sess.Claims["iss"].(string)
	switch {
	case sess.SID == "" || subtle.ConstantTimeCompare([]byte(sess.SID), []byte(sid)) != 1:
		return "other_session", nil
	case iss != "" && sessIss != "" && sessIss != iss:
		// The same sid from another tenant's issuer: not this sign-in.
		return "other_session", nil
	}
	if err := rp.store.Clear(w, r); err != nil {
		return "", err
	}
	rp.refresher.ended(sess)
	return "ended", nil
}

// frontchannelParams reads the one sid and the optional one iss of a
// bounded query, iss checked by issuer.
func frontchannelParams(r *http.Request, issuer issuerRule) (iss, sid string, err error) {
	if len(r.URL.RawQuery) > maxFrontchannelQuery {
		return "", "", refuse("bad_request", "query of %d bytes, at most %d", len(r.URL.RawQuery), maxFrontchannelQuery)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", "", refuse("bad_request", "query: %w", err)
	}
	sids, isss := q["sid"], q["iss"]
	switch {
	case len(sids) != 1 || sids[0] == "":
		return "", "", refuse("bad_request", "want one sid, got %d", len(sids))
	case len(sids[0]) > maxSID:
		return "", "", refuse("bad_request", "sid of %d bytes, at most %d", len(sids[0]), maxSID)
	case !printableASCII(sids[0]):
		return "", "", refuse("bad_request", "sid is not printable ASCII (the syntax of a client id)")
	case len(isss) > 1:
		return "", "", refuse("bad_request", "want at most one iss, got %d", len(isss))
	case len(isss) == 1:
		if err := issuer.checkIssuer(isss[0]); err != nil {
			return "", "", refuse("wrong_issuer", "%w", err)
		}
		iss = isss[0]
	}
	return iss, sids[0], nil
}

// printableASCII: %x20-7E, OAuth 2.0's VSCHAR, of which a client id (and
// so a sid) is made.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
