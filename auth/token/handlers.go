package token

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/errorpage"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/ratelimit"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/request"
	"github.com/prometheus/client_golang/prometheus"
)

// Identity is what the session knows about the signed-in user.
type Identity struct {
	// Claims are the verified ID token (and userinfo) claims.
	Claims        map[string]any
	SessionExpiry time.Time
	// SessionKey names the session, stably for its whole life and in a way
	// the browser cannot choose (from the sealed session: subject and
	// creation time).
	SessionKey string
	// Subject names the signed-in user at the IdP (issuer and subject):
	// the token limit is counted per Subject, so signing in again brings
	// no fresh budget. Empty: per SessionKey.
	Subject string
}

// IdentityFunc looks up the request's signed-in user: ErrNotSignedIn
// without one; any other error means it cannot be told now (the session
// store is down), which the endpoints answer with 503, not 401.
type IdentityFunc func(*http.Request) (Identity, error)

// ErrNotSignedIn means the request has no signed-in, authorized user.
var ErrNotSignedIn = errors.New("not signed in")

// SessionHeader carries a tag of the visitor's session on every token
// answer that knows the session (200, and 429 too, and HEAD, which signs
// nothing): bootstrap.js reuses a token it holds only while a HEAD names the
// same session, so a sign-out or another user's sign-in, in any tab, ends
// the reuse. The tag is a hash of Identity.SessionKey and says nothing the
// page's own token does not.
const SessionHeader = "X-Lcw-Session"

// sessionTag is the SessionHeader value for key ("" for none).
func sessionTag(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// tokenResponse is the JSON form of the token endpoint's answer.
type tokenResponse struct {
	Token     string `json:"token"`
	ExpiresAt int64  `json:"expires_at"`
}

// HandlerOptions are what the token and session endpoints need besides
// the Minter and the visitor's identity.
type HandlerOptions struct {
	// PublicOrigin is public_url's origin: only its own pages get tokens.
	PublicOrigin string
	// SessionPath is {prefix}/session, named to someone who opens the token
	// endpoint in a browser tab.
	SessionPath string
	// Limit, when set, bounds the tokens minted per Identity.Subject
	// (token.rate_limit); nil mints without limit.
	Limit *ratelimit.Limiter
	// Shared, when set with Limit, keeps the same budget in the
	// server-side store so that every replica spends from it; Limit then
	// only stands in while the store does not answer.
	Shared SharedBudget
	// Metrics and Logger may be nil.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// tokenCounters are resolved once, so the token path does no label lookups.
type tokenCounters struct {
	issued, unauthenticated, forbidden, limited, failed, badMethod prometheus.Counter
	signDuration                                                   prometheus.Observer
}

func newTokenCounters(m *metrics.Metrics) tokenCounters {
	if m == nil {
		return tokenCounters{}
	}
	return tokenCounters{
		issued:          m.Tokens.WithLabelValues("issued"),
		unauthenticated: m.Tokens.WithLabelValues("unauthenticated"),
		forbidden:       m.Tokens.WithLabelValues("forbidden"),
		limited:         m.Tokens.WithLabelValues("rate_limited"),
		failed:          m.Tokens.WithLabelValues("error"),
		badMethod:       m.Tokens.WithLabelValues("method_not_allowed"),
		signDuration:    m.TokenSignDuration,
	}
}

// TokenHandler serves a fresh chat token to the signed-in user: the raw JWT
// (Content-Type: application/jwt) or, when the Accept header prefers
// application/json, {"token", "expires_at"}. Only the page's own scripts
// get one (request.SameOrigin), checked before the session is even looked
// at: anything else is 403. No session is 401. A session past its share of
// tokens (o.Limit) is 429 with Retry-After. Answers for a known session
// carry SessionHeader.
func TokenHandler(m *Minter, who IdentityFunc, o HandlerOptions) http.Handler {
	c := newTokenCounters(o.Metrics)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log := o.Logger
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Cache-Control"] = noStore
		h["Vary"] = tokenVary
		h["X-Content-Type-Options"] = nosniff
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			inc(c.badMethod)
			h["Allow"] = getHead
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		asJSON := request.WantsJSON(r, "application/jwt")
		if site := request.From(r, o.PublicOrigin); site == request.SiteUser {
			// Typed into the address bar or opened from a bookmark: not an
			// attack, a person wondering what the endpoint gives.
			inc(c.forbidden)
			fail(w, asJSON, http.StatusForbidden, "This endpoint hands the chat widget its token and answers only the site's own scripts. To see what a token would carry for you, open "+o.SessionPath)
			return
		} else if site == request.SiteCross {
			inc(c.forbidden)
			fail(w, asJSON, http.StatusForbidden, "cross-site requests cannot get a chat token")
			return
		}
		id, err := who(r)
		if err != nil {
			if unavailable(w, asJSON, err) {
				return
			}
			inc(c.unauthenticated)
			fail(w, asJSON, http.StatusUnauthorized, "not signed in")
			return
		}
		if tag := sessionTag(id.SessionKey); tag != "" {
			h[SessionHeader] = []string{tag}
		}
		if o.Limit != nil {
			// HEAD signs nothing, so it spends nothing; it still says
			// whether a GET would get a token.
			if ok, wait := o.take(r.Context(), id.limitKey(), r.Method == http.MethodHead, log); !ok {
				inc(c.limited)
				secs := retryAfter(wait)
				h["Retry-After"] = []string{secs}
				fail(w, asJSON, http.StatusTooManyRequests, "too many chat tokens for this user; try again in "+secs+"s")
				return
			}
		}
		if asJSON {
			h["Content-Type"] = jsonType
		} else {
			h["Content-Type"] = jwtType
		}
		if r.Method == http.MethodHead {
			return // signing is the expensive part; HEAD only asks whether it would work
		}
		start := time.Now()
		tok, exp, err := m.Mint(r.Context(), id.Claims)
		if c.signDuration != nil {
			c.signDuration.Observe(time.Since(start).Seconds())
		}
		if err != nil {
			inc(c.failed)
			log.ErrorContext(r.Context(), "chat token not issued", slog.String("error", err.Error()))
			h.Del("Content-Type")
			fail(w, asJSON, http.StatusInternalServerError, "the chat token could not be issued; see the proxy's log")
			return
		}
		inc(c.issued)
		if asJSON {
			body, _ := json.Marshal(tokenResponse{Token: tok, ExpiresAt: exp.Unix()})
			h["Content-Length"] = []string{strconv.Itoa(len(body))}
			w.Write(body)
			return
		}
		h["Content-Length"] = []string{strconv.Itoa(len(tok))}
		w.Write([]byte(tok))
	})
}

// Header values shared by every response (never modified).
var (
	noStore   = []string{"no-store"}
	tokenVary = []string{"Origin, Sec-Fetch-Site, Accept, Cookie"}
	nosniff   = []string{"nosniff"}
	getHead   = []string{"GET, HEAD"}
	jsonType  = []string{"application/json"}
	jwtType   = []string{"application/jwt"}
)

// retryAfter is d in whole seconds, rounded up: a client that waits exactly
// that long is served.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(int64(max((d+time.Second-1)/time.Second, 1)), 10)
}

// unavailable answers 503 when err says the identity cannot be told right
// now; the widget then reports a failure instead of an anonymous chat.
func unavailable(w http.ResponseWriter, asJSON bool, err error) bool {
	if errors.Is(err, ErrNotSignedIn) {
		return false
	}
	w.Header().Set("Retry-After", "5")
	fail(w, asJSON, http.StatusServiceUnavailable, "the session cannot be checked right now; try again in a moment")
	return true
}

// fail writes an error in the form the client asked for.
func fail(w http.ResponseWriter, asJSON bool, code int, msg string) {
	if asJSON {
		errorpage.WriteJSON(w, code, errorpage.JSONError{Error: msg})
		return
	}
	http.Error(w, msg, code)
}

// SessionHandler shows what the next token would carry, for debugging a
// mapping: {"subject", "expires_at" (the session's), "lwicontexts" (as an
// object), "problems", and with token.contact "contact" (ContactView)}. It calls context_url like a real token would. It
// serves whatever method reaches it: mount it for GET (the router answers
// other methods 405).
func SessionHandler(m *Minter, who IdentityFunc, o HandlerOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Cache-Control"] = noStore
		h["Vary"] = []string{"Cookie"}
		h["X-Content-Type-Options"] = nosniff
		// Typed into the address bar is fine here; other sites are not.
		if request.From(r, o.PublicOrigin) == request.SiteCross {
			fail(w, true, http.StatusForbidden, "cross-site requests cannot read the session")
			return
		}
		id, err := who(r)
		if err != nil {
			if !unavailable(w, true, err) {
				fail(w, true, http.StatusUnauthorized, "not signed in")
			}
			return
		}
		p, err := m.Payload(r.Context(), id.Claims)
		if err != nil {
			msg := "the chat token could not be built; see the proxy's log"
			if errors.Is(err, ErrNoSubject) {
				msg = err.Error() // names the configured claim, not its value
			}
			fail(w, true, http.StatusInternalServerError, msg)
			return
		}
		problems := p.Problems
		if problems == nil {
			problems = []claims.Problem{}
		}
		body, err := json.MarshalIndent(struct {
			Subject     string           `json:"subject"`
			ExpiresAt   int64            `json:"expires_at"`
			LWIContexts map[string]any   `json:"lwicontexts"`
			Problems    []claims.Problem `json:"problems"`
			Contact     *ContactView     `json:"contact,omitempty"`
		}{p.Subject, unixOrZero(id.SessionExpiry), p.Contexts, problems, contactView(p)}, "", "  ")
		if err != nil {
			fail(w, true, http.StatusInternalServerError, "encode session")
			return
		}
		h.Set("Content-Type", "application/json")
		w.Write(body)
	})
}

// ContactView is the session endpoint's "contact" member, present when
// token.contact is configured: the last lookup's result and whether sub
// is the Dataverse record's GUID (doctor reads it).
type ContactView struct {
	Result        string `json:"result"`
	FromDataverse bool   `json:"sub_from_dataverse"`
}

func contactView(p Payload) *ContactView {
	if p.Contact == nil {
		return nil
	}
	return &ContactView{Result: p.Contact.Result, FromDataverse: p.Contact.ID != "" && p.Subject == p.Contact.ID}
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// PublicKeyPEMHandler serves the SPKI PEM ("PUBLIC KEY") of the signing key:
// the "public key URL" of Omnichannel's chat authentication setting.
func PublicKeyPEMHandler(ks *keys.Set) http.Handler {
	return keyDocument("text/plain; charset=utf-8", func() ([]byte, error) {
		_, key := ks.Signer()
		return keys.PublicKeyPEM(&key.PublicKey), nil
	})
}

// PublicKeysHandler serves Omnichannel's multi-key format for rotation:
// [{"kid", "publicKey": base64 of the PEM text, "expiry": epoch seconds}].
func PublicKeysHandler(ks *keys.Set) http.Handler {
	return keyDocument("application/json", func() ([]byte, error) {
		return OmnichannelKeysDocument(ks.Published())
	})
}

// JWKSHandler serves the published keys as a standard JWKS for verifiers
// other than Omnichannel.
func JWKSHandler(ks *keys.Set) http.Handler {
	return keyDocument("application/json", func() ([]byte, error) {
		return JWKSDocument(ks.Published())
	})
}

// keyDocument serves a public, briefly cacheable document with an ETag so
// verifiers revalidate cheaply and pick up a rotation within minutes. Like
// SessionHandler, it is mounted for GET: the router answers other methods.
func keyDocument(contentType string, render func() ([]byte, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		body, err := render()
		if err != nil {
			http.Error(w, "key document unavailable", http.StatusInternalServerError)
			return
		}
		sum := sha256.Sum256(body)
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", `"`+base64.RawURLEncoding.EncodeToString(sum[:16])+`"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}

// SharedBudget is a token budget per key that every replica shares (the
// Redis store's, session.RedisBudget). Take spends one token (peek: none,
// only tells) and says how long until one is there when none is; an error
// means the store did not answer.
type SharedBudget interface {
	Take(ctx context.Context, key string, peek bool) (ok bool, retryAfter time.Duration, err error)
}

// limitKey is what the token limit counts by: the user, not the session.
func (id Identity) limitKey() string {
	if id.Subject != "" {
		return id.Subject
	}
	return id.SessionKey
}

// take spends from key's budget: the shared one when there is one, else
// (or while the store does not answer) this replica's. Falling back to the
// local limiter fails neither open nor shut: a store outage costs no chat
// (the session itself may still be served from the client-side cache),
// and the flood stays bounded, by the burst on each replica instead of
// one burst for all.
func (o HandlerOptions) take(ctx context.Context, key string, peek bool, log *slog.Logger) (bool, time.Duration) {
	if o.Shared != nil {
		ok, wait, err := o.Shared.Take(ctx, key, peek)
		if err == nil {
			return ok, wait
		}
		log.WarnContext(ctx, "shared token budget unavailable; this replica's own limit applies", slog.String("error", err.Error()))
	}
	if peek {
		return o.Limit.Peek(key)
	}
	return o.Limit.Allow(key)
}
