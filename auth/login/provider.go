// Package login makes the proxy an OpenID Connect relying party: the
// authorization code flow with PKCE, state and nonce, the session it leads
// to, refresh and logout.
package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// provider is what discovery yields; it is swapped in atomically once the
// IdP answers.
type provider struct {
	oidc     *oidc.Provider
	verifier *oidc.IDTokenVerifier
	// logout checks a back-channel logout token's signature (the
	// provider's JWKS), iss and aud; the rest is checked by
	// verifyLogoutToken.
	logout     *oidc.IDTokenVerifier
	oauth2     oauth2.Config
	endSession string
}

// errNotDiscovered is returned while the IdP has not answered discovery.
var errNotDiscovered = errors.New("OpenID provider discovery has not succeeded yet")

type discovery struct {
	p       atomic.Pointer[provider]
	lastErr atomic.Pointer[error]
}

func (d *discovery) get() (*provider, error) {
	if p := d.p.Load(); p != nil {
		return p, nil
	}
	if e := d.lastErr.Load(); e != nil {
		return nil, fmt.Errorf("%w: %w", errNotDiscovered, *e)
	}
	return nil, errNotDiscovered
}

// discover retries OpenID discovery with exponential backoff until it
// succeeds or ctx ends, so the proxy can start while the IdP is down.
func (rp *RP) discover(ctx context.Context) {
	backoff := 500 * time.Millisecond
	for {
		p, err := rp.tryDiscover(ctx)
		if err == nil {
			rp.disc.p.Store(p)
			rp.log.Info("OpenID provider discovered", slog.String("issuer", config.RedactURL(rp.opt.OIDC.Issuer)), slog.Bool("end_session", p.endSession != ""))
			return
		}
		rp.disc.lastErr.Store(&err)
		rp.log.Warn("OpenID provider discovery failed; retrying", slog.String("issuer", config.RedactURL(rp.opt.OIDC.Issuer)), slog.String("error", config.RedactURL(err.Error())), slog.Duration("retry_in", backoff))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (rp *RP) tryDiscover(ctx context.Context) (*provider, error) {
	ctx, cancel := context.WithTimeout(ctx, rp.opt.OIDC.DiscoveryTimeout.D())
	defer cancel()
	op, err := oidc.NewProvider(rp.clientContext(ctx), rp.opt.OIDC.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", rp.opt.OIDC.Issuer, err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := op.Claims(&extra); err != nil {
		return nil, fmt.Errorf("read discovery document of %s: %w", rp.opt.OIDC.Issuer, err)
	}
	skew := rp.opt.OIDC.ClockSkew.D()
	return &provider{
		oidc: op,
		verifier: op.Verifier(&oidc.Config{
			ClientID: rp.opt.OIDC.ClientID,
			// go-oidc has no leeway option: reading the clock a little
			// earlier accepts tokens that expired within the skew.
			Now: func() time.Time { return time.Now().Add(-skew) },
		}),
		logout: rp.logoutVerifier(op),
		oauth2: oauth2.Config{
			ClientID:     rp.opt.OIDC.ClientID,
			ClientSecret: rp.opt.OIDC.ClientSecret,
			Endpoint:     op.Endpoint(),
			RedirectURL:  rp.callbackURL,
			Scopes:       rp.opt.OIDC.Scopes,
		},
		endSession: extra.EndSession,
	}, nil
}

// clientContext makes go-oidc and x/oauth2 use the RP's HTTP client, which
// has timeouts (http.DefaultClient has none).
func (rp *RP) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, rp.http)
}

// idpUp tells whether the IdP answered lately, so silent sign-in does not
// send a browser to an IdP that would leave it on a browser error page. The
// answer is cached: one probe (the discovery document, 2 s at most) every
// 15 s, whoever asks.
func (rp *RP) idpUp(ctx context.Context) bool {
	now := time.Now()
	rp.probeMu.Lock()
	defer rp.probeMu.Unlock()
	if now.Sub(rp.probedAt) < 15*time.Second {
		return rp.probeOK
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(rp.opt.OIDC.Issuer, "/")+"/.well-known/openid-configuration", nil)
	resp, err := rp.http.Do(req)
	rp.probeOK = err == nil && resp.StatusCode < 500
	if err == nil {
		resp.Body.Close()
	}
	rp.probedAt = time.Now()
	return rp.probeOK
}

// Ready reports whether sign-in can work: discovery has succeeded.
func (rp *RP) Ready() error {
	_, err := rp.disc.get()
	return err
}

func newHTTPClient() *http.Client {
	return &http.Client{Timeout: 15 * time.Second}
}
