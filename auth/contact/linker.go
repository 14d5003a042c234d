// Package contact links a signed-in user to their Dataverse contact (or
// account), as Power Pages does for its own users: Omnichannel links a
// chat to a record only when the chat token's sub is that record's GUID.
//
// At sign-in (and at a refresh, when due) a Linker looks the active record
// up through the Dataverse Web API by one verified claim, with an app token
// from Entra ID's client-credentials flow (cached until it expires). The
// outcome is kept on the session (claims.Contact), never looked up per
// chat token. Whatever goes wrong, the sign-in goes on: sub is then the
// IdP's subject, and the lookup is tried again at the next refresh.
package contact

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/httpspan"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

// Options are what a Linker needs.
type Options struct {
	// Contact is the validated token.contact section (Enabled).
	Contact config.Contact
	// AllowUnverifiedEmail is oidc.allow_unverified_email: the one email
	// rule (claims.Trusted) decides whether an email may be matched.
	AllowUnverifiedEmail bool
	// Tracer, when set, traces the calls to the token endpoint and the
	// Web API (client spans, traceparent sent on).
	Tracer trace.TracerProvider
	// Logger and Metrics may be nil.
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

const tracerName = "github.com/lcw-auth-proxy/lcw-auth-proxy/auth/contact"

// defaultRetryAfter is how long a 429 without Retry-After keeps the
// Linker from calling again; maxRetryAfter caps what Dataverse may ask.
const (
	defaultRetryAfter = 30 * time.Second
	maxRetryAfter     = 10 * time.Minute
)

// Linker finds a user's record. It is safe for concurrent use.
type Linker struct {
	cfg   config.Contact
	trust bool
	api   *webAPI
	log   *slog.Logger
	m     *metrics.Metrics // nil: not counted
	now   func() time.Time

	mu        sync.Mutex
	pausedTil time.Time // Dataverse said 429: no calls before this
}

// New builds a Linker; nothing is called until the first Link.
func New(o Options) (*Linker, error) {
	c := o.Contact
	if !c.Enabled() {
		return nil, errors.New("contact: token.contact.org_url is not set")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var transport http.RoundTripper = http.DefaultTransport
	if o.Tracer != nil {
		transport = httpspan.NewTransport(nil, o.Tracer, httpspan.Options{Scope: tracerName})
	}
	// A redirect is not followed: the Web API answers where it is asked,
	// and the bearer token must go nowhere else.
	client := &http.Client{Transport: transport, Timeout: c.Timeout.D(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cc := clientcredentials.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		TokenURL:     c.TokenEndpoint,
		Scopes:       []string{c.Scope},
	}
	// The source caches the token until shortly before it expires; its
	// context only carries the HTTP client (with its timeout) and lives
	// as long as the Linker.
	tctx := context.WithValue(context.Background(), oauth2.HTTPClient, client)
	tokens := cc.TokenSource(tctx)
	if c.Certificate != nil {
		cc.ClientSecret, cc.AuthStyle = "", oauth2.AuthStyleInParams
		tokens = oauth2.ReuseTokenSource(nil, &assertionSource{ctx: tctx, cfg: cc, cert: c.Certificate, clientID: c.ClientID})
	}
	set, id := "contacts", "contactid"
	if c.Table == config.TableAccount {
		set, id = "accounts", "accountid"
	}
	return &Linker{
		cfg:   c,
		trust: o.AllowUnverifiedEmail,
		api:   &webAPI{org: c.Org, set: set, idColumn: id, tokens: tokens, http: client},
		log:   o.Logger,
		m:     o.Metrics,
		now:   o.Now,
	}, nil
}

// Link returns the session's link for its verified claims. prev is the
// link the session holds (nil at sign-in): while it is not due it is
// returned as it is, without a call. A failed lookup keeps an earlier link
// (a Dataverse outage never unlinks a user) and is due again at the next
// refresh; Dataverse's 429 pauses every lookup of this process for its
// Retry-After. Link returns within the configured timeout.
func (l *Linker) Link(ctx context.Context, idClaims map[string]any, prev *claims.Contact) claims.Contact {
	now := l.now()
	if prev != nil && !prev.Due(now) {
		return *prev
	}
	res, id, retry := l.lookup(ctx, idClaims, now)
	if l.m != nil {
		l.m.ContactLookups.WithLabelValues(res).Inc()
	}
	out := claims.Contact{Result: res, ID: id}
	switch res {
	case claims.ContactLinked, claims.ContactCreated, claims.ContactNoMatch, claims.ContactAmbiguous, claims.ContactNoClaim:
		if r := l.cfg.Recheck.D(); r > 0 {
			out.Next = now.Add(r)
		}
	default: // failed: the next refresh tries again, not before Retry-After
		out.Next = now.Add(retry)
		if prev != nil && prev.ID != "" {
			out.ID = prev.ID
		}
	}
	return out
}

// lookup makes one lookup: the result, the record's id, and, when it
// failed, how long to wait before the next.
func (l *Linker) lookup(ctx context.Context, idClaims map[string]any, now time.Time) (result, id string, retry time.Duration) {
	l.mu.Lock()
	paused := l.pausedTil
	l.mu.Unlock()
	if now.Before(paused) {
		return claims.ContactThrottled, "", paused.Sub(now)
	}
	trusted := claims.Trusted(idClaims, l.trust)
	value, ok := matchValue(trusted, l.cfg.Match.Claim)
	if !ok || CheckValue(value) != nil {
		l.log.DebugContext(ctx, "contact lookup skipped: the user has no usable verified value to match", slog.String("claim", l.cfg.Match.Claim))
		return claims.ContactNoClaim, "", 0
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout.D())
	defer cancel()
	ids, err := l.api.find(ctx, l.cfg.Match.Column, value)
	if err != nil {
		return l.failed(ctx, "look up", err, now)
	}
	switch {
	case len(ids) == 1:
		return claims.ContactLinked, ids[0], 0
	case len(ids) > 1:
		l.log.WarnContext(ctx, "contact not linked: more than one active record matches; sub stays the IdP's subject",
			slog.String("table", l.api.set), slog.String("column", l.cfg.Match.Column), slog.String("claim", l.cfg.Match.Claim))
		return claims.ContactAmbiguous, "", 0
	case l.cfg.OnNoMatch != config.NoMatchCreate:
		return claims.ContactNoMatch, "", 0
	}
	fields := map[string]string{l.cfg.Match.Column: value}
	for col, claim := range l.cfg.Create {
		if v, ok := matchValue(trusted, claim); ok && CheckValue(v) == nil {
			fields[col] = v
		}
	}
	id, err = l.api.create(ctx, fields)
	if err != nil {
		return l.failed(ctx, "create", err, now)
	}
	l.log.InfoContext(ctx, "contact created for a signed-in user with no record", slog.String("table", l.api.set), slog.String("id", id))
	return claims.ContactCreated, id, 0
}

// failed logs a failed call and says what it means; a 429 pauses lookups.
func (l *Linker) failed(ctx context.Context, what string, err error, now time.Time) (string, string, time.Duration) {
	res, retry := errorClass(err)
	if res == claims.ContactThrottled {
		if retry <= 0 {
			retry = defaultRetryAfter
		}
		retry = min(retry, maxRetryAfter)
		l.mu.Lock()
		if until := now.Add(retry); until.After(l.pausedTil) {
			l.pausedTil = until
		}
		l.mu.Unlock()
	}
	level := slog.LevelWarn
	if res == claims.ContactError {
		level = slog.LevelError // a configuration problem: the app registration, its role, the column
	}
	l.log.Log(ctx, level, "contact "+what+" failed; sub stays the IdP's subject and the lookup is tried again at the next refresh",
		slog.String("result", res), slog.Duration("retry_after", retry), slog.String("error", err.Error()))
	return res, "", retry
}

// matchValue reads a claim to match: a string, or a whole number (a
// customer number some IdPs send as a JSON number).
func matchValue(c map[string]any, path string) (string, bool) {
	v, ok := claims.Lookup(c, path)
	if !ok {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		if v == float64(int64(v)) {
			return strconv.FormatInt(int64(v), 10), true
		}
	}
	return "", false
}

// Probe checks what a lookup needs, for check-config --online: an app
// token from the token endpoint, and a read of the table (one active
// record's id) with it. The error wraps *oauth2.RetrieveError when the
// token endpoint refused, *APIError when Dataverse did.
func (l *Linker) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout.D())
	defer cancel()
	return l.api.probe(ctx)
}
