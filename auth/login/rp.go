package login

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

// RP is the proxy's OpenID Connect relying party.
type RP struct {
	cfg         *config.Config
	log         *slog.Logger
	metrics     *metrics.Metrics
	http        *http.Client
	store       *session.Store
	codec       *session.Codec
	disc        discovery
	callbackURL string
	refresher   *refresher
}

// New builds the relying party. Call Start to begin discovery.
func New(cfg *config.Config, log *slog.Logger, m *metrics.Metrics) (*RP, error) {
	codec, err := session.NewCodec(cfg.Session.Keys)
	if err != nil {
		return nil, err
	}
	store := session.NewStore(codec, session.CookieOptions{
		Name:     cfg.Session.CookieName,
		Domain:   cfg.Session.CookieDomain,
		Path:     cfg.Session.CookiePath,
		Secure:   *cfg.Session.CookieSecure,
		Lifetime: cfg.Session.Lifetime.D(),
	})
	rp := &RP{
		cfg:         cfg,
		log:         log,
		metrics:     m,
		http:        newHTTPClient(),
		store:       store,
		codec:       codec,
		callbackURL: cfg.Public.String() + cfg.Prefix + "/callback",
	}
	rp.refresher = newRefresher(rp)
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
