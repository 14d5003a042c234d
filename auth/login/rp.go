package login

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/httpspan"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

// Options are what the relying party needs from the configuration.
type Options struct {
	// OIDC is the validated oidc section (issuer, client, scopes, skew).
	OIDC config.OIDC
	// Session is the validated session section (cookie, lifetime, refresh).
	Session config.Session
	// Claims are the claims a session keeps (claims.Needed of the whole
	// configuration); the zero Set keeps every claim.
	Claims claims.Set
	// Store keeps the sessions; Codec seals the login flow cookies. A
	// store that also has records (session.RedisStore) lets replicas
	// refresh a session one at a time, under its lock.
	Store session.Store
	Codec *session.Codec
	// Paths are the proxy's endpoints; the redirect URI is
	// PublicOrigin + Paths.Callback.
	Paths        config.Paths
	PublicOrigin string
	Logger       *slog.Logger
	// LogEmail is log.email: how the sign-in line names the user's email
	// beside the subject (config.LogEmailHash, LogEmailPlain or
	// LogEmailOff; "" is off).
	LogEmail string
	Metrics  *metrics.Metrics
	// Tracer, when set, traces the code exchange, the ID token check,
	// userinfo and refreshes as children of the request's span.
	Tracer trace.TracerProvider
	// Contact, when set (token.contact), links each session to the
	// user's Dataverse record at sign-in and at refreshes when due.
	Contact ContactLinker
}

// ContactLinker finds the user's Dataverse record (auth/contact.Linker).
type ContactLinker interface {
	// Link returns the session's link for its verified claims; prev is
	// the link the session holds (nil at sign-in), returned unchanged
	// while it is not due. It returns within its own timeout, whatever
	// Dataverse does.
	Link(ctx context.Context, verified map[string]any, prev *claims.Contact) claims.Contact
}

// RP is the proxy's OpenID Connect relying party.
type RP struct {
	opt         Options
	log         *slog.Logger
	metrics     *metrics.Metrics
	http        *http.Client
	store       session.Store
	records     records // store's server-side records; nil with the cookie store
	codec       *session.Codec
	disc        discovery
	callbackURL string
	refresher   *refresher
	tracer      trace.Tracer // nil: tracing off
	// keyNow is the logout key set's clock (nil: time.Now), so tests can
	// pass its refetch interval without waiting.
	keyNow func() time.Time

	// wake cuts discovery's backoff short (Probe saw the IdP answer).
	wake chan struct{}

	probeMu  sync.Mutex // idpUp's cached answer
	probedAt time.Time
	probeOK  bool
}

// New builds the relying party. Call Start to begin discovery.
func New(o Options) (*RP, error) {
	if o.Store == nil || o.Codec == nil {
		return nil, errors.New("login: a session store and a codec are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	store, codec := o.Store, o.Codec
	rp := &RP{
		opt:         o,
		log:         o.Logger,
		metrics:     o.Metrics,
		http:        newHTTPClient(o.OIDC.TLSConfig()),
		store:       store,
		codec:       codec,
		callbackURL: o.PublicOrigin + o.Paths.Callback,
		wake:        make(chan struct{}, 1),
	}
	rp.records, _ = store.(records)
	rp.refresher = newRefresher(rp)
	if o.Tracer != nil {
		rp.tracer = o.Tracer.Tracer(tracerName)
		// Each call to the IdP made while serving a request is an HTTP
		// client span beneath the sign-in step's own (exchange, userinfo,
		// refresh, keys), with traceparent sent on.
		rp.http.Transport = httpspan.NewTransport(rp.http.Transport, o.Tracer, httpspan.Options{Scope: tracerName, WithinTraces: true})
	}
	return rp, nil
}

// Start runs discovery in the background until it succeeds or ctx ends.
func (rp *RP) Start(ctx context.Context) {
	go rp.discover(ctx)
}

// flowLifetime bounds how long a user may take at the IdP's login page.
const flowLifetime = 10 * time.Minute

// maxFlows is how many parallel login flows (tabs) a browser may have open;
// older flow cookies are expired so they never pile up into a 431.
const maxFlows = 4
