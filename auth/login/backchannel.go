package login

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/errorpage"
)

// Limits of OpenID Connect Back-Channel Logout 1.0 as the proxy applies
// them.
const (
	// maxLogoutRequest bounds the form the IdP posts: a logout token is a
	// few hundred bytes to a few KiB.
	maxLogoutRequest = 64 << 10
	// logoutTokenMaxAge and logoutTokenMaxAhead bound a token's iat (each
	// widened by oidc.clock_skew). A token outside the window is refused,
	// so the replay check only has to remember token ids for as long as
	// the window is wide.
	logoutTokenMaxAge   = 5 * time.Minute
	logoutTokenMaxAhead = time.Minute
	// backchannelLogoutEvent is the member of the events claim that makes a
	// JWT a logout token (and not, say, an ID token).
	backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"
)

// logoutRefusal is a request refused with 400, with the metric label and the
// reason that is logged (never sent: the IdP needs only "invalid_request",
// and an attacker probing the endpoint must learn nothing).
type logoutRefusal struct {
	result string // bad_request, invalid_token, unknown_key, expired, invalid_claims, replayed
	err    error
}

func (e *logoutRefusal) Error() string { return e.result + ": " + e.err.Error() }

func refuse(result, format string, args ...any) error {
	return &logoutRefusal{result: result, err: fmt.Errorf(format, args...)}
}

// logoutToken is what a verified logout token says.
type logoutToken struct {
	sub, sid, jti string
}

// BackchannelStore is what back-channel logout needs of a server-side
// session store (session.RedisStore has it; the cookie store, with nothing
// on the server to end, does not): ending every session of an IdP session
// or of a user on every replica, and the set of logout token ids already
// used.
type BackchannelStore interface {
	// EndSID and EndSubject end every session of an IdP session (the ID
	// token's sid) or of a subject, returning how many were ended.
	EndSID(ctx context.Context, sid string) (int, error)
	EndSubject(ctx context.Context, sub string) (int, error)
	// FirstUse records a logout token id for ttl and reports whether it
	// was new (false: a replay).
	FirstUse(ctx context.Context, jti string, ttl time.Duration) (bool, error)
	// ForgetUse undoes FirstUse, so that the IdP's retry of a token whose
	// work failed is not taken for a replay.
	ForgetUse(ctx context.Context, jti string) error
}

// BackchannelLogoutHandler serves OpenID Connect Back-Channel Logout 1.0:
// the IdP POSTs a logout_token (a JWT it signed) and every session of the
// IdP session it names (sid) or, without a sid, of the user it names (sub)
// ends, on every replica, because the records in srv are deleted. The
// caller is the IdP's server, not a browser, so there are no cookies and no
// same-origin check; the signed token is the only authority, and a token
// is used once.
//
// Answers follow the spec: 200 (with Cache-Control: no-store) when the
// token is valid, whether or not a session matched; 400
// {"error":"invalid_request"} for anything invalid, with the reason only in
// the log and lcw_backchannel_logouts_total; 503 when the store (or the
// IdP's keys) cannot be reached, so the IdP retries; 405 for other methods.
func (rp *RP) BackchannelLogoutHandler(srv BackchannelStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		err := rp.backchannelLogout(w, r, srv)
		var refused *logoutRefusal
		switch {
		case errors.As(err, &refused):
			rp.metrics.BackchannelLogouts.WithLabelValues(refused.result).Inc()
			rp.log.InfoContext(r.Context(), "back-channel logout refused", slog.String("reason", refused.result), slog.String("error", refused.err.Error()))
			errorpage.WriteJSON(w, http.StatusBadRequest, errorpage.JSONError{Error: "invalid_request"})
		case err != nil:
			rp.metrics.BackchannelLogouts.WithLabelValues("unavailable").Inc()
			rp.log.WarnContext(r.Context(), "back-channel logout failed; the IdP should retry", slog.String("error", err.Error()))
			errorpage.WriteJSON(w, http.StatusServiceUnavailable, errorpage.JSONError{Error: "temporarily_unavailable"})
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
}

// backchannelLogout verifies the request's logout token and ends the
// sessions it names. A *logoutRefusal is the IdP's (or an attacker's)
// mistake; any other error is ours or the store's, worth a retry.
func (rp *RP) backchannelLogout(w http.ResponseWriter, r *http.Request, srv BackchannelStore) error {
	raw, err := logoutTokenParam(w, r)
	if err != nil {
		return err
	}
	p, err := rp.disc.get()
	if err != nil {
		return fmt.Errorf("verify logout token: %w", err)
	}
	skew := rp.opt.OIDC.ClockSkew.D()
	tok, err := verifyLogoutToken(rp.clientContext(r.Context()), p, raw, time.Now(), skew)
	if err != nil {
		return err
	}
	// Any token that passed the iat window is refused once it leaves it,
	// so its id need not be remembered longer than the window is wide.
	first, err := srv.FirstUse(r.Context(), tok.jti, logoutTokenMaxAge+logoutTokenMaxAhead+2*skew)
	if err != nil {
		return fmt.Errorf("replay check for logout token: %w", err)
	}
	if !first {
		return refuse("replayed", "logout token id %q was already used", tok.jti)
	}
	by, n := "sid", 0
	if tok.sid != "" {
		n, err = srv.EndSID(r.Context(), tok.sid)
	} else {
		by = "sub"
		n, err = srv.EndSubject(r.Context(), tok.sub)
	}
	if err != nil {
		// Left marked as used, the IdP's retry of this token would be
		// refused as a replay and the sessions would live on.
		if ferr := srv.ForgetUse(context.WithoutCancel(r.Context()), tok.jti); ferr != nil {
			err = errors.Join(err, fmt.Errorf("forget logout token id: %w", ferr))
		}
		return fmt.Errorf("end sessions by %s: %w", by, err)
	}
	result := "ended"
	if n == 0 {
		result = "no_session"
	}
	rp.metrics.BackchannelLogouts.WithLabelValues(result).Inc()
	rp.log.InfoContext(r.Context(), "back-channel logout", slog.String("by", by), slog.String("sub", tok.sub), slog.Int("sessions", n))
	return nil
}

// logoutTokenParam reads the one logout_token of a bounded
// application/x-www-form-urlencoded body.
func logoutTokenParam(w http.ResponseWriter, r *http.Request) (string, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", refuse("bad_request", "content type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
	}
	// w lets the server close the connection after a body that is too big.
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutRequest)
	if err := r.ParseForm(); err != nil {
		return "", refuse("bad_request", "read form: %w", err)
	}
	v := r.PostForm["logout_token"]
	if len(v) != 1 || v[0] == "" {
		return "", refuse("bad_request", "want one logout_token in the body, got %d", len(v))
	}
	return v[0], nil
}

// verifyLogoutToken checks a logout token as Back-Channel Logout 1.0
// section 2.6 asks: signature by the provider's keys, iss and aud (go-oidc;
// with a {tenantid} issuer, iss and tid by issuerRule.check),
// then iat within the window and exp (when present) not passed, the logout
// event, no nonce (so an ID token can never pass as a logout token, nor a
// logout token as an ID token), a sid or a sub, and a jti for the replay
// check.
//
// Not go-oidc's IDTokenVerifier.VerifyLogout (v3.21.0), which covers the
// same section but would change what is accepted and what is counted:
//   - it refuses a token without exp; we accept one and bound its age by
//     iat instead (drafts of the spec before 1.0 had no exp, and the
//     proxy has always accepted such tokens);
//   - it checks no iat at all, so the window that bounds the replay set
//     would have to be added anyway;
//   - it takes any value of the logout event ("…/backchannel-logout":
//     true passes); the spec, and we, require a JSON object;
//   - its refusals are flattened strings (%v), so the result label of
//     lcw_backchannel_logouts_total (expired, invalid_claims,
//     invalid_token) could only be told by matching its messages; a sid
//     or jti of the wrong type would count as invalid_token.
//
// The signature, iss and aud are go-oidc's (IDTokenVerifier.Verify, with
// SkipExpiryCheck) over our keySet, whose bounded JWKS refetch is what
// keeps forged tokens from making the proxy fetch the IdP's keys; that
// part VerifyLogout would have kept.
func verifyLogoutToken(ctx context.Context, p *provider, raw string, now time.Time, skew time.Duration) (logoutToken, error) {
	vctx, keys := withKeyOutcome(ctx)
	idt, err := p.logout.Verify(vctx, raw)
	switch {
	case err == nil:
	case errors.Is(keys.err, errUnknownKey):
		return logoutToken{}, refuse("unknown_key", "%w", err)
	case keys.err != nil && !errors.Is(keys.err, errBadSignature):
		// The IdP's keys could not be had: worth the IdP's retry.
		return logoutToken{}, fmt.Errorf("verify logout token: %w", keys.err)
	default:
		return logoutToken{}, refuse("invalid_token", "%w", err)
	}
	if err := p.issuer.check(idt); err != nil {
		return logoutToken{}, refuse("invalid_token", "%w", err)
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return logoutToken{}, refuse("invalid_token", "read claims: %w", err)
	}
	switch {
	case claims["iat"] == nil || idt.IssuedAt.IsZero():
		return logoutToken{}, refuse("expired", "no iat")
	case idt.IssuedAt.Before(now.Add(-logoutTokenMaxAge - skew)):
		return logoutToken{}, refuse("expired", "issued at %s, more than %s ago", idt.IssuedAt.Format(time.RFC3339), logoutTokenMaxAge+skew)
	case idt.IssuedAt.After(now.Add(logoutTokenMaxAhead + skew)):
		return logoutToken{}, refuse("expired", "issued at %s, in the future", idt.IssuedAt.Format(time.RFC3339))
	case claims["exp"] != nil && !idt.Expiry.After(now.Add(-skew)):
		return logoutToken{}, refuse("expired", "expired at %s", idt.Expiry.Format(time.RFC3339))
	}
	var events map[string]json.RawMessage
	if err := json.Unmarshal(claims["events"], &events); err != nil || events == nil {
		return logoutToken{}, refuse("invalid_claims", "events is not a JSON object")
	}
	if ev := bytes.TrimSpace(events[backchannelLogoutEvent]); len(ev) == 0 || ev[0] != '{' {
		return logoutToken{}, refuse("invalid_claims", "events has no %s object", backchannelLogoutEvent)
	}
	if _, ok := claims["nonce"]; ok {
		return logoutToken{}, refuse("invalid_claims", "a logout token must not carry a nonce")
	}
	tok := logoutToken{sub: idt.Subject}
	if err := stringClaim(claims, "sid", &tok.sid); err != nil {
		return logoutToken{}, err
	}
	if err := stringClaim(claims, "jti", &tok.jti); err != nil {
		return logoutToken{}, err
	}
	switch {
	case tok.sid == "" && tok.sub == "":
		return logoutToken{}, refuse("invalid_claims", "neither sid nor sub")
	case tok.jti == "":
		return logoutToken{}, refuse("invalid_claims", "no jti")
	}
	return tok, nil
}

// stringClaim reads an optional string claim; any other type is refused.
func stringClaim(claims map[string]json.RawMessage, name string, dst *string) error {
	v, ok := claims[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return refuse("invalid_claims", "%s is not a string", name)
	}
	return nil
}
