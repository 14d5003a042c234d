package login

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/redirect"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/errorpage"
)

// flow is one login in progress, kept in its own encrypted cookie named
// after the state so that several tabs can log in at once.
type flow struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	RD       string    `json:"rd"`
	Created  time.Time `json:"t"`
	// Silent marks a prompt=none attempt: whatever goes wrong, the browser
	// returns to RD anonymous instead of seeing an error.
	Silent bool `json:"sl,omitempty"`
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

func (rp *RP) flowCookiePrefix() string { return rp.opt.Session.Name + "_flow_" }

// flowCookieName derives the cookie name from the state, which is random and
// URL-safe; 16 characters keep names short and still unique per browser.
func (rp *RP) flowCookieName(state string) string {
	if len(state) > 16 {
		state = state[:16]
	}
	return rp.flowCookiePrefix() + state
}

// flowCookiePath keeps flow cookies to the prefix, except under the __Host-
// prefix, which browsers accept only for Path=/ (the protection against a
// sibling subdomain planting its own flow, a login CSRF, is worth the few
// hundred bytes they add to requests during a login).
func (rp *RP) flowCookiePath() string {
	if rp.opt.Session.HostPrefix {
		return "/"
	}
	return rp.opt.Paths.Prefix
}

func (rp *RP) flowCookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: rp.flowCookiePath(), MaxAge: maxAge,
		Secure: rp.opt.Session.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	}
}

// LoginHandler starts the authorization code flow with PKCE (S256), state
// and nonce. rd is kept only when it is a safe same-site path.
func (rp *RP) LoginHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := rp.disc.get()
		if err != nil {
			rp.log.WarnContext(r.Context(), "login while the OpenID provider is unavailable", slog.String("error", err.Error()))
			rp.metrics.Logins.WithLabelValues("idp_unavailable").Inc()
			errorpage.Unavailable(w, r, 5*time.Second, "Sign-in is unavailable right now because the identity provider cannot be reached. Please try again in a moment.")
			return
		}
		if rp.store.Twice(r) {
			// A sign-in would not help: the planted cookie comes back with
			// every request, and each would send the browser here again.
			rp.log.WarnContext(r.Context(), "login refused: the browser sends the session cookie twice (planted by another site, or left by a changed cookie_domain/cookie_path)")
			rp.metrics.Logins.WithLabelValues("duplicate_cookie").Inc()
			errorpage.Write(w, errorpage.FormatFor(r), http.StatusBadRequest, "Your browser holds two sign-in cookies for this site, so it cannot sign you in safely. Please delete this site's cookies and try again.")
			return
		}
		rp.startFlow(w, r, p, redirect.Path(r.URL.Query().Get("rd")), false)
	})
}

// startFlow sends the browser to the IdP with a new flow cookie.
func (rp *RP) startFlow(w http.ResponseWriter, r *http.Request, p *provider, rd string, silent bool) {
	f := flow{
		State:    randomString(),
		Nonce:    randomString(),
		Verifier: oauth2.GenerateVerifier(),
		RD:       rd,
		Created:  time.Now(),
		Silent:   silent,
	}
	plain, _ := json.Marshal(f)
	name := rp.flowCookieName(f.State)
	sealed, err := rp.codec.Seal(name, plain, f.Created.Add(flowLifetime))
	if err != nil {
		rp.log.ErrorContext(r.Context(), "seal login flow", slog.String("error", err.Error()))
		errorpage.Status(w, errorpage.FormatFor(r), http.StatusInternalServerError)
		return
	}
	rp.expireOldFlows(w, r)
	http.SetCookie(w, rp.flowCookie(name, sealed, int(flowLifetime/time.Second)))
	opts := []oauth2.AuthCodeOption{oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)}
	for k, v := range rp.opt.OIDC.AuthParams {
		if silent && k == "prompt" {
			continue
		}
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	label := "started"
	if silent {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "none"))
		label = "silent_started"
	}
	rp.metrics.Logins.WithLabelValues(label).Inc()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.oauth2.AuthCodeURL(f.State, opts...), http.StatusFound)
}

// SilentHandler is where access sends the first page load of a browser
// session without a session, when access.silent_sign_in is on: once through
// the IdP with prompt=none. The marker cookie access set just before must
// come back; if it did not, cookies do not stick and every page load would
// come here again, so the browser goes back at once, with SkipSilentParam
// telling access not to try again. An unreachable IdP also sends it back
// at once, anonymous.
func (rp *RP) SilentHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		rd := redirect.Path(r.URL.Query().Get("rd"))
		if _, err := r.Cookie(rp.SilentCookie()); err != nil {
			rp.metrics.Logins.WithLabelValues("silent_no_cookies").Inc()
			http.Redirect(w, r, withParam(rd, SkipSilentParam), http.StatusFound)
			return
		}
		p, err := rp.disc.get()
		if err != nil || rp.store.Twice(r) || !rp.idpUp(r.Context()) {
			rp.metrics.Logins.WithLabelValues("silent_skipped").Inc()
			http.Redirect(w, r, rd, http.StatusFound)
			return
		}
		rp.startFlow(w, r, p, rd, true)
	})
}

// SkipSilentParam, in a page's query, says silent sign-in was not possible
// in this browser (cookies do not stick). access strips it before the
// upstream sees the request.
const SkipSilentParam = "_lcw_silent=skip"

// SilentCookie is the marker of a browser session in which silent sign-in
// was tried (a session cookie of the proxy's own namespace, never sent
// upstream).
func (rp *RP) SilentCookie() string { return rp.opt.Session.Name + "_silent" }

func withParam(rd, param string) string {
	if strings.Contains(rd, "?") {
		return rd + "&" + param
	}
	return rd + "?" + param
}

// maxClearedFlows bounds the flow cookies one answer expires. A browser
// holds at most maxFlows of ours, so a handful covers every honest case; a
// request stuffed with junk flow cookies (a planted or scripted Cookie
// header) must not turn into one Set-Cookie each, an answer several times
// the request's size. Whatever is left is cleared on later logins, or
// expires with its own Max-Age.
const maxClearedFlows = maxFlows

// expireOldFlows keeps at most maxFlows-1 flow cookies (the newest, still
// valid ones) before a new one is added and expires up to maxClearedFlows
// of the rest: surplus valid flows first (the oldest of them), then
// cookies that do not open, in the order the browser sent them.
func (rp *RP) expireOldFlows(w http.ResponseWriter, r *http.Request) {
	for _, name := range rp.flowsToExpire(r, time.Now()) {
		http.SetCookie(w, rp.flowCookie(name, "", -1))
	}
}

// flowsToExpire names the flow cookies of r that expireOldFlows clears, at
// most maxClearedFlows, each name once.
func (rp *RP) flowsToExpire(r *http.Request, now time.Time) []string {
	type seen struct {
		name    string
		created time.Time
	}
	var flows []seen
	var stale []string
	names := make(map[string]bool)
	for _, c := range r.Cookies() {
		if !strings.HasPrefix(c.Name, rp.flowCookiePrefix()) || names[c.Name] {
			continue
		}
		names[c.Name] = true
		var f flow
		plain, err := rp.codec.Open(c.Name, c.Value, now)
		if err != nil || json.Unmarshal(plain, &f) != nil {
			stale = append(stale, c.Name)
			continue
		}
		flows = append(flows, seen{c.Name, f.Created})
	}
	sort.Slice(flows, func(i, j int) bool { return flows[i].created.Before(flows[j].created) })
	var out []string
	for i := 0; i < len(flows)-(maxFlows-1); i++ {
		out = append(out, flows[i].name)
	}
	out = append(out, stale...)
	if len(out) > maxClearedFlows {
		out = out[:maxClearedFlows]
	}
	return out
}

// callbackError is a failed callback with what the user is told.
type callbackError struct {
	status int
	reason string // metrics label and log
	msg    string // for the user
	err    error
}

func (e *callbackError) Error() string { return fmt.Sprintf("%s: %v", e.reason, e.err) }

// CallbackHandler finishes the flow: state, code exchange with the PKCE
// verifier, ID token verification (issuer, audience, expiry, nonce), then the
// session and the redirect to rd.
func (rp *RP) CallbackHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet {
			// A HEAD from a link checker must not spend the login flow.
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		sess, f, err := rp.callback(w, r)
		if err != nil {
			var ce *callbackError
			if !errors.As(err, &ce) {
				ce = &callbackError{status: http.StatusInternalServerError, reason: "error", msg: "Sign-in failed.", err: err}
			}
			if f != nil && f.Silent {
				// prompt=none found no session at the IdP (or failed):
				// the visitor carries on anonymous, where they were.
				if !strings.HasPrefix(ce.reason, "silent_") {
					ce.reason = "silent_" + ce.reason
				}
				rp.metrics.Logins.WithLabelValues(ce.reason).Inc()
				rp.log.DebugContext(r.Context(), "silent sign-in ended anonymous", slog.String("reason", ce.reason), slog.String("error", ce.err.Error()))
				http.Redirect(w, r, f.RD, http.StatusFound)
				return
			}
			rp.metrics.Logins.WithLabelValues(ce.reason).Inc()
			rp.log.WarnContext(r.Context(), "login failed", slog.String("reason", ce.reason), slog.String("error", ce.err.Error()))
			errorpage.Write(w, errorpage.FormatFor(r), ce.status, ce.msg)
			return
		}
		rd := f.RD
		if err := rp.store.Save(w, r, sess); err != nil {
			rp.log.ErrorContext(r.Context(), "save session", slog.String("error", err.Error()))
			if f.Silent {
				rp.metrics.Logins.WithLabelValues("silent_save_failed").Inc()
				http.Redirect(w, r, rd, http.StatusFound)
				return
			}
			if errors.Is(err, session.ErrUnavailable) {
				rp.metrics.Logins.WithLabelValues("store_unavailable").Inc()
				errorpage.Write(w, errorpage.FormatFor(r), http.StatusServiceUnavailable, "Sign-in is unavailable right now. Please try again in a moment.")
				return
			}
			errorpage.Status(w, errorpage.FormatFor(r), http.StatusInternalServerError)
			return
		}
		label := "success"
		if f.Silent {
			label = "silent_success"
		}
		rp.metrics.Logins.WithLabelValues(label).Inc()
		rp.log.LogAttrs(r.Context(), slog.LevelInfo, "login", slog.String("sub", sess.Subject), rp.emailAttr(sess.Email), slog.Bool("silent", f.Silent))
		rp.warnAtSignIn(r.Context(), w.Header(), sess)
		http.Redirect(w, r, rd, http.StatusFound)
	})
}

func (rp *RP) callback(w http.ResponseWriter, r *http.Request) (*session.Session, *flow, error) {
	q := r.URL.Query()
	restart := "Your sign-in could not be completed. Please go back and try again."
	state := q.Get("state")
	if e := q.Get("error"); e != "" {
		// The IdP's error text is attacker-controllable: log it, show only the code.
		err := &callbackError{http.StatusForbidden, "idp_error", "The identity provider refused the sign-in (" + sanitizeCode(e) + ").", fmt.Errorf("provider error %q: %q", e, q.Get("error_description"))}
		if e == "login_required" || e == "interaction_required" || e == "consent_required" || e == "account_selection_required" {
			err.reason = "silent_" + e
		}
		if state != "" {
			if f, ferr := rp.openFlow(w, r, state); ferr == nil {
				return nil, f, err
			}
		}
		return nil, nil, err
	}
	if state == "" || q.Get("code") == "" {
		return nil, nil, &callbackError{http.StatusBadRequest, "bad_request", restart, errors.New("callback without state or code")}
	}
	f, err := rp.openFlow(w, r, state)
	if err != nil {
		return nil, nil, err
	}
	p, err := rp.disc.get()
	if err != nil {
		return nil, f, &callbackError{http.StatusServiceUnavailable, "idp_unavailable", "Sign-in is unavailable right now because the identity provider cannot be reached.", err}
	}
	ctx, cancel := context.WithTimeout(rp.clientContext(r.Context()), 15*time.Second)
	defer cancel()
	xctx, end := rp.span(ctx, "oidc.exchange", trace.SpanKindInternal, p.oauth2.Endpoint.TokenURL)
	tok, err := p.oauth2.Exchange(xctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	end(err)
	if err != nil {
		if clientRefused(err) {
			// Trying again cannot help: the proxy's own registration at the
			// IdP is wrong (client secret, id or authentication method).
			return nil, f, &callbackError{http.StatusBadGateway, "client_refused", "Sign-in is not working on this site because of a configuration problem at the site (the identity provider refused the site's own credentials). Please tell the site's support; trying again will not help.", fmt.Errorf("exchange code: %w", err)}
		}
		return nil, f, &callbackError{http.StatusBadGateway, "exchange_failed", restart, fmt.Errorf("exchange code: %w", err)}
	}
	sess, overage, err := rp.sessionFromToken(ctx, p, tok, f.Nonce, nil)
	if err != nil {
		return nil, f, &callbackError{http.StatusBadGateway, "id_token_invalid", restart, err}
	}
	if overage {
		rp.warnGroupsOverage(ctx, sess.Subject)
	}
	return sess, f, nil
}

// emailAttr names the signed-in user's email in the sign-in log line as
// log.email says: its hash (claims.EmailSHA256, searchable by an operator
// who knows the address), the address, or nothing (an empty attribute,
// which slog leaves out).
func (rp *RP) emailAttr(email string) slog.Attr {
	switch {
	case email == "":
		return slog.Attr{}
	case rp.opt.LogEmail == config.LogEmailHash:
		return slog.String("email_sha256", claims.EmailSHA256(email))
	case rp.opt.LogEmail == config.LogEmailPlain:
		return slog.String("email", email)
	}
	return slog.Attr{}
}

// clientRefused reports whether the token endpoint refused the proxy
// itself (invalid_client, unauthorized_client, or 401 without a code):
// a configuration problem at the site, not the user's.
func clientRefused(err error) bool {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return false
	}
	return re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client" || (re.ErrorCode == "" && re.Response != nil && re.Response.StatusCode == http.StatusUnauthorized)
}

// openFlow finds and spends the flow cookie of state: whatever happens
// next, a replayed callback finds nothing.
func (rp *RP) openFlow(w http.ResponseWriter, r *http.Request, state string) (*flow, error) {
	restart := "Your sign-in could not be completed. Please go back and try again."
	name := rp.flowCookieName(state)
	// The flow cookie is spent whatever happens next: a replayed callback
	// finds nothing.
	http.SetCookie(w, rp.flowCookie(name, "", -1))
	c, err := r.Cookie(name)
	if err != nil {
		return nil, &callbackError{http.StatusBadRequest, "state_missing", restart + " (The sign-in took too long, was already used, or was started in another browser.)", errors.New("no flow cookie for state")}
	}
	var f flow
	plain, err := rp.codec.Open(name, c.Value, time.Now())
	if err != nil || json.Unmarshal(plain, &f) != nil {
		return nil, &callbackError{http.StatusBadRequest, "state_invalid", restart, fmt.Errorf("open flow cookie: %v", err)}
	}
	if subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 {
		return nil, &callbackError{http.StatusBadRequest, "state_mismatch", restart, errors.New("state does not match the flow cookie")}
	}
	return &f, nil
}

// sessionFromToken verifies the token response's ID token and builds the
// session, which keeps only the claims the configuration reads
// (Options.Claims). nonce is checked at login; on refresh it is empty and
// prev, the session being refreshed, supplies what the response may omit
// (prev covers today's claims: RP.Session checked). overage reports, at
// sign-in, Entra ID's groups overage, which only the claims left out show.
func (rp *RP) sessionFromToken(ctx context.Context, p *provider, tok *oauth2.Token, nonce string, prev *session.Session) (sess *session.Session, overage bool, err error) {
	now := time.Now()
	sess = &session.Session{CreatedAt: now, Expiry: now.Add(rp.opt.Session.Lifetime.D())}
	if prev != nil {
		sess.CreatedAt, sess.Expiry = prev.CreatedAt, prev.Expiry
		sess.Subject, sess.Claims, sess.IDToken, sess.SID = prev.Subject, prev.Claims, prev.IDToken, prev.SID
	}
	raw, _ := tok.Extra("id_token").(string)
	switch {
	case raw != "":
		vctx, end := rp.span(ctx, "oidc.verify_id_token", trace.SpanKindInternal, "")
		idt, err := p.verifier.Verify(vctx, raw) // may fetch the IdP's keys
		if err == nil {
			err = p.issuer.check(idt)
		}
		end(err)
		if err != nil {
			return nil, false, fmt.Errorf("verify ID token: %w", err)
		}
		if prev == nil && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
			return nil, false, errors.New("ID token nonce does not match the login flow")
		}
		if prev != nil && idt.Subject != prev.Subject {
			return nil, false, fmt.Errorf("refreshed ID token is for another subject")
		}
		claims := map[string]any{}
		if err := idt.Claims(&claims); err != nil {
			return nil, false, fmt.Errorf("read ID token claims: %w", err)
		}
		sid, _ := claims["sid"].(string) // back-channel logout names the IdP session by it
		if sid == "" && prev != nil {
			sid = prev.SID // a refreshed ID token may leave it out; the IdP session is the same
		}
		sess.Subject, sess.SID, sess.Claims = idt.Subject, sid, keepClaims(claims)
		if rp.keepsIDToken(p) {
			sess.IDToken = raw // for id_token_hint; nothing else reads it
		}
	case prev == nil:
		return nil, false, errors.New("token response carries no id_token (is the openid scope granted?)")
	}
	if rp.opt.OIDC.Userinfo {
		if err := rp.mergeUserinfo(ctx, p, tok, sess); err != nil {
			return nil, false, err
		}
	}
	sess.Claims = rp.trustedClaims(sess)
	// The operator's fields are read before the claims are cut: a
	// server-side store keeps them whatever the configuration reads
	// (session.Session.Email). A refresh whose claims lack one (no new ID
	// token, or a lean one) keeps the session's.
	sess.Email, sess.Name = claims.Email(sess.Claims), claims.DisplayName(sess.Claims)
	if prev != nil {
		sess.Email, sess.Name = cmp.Or(sess.Email, prev.Email), cmp.Or(sess.Name, prev.Name)
	}
	if prev == nil {
		overage = groupsOverage(sess.Claims) // read before the claims are cut to what the configuration reads
	}
	if rp.opt.Contact != nil {
		sess.Claims = rp.linkContact(ctx, sess.Claims, prev)
	}
	sess.Claims, sess.Needs = rp.opt.Claims.Keep(sess.Claims), rp.opt.Claims.Names()
	if prev != nil {
		sess.ID = prev.ID // a refresh replaces the server-side record in place
		sess.RefreshedAt = now
	}
	sess.RefreshToken = tok.RefreshToken
	if sess.RefreshToken == "" && prev != nil {
		sess.RefreshToken = prev.RefreshToken // providers that do not rotate refresh tokens
	}
	sess.RefreshAt = rp.refreshAt(now, tok, sess)
	return sess, overage, nil
}

// linkContact adds the session's link to its Dataverse record
// (claims.ContactClaim): looked up at sign-in, and at a refresh when the
// link says it is due; otherwise the refreshed session keeps prev's. The
// claims map may be shared: a copy is returned.
func (rp *RP) linkContact(ctx context.Context, c map[string]any, prev *session.Session) map[string]any {
	var before *claims.Contact
	if prev != nil {
		if link, ok := claims.ContactOf(prev.Claims); ok {
			before = &link
		}
	}
	link := rp.opt.Contact.Link(ctx, c, before)
	out := maps.Clone(c)
	if out == nil {
		out = map[string]any{}
	}
	out[claims.ContactClaim] = link.Value()
	return out
}

// trustedClaims keeps an email only when it may be trusted: the rules of
// claims.Trusted (email_verified true, Entra ID's xms_edov, B2C's emails
// array, oidc.allow_unverified_email), which `lcw-auth-proxy token
// --claims` applies too. The session keeps only what may be trusted, so
// nothing downstream decides this again. The claims map may be shared with
// other requests: it is not modified.
func (rp *RP) trustedClaims(sess *session.Session) map[string]any {
	return claims.Trusted(sess.Claims, rp.opt.OIDC.AllowUnverifiedEmail)
}

func (rp *RP) mergeUserinfo(ctx context.Context, p *provider, tok *oauth2.Token, sess *session.Session) error {
	uctx, end := rp.span(ctx, "oidc.userinfo", trace.SpanKindInternal, p.oidc.UserInfoEndpoint())
	ui, err := p.oidc.UserInfo(uctx, oauth2.StaticTokenSource(tok))
	end(err)
	if err != nil {
		return fmt.Errorf("fetch userinfo: %w", err)
	}
	// OIDC Core 5.3.2: a userinfo answer for another subject must be ignored.
	if ui.Subject != sess.Subject {
		return fmt.Errorf("userinfo subject %q differs from the ID token's", ui.Subject)
	}
	extra := map[string]any{}
	if err := ui.Claims(&extra); err != nil {
		return fmt.Errorf("read userinfo claims: %w", err)
	}
	merged := make(map[string]any, len(sess.Claims)+len(extra))
	for k, v := range sess.Claims {
		merged[k] = v
	}
	for k, v := range keepClaims(extra) {
		if _, protected := protectedClaims[k]; !protected {
			merged[k] = v
		}
	}
	sess.Claims = merged
	return nil
}

func (rp *RP) refreshAt(now time.Time, tok *oauth2.Token, sess *session.Session) time.Time {
	if sess.RefreshToken == "" {
		return time.Time{}
	}
	if iv := rp.opt.Session.RefreshInterval.D(); iv > 0 {
		return now.Add(iv)
	}
	if !tok.Expiry.IsZero() {
		return tok.Expiry
	}
	return now.Add(time.Hour)
}

// protectedClaims come from the ID token only; userinfo cannot change them.
var protectedClaims = map[string]struct{}{"sub": {}, "iss": {}, "aud": {}}

// droppedClaims are token mechanics that no lwicontexts rule needs; leaving
// them out keeps the cookie small.
// claims.ContactClaim is the proxy's own: an IdP that sends a claim of
// that name must not pick the user's Dataverse record.
var droppedClaims = []string{"nonce", "at_hash", "c_hash", "exp", "iat", "nbf", "aud", "azp", "auth_time", "jti", "sid", claims.ContactClaim}

func keepClaims(c map[string]any) map[string]any {
	for _, k := range droppedClaims {
		delete(c, k)
	}
	return c
}

// sanitizeCode keeps an OAuth error code printable and short for display.
func sanitizeCode(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}
